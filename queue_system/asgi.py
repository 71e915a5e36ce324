"""ASGI entry point: one Daphne process serves HTTP and the WebSocket on one port."""

import asyncio
import collections
import json
import logging
import os
import sys
from concurrent.futures import ThreadPoolExecutor

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "queue_system.settings")

from django.core.asgi import get_asgi_application  # noqa: E402
from django.core.exceptions import ImproperlyConfigured  # noqa: E402

try:
    # Load Django (apps, settings) before importing consumers, which import models.
    django_asgi_app = get_asgi_application()
except ImproperlyConfigured as exc:
    sys.exit(f"Configuration error: {exc}")

from asgiref.sync import ThreadSensitiveContext  # noqa: E402
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connections  # noqa: E402

from queue_app.consumers import is_private, socket_query  # noqa: E402
from queue_app.routing import websocket_urlpatterns  # noqa: E402
from queue_app.services import Busy  # noqa: E402

log = logging.getLogger("queue.requests")


class LimitHttpConcurrency:
    """At most HTTP_CONCURRENCY requests inside Django per process and kind; the rest wait in
    the event loop, each at most HTTP_QUEUE_SECONDS. Unbounded, an overload gives every request
    a thread and a database connection until MariaDB refuses connections; bounded, requests queue
    and are answered in turn. Reads (GET, HEAD, OPTIONS) and changes have separate allowances:
    changes of one queue take turns on its lock, and a burst of them must not keep the wall
    display, the phones' polls and the staff screens from reading.

    A request that has waited HTTP_QUEUE_SECONDS is answered 503 "busy, try again" (Retry-After)
    without entering Django: under an overload the server then spends its time on requests whose
    clients still wait, instead of on ones they gave up long ago (which answers nobody and
    lowers what gets done)."""

    READS = frozenset({"GET", "HEAD", "OPTIONS"})

    def __init__(self, app, limit: int, wait_seconds: float | None = None):
        self.app, self.limit, self.wait_seconds, self.semaphores = app, limit, wait_seconds, None

    async def __call__(self, scope, receive, send):
        if self.semaphores is None:  # created inside the server's running event loop
            self.semaphores = {True: asyncio.Semaphore(self.limit), False: asyncio.Semaphore(self.limit)}
        semaphore = self.semaphores[scope.get("method", "GET") in self.READS]
        try:
            await asyncio.wait_for(semaphore.acquire(), self.wait_seconds)
        except TimeoutError:
            log.warning("busy: %s %s waited %s s for a place, answered 503", scope.get("method"), scope.get("path"),
                        self.wait_seconds)  # fmt: skip
            await _busy(scope, send)
            return None
        try:
            return await self.app(scope, receive, send)
        finally:
            semaphore.release()


class ReuseRequestThreads:
    """Run each request's sync code (middleware, views) on a thread kept from earlier requests.

    Under ASGI, Django gives every request a new thread, and with it a new database connection:
    on MariaDB a connect, its session settings and a version query (about 1.2 ms of CPU in this
    process alone, a tenth of a join), and a persistent connection (CONN_MAX_AGE) would be
    left behind with its thread, one per request (shared/PERF-NOTES.md). Here a request borrows
    one of the threads, whose connection stays open between requests as under a threaded WSGI
    server (Django closes it after CONN_MAX_AGE or an error, and pings it first with
    CONN_HEALTH_CHECKS). `keep` threads stay per process; a burst beyond them gets more, which
    close their connection and end once it is over, so requests' connections never outgrow
    processes × 2 × HTTP_CONCURRENCY (the limit above), and stay at processes × `keep` when idle.
    """

    def __init__(self, app, keep: int):
        self.app, self.keep = app, keep
        self.idle: collections.deque[ThreadPoolExecutor] = collections.deque()

    async def __call__(self, scope, receive, send):
        if self.keep <= 0:
            return await self.app(scope, receive, send)
        try:
            executor = self.idle.pop()
        except IndexError:
            executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="request")
        try:
            async with ThreadSensitiveContext(executor=executor):
                return await self.app(scope, receive, send)
        finally:
            # asgiref waits for a cancelled request's sync code to return, so the thread is free.
            self._give_back(executor)

    def _give_back(self, executor: ThreadPoolExecutor) -> None:
        if len(self.idle) < self.keep:
            self.idle.append(executor)
            return
        executor.submit(connections.close_all)
        executor.shutdown(wait=False)


class SessionOnlyWhereNeeded:
    """WebSockets: a connection that names a counter or a ticket is answered with its session
    and user (AuthMiddlewareStack) to decide what it may follow; one that names neither (a wall
    display, any public client) follows the public display group and never needs them, so it
    skips the session, cookie and user wrappers: Channels' session wrapper looks at the session
    for changes on every frame sent, and without it a 2,000-display fan-out cost 13% less
    server CPU per frame (bench)."""

    def __init__(self, inner):
        self.public = inner
        self.private = AuthMiddlewareStack(inner)

    async def __call__(self, scope, receive, send):
        # Read as the consumer reads it: the same names choose the same kind of connection.
        app = self.private if is_private(socket_query(scope)) else self.public
        return await app(scope, receive, send)


async def _busy(scope, send) -> None:
    """503 in the shape the client expects, as the API's and the pages' own 503s are."""
    message = str(Busy.default_message)
    accept = dict(scope.get("headers") or ()).get(b"accept", b"")
    if b"application/json" in accept:
        body, content_type = json.dumps({"error": message, "code": "unavailable"}).encode(), b"application/json"
    else:
        body, content_type = message.encode(), b"text/plain; charset=utf-8"
    headers = [(b"content-type", content_type), (b"retry-after", b"2"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})


application = ProtocolTypeRouter(
    {
        "http": LimitHttpConcurrency(
            ReuseRequestThreads(django_asgi_app, settings.REQUEST_THREADS),
            settings.HTTP_CONCURRENCY,
            settings.HTTP_QUEUE_SECONDS,
        ),
        "websocket": AllowedHostsOriginValidator(SessionOnlyWhereNeeded(URLRouter(websocket_urlpatterns))),
    }
)
