"""Production's HTTP server: gunicorn with deploy/gunicorn.conf.py on queue_system.wsgi, beside
Daphne for the WebSockets. Each worker logs its requests as the app does, publishes its changes'
events to the sockets Daphne holds, sends the patient texts of its changes at once, and at a
graceful stop leaves nothing unsent."""

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest
from django.conf import settings

from queue_app import services
from queue_app.models import Notification

from ..factories import PatientFactory, ServiceFactory
from ..liveserver import BASE_DIR, documented_production_env, migrated_sqlite, shared_test_env, start_live_server
from .test_scaleout import Display, seat_operators, serve_next

ON_MYSQL = settings.DATABASES["default"]["ENGINE"].endswith("mysql")
ON_REDIS = bool(os.environ.get("REDIS_URL"))
shares_the_test_database = pytest.mark.skipif(
    not ON_MYSQL, reason="a server sharing the test's database needs DATABASE_URL=mysql://..."
)


@pytest.fixture(scope="module")
def production_http(request, tmp_path_factory):
    """gunicorn exactly as in production (no test settings), on its own migrated SQLite file."""
    folder = tmp_path_factory.mktemp("gunicorn")
    env = documented_production_env(
        DATABASE_URL=migrated_sqlite(folder / "db.sqlite3"),
        REDIS_URL=None,
        SMS_BACKEND="console",
        TRUSTED_PROXIES="127.0.0.1",
    )
    return start_live_server(request, env=env, name="gunicorn", log_dir=folder, server="gunicorn")


def get(server, path: str) -> int:
    request = server.request(path, headers={"X-Forwarded-Proto": "https"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


def test_gunicorn_runs_the_configured_sync_workers(production_http):
    log = production_http.log_text()

    assert "Using worker: sync" in log
    assert len(re.findall(r"Booting worker with pid", log)) == 2


def test_each_request_is_logged_once_by_the_app_without_its_query_string(production_http):
    assert get(production_http, "/display/screen/data/?phone=%2B919876543210") == 200

    log = production_http.log_text()
    lines = [line for line in log.splitlines() if "path=/display/screen/data/" in line]
    assert len(lines) == 1 and "queue.requests" in lines[0] and "status=200" in lines[0]
    assert "9876543210" not in log  # gunicorn writes no access log of its own
    assert "GET /display/" not in log  # nor a request line


def test_the_container_healthcheck_passes_on_gunicorn(production_http):
    result = subprocess.run(
        [sys.executable, "deploy/healthcheck.py", str(production_http.port)],
        cwd=BASE_DIR,
        env=production_http.env,
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode == 0, result.stderr


def test_a_graceful_stop_ends_every_worker_cleanly(request, tmp_path):
    env = documented_production_env(
        DATABASE_URL=migrated_sqlite(tmp_path / "db.sqlite3"), REDIS_URL=None, SMS_BACKEND="console"
    )
    server = start_live_server(request, env=env, name="stopping", server="gunicorn")

    server.process.send_signal(signal.SIGTERM)

    assert server.process.wait(timeout=30) == 0
    log = server.log_text()
    assert log.count("Worker exiting") == 2
    assert "still on their way" not in log and "Traceback" not in log


@shares_the_test_database
@pytest.mark.django_db(transaction=True)
def test_a_call_made_through_gunicorn_is_texted_at_once_by_the_workers_sender(request, tmp_path):
    """No notifier runs here: the text can only come from the worker's own sender thread."""
    env = shared_test_env(NOTIFY_SENDER_THREAD="1", SMS_BACKEND="file", SMS_FILE_PATH=str(tmp_path / "sms"))
    server = start_live_server(request, env=env, name="gunicorn", server="gunicorn")
    opd = ServiceFactory(service_name="OPD")
    ((_, session_key),) = seat_operators(opd, 1)
    patient = PatientFactory(phone="+919812345678")
    ticket, _ = services.join(patient=patient, service=opd, notify=True)

    status, body = serve_next(server, session_key)

    assert status == 200 and body["serving_patient"]["queue_id"] == ticket.queue_id
    deadline = time.monotonic() + 20
    texts = []
    while not texts and time.monotonic() < deadline:
        texts = list((tmp_path / "sms").glob("*.txt"))
        time.sleep(0.1)
    assert len(texts) == 1
    assert texts[0].read_text().startswith("To: +919812345678")
    assert ticket.queue_id in texts[0].read_text()
    assert Notification.objects.get(ticket=ticket, kind=Notification.Kind.CALLED).status == Notification.Status.SENT


@shares_the_test_database
@pytest.mark.skipif(not ON_REDIS, reason="gunicorn and Daphne share events through Redis: set REDIS_URL")
@pytest.mark.django_db(transaction=True)
def test_a_call_made_through_gunicorn_reaches_a_display_on_daphne(request, settings):
    layer = settings.CHANNEL_LAYERS["default"]
    settings.CHANNEL_LAYERS = {
        "default": {**layer, "CONFIG": {**layer["CONFIG"], "prefix": f"wsgi-{uuid.uuid4().hex[:8]}"}}
    }
    env = shared_test_env()
    http = start_live_server(request, env=env, name="gunicorn", server="gunicorn", wait=False)
    ws = start_live_server(request, env=env, name="daphne")
    http.wait_ready()
    display = Display(ws)
    display.start()
    request.addfinalizer(display.stop)
    assert display.subscribed.wait(15) and display.error is None, display.error
    opd = ServiceFactory(service_name="OPD")
    ((counter, session_key),) = seat_operators(opd, 1)
    tickets = [services.join(patient=PatientFactory(), service=opd)[0] for _ in range(3)]

    answers = [serve_next(http, session_key)[0] for _ in tickets]

    assert answers == [200, 200, 200]
    display.wait_for_calls(3, timeout=15)
    assert display.called() == [ticket.queue_id for ticket in tickets]
