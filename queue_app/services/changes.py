"""What every queue change shares: one transaction at a time per service, the history row and
log line of each transition, and the day's next ticket number.

Every rule starts by locking the row of the service whose queue it changes (`lock_service`):
joins, calls, breaks and redistributions of one service then happen one at a time, so no number
is handed out twice, no ticket is called twice and "the counter with the fewest waiting" is
decided on counts nobody else is changing. On SQLite the IMMEDIATE transaction mode gives the
same serialisation for the whole database.
"""

import functools
import logging
import secrets
import threading
from datetime import date, datetime

from django.db import transaction
from django.db.models import Exists, F, Max, OuterRef, Q

from .. import events, selectors
from ..errors import Busy, UnknownService
from ..lines import Lines
from ..models import Counter, QueueHistory, Service, ServiceClosedDate, Staff, Ticket
from ..statements import remembered
from . import housekeeping, notifications

log = logging.getLogger("queue.transitions")

_in_change = threading.local()
_stopping = threading.Event()  # the process is shutting down: no new change starts


def stop_accepting_changes() -> None:
    """The process is shutting down (queue_system/server.py): changes already running finish
    and announce themselves; new ones are refused with Busy (503, try again: another process
    of the install answers the retry)."""
    _stopping.set()


def queue_change(func):
    """Run a rule as one transaction; once the process is shutting down, a new one is refused
    with Busy (503, try again), while a rule called from a running one goes on."""
    atomic = transaction.atomic(func)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if getattr(_in_change, "active", False):
            return atomic(*args, **kwargs)
        if _stopping.is_set():
            log.warning("busy: %s refused, the process is shutting down", func.__name__)
            raise Busy()
        _in_change.active = True
        try:
            return atomic(*args, **kwargs)
        finally:
            _in_change.active = False

    return wrapper


def lock_service(service_id: int, *, closed_on: date | None = None) -> Service:
    """Lock the service row: the queue of this service changes one transaction at a time.

    A new day's first change expires the earlier days' open tickets first. `closed_on`: a day
    whose closed date (a holiday) the row is read with, as `service.closed_days[day]`."""
    housekeeping.rollover_if_new_day()
    rows = _locked_service(service_id, closed_on)
    if not rows:
        raise UnknownService()
    service = rows[0]
    service.closed_days = {closed_on: service.closed_that_day} if closed_on is not None else {}
    return service


@remembered
def _locked_service(service_id: int, closed_on: date | None):
    rows = Service.objects.select_for_update().filter(pk=service_id).order_by()
    if closed_on is not None:
        rows = rows.annotate(
            closed_that_day=Exists(ServiceClosedDate.objects.filter(service=OuterRef("pk"), date=closed_on))
        )
    return rows


def publish_change(
    *,
    service_id: int,
    service: Service | None = None,
    lines: Lines | None = None,
    before: Lines | None = None,
    counter_events=(),
    waiting_changed=(),
    **changes,
) -> int:
    """Give the change of the service's queue its state version and announce it after the
    commit (events.publish_changes). Call with the service locked (lock_service); returns the
    version.

    The service's version goes up by one; each counter whose staff socket is sent a message
    records it, so a screen that missed a message sees a newer version than its own in the
    next event, or in the pong to its ping (consumers.py), and asks for a snapshot.
    `service`: the row lock_service returned, if the rule has it: its new version and the day's
    last number (next_number) are written in one UPDATE, and nothing is read back. `lines`: the
    service's lines as the change leaves them, if the rule has read them (queue_app/lines.py);
    `before`, those it started from, if it only added a ticket (notifications.write_owed)."""
    if service is not None:
        service.version += 1
        Service.objects.filter(pk=service.pk).update(
            version=service.version, last_number=service.last_number, numbers_day=service.numbers_day
        )
    else:
        Service.objects.filter(pk=service_id).update(version=F("version") + 1)
        service = Service.objects.only(*notifications.SERVICE_FIELDS).get(pk=service_id)
    version = service.version
    # What the change owes patients by SMS is written here, in its transaction (outbox).
    notifications.write_owed(
        service=service, ticket_events=changes.get("ticket_events", ()), lines=lines, before=before
    )
    told = {counter.pk for _event, counter in counter_events if counter is not None} | set(waiting_changed)
    refresh = Q(pk__in=told)
    if not service.per_counter_lines:
        # With one line every staffed counter's list shows it (events.queue_messages). Asked of
        # the row in hand, not through a join to the service table: that join read every
        # service's row, locked by their own changes, and two services' changes deadlocked.
        refresh |= Q(service_id=service_id, held_by__isnull=False)
    Counter.objects.filter(refresh).update(version=version)
    events.publish_changes(
        service_id=service_id,
        version=version,
        counter_events=counter_events,
        waiting_changed=waiting_changed,
        lines=lines,
        **changes,
    )
    return version


def lock_services(*service_ids: int) -> None:
    """Lock several services in id order, so two changes taking the same pair cannot deadlock."""
    for service_id in sorted(set(service_ids)):
        lock_service(service_id)


def next_number(service: Service, day: date) -> tuple[int, str]:
    """The service's next ticket number of the day and its code (OPD_004_1234); the random
    digits keep the next code from being guessed. Call with the service locked, then
    publish_change(service=service), which writes the number on the row.

    The row remembers the day's last number; the day's first ticket counts the tickets instead
    (a new day, or tickets numbered before the row kept count)."""
    if service.numbers_day == day:
        last = service.last_number
    else:
        last = Ticket.objects.filter(service=service, service_date=day).aggregate(n=Max("number"))["n"] or 0
    number = last + 1
    service.last_number, service.numbers_day = number, day
    return number, f"{service.code}_{number:03d}_{secrets.randbelow(10000):04d}"


def history(action, *, ticket=None, counter=None, from_counter=None, from_status="", to_status="", by=None, note=""):
    """An unsaved history row (callers save it, or bulk-create several)."""
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


def log_transition(action: str, ticket: Ticket | None = None, counter: Counter | None = None, **extra) -> None:
    """One log line per transition, written once the transaction commits: a change that rolls
    back leaves no line saying it happened."""
    if not log.isEnabledFor(logging.INFO):
        return
    args = (
        action,
        ticket.queue_id if ticket else "-",
        counter.pk if counter else (ticket.counter_id if ticket else "-"),
        " ".join(f"{k}={v}" for k, v in extra.items()),
    )
    transaction.on_commit(lambda: log.info("%s queue_id=%s counter=%s %s", *args))


def finish(
    ticket: Ticket, status: str, *, by, now: datetime, counter: Counter | None = None, rows: list | None = None
) -> None:
    """End a ticket (served, skipped, cancelled): it leaves the queue and frees its active key.
    `rows`: the change's history rows, to which its row is added unsaved (the change inserts
    them all at once); otherwise it is saved here."""
    previous = ticket.status
    ticket.status = status
    ticket.finished_at = now
    ticket.active_key = None
    ticket.save(update_fields=["status", "finished_at", "active_key"])
    row = history(
        status, ticket=ticket, counter=counter or ticket.counter, from_status=previous, to_status=status, by=by
    )
    if rows is None:
        row.save()
    else:
        rows.append(row)
    log_transition(status, ticket)
    if status == Ticket.Status.SERVED:
        service_times_changed(ticket.service_id)


def service_times_changed(service_id: int) -> None:
    """A served ticket came or went: the service's average time is read afresh now, and once
    more after the commit (a read by another request in between would remember the old one)."""
    selectors.forget_minutes(service_id)
    transaction.on_commit(lambda: selectors.forget_minutes(service_id))
