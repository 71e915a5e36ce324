"""The one wait estimate: service selection, the ticket page, its live updates and the reports.

Pure functions of a service's recent service times, the people ahead and the counters open now;
the one read they need is selectors.service_stats.
"""

from dataclasses import dataclass

# How many of the latest service times describe "how long a patient takes now": enough that one
# long consultation barely moves it, few enough to follow a slow afternoon.
RECENT_SAMPLES = 15
# Until this many patients were served today, the estimate leans on the clinic's default, so the
# first quick (or slow) patient of the morning does not swing everyone's estimate.
PRIOR_WEIGHT = 3
MIN_MINUTES = 0.5
# How much of a visit, on average, is left at a busy counter when someone starts to wait: more
# than half, as long visits are more often the ones under way (bench/README.md, the morning).
RESIDUAL = 0.65


@dataclass(frozen=True)
class ServiceStats:
    """What the estimate knows about a service now."""

    minutes_per_patient: float  # the typical time a patient takes at a counter, smoothed
    open_counters: int  # counters of the service open now


def minutes_per_patient(durations_minutes: list[float], *, default: float) -> float:
    """A typical service time from the latest service times (newest first): their median,
    pulled towards `default` while there are few of them.

    The median of a sliding window moves little when one more patient is served, and the prior
    keeps a quiet morning at the clinic's default instead of at its first patient's time.
    """
    recent = [d for d in durations_minutes[:RECENT_SAMPLES] if d >= 0]
    if not recent:
        return float(default)
    n = len(recent)
    weight = min(n, RECENT_SAMPLES)
    blended = (weight * _typical(recent) + PRIOR_WEIGHT * default) / (weight + PRIOR_WEIGHT)
    return max(MIN_MINUTES, blended)


def _typical(recent: list[float]) -> float:
    """The mean without the longest and the shortest (with five or more): a wait is a sum of
    service times, which the mean predicts and the median (below it for skewed times) does not;
    trimming keeps one very long consultation from moving everyone's estimate."""
    if len(recent) >= 5:
        recent = sorted(recent)[1:-1]
    return sum(recent) / len(recent)


def wait_minutes(*, stats: ServiceStats, people_ahead: int, lines: int | None = None) -> int | None:
    """Minutes until a counter calls someone with `people_ahead` before them, served by `lines`
    counters at once (the service's open counters unless given). None when no counter is open:
    "waiting for a counter to open" never shows a time."""
    lines = stats.open_counters if lines is None else lines
    if lines <= 0:
        return None
    # Every counter busy with someone (selectors.wait_for says 0 while one is free): the first
    # place frees up part-way through a visit (RESIDUAL), then one place per visit.
    return round((max(0, people_ahead) + RESIDUAL) * stats.minutes_per_patient / lines)
