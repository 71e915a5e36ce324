"""Read-side queries shared by pages, API, events and consumers.

Every function here runs a number of queries that does not grow with the queue, and reads
from the database only what it shows: counts are counted by the database, and the rows listed
(names, times) are the first WAITING_LIST_LIMIT of a counter, read through its queue index.
"""

import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from .models import Counter, Service, Ticket, service_day
from .services.names import public_name

ACTIVE = (Ticket.Status.WAITING, Ticket.Status.CALLED)
# What the screens show of a row, and nothing more: rows are read under the service lock when a
# change builds its messages (fifty waiting rows with every column cost a join ~10% more hold).
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
    tickets = Ticket.objects.filter(service_date=day or service_day(), status__in=ACTIVE)
    if service_ids is not None:
        tickets = tickets.filter(service_id__in=list(service_ids))
    if counter_id is not None:
        tickets = tickets.filter(counter_id=counter_id)
    return tickets


def waiting_lengths(*, service_ids=None, counter_id=None, day=None) -> dict:
    """How many of the day's tickets wait at each counter (None: unassigned), in one query
    answered from the index ticket_service_counts."""
    waiting = _active_today(service_ids=service_ids, counter_id=counter_id, day=day).filter(
        status=Ticket.Status.WAITING
    )
    return dict(waiting.order_by().values("counter_id").annotate(n=Count("id")).values_list("counter_id", "n"))


def queue_state(
    *,
    service_ids=None,
    counter_id=None,
    limit: int | None = None,
    rows_for=None,
    lengths: dict | None = None,
    serving: dict | None = None,
) -> QueueState:
    """How many wait at each counter (one query), and the rows shown: the counters' called
    tickets (one query) and the first `limit` waiting of each counter with anyone waiting (one
    short indexed query each; WAITING_LIST_LIMIT unless given, 0 for none). `rows_for`: only
    these counters' rows are needed; `lengths`: the counts, if the caller has them; `serving`:
    {counter_id: called Ticket or None} for counters whose called ticket the caller has (a rule
    that has just called one): when it covers `rows_for`, the called tickets are not read.
    Nothing here grows with the length of the queue."""
    limit = settings.WAITING_LIST_LIMIT if limit is None else limit
    tickets = _active_today(service_ids=service_ids, counter_id=counter_id)
    state = QueueState()
    if lengths is None:
        lengths = waiting_lengths(service_ids=service_ids, counter_id=counter_id)
    state.lengths = {counter: n for counter, n in lengths.items() if n}
    if rows_for is not None and not rows_for:
        return state
    if serving is not None and rows_for is not None and set(rows_for) <= set(serving):
        for counter, ticket in serving.items():
            if ticket is not None:
                state.serving[counter] = {f: getattr(ticket, f) for f in SERVING_FIELDS}
    else:
        called = tickets.filter(status=Ticket.Status.CALLED)
        if rows_for is not None:
            called = called.filter(counter_id__in=list(rows_for))
        for row in called.order_by("called_at", "id").values(*SERVING_FIELDS):
            state.serving[row["counter_id"]] = row
    if limit:
        for counter in state.lengths if rows_for is None else rows_for:
            if state.lengths.get(counter):
                first = tickets.filter(status=Ticket.Status.WAITING, counter_id=counter).order_by("joined_at", "id")
                state.waiting[counter] = list(first.values(*WAITING_FIELDS)[:limit])
    return state


def queue_numbers(service_id: int) -> dict:
    """Every active ticket number of the service in queue order, in one query of small integers
    (no names, no dates): {"serving": {counter_id: number}, "waiting": {counter_id|None: [numbers]}}."""
    serving, waiting = {}, defaultdict(list)
    rows = _active_today(service_ids=[service_id]).order_by("joined_at", "id")
    for counter_id, status, number in rows.values_list("counter_id", "status", "number"):
        if status == Ticket.Status.CALLED:
            serving[counter_id] = number
        else:
            waiting[counter_id].append(number)
    return {"serving": serving, "waiting": waiting}


def serving_dict(row, *, mode: str = "full") -> dict | None:
    if row is None:
        return None
    name = row["patient_name"] if mode == "full" else public_name(row["patient_name"], mode)
    return {"queue_id": row["queue_id"], "patient_name": name}


def counter_dict(counter: Counter, *, now: datetime | None = None) -> dict:
    return {
        "id": counter.pk,
        "counter_name": counter.counter_name,
        "service": counter.service.service_name,
        "service_id": counter.service_id,
        "current_status": counter.current_status,
        "is_open": counter.is_open(now),
        "start_time": counter.start_time.strftime("%H:%M"),
        "end_time": counter.end_time.strftime("%H:%M"),
        "held_by": counter.held_by.display_name if counter.held_by_id and counter.held_by else None,
    }


def waiting_entry(row, *, now: datetime) -> dict:
    return {
        "queue_id": row["queue_id"],
        "patient_name": row["patient_name"],
        "joined_at": row["joined_at"].isoformat(),
        "waited_minutes": max(0, int((now - row["joined_at"]).total_seconds() // 60)),
    }


_READ_IT = object()  # counter_state: the serving ticket is to be read


def counter_state(
    counter: Counter,
    *,
    with_waiting: bool = False,
    as_loaded: bool = False,
    serving=_READ_IT,
    queue_length: int | None = None,
) -> dict:
    """The staff view of one counter (full names, the first WAITING_LIST_LIMIT waiting): four queries.

    `as_loaded`: show the counter as the caller loaded it (with its service and holder), one
    query less, when what was done since did not change the counter's own row (a call, a skip).
    `serving`: the ticket a rule has just left called at the counter (None: nobody), when the
    caller has it from that rule: the called-ticket query is not needed either. `queue_length`:
    how many wait there, when that rule counted them (then, without the list, no query at all).
    """
    if not as_loaded:
        counter = Counter.objects.select_related("service", "held_by").get(pk=counter.pk)
    known = serving is not _READ_IT
    rows_for = set() if known and not with_waiting else None  # set(): the counts only
    lengths = None if queue_length is None else {counter.pk: queue_length}
    state = queue_state(counter_id=counter.pk, limit=None if with_waiting else 0, rows_for=rows_for, lengths=lengths)
    if known:
        row = None if serving is None else {"queue_id": serving.queue_id, "patient_name": serving.patient_name}
    else:
        row = state.serving.get(counter.pk)
    now = timezone.now()
    data = {
        "counter": counter_dict(counter, now=now),
        "serving_patient": serving_dict(row),
        "queue_length": state.queue_length(counter.pk),
    }
    if with_waiting:
        data["waiting"] = [waiting_entry(r, now=now) for r in state.waiting.get(counter.pk, ())]
    return data


def today_counts(counter: Counter) -> dict:
    """Served and skipped today at this counter, and the average service time in minutes."""
    tickets = Ticket.objects.filter(counter=counter, service_date=service_day())
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


# Average service time per (service, day), kept a few seconds per process: it is read by every
# join answer, position list and patient page, and it changes only when a patient is served here
# (forget_minutes) or, for another process's serves, within MINUTES_MEMO_SECONDS: an estimate.
MINUTES_MEMO_SECONDS = 10
_minutes_memo: dict[tuple[int, object], tuple[float, float]] = {}


def minutes_per_patient(service_id: int) -> float:
    """Average service time today for the service (last 30 served), else the configured default."""
    key = (service_id, service_day())
    remembered = _minutes_memo.get(key)
    if remembered is not None and remembered[0] > time.monotonic():
        return remembered[1]
    pairs = (
        Ticket.objects.filter(
            service_id=service_id,
            service_date=key[1],
            status=Ticket.Status.SERVED,
            called_at__isnull=False,
            finished_at__isnull=False,
        )
        .order_by("-finished_at")
        .values_list("called_at", "finished_at")[:30]
    )
    durations = [(done - called).total_seconds() / 60 for called, done in pairs]
    minutes = max(0.5, sum(durations) / len(durations)) if durations else float(settings.DEFAULT_SERVICE_MINUTES)
    _minutes_memo[key] = (time.monotonic() + MINUTES_MEMO_SECONDS, minutes)
    return minutes


def forget_minutes(service_id: int | None = None) -> None:
    """Drop the remembered average of a service (every service: None), e.g. once one is served."""
    for key in list(_minutes_memo):
        if service_id is None or key[0] == service_id:
            _minutes_memo.pop(key, None)


def display_snapshot() -> dict:
    """What the wall display shows: every counter and the latest calls. Four queries."""
    mode = settings.DISPLAY_NAME_MODE
    counters = list(Counter.objects.select_related("service").order_by("id"))
    state = queue_state(limit=0)
    now = timezone.now()
    recent = (
        Ticket.objects.filter(service_date=service_day(), called_at__isnull=False, counter__isnull=False)
        .order_by("-called_at", "-id")
        .values("queue_id", "patient_name", "counter_id", "counter__counter_name", "called_at", "status")[:RECENT_CALLS]
    )
    return {
        "counters": [
            {
                "id": c.pk,
                "counter_name": c.counter_name,
                "service": c.service.service_name,
                "service_id": c.service_id,
                "current_status": c.current_status,
                "is_open": c.is_open(now),
                "serving_patient": serving_dict(state.serving.get(c.pk), mode=mode),
                "queue_length": state.queue_length(c.pk),
            }
            for c in counters
        ],
        "recent_calls": [
            {
                "queue_id": r["queue_id"],
                "patient_name": public_name(r["patient_name"], mode),
                "counter_id": r["counter_id"],
                "counter_name": r["counter__counter_name"],
                "called_at": r["called_at"].isoformat(),
                "status": r["status"],
            }
            for r in recent
        ],
        "facility": settings.FACILITY_NAME,
        "name_mode": mode,
        "server_time": now.isoformat(),
    }


def positions_payload(service_id: int, numbers: dict, minutes: float, *, as_of: float) -> dict:
    """The compact queue.<service_id> message: ticket numbers only, no names. `as_of` (ms since
    the epoch, taken before the read) lets a phone drop a message older than one it has shown."""
    serving, waiting = numbers["serving"], numbers["waiting"]
    counters = {}
    for counter_id in set(serving) | {k for k in waiting if k is not None}:
        counters[str(counter_id)] = {"serving": serving.get(counter_id), "waiting": waiting.get(counter_id, [])}
    return {
        "type": "queue_position",
        "service_id": service_id,
        "counters": counters,
        "unassigned": waiting.get(None, []),
        "minutes_per_patient": round(minutes, 2),
        "as_of": as_of,
    }


def positions_now(service_id: int) -> dict:
    """The service's queue_position message as of now: two queries, outside any lock."""
    as_of = round(time.time() * 1000, 1)
    return positions_payload(service_id, queue_numbers(service_id), minutes_per_patient(service_id), as_of=as_of)


def ticket_dict(ticket: Ticket, *, with_position: bool = True) -> dict:
    """The patient's view of a ticket: where to go, how many are ahead, how long to wait."""
    data = {
        "id": ticket.pk,
        "queue_id": ticket.queue_id,
        "number": ticket.number,
        "service": ticket.service.service_name,
        "service_id": ticket.service_id,
        "counter": ticket.counter.counter_name if ticket.counter_id else None,
        "counter_id": ticket.counter_id,
        "status": ticket.status,
        "patient_name": ticket.patient_name,
        "joined_at": ticket.joined_at.isoformat(),
        "called_at": ticket.called_at.isoformat() if ticket.called_at else None,
        "service_date": ticket.service_date.isoformat(),
    }
    if with_position:
        # A ticket that has just joined carries the count its rule made under the queue lock.
        ahead = getattr(ticket, "people_ahead", None)
        ahead = people_ahead(ticket) if ahead is None else ahead
        minutes = minutes_per_patient(ticket.service_id)
        data["people_ahead"] = ahead
        data["position"] = ahead + 1 if ticket.status == Ticket.Status.WAITING else (0 if ahead == 0 else None)
        data["estimated_wait_minutes"] = round(ahead * minutes) if ticket.status == Ticket.Status.WAITING else 0
        data["minutes_per_patient"] = round(minutes, 2)
    return data


def people_ahead(ticket: Ticket) -> int:
    """Waiting tickets of the same counter (or of the pool) that joined before this one."""
    if ticket.status != Ticket.Status.WAITING:
        return 0
    earlier = Q(joined_at__lt=ticket.joined_at) | Q(joined_at=ticket.joined_at, id__lt=ticket.pk)
    return (
        Ticket.objects.filter(
            service_id=ticket.service_id,
            service_date=ticket.service_date,
            status=Ticket.Status.WAITING,
            counter_id=ticket.counter_id,
        )
        .filter(earlier)
        .count()
    )


def patient_tickets(patient) -> list[Ticket]:
    """The patient's tickets of today, active ones first."""
    tickets = list(
        Ticket.objects.filter(patient=patient, service_date=service_day())
        .select_related("service", "counter")
        .order_by("joined_at", "id")
    )
    return sorted(tickets, key=lambda t: (not t.is_active, t.joined_at))


def services_overview() -> list[dict]:
    """Service selection: each active service with people waiting, the wait and why it is closed."""
    today = service_day()
    now = timezone.now()
    services = list(Service.objects.filter(is_active=True).order_by("service_name"))
    counters = list(Counter.objects.filter(service__in=services).select_related("service"))
    waiting = dict(
        Ticket.objects.filter(service_date=today, status=Ticket.Status.WAITING, service__in=services)
        .values("service_id")
        .annotate(n=Count("id"))
        .values_list("service_id", "n")
    )
    result = []
    for service in services:
        open_counters = [c for c in counters if c.service_id == service.pk and c.is_open(now)]
        offered = service.is_offered_on(today)
        people = waiting.get(service.pk, 0)
        minutes = settings.DEFAULT_SERVICE_MINUTES
        per_counter = people / len(open_counters) if open_counters else people
        result.append(
            {
                "id": service.pk,
                "service_name": service.service_name,
                "description": service.description,
                "offered_today": offered,
                "open_counters": len(open_counters),
                "people_waiting": people,
                "estimated_wait_minutes": round(per_counter * minutes),
                "days": service.days_display(),
            }
        )
    return result
