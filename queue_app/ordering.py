"""The order of a service's line: who is called next, and so where everyone stands.

Emergencies first (in join order). Then priority patients (higher rank first, then join order)
go ahead of patients without priority, but never more than the service's `priority_calls_in_a_row`
in a row while someone without priority waits: after that many, the earliest of them is called.
Within a class, first come, first served. With the limit at 0 priorities do not change the order.
Pure functions over small rows, so selectors, the rules and the tests share one definition.
"""

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Place:
    """What the order needs to know of a waiting ticket."""

    id: int
    joined_at: datetime
    rank: int = 0  # 0: no priority
    emergency: bool = False


def _join_order(place: Place):
    return (place.joined_at, place.id)


def line(places, *, streak: int, in_a_row: int) -> list:
    """The places in the order they would be called, given `streak` priority calls in a row so
    far and the service's limit `in_a_row`."""
    emergencies = sorted((p for p in places if p.emergency), key=_join_order)
    if in_a_row == 0:
        return emergencies + sorted((p for p in places if not p.emergency), key=_join_order)
    priority = sorted((p for p in places if p.rank and not p.emergency), key=lambda p: (-p.rank, *_join_order(p)))
    ordinary = sorted((p for p in places if not p.rank and not p.emergency), key=_join_order)
    ordered, i, j = list(emergencies), 0, 0
    while i < len(priority) or j < len(ordinary):
        if i < len(priority) and (streak < in_a_row or j == len(ordinary)):
            ordered.append(priority[i])
            i += 1
            streak = streak + 1 if j < len(ordinary) else 0
        else:
            ordered.append(ordinary[j])
            j += 1
            streak = 0
    return ordered


def streak_after_call(called: Place, *, streak: int, others) -> int:
    """The service's count of priority calls in a row once `called` is called, with `others`
    still waiting: an emergency leaves it alone; a priority call counts only while someone
    without priority waits (they are the ones held back); any other call restarts it."""
    if called.emergency:
        return streak
    if called.rank and any(not p.rank and not p.emergency for p in others):
        return streak + 1
    return 0
