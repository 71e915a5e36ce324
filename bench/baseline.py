"""`--baseline REV`: the same driver against another commit of the project, in the same run.

REV is checked out with `git worktree add` into a temporary folder (the virtualenv linked from
this one), migrated into a database of its own (the MariaDB name plus `_base`, or a SQLite file)
and seeded by its own code; its servers start with the run's flags on ports of their own. The
orchestrator then runs every measured step on ours and then on it, endpoint by endpoint and phase
by phase, so a machine that slows down mid-run slows both. REV without deploy/gunicorn.conf.py
predates the gunicorn layout: it runs as it shipped, Daphne for everything.

Its database is not checked for correctness (ours is), and the phases that change our database
directly (http_texts_off) or measure WebSocket fan-out run on ours only.
"""

import argparse
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from .servers import (
    PYTHON,
    ROOT,
    Servers,
    create_mysql_database,
    drop_mysql_database,
    server_env,
)
from .worker import WorkerHandle

PREFIX = "base_"  # its processes' names in the resources tables


class Baseline:
    def __init__(self, rev: str, cfg, config_class, log):
        self.rev, self.log = rev, log
        self.folder = Path(tempfile.mkdtemp(prefix="queue-baseline-"))
        self.root = self.folder / "tree"
        # Its own name: the run's Redis prefix follows it (servers.server_env).
        self.workdir = Path(tempfile.mkdtemp(prefix="queue-bench-base-"))
        (self.workdir / "sms").mkdir()
        self.commit = _git("rev-parse", "--short", rev)
        _git("worktree", "add", "--detach", str(self.root), rev)
        (self.root / ".venv").symlink_to(ROOT / ".venv")
        server = cfg.server if (self.root / "deploy/gunicorn.conf.py").exists() else "daphne"
        args = {**vars(cfg.args), "server": server}
        if cfg.db == "mysql":
            args["mysql_url"] = cfg.mysql_url.rstrip("/") + "_base"
        self.cfg = config_class(argparse.Namespace(**args), secret_key=cfg.secret_key)
        self.env = {**server_env(self.cfg, self.workdir), "PYTHONPATH": str(self.root)}
        self.servers: Servers | None = None
        self.driver: WorkerHandle | None = None
        self.sink: WorkerHandle | None = None
        self.mysql_created = False

    @property
    def server(self) -> str:
        return self.cfg.server

    def setup(self) -> dict:
        """Its database, migrated and seeded by its own code (its models may differ from ours)."""
        if self.cfg.db == "mysql":
            create_mysql_database(self.cfg.mysql_url)
            self.mysql_created = True
        run = {"cwd": self.root, "env": self.env, "capture_output": True, "text": True, "timeout": 900}
        migrated = subprocess.run([PYTHON, "manage.py", "migrate", "--noinput"], **run)
        if migrated.returncode != 0:
            raise RuntimeError(f"baseline migrate failed:\n{migrated.stdout}\n{migrated.stderr}")
        wanted = {"services": self.cfg.services, "counters": self.cfg.counters, "pool_size": self.cfg.pool_size}
        code = (
            "import json, sys, types, django; django.setup(); from bench.servers import seed; "
            "print('SEED ' + json.dumps(seed(types.SimpleNamespace(**json.loads(sys.argv[1])))))"
        )
        seeded = subprocess.run([PYTHON, "-c", code, json.dumps(wanted)], **run)
        line = next((x for x in seeded.stdout.splitlines() if x.startswith("SEED ")), None)
        if seeded.returncode != 0 or line is None:
            raise RuntimeError(f"baseline seed failed:\n{seeded.stdout[-2000:]}\n{seeded.stderr[-3000:]}")
        self.log(f"baseline {self.rev} ({self.commit}) at {self.root}: migrated and seeded, server {self.server}")
        return json.loads(line[len("SEED ") :])

    def start(self, data: dict, session_cookie: str) -> None:
        self.servers = Servers(self.cfg, self.env, self.workdir, self.log, root=self.root)
        self.servers.start()
        self.driver = WorkerHandle(
            f"{PREFIX}driver",
            "bench.driver.Driver",
            {
                "ports": self.servers.ports,
                "sms_folder": str(self.workdir / "sms"),
                "pool": data["pool"],
                "session_cookie": session_cookie,
                "lanes": self.cfg.services,
            },
        )
        self.sink = WorkerHandle(f"{PREFIX}sink0", "bench.sink.Sink", {})
        for worker in (self.driver, self.sink):
            worker.call("stat", timeout=60)

    def pids(self) -> dict:
        pids = self.servers.named_pids(prefix=PREFIX) if self.servers else {}
        pids.update({w.name: w.pid for w in (self.driver, self.sink) if w is not None})
        return pids

    def cleanup(self) -> None:
        for worker in (self.driver, self.sink):
            if worker is not None:
                try:
                    worker.stop()
                except Exception:
                    pass
        if self.servers is not None:
            self.servers.stop()
        if self.mysql_created:
            try:
                drop_mysql_database(self.cfg.mysql_url)
            except Exception:
                pass
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(self.root)], cwd=ROOT, capture_output=True, timeout=60
        )
        shutil.rmtree(self.folder, ignore_errors=True)
        shutil.rmtree(self.workdir, ignore_errors=True)
        subprocess.run(["git", "worktree", "prune"], cwd=ROOT, capture_output=True, timeout=60)


def _git(*args: str) -> str:
    completed = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    if completed.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {completed.stderr.strip()}")
    return completed.stdout.strip()


def compare(ours: dict, base: dict) -> dict:
    """Each figure of ours over the baseline's: {endpoint: {level: {rps, p50, p95, cpu}}}."""
    out = {}
    for endpoint, levels in ours.items():
        for level, stats in levels.items():
            other = base.get(endpoint, {}).get(level)
            if not other:
                continue
            out.setdefault(endpoint, {})[level] = {
                key: _ratio(stats.get(field), other.get(field))
                for key, field in (("rps", "rps"), ("p50", "p50"), ("p95", "p95"), ("cpu", "server_cpu_ms_per_request"))
            }
    return out


def _ratio(a, b):
    if a is None or not b:
        return None
    return round(a / b, 2)
