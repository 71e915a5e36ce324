"""Calling patients to a counter: serve next, skip (no-show), announce again."""

from dataclasses import dataclass

from django.utils import timezone
from django.utils.translation import gettext as _

from .. import selectors
from ..bidi import isolated
from ..errors import CounterNotOpen, NobodyWaiting, NoCurrentTicket, StaleAction
from ..lines import Lines, counter_streaks
from ..models import Counter, QueueHistory, Staff, Ticket, service_day
from ..ordering import streak_after_call
from ..statements import remembered
from .changes import finish, history, lock_service, log_transition, publish_change, queue_change
from .placement import service_counters

History = QueueHistory.Action


@dataclass(frozen=True)
class Call:
    """What a counter shows after a call: the ticket it now serves (None: nobody) and how many wait
    there; and, for the clerk's message, the ticket the call finished (None: nobody was at the
    counter) and how many of the service wait at its other counters or for one to open."""

    counter: Counter
    ticket: Ticket | None
    queue_length: int
    finished: Ticket | None = None
    waiting_elsewhere: int = 0
    waiting_unassigned: int = 0


def current_ticket(counter: Counter) -> Ticket | None:
    """The ticket called at the counter today, if any."""
    return next(iter(called_at([counter])), None)


def called_at(counters: list[Counter]) -> list[Ticket]:
    """The tickets called today at the counters, earliest first (one query, a row per counter).
    Each ticket's service is its counter's, when the counter has it in hand."""
    services = {c.service_id: c.service for c in counters if Counter.service.is_cached(c)}
    tickets = _called(tuple(c.pk for c in counters), service_day(), with_service=not services)
    for ticket in tickets:
        if ticket.service_id in services:
            ticket.service = services[ticket.service_id]
    return tickets


@remembered
def _called(counter_ids: tuple, day, *, with_service: bool):
    called = Ticket.objects.of_day(day).called().filter(counter__in=counter_ids).select_related("priority")
    if with_service:
        called = called.select_related("service")
    return called.order_by("called_at", "id")


def _advance(*, counter: Counter, by, expected: str | None, finish_as: str) -> Call:
    service = lock_service(counter.service_id)
    counters = service_counters(service)
    counter = next(c for c in counters if c.pk == counter.pk)
    now = timezone.now()
    # Every counter's called ticket at once: this counter's current one, and the others' rows
    # for the change's messages.
    called = called_at(counters)
    current = next((t for t in called if t.counter_id == counter.pk), None)
    serving = {t.counter_id: _serving_row(t) for t in called if t is not current}  # the latest wins
    # `expected` is the ticket on the clerk's screen; "" means the screen showed nobody, so a
    # double click on "Serve next" at an idle counter cannot call two patients either.
    if expected is not None and expected != (current.queue_id if current else ""):
        raise StaleAction()
    if finish_as == Ticket.Status.SKIPPED and current is None:
        raise NoCurrentTicket(
            _("Nobody is at the counter, so there is nobody to skip. Press Serve next to call the next patient.")
        )
    is_open = counter.is_open(now)
    if current is None and not is_open:
        raise CounterNotOpen(_not_open_message(counter))

    ticket_events, rows = [], []  # rows: the change's history, one INSERT
    if current is not None:
        finish(current, finish_as, by=by, now=now, counter=counter, rows=rows)
        ticket_events.append((finish_as, current))

    lines = Lines(service, day=service_day(now), streaks=counter_streaks(counters))
    nxt, waited_at = _call_next(counter, lines=lines, by=by, now=now, rows=rows) if is_open else (None, None)
    if current is None and nxt is None:
        raise NobodyWaiting()
    QueueHistory.objects.bulk_create(rows)

    counter_events = [("patient_served", counter)]
    waiting_changed = []
    if nxt is not None:
        ticket_events.append(("called", nxt))
        counter_events.append(("patient_called", counter))
        if waited_at is not None and waited_at != counter.pk:
            waiting_changed.append(waited_at)
    # Read once after the change: the screens' messages and the clerk's answer show the same.
    if nxt is not None:
        lines = lines.without(nxt.pk)
        serving[counter.pk] = _serving_row(nxt)
    state = selectors.queue_state(
        service_ids=[service.pk], rows_for={counter.pk, *waiting_changed}, lines=lines, serving=serving
    )
    publish_change(
        service_id=service.pk,
        service=service,
        lines=lines,
        counter_events=counter_events,
        ticket_events=ticket_events,
        waiting_changed=waiting_changed,
        counters=counters,
        state=state,
    )
    return Call(
        counter=counter,
        ticket=nxt,
        queue_length=state.line_length(counter),
        finished=current,
        waiting_elsewhere=sum(n for c, n in state.lengths.items() if c not in (counter.pk, None)),
        waiting_unassigned=state.queue_length(None),
    )


def _not_open_message(counter: Counter) -> str:
    """Why a counter with nobody at it cannot call anyone, and what to do about it."""
    if counter.current_status not in Counter.OPEN_STATUSES:
        message = _("%(counter)s is not open (%(status)s), so nobody can be called. Choose Available to call patients.")
        return message % {**isolated(counter=counter), "status": counter.get_current_status_display()}
    if counter.held_by_id is None:
        return _("Nobody works at %(counter)s, so nobody can be called there.") % isolated(counter=counter)
    return _("%(counter)s is outside its opening hours (%(start)s–%(end)s), so nobody can be called.") % {
        **isolated(counter=counter),
        "start": counter.start_time.strftime("%H:%M"),
        "end": counter.end_time.strftime("%H:%M"),
    }


def _call_next(counter: Counter, *, lines: Lines, by, now, rows: list) -> tuple[Ticket | None, int | None]:
    """Call whoever is next for the counter in the service's order (its own line first with a
    line per counter). Returns the ticket and the counter it was expected at (None: the pool);
    its history row is added to `rows`, unsaved."""
    head = lines.next_for(counter.pk)
    if head is None:
        return None, None
    [nxt] = _ticket_to_call(head.id)
    nxt.service = counter.service  # the row the change locked: the line is its service's
    _count_priority_calls(counter, head, lines)
    waited_at = nxt.counter_id
    nxt.counter = counter
    nxt.status = Ticket.Status.CALLED
    nxt.called_at = now
    nxt.first_called_at = nxt.first_called_at or now
    nxt.called_by = by if isinstance(by, Staff) else None
    nxt.save(update_fields=["counter", "status", "called_at", "first_called_at", "called_by"])
    rows.append(
        history(
            History.CALLED,
            ticket=nxt,
            counter=counter,
            from_counter=Counter(pk=waited_at) if waited_at not in (None, counter.pk) else None,
            from_status=Ticket.Status.WAITING,
            to_status=Ticket.Status.CALLED,
            by=by,
        )
    )
    log_transition("called", nxt, counter)
    return nxt, waited_at


@remembered(values=("ticket_id",))
def _ticket_to_call(ticket_id: int):
    return Ticket.objects.select_for_update().select_related("priority").filter(pk=ticket_id)


def _serving_row(ticket: Ticket) -> dict:
    """A called ticket in hand as the row selectors.SERVING_FIELDS reads."""
    priority = ticket.priority
    return {
        "counter_id": ticket.counter_id,
        "queue_id": ticket.queue_id,
        "patient_name": ticket.patient_name,
        "priority__code": priority.code if priority else None,
        "priority__name": priority.name if priority else None,
        "priority_to_confirm": ticket.priority_to_confirm,
        "staff_note": ticket.staff_note,
    }


def _count_priority_calls(counter: Counter, head, lines: Lines) -> None:
    """Keep the count of priority calls in a row of the line `head` was called from: the
    service's one line, or the counter's own (the service's when an idle counter took it)."""
    own = lines.line_of(counter.pk) if not lines.one_line else []
    row = counter if own else lines.service
    others = [p for p in (own or lines.service_line) if p.id != head.id]
    streak = streak_after_call(head, streak=row.priority_streak, others=others)
    if streak != row.priority_streak:
        row.priority_streak = streak
        type(row).objects.filter(pk=row.pk).update(priority_streak=streak)
        if own:
            lines.streaks[counter.pk] = streak


@queue_change
def serve_next(*, counter: Counter, by: Staff | None, expected: str | None = None) -> Call:
    """Finish the counter's current ticket and call its earliest waiting one (or the service's)."""
    return _advance(counter=counter, by=by, expected=expected, finish_as=Ticket.Status.SERVED)


@queue_change
def skip(*, counter: Counter, by: Staff | None, expected: str | None = None) -> Call:
    """Mark the current ticket skipped (no-show) and call the next one."""
    return _advance(counter=counter, by=by, expected=expected, finish_as=Ticket.Status.SKIPPED)


@queue_change
def announce(*, counter: Counter, by: Staff | None, expected: str | None = None) -> Call:
    """Call the current ticket again on the display (no state change, one history row)."""
    service = lock_service(counter.service_id)
    counter = selectors.counter_row(counter.pk)
    current = current_ticket(counter)
    if current is None:
        raise NoCurrentTicket(
            _("Nobody is at the counter, so there is nobody to announce. Press Serve next to call the next patient.")
        )
    if expected is not None and current.queue_id != expected:
        raise StaleAction()
    history(
        History.ANNOUNCED,
        ticket=current,
        counter=counter,
        from_status=Ticket.Status.CALLED,
        to_status=Ticket.Status.CALLED,
        by=by,
    ).save()
    log_transition("announced", current, counter)
    state = selectors.queue_state(service_ids=[service.pk], rows_for={counter.pk})
    publish_change(
        service_id=service.pk,
        counter_events=[("patient_called", counter)],
        ticket_events=[("called", current)],
        state=state,
    )
    return Call(counter=counter, ticket=current, queue_length=state.line_length(counter))
