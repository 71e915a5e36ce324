"""The ASGI entry point: HTTP requests beyond HTTP_CONCURRENCY wait their turn, reads and changes
in separate lines."""

import asyncio
import json

from queue_system.asgi import LimitHttpConcurrency


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
