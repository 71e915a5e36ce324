"""Pure arithmetic of the reports: medians, percentiles, and the figures of a set of tickets."""

import math
from dataclasses import dataclass, field
from statistics import median as _median


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


OUTCOMES = ("served", "skipped", "cancelled", "expired")


@dataclass
class Tally:
    """Counts and durations of some tickets (a day, a service, a staff member, an hour)."""

    arrivals: int = 0
    served: int = 0
    skipped: int = 0
    cancelled: int = 0
    expired: int = 0
    waits: list = field(default_factory=list)  # seconds, joined → called
    service_times: list = field(default_factory=list)  # seconds, called → finished (served only)

    def add(self, row) -> None:
        self.arrivals += 1
        if row.status in OUTCOMES:
            setattr(self, row.status, getattr(self, row.status) + 1)
        if row.wait is not None:
            self.waits.append(row.wait)
        if row.service_time is not None:
            self.service_times.append(row.service_time)

    def figures(self) -> dict:
        return {
            "arrivals": self.arrivals,
            **{outcome: getattr(self, outcome) for outcome in OUTCOMES},
            "wait_median": median(self.waits),
            "wait_p90": percentile(self.waits, 90),
            "wait_max": max(self.waits) if self.waits else None,
            "service_median": median(self.service_times),
            "service_p90": percentile(self.service_times, 90),
        }
