"""ASGI entry point: Daphne serves the WebSocket (in production nginx sends it /ws/ only; HTTP goes
to gunicorn, wsgi.py), and under `make run` HTTP too, on one port."""

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

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from queue_app.background import notification_sender, with_housekeeping  # noqa: E402
from queue_app.routing import websocket_urlpatterns  # noqa: E402
from queue_system.server import (  # noqa: E402
    FinishRequestsOnShutdown,
    SessionOnlyWhereNeeded,
    TryAgainLater,
    mask_access_log,
)

# Daphne's own access log (on unless --verbosity 0) must not show phones or ticket links.
mask_access_log()

application = ProtocolTypeRouter(
    {
        "http": FinishRequestsOnShutdown(django_asgi_app, grace=settings.SHUTDOWN_GRACE_SECONDS),
        "websocket": AllowedHostsOriginValidator(
            TryAgainLater(SessionOnlyWhereNeeded(URLRouter(websocket_urlpatterns)))
        ),
    }
)
# Expiring earlier days' tickets and releasing idle counters must not wait for a request.
application = with_housekeeping(application, every=settings.HOUSEKEEPING_INTERVAL_SECONDS)
# Patient texts go out right after the change commits, and what failed is retried, without cron.
if settings.NOTIFY_SENDER_THREAD:
    notification_sender()
