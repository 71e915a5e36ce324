"""A counter as staff requests, the display and a change's messages read it: with its service
(and its holder), as remembered statements (statements.py), since every request asks again."""

from .models import Counter
from .statements import remembered


def counter_row(counter_id: int) -> Counter:
    """The counter with its service and holder, read now (Counter.DoesNotExist: no such counter)."""
    rows = _counter_rows(counter_id, None)
    if not rows:
        raise Counter.DoesNotExist(f"no counter {counter_id}")
    return rows[0]


def held_counter(staff_id: int) -> Counter | None:
    """The counter the staff member holds, with its service and holder, or None."""
    return next(iter(_counter_rows(None, staff_id)), None)


@remembered
def _counter_rows(counter_id: int | None, held_by_id: int | None):
    rows = Counter.objects.select_related("service", "held_by")
    rows = rows.filter(pk=counter_id) if counter_id is not None else rows.filter(held_by_id=held_by_id)
    return rows.order_by("pk")[:1]


@remembered
def counters_with_service(service_id: int | None) -> list[Counter]:
    """A service's counters (every counter: None), each with its service, by id."""
    counters = Counter.objects.select_related("service").order_by("id")
    return counters.filter(service_id=service_id) if service_id is not None else counters
