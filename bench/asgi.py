"""The project's ASGI application with what-if experiments, for `--http-limit` and `--what-if`.

- BENCH_HTTP_LIMIT=N: at most N HTTP requests in the app at once per process; the others wait
  in the event loop instead of each holding a thread and a database connection. WebSocket
  connections are not limited.
- BENCH_WHAT_IF=switch-interval-<ms>: sys.setswitchinterval (CPython's default 5 ms), to see
  whether threads back from the database waiting for the GIL stretch the service lock's hold.

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
