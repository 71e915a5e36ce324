"""ASGI entry point: one Daphne process serves HTTP and the WebSocket on one port."""

import asyncio
import json
import logging
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "queue_system.settings")

from django.core.asgi import get_asgi_application  # noqa: E402
from django.core.exceptions import ImproperlyConfigured  # noqa: E402

try:
    # Load Django (apps, settings) before importing consumers, which import models.
    django_asgi_app = get_asgi_application()
except ImproperlyConfigured as exc:
    sys.exit(f"Configuration error: {exc}")

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

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
        "http": LimitHttpConcurrency(django_asgi_app, settings.HTTP_CONCURRENCY, settings.HTTP_QUEUE_SECONDS),
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
