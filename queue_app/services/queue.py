"""The queue rules: the only code that changes tickets and counters.

Every function is one transaction. Each starts by locking the row of the service whose queue it
changes (`_lock_service`): joins, calls, breaks and redistributions of one service then happen
one at a time, so no number is handed out twice, no ticket is called twice and "the counter with
the fewest waiting" is decided on counts that nobody else is changing. On SQLite the IMMEDIATE
transaction mode gives the same serialisation for the whole database. Events are built inside
the transaction and sent after it commits.
"""

import functools
import logging
import secrets
import threading
import time
from collections import defaultdict
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import events, selectors
from ..models import Counter, Patient, QueueHistory, Service, Staff, Ticket, service_day
from .errors import (
    Busy,
    CounterNotOpen,
    CounterTaken,
    InvalidInput,
    InvalidStatus,
    NobodyWaiting,
    NoCurrentTicket,
    NotAllowed,
    ServiceUnavailable,
    StaleAction,
    TicketNotActive,
    UnknownService,
)
from .names import clean_name
from .turns import Turns

log = logging.getLogger("queue.transitions")
History = QueueHistory.Action
WAITING, CALLED = Ticket.Status.WAITING, Ticket.Status.CALLED

_rolled_over_through: date | None = None  # per-process memo; the expiry itself is idempotent


# --- one change at a time ------------------------------------------------------------------

_turns: Turns | None = None
_in_change = threading.local()


def _process_turns() -> Turns:
    global _turns
    if _turns is None:
        _turns = Turns(settings.QUEUE_CHANGE_CONCURRENCY)
    return _turns


def queue_change(func):
    """Run a rule as one transaction, with at most QUEUE_CHANGE_CONCURRENCY threads of this
    process inside one at a time; the others wait here for a turn, first come, first served.

    The changes of one service take turns on its row lock anyway. Left to wait there, many
    threads of a process each start a transaction and then queue inside the database, while the
    one holding the lock competes with all of them for the CPU: under a burst fewer changes got
    done (bench, 2 processes on 2 cores, 140 changes/s offered: 59/s done with up to 16 per
    process inside, 72/s with 2; at 84/s p95 165 ms with 16, 150 with 2, 115 with 4). A rule
    called from another (a walk-in's join) runs in its caller's turn.

    No turn within HTTP_QUEUE_SECONDS: Busy (503, try again), as for a request that waited that
    long to be let in at all; the client has most likely given up, or is about to.
    """
    atomic = transaction.atomic(func)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if getattr(_in_change, "active", False):
            return atomic(*args, **kwargs)
        turns = _process_turns()
        if not turns.acquire(timeout=settings.HTTP_QUEUE_SECONDS):
            log.warning("busy: no turn for %s within %s s", func.__name__, settings.HTTP_QUEUE_SECONDS)
            raise Busy()
        _in_change.active = True
        try:
            return atomic(*args, **kwargs)
        finally:
            _in_change.active = False
            turns.release()

    return wrapper


# --- helpers ---------------------------------------------------------------------------------


def _lock_service(service_id: int) -> Service:
    """Lock the service row: the queue of this service changes one transaction at a time."""
    rollover_if_new_day()
    service = Service.objects.select_for_update().filter(pk=service_id).first()
    if service is None:
        raise UnknownService()
    return service


def rollover_if_new_day() -> None:
    """Expire earlier days' open tickets at the first activity of a new day (memoised per process)."""
    global _rolled_over_through
    today = service_day()
    if _rolled_over_through != today:
        expire_previous_days(today=today)
        _rolled_over_through = today


def _history(action, *, ticket=None, counter=None, from_counter=None, from_status="", to_status="", by=None, note=""):
    return QueueHistory(
        ticket=ticket,
        counter=counter,
        from_counter=from_counter,
        action=action,
        from_status=from_status,
        to_status=to_status,
        by=by if isinstance(by, Staff) else None,
        note=note[:200],
    )


def _log(action: str, ticket: Ticket | None = None, counter: Counter | None = None, **extra) -> None:
    """One line per transition, written once the transaction commits: a change that rolls back
    (a later check failed, the database went away) leaves no line saying it happened, and the
    write to the log is not made while the service's lock is held."""
    if not log.isEnabledFor(logging.INFO):
        return
    args = (
        action,
        ticket.queue_id if ticket else "-",
        counter.pk if counter else (ticket.counter_id if ticket else "-"),
        " ".join(f"{k}={v}" for k, v in extra.items()),
    )
    transaction.on_commit(lambda: log.info("%s queue_id=%s counter=%s %s", *args))


def _open_counters(service_id: int, now: datetime) -> list[Counter]:
    candidates = Counter.objects.filter(
        service_id=service_id, held_by__isnull=False, current_status__in=Counter.OPEN_STATUSES
    ).order_by("id")
    return [c for c in candidates if c.within_hours(now)]


def _service_counters(service_id: int) -> list[Counter]:
    """All counters of a service in one query; reused for the decision and the event payloads."""
    return list(Counter.objects.filter(service_id=service_id).select_related("service", "held_by").order_by("id"))


def _waiting_counts(counters: list[Counter], today: date) -> dict[int, int]:
    lengths = selectors.waiting_lengths(service_ids={c.service_id for c in counters}, day=today)
    return {c.pk: lengths.get(c.pk, 0) for c in counters}


def _least_busy(counters: list[Counter], counts: dict[int, int]) -> Counter:
    return min(counters, key=lambda c: (counts[c.pk], c.pk))


def _spread(tickets: list[Ticket], targets: list[Counter], today: date) -> dict[Counter | None, list[Ticket]]:
    """Hand tickets, in join order, each to the target with the fewest waiting at that moment."""
    moves: dict[Counter | None, list[Ticket]] = defaultdict(list)
    counts = _waiting_counts(targets, today) if targets else {}
    for ticket in tickets:
        target = _least_busy(targets, counts) if targets else None
        if target is not None:
            counts[target.pk] += 1
        moves[target].append(ticket)
    return moves


def _apply_moves(moves, *, from_counter: Counter | None, by, action_to_pool: str) -> list[tuple[str, Ticket]]:
    """Write the moves (one UPDATE per target), their history, and return the ticket events."""
    ticket_events = []
    rows = []
    for target, tickets in moves.items():
        Ticket.objects.filter(pk__in=[t.pk for t in tickets]).update(counter=target)
        for ticket in tickets:
            ticket.counter = target
            if target is None:
                action, event = action_to_pool, "pool"
            else:
                action = History.REDISTRIBUTED if from_counter else History.ASSIGNED
                event = "moved" if from_counter else "assigned"
            rows.append(
                _history(
                    action,
                    ticket=ticket,
                    counter=target,
                    from_counter=from_counter,
                    from_status=WAITING,
                    to_status=WAITING,
                    by=by,
                )
            )
            ticket_events.append((event, ticket))
    QueueHistory.objects.bulk_create(rows)
    return ticket_events


def _hand_out_pool(service_id: int, now: datetime, by, targets=None) -> dict[Counter | None, list[Ticket]]:
    """Give the service's unassigned tickets, in join order, to its open counters."""
    targets = _open_counters(service_id, now) if targets is None else targets
    if not targets:
        return {}
    pool = list(
        Ticket.objects.filter(
            service_id=service_id, service_date=service_day(now), status=WAITING, counter__isnull=True
        )
        .select_related("service")
        .order_by("joined_at", "id")
    )
    if not pool:
        return {}
    return _spread(pool, targets, service_day(now))


def _current_ticket(counter: Counter) -> Ticket | None:
    return (
        Ticket.objects.filter(counter=counter, status=CALLED, service_date=service_day())
        .select_related("service")
        .order_by("called_at", "id")
        .first()
    )


def _finish(ticket: Ticket, status: str, *, by, now: datetime, counter: Counter | None = None, action=None) -> None:
    previous = ticket.status
    ticket.status = status
    ticket.finished_at = now
    ticket.active_key = None
    ticket.save(update_fields=["status", "finished_at", "active_key"])
    _history(
        action or status,
        ticket=ticket,
        counter=counter or ticket.counter,
        from_status=previous,
        to_status=status,
        by=by,
    ).save()
    _log(status, ticket)
    if status == Ticket.Status.SERVED:
        _service_times_changed(ticket.service_id)


def _service_times_changed(service_id: int) -> None:
    """A served ticket came or went: the service's average time is read afresh now, and once
    more after the commit (a read by another request in between would remember the old one)."""
    selectors.forget_minutes(service_id)
    transaction.on_commit(lambda: selectors.forget_minutes(service_id))


def _counter_of(counter: Counter) -> Counter:
    return Counter.objects.select_related("service", "held_by").get(pk=counter.pk)


# --- joining --------------------------------------------------------------------------------


@queue_change
def join(
    *, patient: Patient, service: Service | int, name: str | None = None, by: Staff | None = None
) -> tuple[Ticket, bool]:
    """Give the patient a ticket for the service, or return the active one they already hold.

    `service` may be just its id (as a request names it): it is read once, under the lock, and
    an unknown id raises UnknownService. A new ticket carries `people_ahead`, counted under the
    lock (selectors.ticket_dict uses it instead of counting again)."""
    service = _lock_service(service.pk if isinstance(service, Service) else service)
    now = timezone.now()
    today = service_day(now)
    name = clean_name(name if name is not None else patient.name)
    key = Ticket.make_active_key(service_id=service.pk, patient_id=patient.pk, name=name)
    existing = Ticket.objects.filter(active_key=key).select_related("service", "counter").first()
    if existing is not None:
        return existing, False
    if not service.is_active:
        raise ServiceUnavailable(_("%(service)s is not available at the moment.") % {"service": service})
    if not service.is_offered_on(today):
        raise ServiceUnavailable(
            _("%(service)s is not offered today (%(days)s).") % {"service": service, "days": service.days_display()}
        )

    counters = _service_counters(service.pk)
    open_counters = [c for c in counters if c.is_open(now)]
    # One count serves the choice of counter, the check for unassigned tickets and the events.
    lengths = selectors.waiting_lengths(service_ids=[service.pk], day=today)
    pool_moves = {}
    if lengths.get(None) and open_counters:
        # Tickets left unassigned while no counter was open (e.g. before opening time) go first.
        pool_moves = _hand_out_pool(service.pk, now, by, targets=open_counters)
    pool_events = _apply_moves(pool_moves, from_counter=None, by=by, action_to_pool=History.RETURNED_TO_POOL)
    if pool_moves:  # counted again once written: the new ticket goes to the least busy counter
        lengths = selectors.waiting_lengths(service_ids=[service.pk], day=today)

    last = Ticket.objects.filter(service=service, service_date=today).aggregate(n=Max("number"))["n"] or 0
    number = last + 1
    counter = _least_busy(open_counters, {c.pk: lengths.get(c.pk, 0) for c in open_counters}) if open_counters else None
    ticket = Ticket.objects.create(
        queue_id=f"{service.code}_{number:03d}_{secrets.randbelow(10000):04d}",
        number=number,
        service_date=today,
        service=service,
        patient=patient,
        patient_name=name,
        counter=counter,
        status=WAITING,
        joined_at=now,
        created_by=by,
        active_key=key,
    )
    ticket.service = service
    _history(History.JOINED, ticket=ticket, counter=counter, to_status=WAITING, by=by).save()
    _log("joined", ticket, counter)

    # Everyone waiting at its counter (or in the pool) joined before it, in the lock's order:
    # the count the answer shows, known here, as an annotation on the ticket (no query).
    ticket.people_ahead = lengths.get(ticket.counter_id, 0)
    lengths[ticket.counter_id] = ticket.people_ahead + 1
    counter_events = [("patient_redistributed", c) for c in pool_moves if c is not None]
    counter_events.append(("new_patient", counter))
    events.publish_changes(
        service_id=service.pk,
        counter_events=counter_events,
        ticket_events=[*pool_events, ("joined", ticket)],
        counters=counters,
        lengths=lengths,
    )
    return ticket, True


# --- calling --------------------------------------------------------------------------------


def _advance(*, counter: Counter, by, expected: str | None, finish_as: str) -> Ticket | None:
    """The caller's `counter` comes back annotated with `queue_length`: how many wait at it once
    the change commits (the count its events announce; the answer to the clerk needs no query)."""
    asked_for = counter
    service = _lock_service(counter.service_id)
    counters = _service_counters(service.pk)
    counter = next(c for c in counters if c.pk == counter.pk)
    now = timezone.now()
    current = _current_ticket(counter)
    # `expected` is the ticket on the clerk's screen; "" means the screen showed nobody, so a
    # double click on "Serve next" at an idle counter cannot call two patients either.
    if expected is not None and expected != (current.queue_id if current else ""):
        raise StaleAction()
    if finish_as == Ticket.Status.SKIPPED and current is None:
        raise NoCurrentTicket()
    is_open = counter.is_open(now)
    if current is None and not is_open:
        raise CounterNotOpen(
            _("%(counter)s is not open (%(status)s).")
            % {"counter": counter, "status": counter.get_current_status_display()}
        )

    ticket_events = []
    if current is not None:
        _finish(current, finish_as, by=by, now=now, counter=counter)
        ticket_events.append((finish_as, current))

    nxt = None
    from_counter_id = None
    if is_open:
        today = service_day(now)
        waiting = Ticket.objects.filter(service=service, service_date=today, status=WAITING).select_for_update()
        nxt = waiting.filter(counter=counter).order_by("joined_at", "id").first()
        if nxt is None:
            # No counter idles while patients wait: take the earliest-joined ticket of the
            # service from the other counters (or the pool).
            nxt = waiting.order_by("joined_at", "id").first()
        if nxt is not None:
            from_counter_id = nxt.counter_id
            nxt.counter = counter
            nxt.status = CALLED
            nxt.called_at = now
            nxt.called_by = by if isinstance(by, Staff) else None
            nxt.save(update_fields=["counter", "status", "called_at", "called_by"])
            nxt.service = service
            _history(
                History.CALLED,
                ticket=nxt,
                counter=counter,
                from_counter=Counter(pk=from_counter_id) if from_counter_id not in (None, counter.pk) else None,
                from_status=WAITING,
                to_status=CALLED,
                by=by,
            ).save()
            _log("called", nxt, counter)
            ticket_events.append(("called", nxt))

    if current is None and nxt is None:
        raise NobodyWaiting()

    counter_events = [("patient_served", counter)]
    if nxt is not None:
        counter_events.append(("patient_called", counter))
    lengths = selectors.waiting_lengths(service_ids=[service.pk], day=service_day(now))
    events.publish_changes(
        service_id=service.pk,
        counter_events=counter_events,
        ticket_events=ticket_events,
        counters=counters,
        waiting_changed=[c for c in counters if c.pk == from_counter_id and c.pk != counter.pk],
        lengths=lengths,
        serving={counter.pk: nxt},  # the counter's only called ticket now (None: it serves nobody)
    )
    asked_for.queue_length = lengths.get(counter.pk, 0)
    return nxt


@queue_change
def serve_next(*, counter: Counter, by: Staff | None, expected: str | None = None) -> Ticket | None:
    """Finish the counter's current ticket and call its earliest waiting one (or the service's)."""
    return _advance(counter=counter, by=by, expected=expected, finish_as=Ticket.Status.SERVED)


@queue_change
def skip(*, counter: Counter, by: Staff | None, expected: str | None = None) -> Ticket | None:
    """Mark the current ticket skipped (no-show) and call the next one."""
    return _advance(counter=counter, by=by, expected=expected, finish_as=Ticket.Status.SKIPPED)


@queue_change
def announce(*, counter: Counter, by: Staff | None, expected: str | None = None) -> Ticket:
    """Call the current ticket again on the display (no state change, one history row)."""
    service = _lock_service(counter.service_id)
    counter = _counter_of(counter)
    current = _current_ticket(counter)
    if current is None:
        raise NoCurrentTicket()
    if expected is not None and current.queue_id != expected:
        raise StaleAction()
    _history(History.ANNOUNCED, ticket=current, counter=counter, from_status=CALLED, to_status=CALLED, by=by).save()
    _log("announced", current, counter)
    events.publish_changes(
        service_id=service.pk, counter_events=[("patient_called", counter)], ticket_events=[("called", current)]
    )
    return current


# --- counters -------------------------------------------------------------------------------


def _redistribute(counter: Counter, now: datetime, by) -> dict[Counter | None, list[Ticket]]:
    """Hand the counter's waiting tickets to the service's other open counters, or the pool."""
    today = service_day(now)
    waiting = list(
        Ticket.objects.filter(counter=counter, status=WAITING, service_date=today)
        .select_related("service")
        .order_by("joined_at", "id")
    )
    if not waiting:
        return {}
    targets = [c for c in _open_counters(counter.service_id, now) if c.pk != counter.pk]
    return _spread(waiting, targets, today)


def _status_change_events(service_id, counter, moves, ticket_events, *, from_counter=None) -> None:
    counter_events = [("counter_status_update", counter)]
    counter_events += [("patient_redistributed", target) for target in moves if target is not None]
    notes = {}
    if from_counter is not None:
        for target, tickets in moves.items():
            for ticket in tickets:
                if target is None:
                    notes[ticket.pk] = _(
                        "%(counter)s has closed. You keep your place and will be given a counter as soon as one opens."
                    ) % {"counter": from_counter}
                else:
                    notes[ticket.pk] = _("%(old)s is not available; you are now at %(new)s and kept your place.") % {
                        "old": from_counter,
                        "new": target,
                    }
    events.publish_changes(
        service_id=service_id, counter_events=counter_events, ticket_events=ticket_events, notes=notes
    )


@queue_change
def set_status(*, counter: Counter, status: str, by: Staff | None) -> int:
    """Set available / busy / break / closed; break and closed move the waiting tickets away.

    Returns how many tickets moved (to other counters, the pool, or from the pool to here).
    """
    if status not in Counter.Status.values:
        raise InvalidStatus(
            _("Unknown status %(status)r: use available, busy, break or closed.") % {"status": str(status)[:20]}
        )
    _lock_service(counter.service_id)
    counter = _counter_of(counter)
    now = timezone.now()
    previous = counter.current_status
    if previous == status:
        return 0
    was_open = counter.is_open(now)
    counter.current_status = status
    counter.save(update_fields=["current_status"])
    _history(History.COUNTER_STATUS, counter=counter, from_status=previous, to_status=status, by=by).save()
    _log("counter_status", counter=counter, status=status)

    moves, from_counter = {}, None
    if status in (Counter.Status.BREAK, Counter.Status.CLOSED):
        moves, from_counter = _redistribute(counter, now, by), counter
        ticket_events = _apply_moves(moves, from_counter=counter, by=by, action_to_pool=History.RETURNED_TO_POOL)
    elif counter.is_open(now) and not was_open:
        moves = _hand_out_pool(counter.service_id, now, by)
        ticket_events = _apply_moves(moves, from_counter=None, by=by, action_to_pool=History.RETURNED_TO_POOL)
    else:
        ticket_events = []
    _status_change_events(counter.service_id, counter, moves, ticket_events, from_counter=from_counter)
    return sum(len(t) for t in moves.values())


def count_to_redistribute(counter: Counter) -> int:
    """How many waiting tickets a break would move (for the confirmation question)."""
    return Ticket.objects.filter(counter=counter, status=WAITING, service_date=service_day()).count()


@queue_change
def hold_counter(*, counter: Counter, staff: Staff, force: bool = False) -> Counter:
    """Staff takes a counter at login: it opens and takes the service's unassigned tickets.

    A counter someone else holds is taken only with force=True (the other hold ends).
    """
    if not staff.is_active:
        raise NotAllowed()
    previous = Counter.objects.filter(held_by=staff).exclude(pk=counter.pk).first()
    # Lock every service involved in id order so two staff swapping counters cannot deadlock.
    for service_id in sorted({counter.service_id} | ({previous.service_id} if previous else set())):
        _lock_service(service_id)
    if previous is not None:
        _release(previous, by=staff)
    counter = _counter_of(counter)
    if counter.held_by_id and counter.held_by_id != staff.pk and not force:
        raise CounterTaken(
            _("%(staff)s is working at %(counter)s. Take it over?")
            % {"staff": counter.held_by.display_name, "counter": counter}
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
    _history(History.COUNTER_HELD, counter=counter, to_status=counter.current_status, by=staff, note=note).save()
    _log("counter_held", counter=counter, staff=staff.username)
    moves = {}
    ticket_events = []
    if counter.is_open(now) and not was_open:
        moves = _hand_out_pool(counter.service_id, now, staff)
        ticket_events = _apply_moves(moves, from_counter=None, by=staff, action_to_pool=History.RETURNED_TO_POOL)
    _status_change_events(counter.service_id, counter, moves, ticket_events)
    return counter


def _release(counter: Counter, *, by, note: str = "") -> int:
    counter = _counter_of(counter)
    now = timezone.now()
    previous = counter.current_status
    counter.held_by = None
    counter.held_since = None
    counter.current_status = Counter.Status.CLOSED
    counter.save(update_fields=["held_by", "held_since", "current_status"])
    _history(
        History.COUNTER_RELEASED,
        counter=counter,
        from_status=previous,
        to_status=Counter.Status.CLOSED,
        by=by,
        note=note,
    ).save()
    _log("counter_released", counter=counter)
    moves = _redistribute(counter, now, by)
    ticket_events = _apply_moves(moves, from_counter=counter, by=by, action_to_pool=History.RETURNED_TO_POOL)
    _status_change_events(counter.service_id, counter, moves, ticket_events, from_counter=counter)
    return sum(len(t) for t in moves.values())


HEARTBEAT_SECONDS = 60  # a dashboard's sign of life is written at most this often
_last_idle_sweep = 0.0


def touch_counter(*, counter: Counter, staff: Staff) -> None:
    """Record that the staff member holding the counter is still there (one UPDATE, no lock)."""
    now = timezone.now()
    if counter.last_seen_at and (now - counter.last_seen_at).total_seconds() < HEARTBEAT_SECONDS:
        return
    Counter.objects.filter(pk=counter.pk, held_by=staff).update(last_seen_at=now)
    counter.last_seen_at = now


def release_idle_counters(*, now: datetime | None = None) -> int:
    """Release counters whose holder's dashboard went quiet (browser closed without logging out)."""
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=settings.COUNTER_IDLE_MINUTES)
    released = 0
    for counter in Counter.objects.filter(held_by__isnull=False, last_seen_at__lt=cutoff):
        with transaction.atomic():
            _lock_service(counter.service_id)
            fresh = Counter.objects.select_related("held_by").get(pk=counter.pk)
            # Re-checked under the lock: the clerk may have come back since the first look.
            if fresh.held_by_id is None or fresh.last_seen_at is None or fresh.last_seen_at >= cutoff:
                continue
            log.info("releasing idle counter=%s staff=%s", fresh.pk, fresh.held_by.username)
            _release(fresh, by=None, note="idle: no sign of life from the dashboard")
            released += 1
    return released


def release_idle_counters_now_and_then() -> None:
    """Run the idle sweep at most once a minute per process (called on each request)."""
    global _last_idle_sweep
    if time.monotonic() - _last_idle_sweep >= HEARTBEAT_SECONDS:
        _last_idle_sweep = time.monotonic()
        release_idle_counters()


@queue_change
def release_counter(*, staff: Staff) -> int:
    """Staff leaves (logout or switching away): the counter closes and its queue moves on."""
    counter = Counter.objects.filter(held_by=staff).first()
    if counter is None:
        return 0
    _lock_service(counter.service_id)
    return _release(counter, by=staff)


# --- patients leaving, days ending ------------------------------------------------------------


@queue_change
def cancel(*, ticket: Ticket, by: Staff | None = None, patient: Patient | None = None) -> Ticket:
    """The patient leaves the queue (or staff cancel the ticket for them)."""
    service = _lock_service(ticket.service_id)
    ticket = Ticket.objects.select_related("service", "counter").get(pk=ticket.pk)
    if patient is not None and ticket.patient_id != patient.pk:
        raise NotAllowed()
    if not ticket.is_active:
        raise TicketNotActive()
    counter = ticket.counter
    _finish(ticket, Ticket.Status.CANCELLED, by=by, now=timezone.now())
    events.publish_changes(
        service_id=service.pk,
        counter_events=[("counter_status_update", counter)] if counter else [],
        ticket_events=[("cancelled", ticket)],
    )
    return ticket


@queue_change
def expire_previous_days(*, today: date | None = None) -> int:
    """Tickets still open from an earlier service date become expired. Idempotent."""
    today = today or service_day()
    stale = list(
        Ticket.objects.select_for_update()
        .filter(status__in=Ticket.ACTIVE_STATUSES, service_date__lt=today)
        .select_related("service", "counter")
    )
    if not stale:
        return 0
    now = timezone.now()
    Ticket.objects.filter(pk__in=[t.pk for t in stale]).update(
        status=Ticket.Status.EXPIRED, finished_at=now, active_key=None
    )
    QueueHistory.objects.bulk_create(
        _history(History.EXPIRED, ticket=t, counter=t.counter, from_status=t.status, to_status=Ticket.Status.EXPIRED)
        for t in stale
    )
    messages = []
    for ticket in stale:
        ticket.status = Ticket.Status.EXPIRED
        messages.append((events.ticket_group(ticket.pk), events.ticket_payload("expired", ticket)))
    events.publish_on_commit(messages)
    log.info("expired %d tickets from before %s", len(stale), today)
    return len(stale)


# --- reception desk ---------------------------------------------------------------------------


def _place_in_queue(service_id: int, now: datetime, *, prefer: Counter | None = None) -> Counter | None:
    """Where a returning ticket waits: the preferred counter if open, else the least busy open one."""
    open_counters = _open_counters(service_id, now)
    if prefer is not None and any(c.pk == prefer.pk for c in open_counters):
        return prefer
    if not open_counters:
        return None
    return _least_busy(open_counters, _waiting_counts(open_counters, service_day(now)))


@queue_change
def issue_walk_in(*, name: str, service: Service, by: Staff, phone: str | None = None) -> tuple[Ticket, bool]:
    """Reception gives a ticket to someone without a smartphone; the staff member vouches for them.

    With a phone, the ticket belongs to that phone's patient (created if new), so it also shows on
    their phone's dashboard once they verify; without one, a patient record is made for the visit.
    """
    name = clean_name(name)
    if phone:
        patient, _ = Patient.objects.get_or_create(phone=phone, defaults={"name": name})
    else:
        patient = Patient.objects.create(phone=None, name=name)
    return join(patient=patient, service=service, name=name, by=by)


@queue_change
def recall(*, ticket: Ticket, by: Staff) -> Ticket:
    """A skipped patient came back: the ticket waits again at its original join position."""
    service = _lock_service(ticket.service_id)
    ticket = Ticket.objects.select_related("service", "counter").get(pk=ticket.pk)
    now = timezone.now()
    if ticket.status != Ticket.Status.SKIPPED or ticket.service_date != service_day(now):
        raise TicketNotActive(
            _("Only a ticket skipped today can be recalled (this one is %(status)s).")
            % {"status": ticket.get_status_display()}
        )
    key = Ticket.make_active_key(service_id=service.pk, patient_id=ticket.patient_id, name=ticket.patient_name)
    if Ticket.objects.filter(active_key=key).exists():
        raise TicketNotActive(
            _("%(name)s already holds another ticket for %(service)s.")
            % {"name": ticket.patient_name, "service": service}
        )
    previous_counter = ticket.counter
    ticket.counter = _place_in_queue(service.pk, now, prefer=previous_counter)
    ticket.status = WAITING
    ticket.finished_at = None
    ticket.active_key = key
    ticket.save(update_fields=["counter", "status", "finished_at", "active_key"])
    _history(
        History.RECALLED,
        ticket=ticket,
        counter=ticket.counter,
        from_counter=previous_counter,
        from_status=Ticket.Status.SKIPPED,
        to_status=WAITING,
        by=by,
    ).save()
    _log("recalled", ticket)
    events.publish_changes(
        service_id=service.pk,
        counter_events=[("new_patient", ticket.counter)],
        ticket_events=[("recalled", ticket)],
    )
    return ticket


MOVABLE = (Ticket.Status.WAITING, Ticket.Status.CALLED, Ticket.Status.SERVED)


@queue_change
def move_to_service(*, ticket: Ticket, service: Service, by: Staff) -> Ticket:
    """Send a ticket to another service (OPD → Test), keeping its original arrival time.

    The same ticket (and so the patient's page and signed link) moves: it gets the new service's
    next number and waits there by its first join time, so it does not start again at the back.
    """
    for service_id in sorted({ticket.service_id, service.pk}):
        _lock_service(service_id)
    ticket = Ticket.objects.select_related("service", "counter").get(pk=ticket.pk)
    target = Service.objects.get(pk=service.pk)
    now = timezone.now()
    today = service_day(now)
    if ticket.service_id == target.pk:
        raise InvalidInput(_("The ticket is already for %(service)s.") % {"service": target}, code="same_service")
    if ticket.status not in MOVABLE or ticket.service_date != today:
        raise TicketNotActive(
            _("A %(status)s ticket cannot be moved.") % {"status": ticket.get_status_display().lower()}
        )
    if not target.is_active or not target.is_offered_on(today):
        raise ServiceUnavailable(_("%(service)s is not available today.") % {"service": target})
    key = Ticket.make_active_key(service_id=target.pk, patient_id=ticket.patient_id, name=ticket.patient_name)
    if Ticket.objects.filter(active_key=key).exists():
        raise TicketNotActive(
            _("%(name)s already holds a ticket for %(service)s.") % {"name": ticket.patient_name, "service": target}
        )
    source, old_counter, old_queue_id, old_status = ticket.service, ticket.counter, ticket.queue_id, ticket.status
    number = (Ticket.objects.filter(service=target, service_date=today).aggregate(n=Max("number"))["n"] or 0) + 1
    ticket.service = target
    ticket.number = number
    ticket.queue_id = f"{target.code}_{number:03d}_{secrets.randbelow(10000):04d}"
    ticket.counter = _place_in_queue(target.pk, now)
    ticket.status = WAITING
    ticket.called_at = ticket.finished_at = None
    ticket.active_key = key
    ticket.save()
    _history(
        History.MOVED_SERVICE,
        ticket=ticket,
        counter=ticket.counter,
        from_counter=old_counter,
        from_status=old_status,
        to_status=WAITING,
        by=by,
        note=f"{old_queue_id} ({source}) → {ticket.queue_id} ({target})",
    ).save()
    _log("moved_service", ticket, ticket.counter, previous=old_queue_id)
    if old_status == Ticket.Status.SERVED:
        _service_times_changed(source.pk)
    note = _(
        "You have been sent to %(service)s. Your new number is %(ticket)s; you kept your place by arrival time."
    ) % {
        "service": target,
        "ticket": ticket.queue_id,
    }
    old_side = events.build_changes(
        service_id=source.pk, counter_events=[("counter_status_update", old_counter)] if old_counter else []
    )
    new_side = events.build_changes(
        service_id=target.pk,
        counter_events=[("new_patient", ticket.counter)],
        ticket_events=[("moved_service", ticket)],
        notes={ticket.pk: note},
    )
    events.publish_on_commit(old_side + new_side, positions_of=[source.pk, target.pk])
    return ticket
