"""Where waiting tickets wait: the open counter with the fewest waiting, or the service's pool
of unassigned tickets while none is open. Called by the rules with the service locked."""

from collections import defaultdict
from datetime import datetime

from django.db.models import Exists, OuterRef
from django.utils.translation import gettext as _

from .. import selectors
from ..bidi import isolated
from ..models import Counter, QueueHistory, Service, Ticket, service_day
from ..statements import remembered
from .changes import history, publish_change

History = QueueHistory.Action
Moves = dict[Counter | None, list[Ticket]]  # target counter (None: the pool) -> tickets, in join order


def service_counters(service: Service, *, busy: bool = False) -> list[Counter]:
    """Every counter of the service, as the rules decide with them and the events show them;
    with `busy`, each knows whether it has someone called now (the wait a join records). Each
    counter's `service` is the row the change locked and read already, not read again.

    Read for update, after the service's row: the change's new rows check their counter (a
    shared lock) and its end marks the counters' versions (an exclusive one); a heartbeat asking
    for a counter's row between the two deadlocked with the change."""
    counters = _counters(service.pk, service_day() if busy else None)
    for counter in counters:
        counter.service = service
    return counters


@remembered
def _counters(service_id: int, busy_on):
    counters = (
        Counter.objects.filter(service_id=service_id).select_related("held_by").select_for_update().order_by("id")
    )
    if busy_on is not None:
        counters = counters.annotate(
            busy=Exists(Ticket.objects.of_day(busy_on).called().filter(counter_id=OuterRef("pk")))
        )
    return counters


def open_counters(service_id: int, now: datetime) -> list[Counter]:
    candidates = (
        Counter.objects.filter(service_id=service_id, held_by__isnull=False, current_status__in=Counter.OPEN_STATUSES)
        .select_related("service")  # within_hours reads the service's hours too
        .order_by("id")
    )
    return [c for c in candidates if c.within_hours(now)]


def least_busy(counters: list[Counter], counts: dict[int, int]) -> Counter:
    """The counter with the fewest waiting (tie: the lowest id)."""
    return min(counters, key=lambda c: (counts.get(c.pk, 0), c.pk))


def place_in_queue(service_id: int, now: datetime, *, prefer: Counter | None = None) -> Counter | None:
    """Where a returning ticket waits: the preferred counter if open, else the least busy open one."""
    targets = open_counters(service_id, now)
    if prefer is not None and any(c.pk == prefer.pk for c in targets):
        return prefer
    if not targets:
        return None
    return least_busy(targets, selectors.waiting_lengths(service_ids=[service_id], day=service_day(now)))


def spread(tickets: list[Ticket], targets: list[Counter], day) -> Moves:
    """Hand tickets, in join order, each to the target with the fewest waiting at that moment."""
    moves: Moves = defaultdict(list)
    counts = selectors.waiting_lengths(service_ids={c.service_id for c in targets}, day=day) if targets else {}
    for ticket in tickets:
        target = least_busy(targets, counts) if targets else None
        if target is not None:
            counts[target.pk] = counts.get(target.pk, 0) + 1
        moves[target].append(ticket)
    return moves


def hand_out_pool(service_id: int, now: datetime, targets: list[Counter] | None = None) -> Moves:
    """Give the service's unassigned tickets, in join order, to its open counters."""
    targets = open_counters(service_id, now) if targets is None else targets
    if not targets:
        return {}
    pool = list(
        Ticket.objects.of_day(service_day(now))
        .waiting()
        .filter(service_id=service_id, counter__isnull=True)
        .select_related("service")
        .in_queue_order()
    )
    return spread(pool, targets, service_day(now)) if pool else {}


def redistribute(counter: Counter, now: datetime) -> Moves:
    """Hand the counter's waiting tickets to the service's other open counters, or the pool."""
    day = service_day(now)
    waiting = list(
        Ticket.objects.of_day(day).waiting().filter(counter=counter).select_related("service").in_queue_order()
    )
    if not waiting:
        return {}
    targets = [c for c in open_counters(counter.service_id, now) if c.pk != counter.pk]
    return spread(waiting, targets, day)


def apply_moves(moves: Moves, *, from_counter: Counter | None, by) -> list[tuple[str, Ticket]]:
    """Write the moves (one UPDATE per target) and their history; return the tickets' news."""
    ticket_news, rows = [], []
    for target, tickets in moves.items():
        Ticket.objects.filter(pk__in=[t.pk for t in tickets]).update(counter=target)
        for ticket in tickets:
            ticket.counter = target
            if target is None:
                action, news = History.RETURNED_TO_POOL, "pool"
            elif from_counter is not None:
                action, news = History.REDISTRIBUTED, "moved"
            else:
                action, news = History.ASSIGNED, "assigned"
            rows.append(
                history(
                    action,
                    ticket=ticket,
                    counter=target,
                    from_counter=from_counter,
                    from_status=Ticket.Status.WAITING,
                    to_status=Ticket.Status.WAITING,
                    by=by,
                )
            )
            ticket_news.append((news, ticket))
    QueueHistory.objects.bulk_create(rows)
    return ticket_news


def move_and_publish(counter: Counter, moves: Moves, *, by, away: bool) -> int:
    """Apply the moves of a counter's status change and announce it: the counter's new status,
    then each receiving counter. `away`: the tickets leave `counter` (break, closed, released);
    otherwise they come from the pool. Returns how many tickets moved."""
    from_counter = counter if away else None
    ticket_news = apply_moves(moves, from_counter=from_counter, by=by)
    notes = {}
    if away:
        for target, tickets in moves.items():
            if target is None:
                note = _(
                    "%(counter)s has closed. You keep your place and will be given a counter as soon as one opens."
                ) % isolated(counter=counter)
            else:
                note = _("%(old)s is not available; you are now at %(new)s and kept your place.") % isolated(
                    old=counter, new=target
                )
            notes.update((ticket.pk, note) for ticket in tickets)
    counter_events = [("counter_status_update", counter)]
    counter_events += [("patient_redistributed", target) for target in moves if target is not None]
    publish_change(service_id=counter.service_id, counter_events=counter_events, ticket_events=ticket_news, notes=notes)
    return sum(len(tickets) for tickets in moves.values())
