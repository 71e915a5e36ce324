from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from .models import Entry, Sequence

GROUP = "bench-minimal"
LANES = 1000  # far more than any run's services; the column holds up to 32767


def _announce(number: int) -> None:
    async_to_sync(get_channel_layer().group_send)(GROUP, {"type": "bench.minimal", "number": number})


@csrf_exempt  # a load-generator endpoint with no session: nothing to forge
def write(request, lane: int):
    """Lock the lane's sequence for today, take its next number, insert the entry, announce it after
    the commit. A lane stands for a service: the load spreads over as many locks as the run has."""
    if request.method != "POST":
        response = JsonResponse({"detail": "POST to take a number."}, status=405)
        response["Allow"] = "POST"
        return response
    if lane >= LANES:
        return JsonResponse({"detail": f"Lanes are numbered 0 to {LANES - 1}."}, status=404)
    day = timezone.localdate()
    with transaction.atomic():
        sequence, _ = Sequence.objects.select_for_update().get_or_create(day=day, lane=lane)
        sequence.last += 1
        sequence.save(update_fields=["last"])
        entry = Entry.objects.create(day=day, lane=lane, number=sequence.last)
        transaction.on_commit(lambda: _announce(entry.number))
    return JsonResponse({"lane": lane, "number": entry.number}, status=201)
