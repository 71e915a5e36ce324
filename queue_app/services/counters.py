"""Counters: staff take and leave them, set their status; a break or a closing moves the queue
on to the other open counters (or the pool) and an opening takes the pool."""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import events, selectors
from ..bidi import isolated
from ..errors import CounterTaken, InvalidStatus, NotAllowed
from ..models import Counter, QueueHistory, Staff
from .changes import history, lock_service, lock_services, log_transition, queue_change
from .placement import hand_out_pool, move_and_publish, redistribute

log = logging.getLogger("queue.transitions")
History = QueueHistory.Action

HEARTBEAT_SECONDS = 60  # a dashboard's sign of life is written at most this often


@queue_change
def set_status(*, counter: Counter, status: str, by: Staff | None) -> int:
    """Set available / busy / break / closed; break and closed move the waiting tickets away.

    Returns how many tickets moved (to other counters, the pool, or from the pool to here).
    """
    if status not in Counter.Status.values:
        raise InvalidStatus(
            _("Unknown status %(status)r: use available, busy, break or closed.") % {"status": str(status)[:20]}
        )
    lock_service(counter.service_id)
    counter = selectors.counter_row(counter.pk)
    now = timezone.now()
    previous = counter.current_status
    if previous == status:
        return 0
    was_open = counter.is_open(now)
    counter.current_status = status
    counter.save(update_fields=["current_status"])
    history(History.COUNTER_STATUS, counter=counter, from_status=previous, to_status=status, by=by).save()
    log_transition("counter_status", counter=counter, status=status)

    if status in (Counter.Status.BREAK, Counter.Status.CLOSED):
        return move_and_publish(counter, redistribute(counter, now), by=by, away=True)
    moves = hand_out_pool(counter.service_id, now) if counter.is_open(now) and not was_open else {}
    return move_and_publish(counter, moves, by=by, away=False)


@queue_change
def hold_counter(*, counter: Counter, staff: Staff, force: bool = False) -> Counter:
    """Staff takes a counter at login: it opens and takes the service's unassigned tickets.

    A counter someone else holds is taken only with force=True (the other hold ends).
    """
    if not staff.is_active:
        raise NotAllowed()
    previous = Counter.objects.filter(held_by=staff).exclude(pk=counter.pk).first()
    lock_services(counter.service_id, *([previous.service_id] if previous else []))
    if previous is not None:
        _release(previous, by=staff)
    counter = selectors.counter_row(counter.pk)
    if counter.held_by_id and counter.held_by_id != staff.pk and not force:
        raise CounterTaken(
            _("%(staff)s is working at %(counter)s. Take it over?")
            % isolated(staff=counter.held_by.display_name, counter=counter)
        )
    now = timezone.now()
    was_open = counter.is_open(now)
    displaced = counter.held_by if counter.held_by_id and counter.held_by_id != staff.pk else None
    counter.held_by = staff
    counter.held_since = counter.last_seen_at = now
    if counter.current_status == Counter.Status.CLOSED:
        counter.current_status = Counter.Status.AVAILABLE
    counter.save(update_fields=["held_by", "held_since", "last_seen_at", "current_status"])
    note = f"taken over from {displaced.username}" if displaced else ""
    if displaced is not None:
        # The operator taken over keeps no socket on this counter (first: before the news).
        events.revoke_counter_on_commit(counter.pk)
    history(History.COUNTER_HELD, counter=counter, to_status=counter.current_status, by=staff, note=note).save()
    log_transition("counter_held", counter=counter, staff=staff.username)
    moves = hand_out_pool(counter.service_id, now) if counter.is_open(now) and not was_open else {}
    move_and_publish(counter, moves, by=staff, away=False)
    return counter


def _release(counter: Counter, *, by, note: str = "") -> int:
    counter = selectors.counter_row(counter.pk)
    now = timezone.now()
    previous = counter.current_status
    counter.held_by = None
    counter.held_since = None
    counter.current_status = Counter.Status.CLOSED
    counter.save(update_fields=["held_by", "held_since", "current_status"])
    history(
        History.COUNTER_RELEASED,
        counter=counter,
        from_status=previous,
        to_status=counter.current_status,
        by=by,
        note=note,
    ).save()
    log_transition("counter_released", counter=counter)
    # Whoever left keeps no socket on this counter (first: before the news of its closing).
    events.revoke_counter_on_commit(counter.pk)
    return move_and_publish(counter, redistribute(counter, now), by=by, away=True)


@queue_change
def release_counter(*, staff: Staff) -> int:
    """Staff leaves (logout or switching away): the counter closes and its queue moves on."""
    counter = Counter.objects.filter(held_by=staff).first()
    if counter is None:
        return 0
    lock_service(counter.service_id)
    return _release(counter, by=staff)


def touch_counter(*, counter: Counter, staff: Staff) -> None:
    """Record that the staff member holding the counter is still there (one UPDATE, no lock)."""
    now = timezone.now()
    if counter.last_seen_at and (now - counter.last_seen_at).total_seconds() < HEARTBEAT_SECONDS:
        return
    Counter.objects.filter(pk=counter.pk, held_by=staff).update(last_seen_at=now)
    counter.last_seen_at = now


def counter_heartbeat(*, counter_id: int, staff) -> None:
    """The staff dashboard's socket is alive: its counter is not idle (if the staff member still
    holds it)."""
    staff_id = getattr(staff, "pk", None)
    if staff_id is not None:
        Counter.objects.filter(pk=counter_id, held_by_id=staff_id).update(last_seen_at=timezone.now())


def release_idle_counters(*, now: datetime | None = None) -> int:
    """Release counters whose holder's dashboard went quiet (browser closed without logging out)."""
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=settings.COUNTER_IDLE_MINUTES)
    released = 0
    for counter in Counter.objects.filter(held_by__isnull=False, last_seen_at__lt=cutoff):
        with transaction.atomic():
            lock_service(counter.service_id)
            fresh = Counter.objects.select_related("held_by").get(pk=counter.pk)
            # Re-checked under the lock: the clerk may have come back since the first look.
            if fresh.held_by_id is None or fresh.last_seen_at is None or fresh.last_seen_at >= cutoff:
                continue
            log.info("releasing idle counter=%s staff=%s", fresh.pk, fresh.held_by.username)
            _release(fresh, by=None, note="idle: no sign of life from the dashboard")
            released += 1
    return released
