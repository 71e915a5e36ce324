"""The ASGI entry point: HTTP requests beyond HTTP_CONCURRENCY wait their turn, reads and changes
in separate lines; requests' sync code runs on threads kept between requests."""

import asyncio
import json
import threading
import time

import pytest
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.db import connections

from queue_system.server import LimitHttpConcurrency, ReuseRequestThreads, SessionOnlyWhereNeeded


async def test_requests_beyond_the_limit_wait_their_turn_and_all_are_answered():
    inside = peak = answered = 0

    async def app(scope, receive, send):
        nonlocal inside, peak, answered
        inside += 1
        peak = max(peak, inside)
        await asyncio.sleep(0.01)
        inside -= 1
        answered += 1

    limited = LimitHttpConcurrency(app, 4)
    await asyncio.gather(*(limited({"type": "http", "method": "POST"}, None, None) for _ in range(40)))
    assert peak == 4 and answered == 40


async def test_reads_are_not_kept_waiting_by_changes_that_hold_every_place():
    release = asyncio.Event()
    read_answered = asyncio.Event()

    async def app(scope, receive, send):
        if scope["method"] == "POST":
            await release.wait()  # changes queued on a busy queue's lock
        else:
            read_answered.set()

    limited = LimitHttpConcurrency(app, 2)
    changes = [asyncio.ensure_future(limited({"type": "http", "method": "POST"}, None, None)) for _ in range(5)]
    await asyncio.sleep(0.01)
    await asyncio.wait_for(limited({"type": "http", "method": "GET"}, None, None), timeout=1)
    assert read_answered.is_set()
    release.set()
    await asyncio.gather(*changes)


class Recorder:
    """An ASGI `send` that keeps what was sent."""

    def __init__(self):
        self.messages = []

    async def __call__(self, message):
        self.messages.append(message)

    @property
    def status(self):
        return self.messages[0]["status"]

    @property
    def headers(self):
        return dict(self.messages[0]["headers"])

    @property
    def body(self):
        return b"".join(m.get("body", b"") for m in self.messages[1:])


async def test_a_request_that_waited_too_long_is_told_to_retry_without_entering_django():
    release = asyncio.Event()
    entered = []

    async def app(scope, receive, send):
        entered.append(scope["path"])
        await release.wait()

    limited = LimitHttpConcurrency(app, 1, wait_seconds=0.05)
    holder = asyncio.ensure_future(limited({"type": "http", "method": "POST", "path": "/first/"}, None, None))
    await asyncio.sleep(0.01)
    api, page = Recorder(), Recorder()
    api_scope = {
        "type": "http",
        "method": "POST",
        "path": "/queue/join/",
        "headers": [(b"accept", b"application/json")],
    }
    await asyncio.wait_for(limited(api_scope, None, api), 2)
    page_scope = {"type": "http", "method": "POST", "path": "/patient/select/", "headers": []}
    await asyncio.wait_for(limited(page_scope, None, page), 2)
    assert entered == ["/first/"]
    assert api.status == 503 and api.headers[b"retry-after"] == b"2"
    assert json.loads(api.body) == {
        "error": "The service is busy, please try again in a moment.",
        "code": "unavailable",
    }
    assert page.status == 503 and page.headers[b"content-type"].startswith(b"text/plain")
    assert page.body == b"The service is busy, please try again in a moment."
    release.set()
    await holder
    # The place is free again: the next request is served.
    await asyncio.wait_for(limited({"type": "http", "method": "POST", "path": "/later/"}, None, Recorder()), 1)
    assert entered == ["/first/", "/later/"]


# --- request threads kept between requests ------------------------------------------------------


def _thread_recording_app(seen: list, release: asyncio.Event | None = None):
    """An app whose sync code (as Django runs middleware and views) records its thread."""

    async def app(scope, receive, send):
        if release is not None:
            await release.wait()
        await sync_to_async(lambda: seen.append(threading.current_thread()))()

    return app


async def test_requests_one_after_another_run_on_the_same_kept_thread():
    seen = []
    kept = ReuseRequestThreads(_thread_recording_app(seen), keep=2)
    for _ in range(5):
        await kept({"type": "http", "method": "GET"}, None, None)
    assert len({t.ident for t in seen}) == 1
    assert seen[0].name.startswith("request") and seen[0].is_alive()
    assert len(kept.idle) == 1


async def test_requests_at_once_get_threads_of_their_own_and_a_burst_beyond_the_kept_ones_ends():
    seen, release = [], asyncio.Event()
    kept = ReuseRequestThreads(_thread_recording_app(seen, release), keep=2)
    requests = [asyncio.ensure_future(kept({"type": "http", "method": "GET"}, None, None)) for _ in range(5)]
    await asyncio.sleep(0.01)
    release.set()
    await asyncio.gather(*requests)
    assert len({t.ident for t in seen}) == 5
    assert len(kept.idle) == 2
    # The three beyond `keep` close their database connections and end; the kept two wait.
    deadline = time.monotonic() + 5
    while sum(t.is_alive() for t in seen) > 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert sum(t.is_alive() for t in seen) == 2


async def test_keep_zero_is_djangos_own_thread_per_request():
    seen = []
    plain = ReuseRequestThreads(_thread_recording_app(seen), keep=0)
    for _ in range(2):
        async with ThreadSensitiveContext():  # what Django's handler enters for each request
            await plain({"type": "http", "method": "GET"}, None, None)
    assert seen[0] is not seen[1] and not plain.idle


@pytest.mark.mysql
@pytest.mark.skipif(
    not settings.DATABASES["default"]["ENGINE"].endswith("mysql"),
    reason="Django never closes an in-memory SQLite database; MariaDB's connections are what is kept",
)
@pytest.mark.django_db(transaction=True)
async def test_a_thread_beyond_the_kept_ones_closes_its_database_connection_before_it_ends():
    wrappers, release = [], asyncio.Event()

    async def app(scope, receive, send):
        await release.wait()

        def query():
            with connections["default"].cursor() as cursor:
                cursor.execute("SELECT 1")
            wrappers.append((threading.current_thread(), connections["default"]))

        await sync_to_async(query)()

    kept = ReuseRequestThreads(app, keep=1)
    requests = [asyncio.ensure_future(kept({"type": "http", "method": "GET"}, None, None)) for _ in range(3)]
    await asyncio.sleep(0.01)
    release.set()
    await asyncio.gather(*requests)
    deadline = time.monotonic() + 5
    while sum(t.is_alive() for t, _ in wrappers) > 1 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    ended = [w for t, w in wrappers if not t.is_alive()]
    (still,) = [w for t, w in wrappers if t.is_alive()]
    assert len(ended) == 2 and all(w.connection is None for w in ended)
    assert still.connection is not None  # kept for the next request


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("query", "private"),
    [
        (b"", False),
        (b"lang=hi", False),
        (b"counter=3", True),
        (b"ticket=7&token=abc", True),
        (b"%74icket=7", True),  # as the consumer's parse_qs reads it
        (b"counter", True),  # a bare name is still asking for a counter (refused by the consumer)
    ],
)
async def test_only_sockets_naming_a_counter_or_a_ticket_get_a_session_and_a_user(query, private):
    seen = {}

    async def consumer(scope, receive, send):
        seen.update(scope)

    app = SessionOnlyWhereNeeded(consumer)
    await app({"type": "websocket", "path": "/ws/queue/updates/", "query_string": query, "headers": []}, None, None)

    assert ("session" in seen, "user" in seen) == (private, private)
