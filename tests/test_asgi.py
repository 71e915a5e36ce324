"""The ASGI entry point: HTTP requests beyond HTTP_CONCURRENCY wait their turn."""

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
    await asyncio.gather(*(limited({"type": "http"}, None, None) for _ in range(40)))
    assert peak == 4 and answered == 40
