"""Latency summaries: nearest-rank percentiles over every sample (no sampling, no histograms)."""

import math


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summarize(values: list[float], *, digits: int = 2) -> dict:
    """count, p50/p95/p99, max and mean of the values (milliseconds in, milliseconds out)."""
    ordered = sorted(values)
    if not ordered:
        return {"count": 0, "p50": None, "p95": None, "p99": None, "max": None, "mean": None}
    return {
        "count": len(ordered),
        "p50": round(percentile(ordered, 0.50), digits),
        "p95": round(percentile(ordered, 0.95), digits),
        "p99": round(percentile(ordered, 0.99), digits),
        "max": round(ordered[-1], digits),
        "mean": round(sum(ordered) / len(ordered), digits),
    }


def ratio(value, floor, *, digits: int = 2):
    if value is None or not floor:
        return None
    return round(value / floor, digits)
