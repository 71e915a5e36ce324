"""The ASGI entry point: HTTP requests beyond HTTP_CONCURRENCY wait their turn, reads and changes
in separate lines."""

import asyncio

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
