"""The project's ASGI application with what-if experiments, for `--http-limit` and `--what-if`.

- BENCH_HTTP_LIMIT=N: at most N HTTP requests in the app at once per process; the others wait
  in the event loop instead of each holding a thread and a database connection. WebSocket
  connections are not limited.
- BENCH_WHAT_IF=fast-dispatch: the consumer forwards `broadcast` messages without Channels'
  per-message `aclose_old_connections()` (a thread hop for every delivered frame).
- BENCH_WHAT_IF=switch-interval-<ms>: sys.setswitchinterval (CPython's default 5 ms), to see
  whether threads back from the database waiting for the GIL stretch the service lock's hold.
- BENCH_WHAT_IF=shielded-send: queue_app.events publishes through `asyncio.shield`, so a request
  cancelled because its client went away still announces the change it committed.

Only loaded when one of them is asked for; the stock runs serve queue_system.asgi:application.
"""

import asyncio
import os
import sys

from queue_system.asgi import application as project_application

LIMIT = int(os.environ.get("BENCH_HTTP_LIMIT") or 0)
WHAT_IF = {name.strip() for name in os.environ.get("BENCH_WHAT_IF", "").split(",") if name.strip()}

for name in WHAT_IF:
    if name.startswith("switch-interval-"):
        sys.setswitchinterval(float(name.removeprefix("switch-interval-")) / 1000)

if "fast-dispatch" in WHAT_IF:
    from queue_app.consumers import QueueUpdatesConsumer

    stock_dispatch = QueueUpdatesConsumer.dispatch

    async def dispatch(self, message):
        # A broadcast is pre-serialised text forwarded as is: no database, so no
        # close_old_connections() hop to a worker thread before it.
        if message["type"] == "broadcast":
            await self.broadcast(message)
            return
        await stock_dispatch(self, message)

    QueueUpdatesConsumer.dispatch = dispatch


if "shielded-send" in WHAT_IF:
    from queue_app import events

    stock_send_all = events._send_all
    in_flight: set = set()

    async def shielded_send_all(layer, texts):
        # Django cancels a request whose client disconnected and asgiref carries that
        # cancellation into async_to_sync: a change that already committed must still go out.
        task = asyncio.ensure_future(stock_send_all(layer, texts))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
        await asyncio.shield(task)

    def send(messages):
        try:
            events.send.__wrapped__(messages)
        except asyncio.CancelledError:
            events.log.info("client gone; %d messages still being delivered", len(messages))

    events._send_all = shielded_send_all
    send.__wrapped__ = events.send
    events.send = send


class LimitHttpConcurrency:
    def __init__(self, app, limit: int):
        self.app = app
        self.limit = limit
        self.semaphore = None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not self.limit:
            return await self.app(scope, receive, send)
        if self.semaphore is None:
            self.semaphore = asyncio.Semaphore(self.limit)  # created inside the running loop
        async with self.semaphore:
            return await self.app(scope, receive, send)


application = LimitHttpConcurrency(project_application, LIMIT)
