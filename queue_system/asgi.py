"""ASGI entry point: one Daphne process serves HTTP and the WebSocket on one port."""

import asyncio
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


class LimitHttpConcurrency:
    """At most HTTP_CONCURRENCY requests inside Django per process and kind; the rest wait in
    the event loop. Unbounded, an overload gives every request a thread and a database
    connection until MariaDB refuses connections; bounded, requests queue and are answered in
    turn. Reads (GET, HEAD, OPTIONS) and changes have separate allowances: changes of one queue
    take turns on its lock, and a burst of them must not keep the wall display, the phones' polls
    and the staff screens from reading."""

    READS = frozenset({"GET", "HEAD", "OPTIONS"})

    def __init__(self, app, limit: int):
        self.app, self.limit, self.semaphores = app, limit, None

    async def __call__(self, scope, receive, send):
        if self.semaphores is None:  # created inside the server's running event loop
            self.semaphores = {True: asyncio.Semaphore(self.limit), False: asyncio.Semaphore(self.limit)}
        async with self.semaphores[scope.get("method", "GET") in self.READS]:
            return await self.app(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": LimitHttpConcurrency(django_asgi_app, settings.HTTP_CONCURRENCY),
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
