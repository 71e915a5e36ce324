"""/healthz/: 200 when the database and the channel layer answer, 503 naming the one that failed.

Docker's HEALTHCHECK, the load balancer and the test live server ask it. The answer names only
the failing part and the exception's class; the details go to the log, not to the public.
"""

import asyncio
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

log = logging.getLogger("queue.health")

LAYER_TIMEOUT_SECONDS = 2


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


async def _publish(layer) -> None:
    # A group nobody joins: on Redis this is one PUBLISH, a round trip to the server.
    await asyncio.wait_for(layer.group_send("healthz", {"type": "healthz.ping"}), timeout=LAYER_TIMEOUT_SECONDS)


def check_channel_layer() -> None:
    layer = get_channel_layer()
    if layer is None:
        raise LookupError("CHANNEL_LAYERS has no default layer")
    async_to_sync(_publish)(layer)


CHECKS = {"database": check_database, "channel_layer": check_channel_layer}


@never_cache
@require_safe
def healthz(request):
    results = {}
    for name, check in CHECKS.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure is an answer, never a 500
            log.warning("health check failed: %s: %s: %s", name, exc.__class__.__name__, exc)
            results[name] = f"error: {exc.__class__.__name__}"
    failed = [name for name, result in results.items() if result != "ok"]
    body = {"status": "error" if failed else "ok", "failed": failed, **results}
    return JsonResponse(body, status=503 if failed else 200)
