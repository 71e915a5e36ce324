"""A counter's socket on one Daphne process closes when its operator logs out, or is taken over,
through another process: the revocation travels through the channel layer (Redis), within a
second. Needs DATABASE_URL=mysql://... and REDIS_URL (CI's MariaDB + Redis pass); skipped
otherwise. In one process: tests/realtime/test_revocation.py.
"""

import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from contextlib import ExitStack

import pytest
from django.conf import settings
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from queue_app import services

from ..conftest import ON_MYSQL, ON_REDIS
from ..factories import CounterFactory, ServiceFactory, StaffFactory
from ..liveserver import shared_test_env, start_live_server
from ..security_helpers import CSRF_TOKEN, staff_session

pytestmark = [
    pytest.mark.mysql,
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.skipif(
        not (ON_MYSQL and ON_REDIS),
        reason="sockets on one process, logout on another: set DATABASE_URL=mysql://... and REDIS_URL",
    ),
    pytest.mark.django_db(transaction=True),  # the servers must see the rows this test commits
]


@pytest.fixture
def servers(request, settings):
    layer = settings.CHANNEL_LAYERS["default"]
    settings.CHANNEL_LAYERS = {
        "default": {**layer, "CONFIG": {**layer["CONFIG"], "prefix": f"revoke-{uuid.uuid4().hex[:8]}"}}
    }
    env = shared_test_env()
    launched = [start_live_server(request, env=env, name=name, wait=False) for name in ("a", "b")]
    return [server.wait_ready() for server in launched]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def post_form(server, path: str, session_key: str, fields: dict) -> int:
    request = server.request(
        path,
        data=urllib.parse.urlencode(fields).encode(),
        method="POST",
        headers={
            "Cookie": f"{settings.SESSION_COOKIE_NAME}={session_key}; {settings.CSRF_COOKIE_NAME}={CSRF_TOKEN}",
            "X-CSRFToken": CSRF_TOKEN,
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    try:
        with urllib.request.build_opener(NoRedirect).open(request, timeout=15) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def counter_socket(sockets: ExitStack, server, counter_id: int, session_key: str):
    ws = sockets.enter_context(
        connect(
            f"{server.ws_url}/ws/queue/updates/?counter={counter_id}",
            origin=f"http://{server.host}:{server.port}",
            additional_headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={session_key}"},
            open_timeout=5,
        )
    )
    assert '"snapshot"' in ws.recv(timeout=5)
    return ws


def closed_within(ws, seconds: float) -> int:
    """The close code, asserting it came within `seconds` (frames before it are skipped)."""
    started = time.monotonic()
    try:
        while time.monotonic() - started < seconds:
            ws.recv(timeout=max(0.01, seconds - (time.monotonic() - started)))
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None
    except TimeoutError:
        pass
    raise AssertionError(f"the socket was still open after {seconds}s")


@pytest.fixture
def sockets():
    with ExitStack() as stack:
        yield stack


def test_take_over_and_logout_through_one_process_close_sockets_on_the_other(servers, sockets):
    a, b = servers
    opd = ServiceFactory(service_name="OPD")
    first, second = StaffFactory(username="first"), StaffFactory(username="second")
    counter = services.hold_counter(counter=CounterFactory(counter_name="Counter 1", service=opd), staff=first)
    first_key, second_key = staff_session(first), staff_session(second)

    watched = counter_socket(sockets, a, counter.pk, first_key)
    assert post_form(b, "/staff/switch_counter/", second_key, {"counter": counter.pk, "force": "1"}) == 302
    assert closed_within(watched, 1.0) == 4403

    watched = counter_socket(sockets, a, counter.pk, second_key)
    assert post_form(b, "/staff/logout/", second_key, {}) == 302
    assert closed_within(watched, 1.0) == 4403
