"""Builds every real-time payload and sends it to channel-layer groups after the commit.

Groups (shared/DESIGN.md): `display` (public, names per DISPLAY_NAME_MODE, never phones),
`counter.<id>` (staff, full names and the waiting list), `queue.<service_id>` (ticket numbers
only, one compact message per change) and `ticket.<id>` (one patient's personal news).
Payloads are built inside the transaction, from the state it is about to commit, and sent with
`transaction.on_commit`, so a rolled-back change sends nothing. Each payload is serialised once
and consumers forward the text as is.
"""

import asyncio
import json
import logging
import time

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from . import selectors
from .models import Counter, Ticket

log = logging.getLogger("queue.events")

DISPLAY_GROUP = "display"


def counter_group(counter_id) -> str:
    return f"counter.{counter_id}"


def queue_group(service_id) -> str:
    return f"queue.{service_id}"


def ticket_group(ticket_id) -> str:
    return f"ticket.{ticket_id}"


def ticket_payload(event: str, ticket: Ticket, *, counter: Counter | None = None, note: str = "") -> dict:
    counter = counter if counter is not None else (ticket.counter if ticket.counter_id else None)
    return {
        "type": "ticket_update",
        "event": event,
        "ticket": {
            "id": ticket.pk,
            "queue_id": ticket.queue_id,
            "number": ticket.number,
            "status": ticket.status,
            "service_id": ticket.service_id,
            "counter_id": counter.pk if counter else None,
            "counter": counter.counter_name if counter else None,
        },
        "message": note,
    }


def build_changes(
    *,
    service_id: int,
    counter_events: list[tuple[str, Counter | None]] = (),
    ticket_events: list[tuple[str, Ticket]] = (),
    notes: dict | None = None,
    counters: list[Counter] | None = None,
    waiting_changed: list[Counter] = (),
) -> list[tuple[str, dict]]:
    """All messages for one change of a service's queue, in the order DESIGN.md gives.

    Three queries whatever the queue size: the counters (unless the caller already has them,
    as they are after the change), the active tickets, the service time.
    """
    mode = settings.DISPLAY_NAME_MODE
    if counters is None:
        counters = Counter.objects.filter(service_id=service_id).select_related("service")
    counters = {c.pk: c for c in counters}
    state = selectors.queue_state(service_ids=[service_id])
    now = timezone.now()
    lengths = {str(cid): state.queue_length(cid) for cid in counters}
    messages: list[tuple[str, dict]] = []
    for event, counter in counter_events:
        counter = counters.get(counter.pk) if counter is not None else None
        serving = state.serving.get(counter.pk) if counter else None
        base = {
            "type": "queue_update",
            "event": event,
            "counter_id": counter.pk if counter else None,
            "counter_name": counter.counter_name if counter else None,
            "service_id": service_id,
            "current_status": counter.current_status if counter else None,
            "is_open": counter.is_open(now) if counter else None,
            "queue_length": state.queue_length(counter.pk if counter else None),
            "queue_lengths": lengths,
            "unassigned": state.queue_length(None),
        }
        messages.append((DISPLAY_GROUP, {**base, "serving_patient": selectors.serving_dict(serving, mode=mode)}))
        if counter:
            staff = {
                **base,
                "serving_patient": selectors.serving_dict(serving),
                "waiting": [selectors.waiting_entry(r, now=now) for r in state.waiting.get(counter.pk, ())],
            }
            messages.append((counter_group(counter.pk), staff))
    for counter in waiting_changed:
        counter = counters[counter.pk]
        messages.append(
            (
                counter_group(counter.pk),
                {
                    "type": "queue_update",
                    "event": "waiting_changed",
                    "counter_id": counter.pk,
                    "counter_name": counter.counter_name,
                    "service_id": service_id,
                    "current_status": counter.current_status,
                    "is_open": counter.is_open(now),
                    "serving_patient": selectors.serving_dict(state.serving.get(counter.pk)),
                    "queue_length": state.queue_length(counter.pk),
                    "queue_lengths": lengths,
                    "unassigned": state.queue_length(None),
                    "waiting": [selectors.waiting_entry(r, now=now) for r in state.waiting.get(counter.pk, ())],
                },
            )
        )
    minutes = selectors.minutes_per_patient(service_id)
    messages.append((queue_group(service_id), selectors.positions_payload(service_id, state, minutes)))
    notes = notes or {}
    for event, ticket in ticket_events:
        counter = counters.get(ticket.counter_id)
        messages.append(
            (ticket_group(ticket.pk), ticket_payload(event, ticket, counter=counter, note=notes.get(ticket.pk, "")))
        )
    return messages


def publish_on_commit(messages: list[tuple[str, dict]]) -> None:
    """Send the messages once the surrounding transaction commits (at once outside one)."""
    if messages:
        transaction.on_commit(lambda: send(messages))


def send(messages: list[tuple[str, dict]]) -> None:
    """Best-effort delivery: a channel layer that is down is logged, never fails the request."""
    layer = get_channel_layer()
    if layer is None:
        return
    sent_at = time.time() * 1000
    texts = [(group, json.dumps({**payload, "sent_at": sent_at}, cls=DjangoJSONEncoder)) for group, payload in messages]
    try:
        async_to_sync(_send_all_shielded)(layer, texts)
    except asyncio.CancelledError:
        # The client went away while the view ran: Django cancelled the request and asgiref
        # carried the cancellation here. The shielded delivery goes on without us.
        log.info("client disconnected; %d messages still being delivered", len(texts))
    except Exception:  # noqa: BLE001 - any layer failure must not undo a committed change
        log.warning("event delivery failed for %d messages", len(texts), exc_info=True)


_in_flight: set = set()  # strong references: a running delivery must not be garbage-collected


async def _send_all_shielded(layer, texts) -> None:
    # Without the shield, a request cancelled after its change committed would never announce it:
    # a patient called, the display silent.
    task = asyncio.ensure_future(_send_all(layer, texts))
    _in_flight.add(task)
    task.add_done_callback(_in_flight.discard)
    await asyncio.shield(task)


async def _send_all(layer, texts) -> None:
    # One after another so each group receives a change's events in the order they were built.
    for group, text in texts:
        await layer.group_send(group, {"type": "broadcast", "text": text})
