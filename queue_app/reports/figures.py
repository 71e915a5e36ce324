"""Pure arithmetic of the reports: medians and percentiles, the figures of a group of tickets,
and the grouping of a report's tickets (read column by column: queries.Columns) by day,
service, counter, staff member or hour in one pass per measure."""

import math
from collections import Counter, defaultdict
from statistics import median as _median

OUTCOMES = ("served", "skipped", "cancelled", "expired")


def median(values: list[float]) -> float | None:
    """The middle value (the mean of the two middle ones for an even count); None for none."""
    return float(_median(values)) if values else None


def percentile(values: list[float], p: float) -> float | None:
    """The nearest-rank percentile: the smallest value with at least p% of the values at or
    below it (p90 of 1..10 is 9). None for no values."""
    return _ranked(sorted(values), p) if values else None


def _ranked(ordered: list[float], p: float) -> float | None:
    if not ordered:
        return None
    return float(ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1])


def middle(ordered: list[float]) -> float | None:
    """The median of values already in ascending order."""
    if not ordered:
        return None
    half = len(ordered) // 2
    return float(ordered[half]) if len(ordered) % 2 else (ordered[half - 1] + ordered[half]) / 2


def figures(counts: dict, waits: list[float], service_times: list[float]) -> dict:
    """Counts and durations of a group of tickets: `counts` by status, `waits` (joined → called)
    and `service_times` (called → served) in seconds, each in ascending order."""
    return {
        "arrivals": sum(counts.values()),
        **{outcome: counts.get(outcome, 0) for outcome in OUTCOMES},
        "wait_median": middle(waits),
        "wait_p90": _ranked(waits, 90),
        "wait_max": float(waits[-1]) if waits else None,
        "service_median": middle(service_times),
        "service_p90": _ranked(service_times, 90),
    }


def ascending(values: list) -> list[int]:
    """The positions of the values that are not None, in ascending order of value."""
    return sorted([i for i, v in enumerate(values) if v is not None], key=values.__getitem__)


def sorted_groups(keys, values: list, order: list[int]) -> dict:
    """{key: its values in ascending order}, from `order` (ascending(values))."""
    groups = defaultdict(list)
    for i in order:
        groups[keys[i]].append(values[i])
    return groups


def grouped_figures(keys, columns) -> dict:
    """{key: figures} of the tickets of each key (keys[i] is the key of ticket i; None keys are
    left out). Counting runs in C (Counter over pairs); each duration is placed once, in the order
    the columns give, so no group is sorted again."""
    counts = defaultdict(dict)
    for (key, status), n in Counter(zip(keys, columns.status, strict=True)).items():
        counts[key][status] = n
    waits = sorted_groups(keys, columns.wait, columns.wait_order)
    service_times = sorted_groups(keys, columns.service_time, columns.service_order)
    return {
        key: figures(c, waits.get(key, []), service_times.get(key, [])) for key, c in counts.items() if key is not None
    }


def total_figures(columns) -> dict:
    waits = [columns.wait[i] for i in columns.wait_order]
    service_times = [columns.service_time[i] for i in columns.service_order]
    return figures(Counter(columns.status), waits, service_times)
