"""How long a patient will wait: the service's typical time a patient (remembered a few seconds
per process) and the counters calling from a ticket's line, put through estimates.py. The ticket
page, the join's record of what it showed, the texts and the reports all read it here."""

import time
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.utils import timezone

from . import estimates
from .lines import Lines
from .models import Counter, Service, Ticket, service_day
from .statements import remembered

# Average service time per (service, day), kept a few seconds per process: every join answer,
# position list and patient page reads it, and it is only an estimate. A serve here forgets it.
MINUTES_MEMO_SECONDS = 10
_minutes_memo: dict[tuple[int, object], tuple[float, float]] = {}


def minutes_per_patient(service_id: int) -> float:
    """The service's typical time a patient today (estimates.minutes_per_patient over its latest
    service times), else the configured default."""
    key = (service_id, service_day())
    memo = _minutes_memo.get(key)
    if memo is not None and memo[0] > time.monotonic():
        return memo[1]
    pairs = _latest_services(*key)
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


@remembered
def _latest_services(service_id: int, day):
    """(called at, finished at) of the day's latest served tickets."""
    return (
        Ticket.objects.of_day(day)
        .filter(
            service_id=service_id,
            status=Ticket.Status.SERVED,
            called_at__isnull=False,
            finished_at__isnull=False,
        )
        .order_by("-finished_at")
        .values_list("called_at", "finished_at")[: estimates.RECENT_SAMPLES]
    )


def counters_serving(service: Service, counter_id) -> tuple[int, int]:
    """How many counters call from the line a ticket waits in, and how many of them have nobody
    at them now: the service's open counters (one line), its own counter (a line per counter),
    none while it waits for a counter to open. One query."""
    if counter_id is None:
        return 0, 0
    counters = _staffed_counters(service.pk, counter_id if service.per_counter_lines else None, service_day())
    now = timezone.now()
    serving = [c for c in counters if c.is_open(now)]
    return len(serving), sum(not c.busy for c in serving)


@remembered
def _staffed_counters(service_id: int, only_counter, day):
    """The service's staffed counters (or just `only_counter`), each with whether it has someone
    called now; with their service, whose hours they keep."""
    counters = Counter.objects.filter(service_id=service_id, held_by__isnull=False)
    if only_counter is not None:
        counters = counters.filter(pk=only_counter)
    busy = Ticket.objects.of_day(day).called().filter(counter_id=OuterRef("pk"))
    return counters.select_related("service").annotate(busy=Exists(busy))


def wait_for(service: Service, counter_id, people_ahead: int) -> tuple[float, int | None]:
    """What one place in a ticket's line takes, and the wait the ticket page shows (estimates.py):
    none while no counter calls from its line; nothing while a counter is free for it."""
    serving, free = counters_serving(service, counter_id)
    return _wait(service.pk, serving, free, people_ahead)


def _wait(service_id: int, serving: int, free: int, people_ahead: int) -> tuple[float, int | None]:
    stats = service_stats(service_id, open_counters=serving)
    wait = 0 if serving and people_ahead < free else estimates.wait_minutes(stats=stats, people_ahead=people_ahead)
    return stats.minutes_per_patient / max(1, serving), wait


@dataclass(frozen=True)
class Standing:
    """Where a ticket stands in its line and the wait its page shows (ticket_dict's figures)."""

    people_ahead: int
    minutes: float  # what one place in the line takes
    wait: int | None


def standing_at_join(
    line: Lines, *, counter: Counter | None, counters: list[Counter], now, priority=None
) -> Standing | None:
    """Where a ticket joining `counter` now will stand and the wait its page will show
    (wait_for), worked out before the ticket exists from what the join read under the lock: the
    service's `line` and its `counters` (with `busy`: placement.service_counters). No query but
    the service's remembered average. None while no counter is open for it."""
    if counter is None:
        return None
    serving = [c for c in counters if c.is_open(now) and (line.one_line or c.pk == counter.pk)]
    ahead = line.ahead_of_newcomer(counter_id=counter.pk, joined_at=now, priority=priority)
    minutes, wait = _wait(line.service.pk, len(serving), sum(not c.busy for c in serving), ahead)
    return Standing(people_ahead=ahead, minutes=minutes, wait=wait)
