"""Read-side queries shared by pages, API, events and consumers.

Every function here runs a number of queries that does not grow with the queue, and reads
from the database only what it shows: counts are counted by the database, and the rows listed
(names, times) are the first WAITING_LIST_LIMIT of a counter, read through its queue index.
The shapes returned to clients are built by queue_app/payloads.py.
"""

import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from . import estimates, payloads
from .models import Counter, QueueHistory, Service, Staff, Ticket, service_day

# What the screens show of a row, and nothing more: rows are read under the service lock when a
# change builds its messages.
SERVING_FIELDS = ("counter_id", "queue_id", "patient_name")
WAITING_FIELDS = ("queue_id", "patient_name", "joined_at")
RECENT_CALLS = 8


@dataclass
class QueueState:
    """Today's active tickets of some services, per counter (None = the unassigned pool).

    `lengths` counts every waiting ticket; `waiting` holds only the rows a screen lists (the
    first WAITING_LIST_LIMIT of each counter), so a queue thousands long costs no more to show.
    """

    serving: dict = field(default_factory=dict)  # counter_id -> row of its called ticket
    waiting: dict = field(default_factory=lambda: defaultdict(list))  # counter_id|None -> first rows in order
    lengths: dict = field(default_factory=dict)  # counter_id|None -> how many wait

    def queue_length(self, counter_id) -> int:
        return self.lengths.get(counter_id, 0)


def _active_today(*, service_ids=None, counter_id=None, day=None):
    tickets = Ticket.objects.of_day(day).active()
    if service_ids is not None:
        tickets = tickets.filter(service_id__in=list(service_ids))
    if counter_id is not None:
        tickets = tickets.filter(counter_id=counter_id)
    return tickets


def waiting_lengths(*, service_ids=None, counter_id=None, day=None) -> dict:
    """How many of the day's tickets wait at each counter (None: unassigned), in one query
    answered from the index ticket_service_counts."""
    waiting = _active_today(service_ids=service_ids, counter_id=counter_id, day=day).waiting()
    return dict(waiting.order_by().values("counter_id").annotate(n=Count("id")).values_list("counter_id", "n"))


def queue_state(*, service_ids=None, counter_id=None, limit: int | None = None, rows_for=None) -> QueueState:
    """How many wait at each counter (one query), and the rows shown: the counters' called
    tickets (one query) and the first `limit` waiting of each counter with anyone waiting (one
    short indexed query each; WAITING_LIST_LIMIT unless given, 0 for none). `rows_for`: only
    these counters' rows are needed (an empty set: the counts only)."""
    limit = settings.WAITING_LIST_LIMIT if limit is None else limit
    tickets = _active_today(service_ids=service_ids, counter_id=counter_id)
    state = QueueState()
    lengths = waiting_lengths(service_ids=service_ids, counter_id=counter_id)
    state.lengths = {counter: n for counter, n in lengths.items() if n}
    if rows_for is not None and not rows_for:
        return state
    called = tickets.called()
    if rows_for is not None:
        called = called.filter(counter_id__in=list(rows_for))
    for row in called.order_by("called_at", "id").values(*SERVING_FIELDS):
        state.serving[row["counter_id"]] = row
    if limit:
        for counter in state.lengths if rows_for is None else rows_for:
            if state.lengths.get(counter):
                first = tickets.waiting().filter(counter_id=counter).in_queue_order()
                state.waiting[counter] = list(first.values(*WAITING_FIELDS)[:limit])
    return state


def queue_numbers(service_id: int) -> dict:
    """Every active ticket number of the service in queue order, in one query of small integers
    (no names, no dates): {"serving": {counter_id: number}, "waiting": {counter_id|None: [numbers]}}."""
    serving, waiting = {}, defaultdict(list)
    rows = _active_today(service_ids=[service_id]).in_queue_order()
    for counter_id, status, number in rows.values_list("counter_id", "status", "number"):
        if status == Ticket.Status.CALLED:
            serving[counter_id] = number
        else:
            waiting[counter_id].append(number)
    return {"serving": serving, "waiting": waiting}


def counter_state(counter: Counter, *, with_waiting: bool = False) -> dict:
    """The staff view of one counter, read now (full names; the first WAITING_LIST_LIMIT waiting)."""
    # The counter and its service's version first: the rest is then at least as new as the version.
    counter = Counter.objects.select_related("service", "held_by").get(pk=counter.pk)
    state = queue_state(counter_id=counter.pk, limit=None if with_waiting else 0)
    return payloads.counter_state(
        counter,
        serving_row=state.serving.get(counter.pk),
        queue_length=state.queue_length(counter.pk),
        waiting_rows=state.waiting.get(counter.pk, []) if with_waiting else None,
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


# Average service time per (service, day), kept a few seconds per process: every join answer,
# position list and patient page reads it, and it is only an estimate. A serve here forgets it.
MINUTES_MEMO_SECONDS = 10
_minutes_memo: dict[tuple[int, object], tuple[float, float]] = {}


def minutes_per_patient(service_id: int) -> float:
    """The service's typical time a patient today (estimates.minutes_per_patient over its latest
    service times), else the configured default."""
    key = (service_id, service_day())
    remembered = _minutes_memo.get(key)
    if remembered is not None and remembered[0] > time.monotonic():
        return remembered[1]
    pairs = (
        Ticket.objects.of_day(key[1])
        .filter(
            service_id=service_id,
            status=Ticket.Status.SERVED,
            called_at__isnull=False,
            finished_at__isnull=False,
        )
        .order_by("-finished_at")
        .values_list("called_at", "finished_at")[: estimates.RECENT_SAMPLES]
    )
    durations = [(done - called).total_seconds() / 60 for called, done in pairs]
    minutes = estimates.minutes_per_patient(durations, default=float(settings.DEFAULT_SERVICE_MINUTES))
    _minutes_memo[key] = (time.monotonic() + MINUTES_MEMO_SECONDS, minutes)
    return minutes


def service_stats(service_id: int, *, open_counters: int) -> estimates.ServiceStats:
    """What the wait estimate needs of a service, with the number of its counters open now."""
    return estimates.ServiceStats(minutes_per_patient=minutes_per_patient(service_id), open_counters=open_counters)


def forget_minutes(service_id: int | None = None) -> None:
    """Drop the remembered average of a service (every service: None), e.g. once one is served."""
    for key in list(_minutes_memo):
        if service_id is None or key[0] == service_id:
            _minutes_memo.pop(key, None)


def display_snapshot() -> dict:
    """What the wall display shows: every counter and the latest calls. Five queries; the
    services' versions first, so the rest is at least as new as they say."""
    versions = payloads.versions(Service.objects.values_list("pk", "version"))
    counters = list(Counter.objects.select_related("service").order_by("id"))
    recent = (
        Ticket.objects.of_day()
        .filter(called_at__isnull=False, counter__isnull=False)
        .order_by("-called_at", "-id")
        .values("queue_id", "patient_name", "counter_id", "counter__counter_name", "called_at", "status")[:RECENT_CALLS]
    )
    return payloads.display_snapshot(
        counters,
        queue_state(limit=0),
        recent,
        now=timezone.now(),
        mode=settings.DISPLAY_NAME_MODE,
        facility=settings.FACILITY_NAME,
        versions=versions,
    )


def positions_now(service_id: int) -> dict:
    """The service's queue_position message as of now: three queries, outside any lock (the
    version first: the numbers are at least as new)."""
    as_of = round(time.time() * 1000, 1)
    version = service_version(service_id)
    return payloads.positions(
        service_id, queue_numbers(service_id), minutes_per_patient(service_id), as_of=as_of, version=version
    )


def service_version(service_id: int) -> int:
    """The service's state version now (0 for a service that no longer exists)."""
    return Service.objects.filter(pk=service_id).values_list("version", flat=True).first() or 0


# What a socket's ping is answered with (consumers.py): the versions, read at most once a second
# per process, so thousands of screens pinging every few seconds cost the database nothing more.
VERSIONS_MEMO_SECONDS = 1.0
_versions_memo: list = []  # [(expires at, StateVersions)]


@dataclass(frozen=True)
class StateVersions:
    services: dict  # service id -> its state version
    counters: dict  # counter id -> the version of the last change its staff socket was sent


def remembered_versions() -> StateVersions | None:
    """The versions read less than VERSIONS_MEMO_SECONDS ago, if any (no query: safe to call
    from async code)."""
    if _versions_memo and _versions_memo[0][0] > time.monotonic():
        return _versions_memo[0][1]
    return None


def state_versions() -> StateVersions:
    """Every service's and counter's version, as of at most VERSIONS_MEMO_SECONDS ago."""
    remembered = remembered_versions()
    if remembered is not None:
        return remembered
    versions = StateVersions(
        services=dict(Service.objects.values_list("pk", "version")),
        counters=dict(Counter.objects.values_list("pk", "version")),
    )
    _versions_memo[:] = [(time.monotonic() + VERSIONS_MEMO_SECONDS, versions)]
    return versions


def forget_versions() -> None:
    _versions_memo.clear()


def ticket_dict(ticket: Ticket) -> dict:
    """The patient's view of a ticket: where to go, how many are ahead, how long to wait."""
    ahead = people_ahead(ticket)
    # people_ahead counts the ticket's own counter's line, served by that one counter (none while
    # it waits in the pool). Counting the service's single line, pass its open counters instead.
    stats = service_stats(ticket.service_id, open_counters=1 if ticket.counter_id else 0)
    return payloads.patient_ticket(
        ticket,
        people_ahead=ahead,
        minutes=stats.minutes_per_patient,
        wait=estimates.wait_minutes(stats=stats, people_ahead=ahead),
    )


def people_ahead(ticket: Ticket) -> int:
    """Waiting tickets of the same counter (or of the pool) that joined before this one."""
    if ticket.status != Ticket.Status.WAITING:
        return 0
    earlier = Q(joined_at__lt=ticket.joined_at) | Q(joined_at=ticket.joined_at, id__lt=ticket.pk)
    return (
        Ticket.objects.of_day(ticket.service_date)
        .waiting()
        .filter(service_id=ticket.service_id, counter_id=ticket.counter_id)
        .filter(earlier)
        .count()
    )


def patient_tickets(patient) -> list[Ticket]:
    """The patient's tickets of today, active ones first."""
    tickets = list(
        Ticket.objects.of_day().filter(patient=patient).select_related("service", "counter").in_queue_order()
    )
    return sorted(tickets, key=lambda t: (not t.is_active, t.joined_at))


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
                "estimated_wait_minutes": estimates.wait_minutes(stats=stats, people_ahead=people),
                "days": service.days_display(),
            }
        )
    return result


DESK_LIST_LIMIT = 50  # the desk shows the latest tickets; a search finds any of today's
MAX_QUERY = 100
CODE_AND_NUMBER = re.compile(r"^([A-Za-z0-9]*[A-Za-z])[\s_-]*0*(\d{1,9})$")  # "OPD 12", "opd_012"


def today_tickets(query: str = "", *, limit: int = DESK_LIST_LIMIT) -> tuple[list[Ticket], bool]:
    """Today's tickets, newest first, matching a number ("12"), a code and number ("OPD 12"),
    or part of a ticket id or name. One query; returns the tickets and whether more matched."""
    tickets = Ticket.objects.of_day().select_related("service", "counter")
    query = " ".join(query.split())[:MAX_QUERY]
    if query:
        match = Q(queue_id__icontains=query) | Q(patient_name__icontains=query)
        coded = CODE_AND_NUMBER.match(query)
        if query.isdecimal() and len(query) <= 9:
            match = Q(number=int(query))  # digits are a ticket number, not part of the random suffix
        elif coded:
            code = re.sub(r"[^A-Z0-9]", "", coded.group(1).upper())
            match |= Q(queue_id__istartswith=f"{code}_", number=int(coded.group(2)))
        tickets = tickets.filter(match)
    found = list(tickets.order_by("-id")[: limit + 1])
    return found[:limit], len(found) > limit
