"""Pure arithmetic of the reports: one ticket's wait and service time, medians, percentiles, and
the figures of a group of tickets."""

import math
from collections import Counter
from datetime import date, datetime
from operator import attrgetter
from statistics import median as _median
from typing import NamedTuple

OUTCOMES = ("served", "skipped", "cancelled", "expired")


class Row(NamedTuple):
    """One ticket as the reports count it."""

    service_date: date
    service_id: int
    counter_id: int | None
    called_by_id: int | None
    status: str
    joined_at: datetime
    wait: float | None  # seconds, joined → called
    service_time: float | None  # seconds, called → finished (served only)


def row(service_date, service_id, counter_id, called_by_id, status, joined_at, called_at, finished_at) -> Row:
    """A ticket's row from its times."""
    waited = (called_at - joined_at).total_seconds() if called_at is not None else None
    served = (finished_at - called_at).total_seconds() if called_at is not None and finished_at is not None else None
    return row_of(service_date, service_id, counter_id, called_by_id, status, joined_at, waited, served)


def row_of(service_date, service_id, counter_id, called_by_id, status, joined_at, called_after, finished_after) -> Row:
    """A ticket's row from the seconds from joining to its call and from the call to its end
    (None: not called, not finished). The wait runs to the last call (a skipped ticket recalled
    and called again waited until that call); a ticket waiting again after a recall has no wait
    yet. Only a served ticket has a service time."""
    wait = max(0.0, called_after) if called_after is not None and status != "waiting" else None
    service_time = max(0.0, finished_after) if finished_after is not None and status == "served" else None
    return Row(service_date, service_id, counter_id, called_by_id, status, joined_at, wait, service_time)


def median(values: list[float]) -> float | None:
    """The middle value (the mean of the two middle ones for an even count); None for none."""
    return float(_median(values)) if values else None


def percentile(values: list[float], p: float) -> float | None:
    """The nearest-rank percentile: the smallest value with at least p% of the values at or
    below it (p90 of 1..10 is 9). None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return float(ordered[rank - 1])


_status, _wait, _service = attrgetter("status"), attrgetter("wait"), attrgetter("service_time")


def waits(rows: list[Row]) -> list[float]:
    return [w for w in map(_wait, rows) if w is not None]


def figures(rows: list[Row]) -> dict:
    """Counts and durations of a group of tickets (a day, a service, a staff member …)."""
    counts = Counter(map(_status, rows))
    waited = waits(rows)
    served = [s for s in map(_service, rows) if s is not None]
    return {
        "arrivals": len(rows),
        **{outcome: counts[outcome] for outcome in OUTCOMES},
        "wait_median": median(waited),
        "wait_p90": percentile(waited, 90),
        "wait_max": max(waited) if waited else None,
        "service_median": median(served),
        "service_p90": percentile(served, 90),
    }
