"""The system under test: its own database, demo-free seed data, server processes, cleanup.

SQLite: a file in the run's temporary folder. MariaDB: the database `queue_bench`, dropped and
created with MySQLdb, migrated with manage.py. Redis: one DB number (7 by default), flushed
before and after. Daphne: N processes, on N ports (the client spreads over them) or sharing one
port through SO_REUSEPORT sockets handed over as systemd-style inherited descriptors (the
kernel balances connections, no proxy process in the way). `--server gunicorn`, production's
layout: HTTP to gunicorn (deploy/gunicorn.conf.py, its workers sharing one port) and the
WebSockets to the N Daphne processes, and the patient texts' sender process where the tree's
compose file runs one. Every process is started in its own process group and
ended by the orchestrator. The floors' servers (hello WSGI, bare websockets) are in floor_servers.py.
"""

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote, urlparse

import yaml

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DB_NAME = "queue_bench"
STAFF_PASSWORD_BYTES = 12


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_env(cfg, workdir: Path) -> dict:
    """The environment of the bench server (and of the orchestrator's own Django set-up)."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "QUEUE_IGNORE_DOTENV": "1",
            "QUEUE_TESTING": "0",
            "DEBUG": "0",
            "SECRET_KEY": cfg.secret_key,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "SESSION_COOKIE_SECURE": "0",
            "CSRF_COOKIE_SECURE": "0",
            "SECURE_HSTS_SECONDS": "0",
            "DATABASE_URL": cfg.database_url(workdir),
            "SMS_BACKEND": "file",
            "SMS_FILE_PATH": str(workdir / "sms"),
            # Every simulated patient comes from 127.0.0.1: lift the per-address and hourly caps.
            "OTP_SENDS_PER_IP": "100000000",
            "OTP_CHECKS_PER_IP": "100000000",
            "SMS_HOURLY_CAP": "100000000",
            "DEFAULT_PHONE_REGION": "IN",
            "ALLOWED_PHONE_REGIONS": "IN",
            "TIME_ZONE": "UTC",
            "LOG_LEVEL": cfg.log_level,
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": str(ROOT),
        }
    )
    if cfg.overrides:
        env["BENCH_OVERRIDES"] = json.dumps(cfg.overrides)
    if cfg.http_limit:
        env["BENCH_HTTP_LIMIT"] = str(cfg.http_limit)
    if cfg.what_if:
        env["BENCH_WHAT_IF"] = cfg.what_if
    if cfg.redis:
        env["REDIS_URL"] = cfg.redis_url
        # Runs side by side on one Redis (a baseline, another person's) never hear each other.
        env["REDIS_PREFIX"] = f"queuebench.{workdir.name}"
    return env


# --- databases ---------------------------------------------------------------------------------


def _mysql_connect(url: str, database: str | None = None):
    import MySQLdb

    parsed = urlparse(url)
    kwargs = {
        "host": parsed.hostname or "127.0.0.1",
        "port": parsed.port or 3306,
        "user": unquote(parsed.username or "root"),
        "passwd": unquote(parsed.password or ""),
        "charset": "utf8mb4",
    }
    if database:
        kwargs["db"] = database
    return MySQLdb.connect(**kwargs)


def mysql_database_name(url: str) -> str:
    return unquote(urlparse(url).path.strip("/")) or DB_NAME


def create_mysql_database(url: str) -> None:
    name = mysql_database_name(url)
    connection = _mysql_connect(url)
    try:
        cursor = connection.cursor()
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    finally:
        connection.close()


def drop_mysql_database(url: str) -> None:
    connection = _mysql_connect(url)
    try:
        connection.cursor().execute(f"DROP DATABASE IF EXISTS `{mysql_database_name(url)}`")
    finally:
        connection.close()


def flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def migrate(env: dict, log) -> None:
    # The migrations create the database cache's table too (rate counters without REDIS_URL).
    completed = subprocess.run(
        [PYTHON, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    if completed.returncode != 0:
        raise RuntimeError(f"manage.py migrate failed:\n{completed.stdout}\n{completed.stderr}")
    log("manage.py migrate: ok")


def seed(cfg) -> dict:
    """Services, counters each with its own operator, and the join pool's patients and sessions.

    Runs in the orchestrator after django.setup() with the server's environment. The join pool
    (patients with a signed-in session made directly in the session table) feeds the join load:
    the OTP path is exercised separately by the P simulated patients.
    """
    from datetime import time as clock

    from django.contrib.auth.hashers import make_password
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.utils import timezone
    from django.utils.crypto import get_random_string

    from bench.minimal.models import Sequence
    from queue_app.models import EVERY_DAY, Counter, Patient, Service, Staff

    for lane in range(cfg.services):  # the write floor's lock rows, before any load
        Sequence.objects.get_or_create(day=timezone.localdate(), lane=lane)
    services = [
        Service.objects.create(service_name=f"Bench{i + 1}", description="bench", week_days=EVERY_DAY)
        for i in range(cfg.services)
    ]
    password = secrets.token_urlsafe(STAFF_PASSWORD_BYTES)
    hashed = make_password(password)  # one PBKDF2 run for all of them
    counters = []
    for i in range(cfg.counters):
        staff = Staff(username=f"bench_op{i + 1}", role=Staff.Role.OPERATOR, is_active=True, password=hashed)
        staff.save()
        service = services[i % len(services)]
        counter = Counter.objects.create(
            counter_name=f"Counter {i + 1}",
            service=service,
            start_time=clock(0, 0),
            end_time=clock(23, 59, 59, 999999),
            assigned_staff=staff,
        )
        counters.append({"id": counter.pk, "service_id": service.pk, "username": staff.username, "password": password})

    pool = []
    if cfg.pool_size:
        patients = Patient.objects.bulk_create(
            [Patient(phone=f"+9198{i:08d}", name=f"Pool patient {i}") for i in range(cfg.pool_size)], batch_size=500
        )
        store = SessionStore()
        expires = timezone.now() + timedelta(days=1)
        sessions = []
        for i, patient in enumerate(patients):
            key = get_random_string(32, "abcdefghijklmnopqrstuvwxyz0123456789")
            data = store.encode({"patient_id": patient.pk, "patient_verified_phone": patient.phone})
            sessions.append(Session(session_key=key, session_data=data, expire_date=expires))
            pool.append((key, services[i % len(services)].pk))
        Session.objects.bulk_create(sessions, batch_size=500)
    return {"service_ids": [s.pk for s in services], "counters": counters, "pool": pool}


# --- Daphne --------------------------------------------------------------------------------------


class Servers:
    """The server processes. `ports`: where HTTP goes (one entry per process, or one shared);
    `ws_ports`: where the WebSockets go (the same ports but under `--server gunicorn`)."""

    def __init__(self, cfg, env: dict, workdir: Path, log, root: Path = ROOT):
        self.cfg, self.env, self.workdir, self.log, self.root = cfg, env, workdir, log, root
        self.processes: list[subprocess.Popen] = []
        self.names: list[str] = []
        self.ports: list[int] = []
        self.ws_ports: list[int] = []
        self.logs: list[Path] = []

    def start(self) -> None:
        if self.cfg.server == "gunicorn":
            if self.cfg.layout == "reuseport":
                raise RuntimeError("--server gunicorn runs with --layout ports (its workers share one port)")
            self._start_daphnes(self.cfg.processes)
            self.ws_ports = list(self.ports)
            port = free_port()
            env = {"WEB_BIND": f"127.0.0.1:{port}", **gunicorn_workers(self.cfg)}
            sender = texts_sender(self.root)
            if sender is not None:
                env["NOTIFY_SENDER_THREAD"] = "0"  # the workers only write the texts, as in production
            self._spawn("wsgi", [PYTHON, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", self._wsgi_app()], env)
            if sender is not None:
                self._spawn("sender", sender)
            self.ports = [port]
        else:
            self._start_daphnes(self.cfg.processes)
            self.ws_ports = self.ports
        self.wait_healthy(self.ports + [p for p in self.ws_ports if p not in self.ports])

    def _wsgi_app(self) -> str:
        if self.cfg.http_limit or self.cfg.what_if:
            raise RuntimeError("--http-limit and --what-if patch the ASGI application: not with --server gunicorn")
        return "queue_system.wsgi:application"

    def _daphne_module(self) -> str:
        """Daphne on uvloop as the product ships it, or plain Daphne (--daphne-loop asyncio, and a
        baseline commit from before the launcher)."""
        launcher = self.root / "queue_system/asgi_server.py"
        return "queue_system.asgi_server" if self.cfg.daphne_loop == "uvloop" and launcher.exists() else "daphne"

    def _spawn(self, name: str, command: list[str], env: dict | None = None, pass_fds=()) -> None:
        log_path = self.workdir / f"{name}-{len(self.processes)}.log"
        self.logs.append(log_path)
        with open(log_path, "wb") as log_file:
            process = subprocess.Popen(
                command,
                cwd=self.root,
                env=without_none({**self.env, "PYTHONPATH": str(self.root), **(env or {})}),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                pass_fds=pass_fds,
            )
        self.processes.append(process)
        self.names.append(name)

    def _start_daphnes(self, count: int) -> None:
        layout = self.cfg.layout
        shared = []
        if layout == "reuseport":
            port = free_port()
            for _ in range(count):
                listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                listener.bind(("127.0.0.1", port))
                listener.listen(2048)
                shared.append(listener)
            self.ports = [port]
        for index in range(count):
            experiment = self.cfg.http_limit or self.cfg.what_if
            app = "bench.asgi:application" if experiment else "queue_system.asgi:application"
            common = ["-v", str(self.cfg.daphne_verbosity), app]
            daphne = self._daphne_module()
            env = {}
            pass_fds = ()
            if layout == "reuseport":
                listener = shared[index]
                # Twisted adopts an inherited socket the systemd way: descriptor 3, LISTEN_PID = us.
                fd = listener.fileno()
                command = [
                    "/bin/bash",
                    "-c",
                    f'exec 3<&{fd}; LISTEN_PID=$$ exec "$@"',
                    "sh",
                    PYTHON,
                    "-m",
                    daphne,
                    "-e",
                    "systemd:domain=INET:index=0",
                    *common,
                ]
                env.update({"LISTEN_FDS": "1", "LISTEN_FDNAMES": "http"})
                pass_fds = (fd,)
            else:
                port = free_port()
                self.ports.append(port)
                command = [PYTHON, "-m", daphne, "-e", f"tcp:port={port}:interface=127.0.0.1:backlog=2048", *common]
            if self.cfg.server == "uvicorn":
                if layout == "reuseport":
                    raise RuntimeError("--server uvicorn runs with --layout ports")
                # uvloop, httptools and the websockets library; client addresses as received
                # (the project's TRUSTED_PROXIES decides about X-Forwarded-For, not the server).
                command = [
                    PYTHON, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port), "--backlog", "2048",
                    "--loop", "uvloop", "--http", "httptools", "--ws", "websockets", "--lifespan", "off",
                    "--no-proxy-headers", "--no-access-log", "--log-level", "warning",
                ]  # fmt: skip
            self._spawn("daphne", command, env, pass_fds)
        for listener in shared:
            listener.close()  # the children hold their copies

    def wait_healthy(self, ports: list[int], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        pending = set(ports)
        while pending and time.monotonic() < deadline:
            for process, log_path in zip(self.processes, self.logs, strict=True):
                if process.poll() is not None:
                    raise RuntimeError(f"server exited with {process.returncode}:\n{tail(log_path)}")
            for port in list(pending):
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz/", timeout=2) as answer:
                        if answer.status == 200:
                            pending.discard(port)
                except OSError:
                    pass
            time.sleep(0.2)
        if pending:
            raise RuntimeError(f"server not healthy on ports {sorted(pending)}:\n{tail(self.logs[0])}")
        if self.cfg.layout == "reuseport" or self.cfg.server == "gunicorn":
            time.sleep(1.0)  # every process (every worker) has started accepting, not just the one that answered

    def ws_port(self, index: int) -> int:
        return self.ws_ports[index % len(self.ws_ports)]

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def named_pids(self, prefix: str = "") -> dict[str, int]:
        """Every server process by name: daphne0…, and under gunicorn wsgi (its master) and wsgi0…
        (its workers, the master's children)."""
        named, daphnes = {}, 0
        for name, process in zip(self.names, self.processes, strict=True):
            if name == "daphne":
                named[f"{prefix}daphne{daphnes}"] = process.pid
                daphnes += 1
            else:
                named[f"{prefix}{name}"] = process.pid
                for i, child in enumerate(children(process.pid)):
                    named[f"{prefix}{name}{i}"] = child
        return named

    def stop(self) -> None:
        for process in self.processes:
            signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                signal_group(process, signal.SIGKILL)
                process.wait(5)


def texts_sender(root: Path) -> list[str] | None:
    """The tree's production layout for the patient texts, read from its compose file: the
    notifier's command when the web workers leave sending to it (their NOTIFY_SENDER_THREAD "0"),
    or None when each worker sends on a thread of its own (commits before 2026-12-07)."""
    compose = root / "docker-compose.yml"
    services = yaml.safe_load(compose.read_text())["services"] if compose.exists() else {}
    web_env = (services.get("web") or {}).get("environment") or {}
    if str(web_env.get("NOTIFY_SENDER_THREAD")) != "0" or "notifier" not in services:
        return None
    return [PYTHON if part == "python" else part for part in services["notifier"]["command"]]


def gunicorn_workers(cfg) -> dict:
    """--http-workers (None: gunicorn.conf.py's own default, what production runs) and threads."""
    workers = str(cfg.http_workers) if cfg.http_workers else None
    return {"WEB_CONCURRENCY": workers, "WEB_THREADS": str(cfg.http_threads)}


def without_none(env: dict) -> dict:
    return {k: v for k, v in env.items() if v is not None}


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return sorted(int(child) for child in handle.read().split())
    except OSError:
        return []


def signal_group(process: subprocess.Popen, sig: int) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, sig)  # start_new_session: the group id is the child's pid
    except ProcessLookupError:
        pass


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
