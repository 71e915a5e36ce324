"""Daphne on uvloop (queue_system/asgi_server.py), as make run, systemd and compose start it.
The live-server tests all run it too (tests/liveserver.py)."""

import subprocess
import sys
import urllib.request

from ..liveserver import BASE_DIR, clean_env, migrated_sqlite, start_live_server


def test_daphnes_twisted_reactor_runs_on_a_uvloop_loop():
    script = (
        "from queue_system import asgi_server\n"
        "assert asgi_server.use_uvloop()\n"
        "import daphne.server, uvloop\n"
        "from twisted.internet import reactor\n"
        "assert isinstance(daphne.server.twisted_loop, uvloop.Loop), daphne.server.twisted_loop\n"
        "assert reactor._asyncioEventloop is daphne.server.twisted_loop\n"
    )
    assert_runs(script)


def test_plain_daphne_keeps_asyncios_own_loop():
    """What the launcher changes: without it, Daphne's loop is asyncio's (the bench's baseline)."""
    assert_runs("import daphne.server\nassert type(daphne.server.twisted_loop).__module__.startswith('asyncio')\n")


def assert_runs(script: str) -> None:
    """`script` in a Python process of its own: Daphne makes its loop once, as it is first imported."""
    result = subprocess.run([sys.executable, "-c", script], cwd=BASE_DIR, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_the_launcher_serves_pages_and_stops_cleanly_at_sigterm(request, tmp_path):
    env = clean_env(DEBUG="0", QUEUE_TESTING="1", DATABASE_URL=migrated_sqlite(tmp_path / "db.sqlite3"))
    server = start_live_server(request, env=env, name="uvloop")

    with urllib.request.urlopen(server.request("/healthz/"), timeout=10) as answer:
        assert answer.status == 200

    assert server.stop() == 0
    assert "shut down cleanly" in server.log_path.read_text()
