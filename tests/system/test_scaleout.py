"""Scale-out without Docker: two Daphne processes on one MariaDB and one Redis, as behind nginx.

Operators click "serve next" through both processes at once; no ticket is called twice, and a
wall display connected to either process sees every call, whichever process made it. Behind
them production's HTTP server, gunicorn, keeps its workers' database connections and no more.
Needs DATABASE_URL=mysql://... and REDIS_URL (CI's MariaDB + Redis pass); skipped otherwise.
"""

import json
import os
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter as Tally
from importlib import import_module

import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.db import connection
from django.db.models import Count
from django.utils.crypto import get_random_string
from websockets.sync.client import connect

from queue_app import services
from queue_app.models import QueueHistory, Ticket

from ..factories import CounterFactory, PatientFactory, ServiceFactory, StaffFactory
from ..liveserver import shared_test_env, start_live_server

ON_MYSQL = settings.DATABASES["default"]["ENGINE"].endswith("mysql")
ON_REDIS = bool(os.environ.get("REDIS_URL"))

pytestmark = [
    pytest.mark.mysql,
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.skipif(
        not (ON_MYSQL and ON_REDIS),
        reason="scale-out needs a shared database and channel layer: set DATABASE_URL=mysql://... and REDIS_URL",
    ),
    pytest.mark.django_db(transaction=True),  # the servers must see the rows this test commits
]

TICKETS = 40
OPERATORS = 4


@pytest.fixture
def servers(request, settings):
    """Two Daphne processes sharing the test database and a Redis channel-layer namespace."""
    # Redis pub/sub channels are not scoped by database number: a prefix of our own keeps other
    # test runs on this Redis from hearing our events (and us theirs).
    layer = settings.CHANNEL_LAYERS["default"]
    settings.CHANNEL_LAYERS = {
        "default": {**layer, "CONFIG": {**layer["CONFIG"], "prefix": f"scaleout-{uuid.uuid4().hex[:8]}"}}
    }
    env = shared_test_env()
    launched = [start_live_server(request, env=env, name=name, wait=False) for name in ("a", "b")]
    return [server.wait_ready() for server in launched]


@pytest.fixture
def http_servers(request, settings):
    """Production's HTTP: two gunicorn servers (one worker each) on the test database."""
    layer = settings.CHANNEL_LAYERS["default"]
    settings.CHANNEL_LAYERS = {
        "default": {**layer, "CONFIG": {**layer["CONFIG"], "prefix": f"scaleout-{uuid.uuid4().hex[:8]}"}}
    }
    env = shared_test_env(WEB_CONCURRENCY="1")
    launched = [start_live_server(request, env=env, name=name, server="gunicorn", wait=False) for name in "ab"]
    return [server.wait_ready() for server in launched]


def server_pids(server) -> list[int]:
    """The server's process and its children (gunicorn's workers)."""
    pid = server.process.pid
    with open(f"/proc/{pid}/task/{pid}/children") as children:
        return [pid, *(int(child) for child in children.read().split())]


@pytest.fixture
def opd(transactional_db):
    return ServiceFactory(service_name="OPD")


def seat_operators(service, count):
    """Counters held by operators (services.hold_counter), each with a logged-in session."""
    engine = import_module(settings.SESSION_ENGINE)
    seated = []
    for number in range(1, count + 1):
        staff = StaffFactory(username=f"scaleout{number}")
        counter = services.hold_counter(
            counter=CounterFactory(counter_name=f"Counter {number}", service=service), staff=staff
        )
        session = engine.SessionStore()
        session[SESSION_KEY] = str(staff.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = staff.get_session_auth_hash()
        session.create()
        seated.append((counter, session.session_key))
    return seated


def serve_next(server, session_key: str) -> tuple[int, dict]:
    csrf = get_random_string(32)
    request = server.request(
        "/staff/serve_next/",
        data=b"{}",
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Cookie": f"{settings.SESSION_COOKIE_NAME}={session_key}; {settings.CSRF_COOKIE_NAME}={csrf}",
            "X-CSRFToken": csrf,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


class Display(threading.Thread):
    """A wall display: a WebSocket client on one server, recording every event it receives."""

    def __init__(self, server):
        super().__init__(daemon=True)
        self.server = server
        self.events: list[dict] = []
        self.subscribed = threading.Event()
        self.stopping = threading.Event()
        self.error: BaseException | None = None

    def run(self):
        origin = f"http://{self.server.host}:{self.server.port}"
        try:
            with connect(self.server.ws_url + "/ws/queue/updates/", origin=origin, open_timeout=10) as socket:
                while not self.stopping.is_set():
                    try:
                        message = json.loads(socket.recv(timeout=0.2))
                    except TimeoutError:
                        continue
                    if message["type"] == "snapshot":
                        self.subscribed.set()  # joined the display group before the snapshot
                    else:
                        self.events.append(message)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
            self.subscribed.set()

    def called(self) -> list[str]:
        return [e["serving_patient"]["queue_id"] for e in self.events if e.get("event") == "patient_called"]

    def wait_for_calls(self, count: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while len(set(self.called())) < count and time.monotonic() < deadline and self.error is None:
            time.sleep(0.05)

    def stop(self):
        self.stopping.set()
        self.join(timeout=10)


@pytest.fixture
def displays(servers):
    started = [Display(server) for server in servers]
    for display in started:
        display.start()
    for display in started:
        assert display.subscribed.wait(15), f"no snapshot from {display.server.name}"
        assert display.error is None, display.error
    yield started
    for display in started:
        display.stop()


def test_concurrent_serve_next_through_two_processes_calls_each_ticket_once_and_every_display_sees_every_call(
    servers, displays, opd
):
    seated = seat_operators(opd, OPERATORS)
    patients = [PatientFactory() for _ in range(TICKETS)]
    tickets = [services.join(patient=patient, service=opd)[0] for patient in patients]
    answers: list[tuple[str, int, dict]] = []
    lock = threading.Lock()

    def operator(server, session_key):
        # Keep clicking until the queue is empty: two of these per counter, one per process,
        # so the same counter is also clicked twice at once.
        for _ in range(TICKETS * 2 + 5):
            status, body = serve_next(server, session_key)
            with lock:
                answers.append((server.name, status, body))
            if status != 200:
                return

    threads = [
        threading.Thread(target=operator, args=(server, session_key)) for _, session_key in seated for server in servers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for display in displays:
        display.wait_for_calls(TICKETS)

    # Every click was answered: the counter's new state, or "nobody waiting" at the end.
    assert {(status, body.get("code")) for _, status, body in answers if status != 200} == {(409, "nobody_waiting")}
    assert Tally(name for name, _, _ in answers).keys() == {"a", "b"}
    # The database: every ticket called exactly once, and served.
    calls = dict(
        QueueHistory.objects.filter(action=QueueHistory.Action.CALLED)
        .values_list("ticket__queue_id")
        .annotate(n=Count("id"))
    )
    assert calls == {ticket.queue_id: 1 for ticket in tickets}
    assert set(Ticket.objects.filter(service=opd).values_list("status", flat=True)) == {Ticket.Status.SERVED}
    # Each display, whichever process it is connected to, saw every call exactly once, at the
    # counter that made it.
    counter_of = dict(Ticket.objects.filter(service=opd).values_list("queue_id", "counter_id"))
    for display in displays:
        assert display.error is None, display.error
        assert Tally(display.called()) == Tally({ticket.queue_id: 1 for ticket in tickets}), display.server.name
        for event in display.events:
            if event.get("event") == "patient_called":
                assert event["counter_id"] == counter_of[event["serving_patient"]["queue_id"]]


def test_an_event_from_serve_next_on_one_process_reaches_a_display_on_the_other(servers, displays, opd):
    a, b = servers
    display_on_b = next(display for display in displays if display.server is b)
    ((counter, session_key),) = seat_operators(opd, 1)
    ticket, _ = services.join(patient=PatientFactory(), service=opd)

    status, body = serve_next(a, session_key)

    assert status == 200
    assert body["serving_patient"]["queue_id"] == ticket.queue_id
    display_on_b.wait_for_calls(1, timeout=10)
    assert display_on_b.called() == [ticket.queue_id]
    (called,) = [e for e in display_on_b.events if e.get("event") == "patient_called"]
    assert called["counter_id"] == counter.pk
    assert "phone" not in json.dumps(called)


def test_database_connections_are_kept_with_their_threads_and_never_grow_with_requests(http_servers, opd):
    """PERF-NOTES: CONN_MAX_AGE > 0 under plain ASGI leaks a connection per request (a new thread
    each). A gunicorn worker keeps its thread, and so its connection (DB_CONN_MAX_AGE): once the
    threads are warm, a burst opens (almost) no connection, and the servers hold no more than a
    thread's worth per worker (its request thread, and the threads reading position lists)."""
    servers = http_servers
    seated = seat_operators(opd, 2)
    for patient in [PatientFactory() for _ in range(6)]:
        services.join(patient=patient, service=opd)

    def status(query: str, *params) -> int:
        with connection.cursor() as cursor:
            cursor.execute(query, params)
            return int(cursor.fetchone()[-1])

    def server_connections() -> int:
        query = "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = %s AND ID <> CONNECTION_ID()"
        return status(query, connection.settings_dict["NAME"])

    def opened() -> int:  # connections MariaDB has accepted since it started
        return status("SHOW GLOBAL STATUS LIKE 'Connections'")

    # Connections this test process itself may hold (earlier tests' worker threads) are not
    # the servers': count only what the bursts add.
    baseline = server_connections()

    def burst(server, session_key):
        for _ in range(10):
            serve_next(server, session_key)
            urllib.request.urlopen(server.request("/healthz/"), timeout=10).close()

    def run_burst() -> int:
        threads = [threading.Thread(target=burst, args=(s, key)) for (_, key) in seated for s in servers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        return len(threads) * 10 * 2

    run_burst()
    held = server_connections() - baseline
    before = opened()
    requests = run_burst()
    opened_by_second = opened() - before

    worker_threads = min(32, (os.cpu_count() or 1) + 4)  # asyncio's default executor
    bound = len(servers) * (1 + worker_threads)
    assert 0 < held <= bound
    assert requests == 80 and opened_by_second <= 4  # a connection per request: 80
    # A burst that happens to run more requests at once than the first may warm a thread or two
    # more (CI once: 6 -> 8), each opening its connection: never beyond a thread's worth.
    assert server_connections() - baseline <= min(bound, held + opened_by_second)


def mariadb_ids_of_connections_held_by(pids) -> list[int]:
    """MariaDB's ids of the connections these processes hold, matched by their client port
    (their sockets' inodes in /proc/<pid>/fd, the inodes' local ports in /proc/net/tcp*)."""
    inodes = set()
    for pid in pids:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                if fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ID, HOST FROM information_schema.PROCESSLIST WHERE DB = %s", [connection.settings_dict["NAME"]]
        )
        rows = cursor.fetchall()
    ids = []
    for thread_id, host in rows:
        port = host.rpartition(":")[2]
        if port.isdigit() and int(port) in ports:
            ids.append(thread_id)
    return ids


def test_a_kept_connection_that_mariadb_dropped_is_opened_again_without_an_error(http_servers, opd):
    """MariaDB restarted mid-day, or closed an idle connection (wait_timeout): a gunicorn worker's
    kept connection is checked before its next request (CONN_HEALTH_CHECKS) and opened again."""
    servers = http_servers
    ((_, session_key),) = seat_operators(opd, 1)
    for patient in PatientFactory.create_batch(30):
        services.join(patient=patient, service=opd)
    for server in servers:  # each server's request threads now hold a connection
        assert [serve_next(server, session_key)[0] for _ in range(3)] == [200] * 3

    # Only the servers' connections: this test process's own threads keep theirs.
    dropped = mariadb_ids_of_connections_held_by([pid for server in servers for pid in server_pids(server)])
    assert len(dropped) >= len(servers)
    with connection.cursor() as cursor:
        for thread_id in dropped:
            cursor.execute("KILL CONNECTION %s", [thread_id])

    assert [serve_next(server, session_key)[0] for server in servers for _ in range(3)] == [200] * 6
    for server in servers:
        with urllib.request.urlopen(server.request("/healthz/"), timeout=10) as response:
            assert response.status == 200
