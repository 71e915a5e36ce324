"""The floors' servers, not the system under test: a bare WSGI "hello" under gunicorn (Python HTTP's
floor) and the bare `websockets` broadcast server (the transport's floor)."""

import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from .servers import PYTHON, ROOT, children, free_port, gunicorn_workers, signal_group, tail, without_none


class HelloServer:
    """bench/hello_wsgi.py under gunicorn, as many workers as the product's HTTP server."""

    def __init__(self, cfg, workdir: Path, root: Path = ROOT):
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        env.update({"PYTHONPATH": str(root), "WEB_BIND": f"127.0.0.1:{self.port}", "LOG_LEVEL": "warning"})
        env = without_none({**env, **gunicorn_workers(cfg)})
        self.log_path = workdir / "hello_wsgi.log"
        with open(self.log_path, "wb") as log_file:
            self.process = subprocess.Popen(
                [PYTHON, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "bench.hello_wsgi:application"],
                cwd=root,
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"hello_wsgi did not start:\n{tail(self.log_path)}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=2):
                    break
            except OSError:
                time.sleep(0.2)
        time.sleep(1.0)  # every worker accepting

    def named_pids(self) -> dict[str, int]:
        named = {"hello_wsgi": self.process.pid}
        named.update({f"hello_wsgi{i}": pid for i, pid in enumerate(children(self.process.pid))})
        return named

    def stop(self) -> None:
        signal_group(self.process, signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            signal_group(self.process, signal.SIGKILL)
            self.process.wait(5)


class BareServer:
    """bench/bare_ws.py in its own process group, driven over its standard input."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.process = subprocess.Popen(
            [PYTHON, "-m", "bench.bare_ws", "--port", str(self.port)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=open(workdir / "bare_ws.log", "wb"),  # noqa: SIM115 - closed with the process
            text=True,
            start_new_session=True,
        )
        self._expect("ready", 30)

    def _expect(self, word: str, timeout: float) -> str:
        import select

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], 0.5)
            if ready:
                line = self.process.stdout.readline()
                if not line:
                    break
                if line.startswith(word):
                    return line
        raise RuntimeError(f"bare_ws: no '{word}' within {timeout} s")

    def go(self, count: int, interval: float, size: int, frames: int = 1) -> None:
        self.process.stdin.write(f"go {count} {interval} {size} {frames}\n")
        self.process.stdin.flush()
        self._expect("done", count * interval + 60)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        try:
            self.process.stdin.write("exit\n")
            self.process.stdin.flush()
            self.process.wait(5)
        except (OSError, subprocess.TimeoutExpired, ValueError):
            signal_group(self.process, signal.SIGKILL)
            self.process.wait(5)
