"""Optional sampling profile of the server during one phase (py-spy, outside the server process).

`--profile http` records every server process (Daphne's; gunicorn's workers) with `py-spy
record --format raw` (collapsed stacks) while that phase runs and summarises where the server's
CPU went: the share of samples in which each function is on the stack (inclusive) and at the
top (self). py-spy is a developer
tool (pip install py-spy), not a dependency: without it the run says so and goes on.
"""

import shutil
import signal
import subprocess
from collections import Counter
from pathlib import Path

# Frames worth naming in the summary: the project's code and the layers it pays for.
INTERESTING = (
    "queue_app",
    "bench/",
    "django/",
    "rest_framework",
    "channels",
    "asgiref",
    "daphne",
    "gunicorn",
    "twisted",
    "MySQLdb",
    "sqlite3",
    "json",
    "redis",
)


def py_spy() -> str | None:
    venv = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "py-spy"
    return str(venv) if venv.exists() else shutil.which("py-spy")


class Profiler:
    # 50 samples a second: at 250, seven recorders (5 gunicorn workers, 2 Daphne) took 1.5 of
    # the 2 cores themselves and the phase crawled.
    def __init__(self, pids: list[int], folder: Path, label: str, rate: int = 50, labels: list[str] | None = None):
        labels = labels or [f"daphne{i}" for i in range(len(pids))]
        self.paths = [folder / f"profile-{label}-{name}.txt" for name in labels]
        self.processes = []
        binary = py_spy()
        if binary is None:
            return
        for pid, path in zip(pids, self.paths, strict=True):
            self.processes.append(
                subprocess.Popen(
                    [
                        binary,
                        "record",
                        "--pid",
                        str(pid),
                        "--rate",
                        str(rate),
                        "--format",
                        "raw",
                        "--nonblocking",
                        "-o",
                        str(path),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )

    def stop(self) -> dict:
        for process in self.processes:
            process.send_signal(signal.SIGINT)
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        if not self.processes:
            return {"error": "py-spy not installed (pip install py-spy)"}
        return {
            "files": [str(p) for p in self.paths if p.exists()],
            "top": summarize([p for p in self.paths if p.exists()]),
        }


def summarize(paths: list[Path], limit: int = 40) -> dict:
    inclusive, own = Counter(), Counter()
    total = 0
    for path in paths:
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            samples = int(count)
            total += samples
            frames = [_name(f) for f in stack.split(";") if f]
            for name in set(frames):
                inclusive[name] += samples
            if frames:
                own[frames[-1]] += samples
    if not total:
        return {}
    keep = [(n, c) for n, c in inclusive.most_common() if any(mark in n for mark in INTERESTING)][:limit]
    return {
        "samples": total,
        "inclusive_pct": {n: round(100 * c / total, 1) for n, c in keep},
        "self_pct": {n: round(100 * c / total, 1) for n, c in own.most_common(25)},
    }


def _name(frame: str) -> str:
    # py-spy raw frames look like "function (path/to/file.py:123)": keep function and short path.
    function, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", "/work/main/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{function} ({path})"
