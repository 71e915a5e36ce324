"""Read-side queries shared by pages, API, events and consumers.

Every function here runs a number of queries that does not grow with the queue, and reads
from the database only what it shows: counts are counted by the database, and the rows listed
(names, times) are the first WAITING_LIST_LIMIT of a counter, read through its queue index.
The shapes returned to clients are built by queue_app/payloads.py.
"""

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from . import estimates, payloads
from .counter_rows import counter_row, counters_with_service, held_counter  # noqa: F401
from .desk_search import DESK_LIST_LIMIT, MAX_QUERY, today_tickets  # noqa: F401
from .lines import Lines, service_lines, staff_rows
from .models import Counter, QueueHistory, Service, Staff, Ticket, parse_id, service_day
from .statements import remembered
from .versions import (  # noqa: F401
    StateVersions,
    forget_versions,
    remembered_versions,
    service_version,
    service_versions,
    state_versions,
)
from .waits import (  # noqa: F401
    MINUTES_MEMO_SECONDS,
    counters_serving,
    forget_minutes,
    minutes_per_patient,
    service_stats,
    standing_at_join,
    wait_for,
)

# What the screens show of a serving row, and nothing more: rows are read under the service lock
# when a change builds its messages.
SERVING_FIELDS = (
    "counter_id",
    "queue_id",
    "patient_name",
    "priority__code",
    "priority__name",
    "priority_to_confirm",
    "staff_note",
)
RECENT_CALLS = 8

log = logging.getLogger("queue_app.selectors")


@dataclass
class QueueState:
    """Today's active tickets of some services, per counter (None = the unassigned pool).

    `lengths` counts the waiting tickets expected at each counter and `totals` each service's;
    `line_length(counter)` is how many stand in the line that counter calls from (its service's
    one line, or its own). `waiting` holds only the rows a staff list shows (the first
    WAITING_LIST_LIMIT of a counter's line), so a queue thousands long costs no more to show.
    """

    serving: dict = field(default_factory=dict)  # counter_id -> row of its called ticket
    waiting: dict = field(default_factory=dict)  # counter_id -> first rows of its own line (a line per counter)
    line_rows: dict = field(default_factory=dict)  # service_id -> first rows of its one line
    lengths: dict = field(default_factory=dict)  # counter_id|None -> how many wait expected there
    totals: dict = field(default_factory=dict)  # service_id -> how many wait for it

    def queue_length(self, counter_id) -> int:
        return self.lengths.get(counter_id, 0)

    def line_length(self, counter: Counter | None) -> int:
        if counter is None:
            return self.lengths.get(None, 0)
        if counter.service.per_counter_lines:
            return self.lengths.get(counter.pk, 0)
        return self.totals.get(counter.service_id, 0)

    def waiting_rows(self, counter: Counter) -> list[dict]:
        """The first rows of the line the counter calls from, if they were read."""
        if counter.service.per_counter_lines:
            return self.waiting.get(counter.pk, [])
        return self.line_rows.get(counter.service_id, [])


def _active_today(*, service_ids=None, day=None):
    tickets = Ticket.objects.of_day(day).active()
    if service_ids is not None:
        tickets = tickets.filter(service_id__in=list(service_ids))
    return tickets


def _waiting_counts(*, service_ids=None, day=None) -> list:
    """(service id, counter id, how many) of the day's waiting tickets, one query answered from
    the index ticket_service_counts."""
    return _counts(tuple(service_ids) if service_ids is not None else None, day or service_day())


@remembered
def _counts(service_ids: tuple | None, day):
    waiting = _active_today(service_ids=service_ids, day=day).waiting().order_by()
    return (
        waiting.values("service_id", "counter_id").annotate(n=Count("id")).values_list("service_id", "counter_id", "n")
    )


def waiting_lengths(*, service_ids=None, day=None) -> dict:
    """How many of the day's tickets wait expected at each counter (None: unassigned)."""
    lengths = defaultdict(int)
    for _service, counter_id, n in _waiting_counts(service_ids=service_ids, day=day):
        lengths[counter_id] += n
    return dict(lengths)


def queue_state(
    *,
    service_ids=None,
    limit: int | None = None,
    rows_for=None,
    lines: Lines | None = None,
    service=None,
    serving: dict | None = None,
) -> QueueState:
    """How many wait (one query; none if `lines` are given), and the rows shown of the counters
    `rows_for`, of one service:
    their called tickets (one query) and the first `limit` of each one's line (WAITING_LIST_LIMIT
    unless given, 0 for none; two queries, one if `lines`, the service's lines, are given, three
    if neither they nor the `service` row are). `rows_for` None: every counter's called ticket
    and no lists (the display); an empty set: the counts only. `serving`: {counter id: the row
    of its called ticket} as the rule has them after its change (no query for them)."""
    limit = settings.WAITING_LIST_LIMIT if limit is None else limit
    state = QueueState()
    if lines is not None:
        # The change read the service's line under its lock: the counts are its rows'.
        state.lengths = lines.lengths()
        state.totals[lines.service.pk] = len(lines.counter_of)
    else:
        for service_id, counter_id, n in _waiting_counts(service_ids=service_ids):
            state.lengths[counter_id] = state.lengths.get(counter_id, 0) + n
            state.totals[service_id] = state.totals.get(service_id, 0) + n
    if rows_for is not None and not rows_for:
        return state
    if serving is not None:
        state.serving = {c: row for c, row in serving.items() if rows_for is None or c in rows_for}
    else:
        ids = tuple(service_ids) if service_ids is not None else None
        counter_ids = tuple(sorted(rows_for)) if rows_for is not None else None
        for row in _serving_rows(ids, service_day(), counter_ids):
            state.serving[row["counter_id"]] = row
    if limit and rows_for and any(state.totals.values()):
        if lines is None:
            (service_id,) = service_ids
            lines = Lines(service) if service is not None else service_lines(service_id)
        if lines.one_line:
            state.line_rows[lines.service.pk] = staff_rows([p.id for p in lines.service_line[:limit]])
        else:
            heads = {counter: [p.id for p in lines.line_of(counter)[:limit]] for counter in rows_for}
            rows = {row["id"]: row for row in staff_rows(sorted({pk for ids in heads.values() for pk in ids}))}
            for counter, ids in heads.items():
                state.waiting[counter] = [rows[pk] for pk in ids if pk in rows]
    return state


@remembered
def _serving_rows(service_ids: tuple | None, day, rows_for: tuple | None):
    called = _active_today(service_ids=service_ids, day=day).called()
    if rows_for is not None:
        called = called.filter(counter_id__in=rows_for)
    return called.order_by("called_at", "id").values(*SERVING_FIELDS)


@remembered
def _service(service_id: int):
    return Service.objects.filter(pk=service_id).order_by()


@remembered
def _called_numbers(service_id: int, day):
    return _active_today(service_ids=[service_id], day=day).called().values_list("counter_id", "number")


def queue_numbers(service_id: int, lines: Lines | None = None) -> dict:
    """Every active ticket number of the service in its line's order (two queries of small
    integers, no names): {"serving": {counter_id: number}, "waiting": {counter_id|None: [numbers]},
    "line": [numbers] of the service's one line, or None with a line per counter}."""
    lines = lines or service_lines(service_id)
    serving = dict(_called_numbers(service_id, service_day()))
    waiting = defaultdict(list)
    for place in lines.service_line if lines.one_line else [p for ps in lines.by_counter.values() for p in ps]:
        waiting[lines.counter_of[place.id]].append(lines.numbers[place.id])
    return {"serving": serving, "waiting": waiting, "line": lines.numbers_in_order() if lines.one_line else None}


def counter_state(counter: Counter, *, with_waiting: bool = False) -> dict:
    """The staff view of one counter, read now (full names; the first WAITING_LIST_LIMIT waiting)."""
    # The counter and its service's version first: the rest is then at least as new as the version.
    counter = counter_row(counter.pk)
    state = queue_state(
        service_ids=[counter.service_id],
        rows_for={counter.pk},
        limit=None if with_waiting else 0,
        service=counter.service,
    )
    return payloads.counter_state(
        counter,
        serving_row=state.serving.get(counter.pk),
        queue_length=state.line_length(counter),
        waiting_rows=state.waiting_rows(counter) if with_waiting else None,
        expected_here=state.queue_length(counter.pk) if with_waiting else None,
        now=timezone.now(),
        versions=payloads.versions([(counter.service_id, counter.service.version)]),
    )


@dataclass(frozen=True)
class TakeOver:
    """Who took a counter from the staff member holding it (None: a deleted account), and when."""

    counter: Counter
    by: Staff | None
    at: datetime


def counter_taken_over(staff: Staff, *, since: datetime | None = None) -> TakeOver | None:
    """The take-over that ended `staff`'s last hold of a counter (after `since`), if that is how
    it ended rather than by leaving it: their page says who took it and when."""
    held = QueueHistory.Action.COUNTER_HELD
    last_hold = QueueHistory.objects.filter(action=held, by=staff).order_by("-at", "-id").first()
    if last_hold is None:
        return None
    # The first thing that happened to the hold: leaving (released) or someone else taking it.
    after = Q(at__gt=last_hold.at) | Q(at=last_hold.at, id__gt=last_hold.pk)
    ended = (
        QueueHistory.objects.filter(after, counter_id=last_hold.counter_id)
        .filter(action__in=(held, QueueHistory.Action.COUNTER_RELEASED))
        .select_related("counter", "by")
        .order_by("at", "id")
        .first()
    )
    if ended is None or ended.action != held or (since is not None and ended.at < since):
        return None
    return TakeOver(counter=ended.counter, by=ended.by, at=ended.at)


def today_counts(counter: Counter) -> dict:
    """Served and skipped today at this counter, and the average service time in minutes."""
    tickets = Ticket.objects.of_day().filter(counter=counter)
    counts = tickets.aggregate(
        served=Count("id", filter=Q(status=Ticket.Status.SERVED)),
        skipped=Count("id", filter=Q(status=Ticket.Status.SKIPPED)),
    )
    durations = [
        (done - called).total_seconds()
        for called, done in tickets.filter(status=Ticket.Status.SERVED, called_at__isnull=False)
        .order_by("-finished_at")
        .values_list("called_at", "finished_at")[:50]
        if done and called
    ]
    counts["average_minutes"] = round(sum(durations) / len(durations) / 60, 1) if durations else None
    return counts


def display_snapshot(*, service_id: int | None = None) -> dict:
    """What the wall display shows: every counter (or one service's) and the latest calls. Five
    queries; the services' versions first, so the rest is at least as new as they say."""
    versions = payloads.versions(service_versions())
    counters, recent = counters_with_service(service_id), _recent_calls(service_id, service_day())
    return payloads.display_snapshot(
        counters,
        queue_state(limit=0),
        recent,
        now=timezone.now(),
        mode=settings.DISPLAY_NAME_MODE,
        facility=settings.FACILITY_NAME,
        versions=versions,
    )


@remembered
def _recent_calls(service_id: int | None, day):
    recent = Ticket.objects.of_day(day).filter(called_at__isnull=False, counter__isnull=False)
    if service_id is not None:
        recent = recent.filter(counter__service_id=service_id)
    return recent.order_by("-called_at", "-id").values(
        "queue_id", "patient_name", "counter_id", "counter__counter_name", "counter__service_id", "called_at", "status"
    )[:RECENT_CALLS]


def display_service(raw: str | None) -> int | None:
    """The service a display's `?service=` names, or None (all services) when it names none."""
    if raw is None or raw == "":
        return None
    service_id = parse_id(raw)
    if service_id is None or not Service.objects.filter(pk=service_id).exists():
        log.warning("display filter ignored service=%r reason=no_such_service", raw[:40])
        return None
    return service_id


def positions_now(service_id: int) -> dict:
    """The service's queue_position message as of now: four queries, outside any lock (the
    service's row first: the numbers are at least as new as its version)."""
    as_of = round(time.time() * 1000, 1)
    service = next(iter(_service(service_id)), None)
    if service is None:
        return payloads.positions(service_id, {"serving": {}, "waiting": {}, "line": None}, 0, as_of=as_of, version=0)
    lines = Lines(service)
    serving = 1 if service.per_counter_lines else counters_serving(service, 0)[0]
    minutes = minutes_per_patient(service_id) / max(1, serving)
    return payloads.positions(
        service_id, queue_numbers(service_id, lines), minutes, as_of=as_of, version=service.version
    )


def ticket_dict(ticket: Ticket) -> dict:
    """The patient's view of a ticket: where to go, how many are ahead, how long to wait.

    A ticket just made by services.join carries `standing`, what the join saw under the lock:
    its answer then shows the state the ticket joined, without reading the line again."""
    standing = getattr(ticket, "standing", None)
    if standing is not None and ticket.status == Ticket.Status.WAITING:
        ahead, minutes, wait = standing.people_ahead, standing.minutes, standing.wait
    else:
        ahead = people_ahead(ticket)
        minutes, wait = wait_for(ticket.service, ticket.counter_id, ahead)
    return payloads.patient_ticket(ticket, people_ahead=ahead, minutes=minutes, wait=wait)


def people_ahead(ticket: Ticket) -> int:
    """How many stand before the ticket in its line: the service's one line, or its counter's
    (0 once it is no longer waiting)."""
    if ticket.status != Ticket.Status.WAITING:
        return 0
    return Lines(ticket.service, day=ticket.service_date).ahead_of(ticket.pk) or 0


def patient_tickets(patient) -> list[Ticket]:
    """The patient's tickets of today, active ones first."""
    tickets = list(
        Ticket.objects.of_day().filter(patient=patient).select_related("service", "counter").in_queue_order()
    )
    return sorted(tickets, key=lambda t: (not t.is_active, t.joined_at))


def _selection_wait(stats: estimates.ServiceStats, people: int) -> int | None:
    """The wait a newcomer would have: nobody waiting, a free counter may call them at once."""
    wait = estimates.wait_minutes(stats=stats, people_ahead=people)
    return 0 if wait is not None and people == 0 else wait


def services_overview() -> list[dict]:
    """Service selection: each active service with people waiting, the wait and why it is closed."""
    today = service_day()
    now = timezone.now()
    services = list(Service.objects.filter(is_active=True).order_by("service_name"))
    counters = list(Counter.objects.filter(service__in=services).select_related("service"))
    waiting = dict(
        Ticket.objects.of_day(today)
        .waiting()
        .filter(service__in=services)
        .values("service_id")
        .annotate(n=Count("id"))
        .values_list("service_id", "n")
    )
    result = []
    for service in services:
        open_counters = [c for c in counters if c.service_id == service.pk and c.is_open(now)]
        offered = service.is_offered_on(today)
        people = waiting.get(service.pk, 0)
        stats = service_stats(service.pk, open_counters=len(open_counters))
        result.append(
            {
                "id": service.pk,
                "service_name": service.service_name,
                "description": service.description,
                "offered_today": offered,
                "open_counters": len(open_counters),
                "people_waiting": people,
                "estimated_wait_minutes": _selection_wait(stats, people),
                "days": service.days_display(),
            }
        )
    return result
