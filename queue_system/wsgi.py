"""WSGI entry point: the HTTP server of production, gunicorn (deploy/gunicorn.conf.py), with
Daphne serving only the WebSocket (asgi.py) and nginx routing /ws/ to it.

Each worker process publishes its events on an event loop of its own, runs the patient-text
sender (texts leave right after the change commits) and the housekeeping, as a Daphne process
does. Loaded in each worker, after the fork (no `preload_app`): threads do not survive a fork.
"""

import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "queue_system.settings")

from django.core.exceptions import ImproperlyConfigured  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402

try:
    django_wsgi_app = get_wsgi_application()
except ImproperlyConfigured as exc:
    sys.exit(f"Configuration error: {exc}")

from django.conf import settings  # noqa: E402

from queue_app.background import notification_sender, start_housekeeping  # noqa: E402
from queue_system.server import EventLoopThread  # noqa: E402

events_loop = EventLoopThread()
application = events_loop.serving(django_wsgi_app)
# Expiring earlier days' tickets and releasing idle counters must not wait for a request.
housekeeper = start_housekeeping(every=settings.HOUSEKEEPING_INTERVAL_SECONDS, loop=events_loop.loop)
# Patient texts go out right after the change commits, and what failed is retried, without cron.
sender = notification_sender() if settings.NOTIFY_SENDER_THREAD else None


def finish(grace: float) -> None:
    """The worker is exiting (gunicorn's worker_exit): the last changes' events go out first."""
    if housekeeper is not None:
        housekeeper.stop()
    if sender is not None:
        sender.stop()
    events_loop.finish(timeout=grace)
