"""The reads of the history: one query of a report's tickets as integers, the figures worked out
in Python (exact medians and percentiles on every database), and the names of what they group."""

import gc
from collections import Counter as Tally
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connections
from django.db.models import DateField, DateTimeField, DurationField, ExpressionWrapper, F, Value
from django.utils import timezone

from ..models import Counter, Service, Staff, Ticket
from .accuracy import accuracy
from .figures import ascending, figures, grouped_figures, middle, sorted_groups, total_figures
from .ranges import ReportFilter

# Times are read as microseconds from a fixed instant: the database subtracts, and the cursor
# hands back integers, much cheaper to read than date-times (bench/README.md, Reports).
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
US = 1_000_000
MINUTE_US = 60 * US
# Hours of the week are in local time, and some offsets are whole quarter-hours (India, Nepal):
# joining times are grouped by UTC quarter-hour, each turned into its local weekday and hour once.
QUARTER_US = 900 * US


def filtered_tickets(report: ReportFilter):
    tickets = Ticket.objects.filter(service_date__gte=report.date_from, service_date__lte=report.date_to)
    if report.service is not None:
        tickets = tickets.filter(service_id=report.service.pk)
    if report.counter is not None:
        tickets = tickets.filter(counter_id=report.counter.pk)
    if report.staff is not None:
        tickets = tickets.filter(called_by_id=report.staff.pk)
    return tickets.order_by()


def raw_values(values_list, *, chunk_size: int = 5000):
    """A values_list queryset's rows straight from the database cursor (no ORM conversion: the
    reports read integers and strings, or naive UTC date-times they convert themselves)."""
    sql, params = values_list.query.sql_with_params()
    with connections[values_list.db].cursor() as cursor:
        cursor.execute(sql, params)
        while chunk := cursor.fetchmany(chunk_size):
            yield from chunk


@contextmanager
def bulk_rows():
    """No cyclic garbage collection while the reports build tens of thousands of row tuples and
    lists (they hold no cycles): each collection it would start walks the whole process, and
    those made a month's report take twice as long one time in three (bench/README.md)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def since(field: str, start, output) -> ExpressionWrapper:
    """The database's microseconds from the constant `start` to the field's value."""
    return ExpressionWrapper(F(field) - Value(start, output_field=output), output_field=DurationField())


def between(start: str, end: str) -> ExpressionWrapper:
    """The database's microseconds from one date-time field to another (NULL if either is)."""
    return ExpressionWrapper(F(end) - F(start), output_field=DurationField())


@dataclass
class Columns:
    """A report's tickets column by column (entry i of each is ticket i), as the figures group
    them. Durations in seconds; the orders list the tickets with a duration, shortest first."""

    day: tuple  # the service date, as microseconds from the range's first day
    service: tuple
    counter: tuple
    staff: tuple  # who called the ticket
    status: tuple
    quarter: list  # the UTC quarter-hour of joining since EPOCH
    wait: list  # joined → (last) call; a ticket waiting again after a recall has none yet
    service_time: list  # called → finished, served tickets only
    error: list  # the estimate's error in minutes (accuracy.error_minutes), or None
    wait_order: list
    service_order: list


def read_columns(report: ReportFilter) -> Columns:
    """Every ticket of the report in one query (the covering index ticket_report_times)."""
    rows = raw_values(
        filtered_tickets(report)
        .annotate(
            day=since("service_date", report.date_from, DateField()),
            joined=since("joined_at", EPOCH, DateTimeField()),
            called_after=between("joined_at", "called_at"),
            finished_after=between("called_at", "finished_at"),
            first_after=between("joined_at", "first_called_at"),
        )
        .values_list(
            "day",
            "service_id",
            "counter_id",
            "called_by_id",
            "status",
            "joined",
            "called_after",
            "finished_after",
            "first_after",
            "estimated_wait_at_join",
        )
    )
    day, service, counter, staff, status, joined, called, finished, first, estimate = (
        tuple(zip(*rows, strict=True)) or ((),) * 10
    )
    # Inline arithmetic, no call per value: this runs for every ticket of the range.
    wait = [
        None if after is None or state == "waiting" else (after / US if after > 0 else 0.0)
        for after, state in zip(called, status, strict=True)
    ]
    service_time = [
        (after / US if after > 0 else 0.0) if after is not None and state == "served" else None
        for after, state in zip(finished, status, strict=True)
    ]
    error = [  # accuracy.error_minutes
        None if minutes is None or after is None else minutes - (after / MINUTE_US if after > 0 else 0.0)
        for after, minutes in zip(first, estimate, strict=True)
    ]
    return Columns(
        day=day,
        service=service,
        counter=counter,
        staff=staff,
        status=status,
        quarter=[j // QUARTER_US for j in joined],
        wait=wait,
        service_time=service_time,
        error=error,
        wait_order=ascending(wait),
        service_order=ascending(service_time),
    )


def _days(report: ReportFilter, columns: Columns) -> list:
    """Each ticket's service date (the day keys are microseconds from the range's start)."""
    dates = {key: report.date_from + timedelta(microseconds=int(key)) for key in set(columns.day)}
    return [dates[key] for key in columns.day]


def _local_hours(columns: Columns) -> list:
    """Each ticket's local hour of the week of joining (weekday × 24 + hour: integers group
    faster than pairs), one time-zone conversion per quarter-hour."""
    zone = timezone.get_current_timezone()
    local = {}
    for quarter in set(columns.quarter):
        moment = (EPOCH + timedelta(microseconds=int(quarter) * QUARTER_US)).astimezone(zone)
        local[quarter] = moment.weekday() * 24 + moment.hour
    return [local[quarter] for quarter in columns.quarter]


def _named(groups: dict, names: dict, *, key=lambda row: row["name"]) -> list[dict]:
    return sorted(({"id": pk, "name": names.get(pk, "?"), **f} for pk, f in groups.items()), key=key)


def history(report: ReportFilter) -> dict:
    """The figures of a date range: totals, per day, per service, per hour of the week (arrivals
    and median wait by local weekday and hour of joining), per counter and per staff member, and
    how close the wait estimates came. Four queries, however long the range."""
    with bulk_rows():
        return _history(report)


def _history(report: ReportFilter) -> dict:
    columns = read_columns(report)
    # Grouped by the day's integer key, turned into dates once per day.
    per_day = {
        report.date_from + timedelta(microseconds=int(key)): f
        for key, f in grouped_figures(columns.day, columns).items()
    }
    hours = _local_hours(columns)
    counts = Tally(hours)
    waits = sorted_groups(hours, columns.wait, columns.wait_order)
    by_service = grouped_figures(columns.service, columns)
    by_counter = grouped_figures(columns.counter, columns)
    by_staff = grouped_figures(columns.staff, columns)
    services = dict(Service.objects.filter(pk__in=list(by_service)).values_list("pk", "service_name"))
    counters = dict(Counter.objects.filter(pk__in=list(by_counter)).values_list("pk", "counter_name"))
    staff = {s.pk: s.display_name for s in Staff.objects.filter(pk__in=list(by_staff))}
    return {
        "total": total_figures(columns),
        "days": [{"date": day, **per_day.get(day, _empty())} for day in report.dates()],
        "services": _named(by_service, services),
        "counters": _named(by_counter, counters),
        "staff": _named(by_staff, staff, key=lambda row: row["name"].lower()),
        "hours": {
            divmod(key, 24): {"arrivals": n, "wait_median": middle(waits.get(key, []))} for key, n in counts.items()
        },
        "estimates": accuracy([e for e in columns.error if e is not None]),
    }


def _empty() -> dict:
    return figures({}, [], [])


def daily_summary(report: ReportFilter) -> list[dict]:
    """One row per day and service (summary.csv), days without tickets included with zeros, in
    date then service-name order, with how close the estimates came."""
    with bulk_rows():
        return _daily_summary(report)


def _daily_summary(report: ReportFilter) -> list[dict]:
    columns = read_columns(report)
    keys = list(zip(_days(report, columns), columns.service, strict=True))
    per_group = grouped_figures(keys, columns)
    errors = defaultdict(list)
    for key, error in zip(keys, columns.error, strict=True):
        if error is not None:
            errors[key].append(error)
    services = Service.objects.order_by("service_name")
    if report.service is not None:
        services = services.filter(pk=report.service.pk)
    names = list(services.values_list("pk", "service_name"))
    return [
        {
            "date": day,
            "service": name,
            **per_group.get((day, service_id), _empty()),
            "estimates": accuracy(errors.get((day, service_id), [])),
        }
        for day in report.dates()
        for service_id, name in names
    ]
