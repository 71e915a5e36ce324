"""Real servers for tests: a subprocess on a free loopback port, ready when /healthz/ answers.

    server = start_live_server(request, env=shared_test_env(), name="a")
    urllib.request.urlopen(server.request("/display/"))    # http://127.0.0.1:<port>, a Host it accepts
    websockets.sync.client.connect(server.ws_url + "/ws/queue/updates/", origin=server.url)

`start_live_server` registers the stop (SIGTERM, then SIGKILL) with the requesting fixture's or
test's finalizers; when a test failed, or the server died, the end of the server's log is printed
to the terminal. The log file (the process's stdout and stderr) stays in the test's tmp_path.
The server runs as in production: Daphne on uvloop, `python -m queue_system.asgi_server
--verbosity 0 queue_system.asgi:application`, or with `server="gunicorn"` production's HTTP
server, `gunicorn -c deploy/gunicorn.conf.py queue_system.wsgi:application` (two workers unless
the environment names WEB_CONCURRENCY).

Environments (all start from `clean_env`: nothing leaks in from the shell or a .env file):
- `shared_test_env()`: a server working on the test process's own database (pytest-django's
  test database: use `transactional_db` so the server sees committed rows) and channel layer,
  with the same SECRET_KEY (sessions made in the test are valid there) and TIME_ZONE. On SQLite
  the test database must be a file (SQLITE_TEST_NAME), not in memory.
- `clean_env(DEBUG="0", QUEUE_TESTING="1", DATABASE_URL=migrated_sqlite(tmp_path / "db.sqlite3"))`:
  a server with a database of its own.
- `documented_production_env(...)`: exactly the production settings .env.example documents.

`manage(*args, env=...)` runs manage.py in a fresh process the same way.
"""

import atexit
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def clean_env(**variables: str) -> dict[str, str]:
    """A minimal environment: nothing leaks in from the shell or a .env file but `variables`."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "QUEUE_IGNORE_DOTENV": "1",
        "DJANGO_SETTINGS_MODULE": "queue_system.settings",
    }
    env.update({key: str(value) for key, value in variables.items()})
    return env


def database_url(settings_dict: dict) -> str:
    """DATABASE_URL for the database a Django connection is using (the test DB in a test)."""
    engine = settings_dict["ENGINE"]
    name = str(settings_dict["NAME"])
    if engine.endswith("mysql"):
        user = quote(settings_dict.get("USER") or "", safe="")
        password = quote(settings_dict.get("PASSWORD") or "", safe="")
        credentials = f"{user}:{password}@" if password else f"{user}@" if user else ""
        host = settings_dict.get("HOST") or LOOPBACK
        port = settings_dict.get("PORT") or "3306"
        return f"mysql://{credentials}{host}:{port}/{quote(name, safe='')}"
    if engine.endswith("sqlite3"):
        if "memory" in name or not os.path.isabs(name):
            raise RuntimeError(
                f"the SQLite test database {name!r} lives in this process's memory; set SQLITE_TEST_NAME "
                "to a file path so a server process can open it"
            )
        return f"sqlite:///{name}"
    raise RuntimeError(f"no DATABASE_URL form for {engine}")


def documented_production_env(**overrides: str | None) -> dict[str, str]:
    """The production environment .env.example documents, with made-up secrets filled in.

    Not a test setting: no QUEUE_TESTING, so the process runs exactly as in production.
    An override of None removes the variable.
    """
    from dotenv import dotenv_values

    documented = {name: value for name, value in dotenv_values(BASE_DIR / ".env.example").items() if value}
    documented.update(
        SECRET_KEY=secrets.token_urlsafe(50),
        TWILIO_ACCOUNT_SID="AC" + secrets.token_hex(16),
        TWILIO_AUTH_TOKEN=secrets.token_hex(16),
        TWILIO_PHONE_NUMBER="+15005550006",
    )
    documented.update(overrides)
    return clean_env(**{name: value for name, value in documented.items() if value is not None})


def shared_test_env(**overrides: str) -> dict[str, str]:
    """Environment for a server sharing this test process's database, channel layer and keys."""
    from django.conf import settings
    from django.db import connection

    layer = settings.CHANNEL_LAYERS["default"]
    variables = {
        "DEBUG": "0",
        "QUEUE_TESTING": "1",
        "SECRET_KEY": settings.SECRET_KEY,
        "ALLOWED_HOSTS": f"{LOOPBACK},localhost",
        "DATABASE_URL": database_url(connection.settings_dict),
        "TIME_ZONE": settings.TIME_ZONE,
        "DISPLAY_NAME_MODE": settings.DISPLAY_NAME_MODE,
        "SMS_BACKEND": "locmem",
        "LOG_LEVEL": "info",
    }
    if layer["BACKEND"].startswith("channels_redis"):
        variables["REDIS_URL"] = layer["CONFIG"]["hosts"][0]
        variables["REDIS_PREFIX"] = layer["CONFIG"].get("prefix", "queue")
    variables.update(overrides)
    return clean_env(**variables)


class LiveServer:
    """One `daphne queue_system.asgi:application` process on a loopback port (or gunicorn's master
    with its workers: `server="gunicorn"`)."""

    # As in production (Dockerfile, systemd): --verbosity 0 turns Daphne's own access log off; the
    # app writes the request line. () starts Daphne as a person would by hand, access log on.
    DAPHNE_OPTIONS = ("--verbosity", "0")

    def __init__(
        self,
        *,
        env: dict[str, str],
        log_path: Path,
        name: str = "daphne",
        daphne_options: tuple[str, ...] | None = None,
        server: str = "daphne",
    ):
        self.env = env
        self.server = server
        self.daphne_options = self.DAPHNE_OPTIONS if daphne_options is None else tuple(daphne_options)
        self.log_path = Path(log_path)
        self.name = name
        # Requests need a Host the server accepts: the first concrete name in its ALLOWED_HOSTS.
        self.host = next(
            (h.lstrip(".") for h in env.get("ALLOWED_HOSTS", "").split(",") if h.strip() not in ("", "*")),
            LOOPBACK,
        ).strip()
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self._log_file = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{LOOPBACK}:{self.port}"

    def launch(self) -> None:
        """Start the process without waiting (start several, then `wait_ready` on each)."""
        self.port = free_port()
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._log_file.write(f"--- {self.name}: {self.server} on port {self.port}\n".encode())
        self._log_file.flush()
        env = self.env
        if self.server == "gunicorn":
            command = [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "deploy/gunicorn.conf.py",
                "queue_system.wsgi:application",
            ]
            env = {"WEB_CONCURRENCY": "2", **env, "WEB_BIND": f"{LOOPBACK}:{self.port}"}
        else:
            command = [
                sys.executable,
                "-m",
                "queue_system.asgi_server",  # Daphne on uvloop, as production starts it
                *self.daphne_options,
                "--bind",
                LOOPBACK,
                "--port",
                str(self.port),
            ]
            command.append("queue_system.asgi:application")
        self.process = subprocess.Popen(
            command,
            cwd=BASE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 30) -> "LiveServer":
        """Block until /healthz/ answers 200; relaunch on a new port if another process took ours."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                in_use = ("Address already in use", "Connection in use")  # Daphne's words, gunicorn's
                if any(words in self.log_text() for words in in_use) and time.monotonic() < deadline:
                    self._close_log()
                    self.launch()
                    continue
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.request("/healthz/"), timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not answer /healthz/ within {timeout}s:\n{self.log_tail()}")
            time.sleep(0.1)

    def request(self, path: str, *, headers: dict[str, str] | None = None, **kwargs) -> urllib.request.Request:
        """A urllib Request for `path` on this server, with a Host header it accepts."""
        return urllib.request.Request(self.url + path, headers={"Host": self.host, **(headers or {})}, **kwargs)

    def start(self, timeout: float = 30) -> "LiveServer":
        self.launch()
        return self.wait_ready(timeout)

    def stop(self, timeout: float = 10) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited within `timeout`; returns the exit code."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._close_log()
        return self.process.returncode if self.process is not None else None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def log_text(self) -> str:
        if self._log_file is not None:
            self._log_file.flush()
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


def start_live_server(
    request,
    *,
    env: dict[str, str],
    name: str = "daphne",
    wait: bool = True,
    log_dir: Path | None = None,
    daphne_options: tuple[str, ...] | None = None,
    server: str = "daphne",
) -> LiveServer:
    """A LiveServer stopped by the fixture's (or test's) finalizer; its log is printed on failure.

    `request` may be a module- or session-scoped fixture's: pass `log_dir` then (from
    tmp_path_factory). `wait=False` only launches it: start several at once, then call
    `wait_ready()` on each.
    """
    log_dir = log_dir or request.getfixturevalue("tmp_path")
    server = LiveServer(
        env=env, log_path=log_dir / f"{name}.log", name=name, daphne_options=daphne_options, server=server
    )
    failures_before = request.session.testsfailed

    def finish():
        was_alive = server.alive
        server.stop()
        if request.session.testsfailed > failures_before or (server.process is not None and not was_alive):
            reporter = request.config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None:
                reporter.write_line(f"\n--- {name} server log ({server.log_path}), last lines:")
                reporter.write_line(server.log_tail())

    request.addfinalizer(finish)
    server.launch()
    if wait:
        server.wait_ready()
    return server


def manage(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    """`python manage.py ARGS` in a fresh process with exactly `env` (see clean_env)."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


_migrated_template: Path | None = None


def migrated_sqlite(path: Path) -> str:
    """A migrated SQLite file at `path` (cache table included); returns its DATABASE_URL.

    For a server that needs a database of its own rather than the test's. Migrations run once
    per test session; each caller gets a copy.
    """
    global _migrated_template
    if _migrated_template is None:
        folder = Path(tempfile.mkdtemp(prefix="queue-migrated-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        url = f"sqlite:///{folder / 'template.sqlite3'}"
        result = manage("migrate", "--noinput", "-v0", env=clean_env(DEBUG="0", QUEUE_TESTING="1", DATABASE_URL=url))
        if result.returncode != 0:
            raise RuntimeError(f"manage.py migrate failed:\n{result.stdout}\n{result.stderr}")
        _migrated_template = folder / "template.sqlite3"
    shutil.copyfile(_migrated_template, path)
    return f"sqlite:///{Path(path).resolve()}"
