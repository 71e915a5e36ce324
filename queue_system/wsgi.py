"""WSGI entry point (HTTP only; the product runs under ASGI for its WebSocket)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "queue_system.settings")
application = get_wsgi_application()
