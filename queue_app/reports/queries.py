"""The reads of the reports: one query of ticket times per report, figures computed in Python."""

from collections import defaultdict
from datetime import UTC, datetime
from typing import NamedTuple

from django.db import connections
from django.db.models import DurationField, ExpressionWrapper, F
from django.utils import timezone

from ..models import Counter, Service, Staff, Ticket, service_day
from .figures import Row, figures, median, row, row_of, waits
from .ranges import ReportFilter

TIME_FIELDS = (
    "service_date",
    "service_id",
    "counter_id",
    "called_by_id",
    "status",
    "joined_at",
    "called_at",
    "finished_at",
)


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
    """A values_list queryset's rows straight from the database cursor, datetimes naive in UTC.

    The ORM converts every date-time value to an aware one through a few Python calls each:
    on a month of tickets that was as long as reading them. The database holds UTC either way
    (USE_TZ), so the reports attach UTC themselves, with one C call per value.
    """
    sql, params = values_list.query.sql_with_params()
    with connections[values_list.db].cursor() as cursor:
        cursor.execute(sql, params)
        while chunk := cursor.fetchmany(chunk_size):
            yield from chunk


def _utc(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None else None


def ticket_times(report: ReportFilter) -> list[Row]:
    """Every ticket of the report as the figures count it, from one query. The database works
    out the durations (in microseconds: half the values to carry and convert)."""
    durations = filtered_tickets(report).annotate(
        called_after=ExpressionWrapper(F("called_at") - F("joined_at"), output_field=DurationField()),
        finished_after=ExpressionWrapper(F("finished_at") - F("called_at"), output_field=DurationField()),
    )
    fields = (*TIME_FIELDS[:6], "called_after", "finished_after")
    return [
        row_of(day, service, counter, by, status, _utc(joined), _seconds(called_after), _seconds(finished_after))
        for day, service, counter, by, status, joined, called_after, finished_after in raw_values(
            durations.values_list(*fields)
        )
    ]


def _seconds(microseconds) -> float | None:
    # A duration from raw_values: microseconds (an integer, or a Decimal on some backends).
    return float(microseconds) / 1e6 if microseconds is not None else None


def history(report: ReportFilter) -> dict:
    """The figures of a date range: totals, per day, per service, per hour of the week (arrivals
    and median wait by local weekday and hour of joining), per counter and per staff member."""
    rows = ticket_times(report)
    zone = timezone.get_current_timezone()
    by_day, by_service, by_counter = defaultdict(list), defaultdict(list), defaultdict(list)
    by_staff, by_hour = defaultdict(list), defaultdict(list)
    for ticket in rows:
        by_day[ticket.service_date].append(ticket)
        by_service[ticket.service_id].append(ticket)
        local = ticket.joined_at.astimezone(zone)
        by_hour[(local.weekday(), local.hour)].append(ticket)
        if ticket.counter_id is not None:
            by_counter[ticket.counter_id].append(ticket)
        if ticket.called_by_id is not None:
            by_staff[ticket.called_by_id].append(ticket)
    services = dict(Service.objects.filter(pk__in=list(by_service)).values_list("pk", "service_name"))
    counters = dict(Counter.objects.filter(pk__in=list(by_counter)).values_list("pk", "counter_name"))
    staff = {s.pk: s.display_name for s in Staff.objects.filter(pk__in=list(by_staff))}
    return {
        "total": figures(rows),
        "days": [{"date": day, **figures(by_day.get(day, []))} for day in report.dates()],
        "services": sorted(
            ({"id": pk, "name": services.get(pk, "?"), **figures(t)} for pk, t in by_service.items()),
            key=lambda r: r["name"],
        ),
        "counters": sorted(
            ({"id": pk, "name": counters.get(pk, "?"), **figures(t)} for pk, t in by_counter.items()),
            key=lambda r: r["name"],
        ),
        "staff": sorted(
            ({"id": pk, "name": staff.get(pk, "?"), **figures(t)} for pk, t in by_staff.items()),
            key=lambda r: r["name"].lower(),
        ),
        "hours": {key: {"arrivals": len(t), "wait_median": median(waits(t))} for key, t in by_hour.items()},
    }


def daily_summary(report: ReportFilter) -> list[dict]:
    """One row per day and service (summary.csv), days without tickets included with zeros, in
    date then service-name order."""
    groups = defaultdict(list)
    for ticket in ticket_times(report):
        groups[(ticket.service_date, ticket.service_id)].append(ticket)
    services = Service.objects.order_by("service_name")
    if report.service is not None:
        services = services.filter(pk=report.service.pk)
    names = list(services.values_list("pk", "service_name"))
    return [
        {"date": day, "service": name, **figures(groups.get((day, service_id), []))}
        for day in report.dates()
        for service_id, name in names
    ]


class Overview(NamedTuple):
    services: list
    counters: list
    alerts: list
    at: datetime


def overview(now: datetime | None = None) -> Overview:
    """Today now: per service and per counter, from three queries (services, counters, today's
    tickets' times)."""
    now = now or timezone.now()
    today = service_day(now)
    services = list(Service.objects.filter(is_active=True).order_by("service_name"))
    counters = list(Counter.objects.select_related("service", "held_by").order_by("service__service_name", "id"))
    per_service, per_counter = defaultdict(list), defaultdict(list)
    waiting_since: dict[int, datetime] = {}
    waiting_count: dict[int, int] = defaultdict(int)
    current: dict[int, tuple[str, datetime]] = {}
    for values in Ticket.objects.of_day(today).order_by().values_list(*TIME_FIELDS, "queue_id"):
        ticket, called_at, queue_id = row(*values[:-1]), values[-3], values[-1]
        per_service[ticket.service_id].append(ticket)
        if ticket.counter_id is not None:
            per_counter[ticket.counter_id].append(ticket)
        if ticket.status == Ticket.Status.WAITING:
            waiting_count[ticket.service_id] += 1
            first = waiting_since.get(ticket.service_id)
            waiting_since[ticket.service_id] = ticket.joined_at if first is None else min(first, ticket.joined_at)
        elif ticket.status == Ticket.Status.CALLED and ticket.counter_id is not None and called_at:
            if ticket.counter_id not in current or current[ticket.counter_id][1] < called_at:
                current[ticket.counter_id] = (queue_id, called_at)
    service_rows, alerts = [], []
    for service in services:
        longest = (now - waiting_since[service.pk]).total_seconds() if service.pk in waiting_since else None
        threshold = service.wait_alert_minutes
        alert = longest is not None and threshold is not None and longest >= threshold * 60
        line = {
            "id": service.pk,
            "name": service.service_name,
            "waiting": waiting_count.get(service.pk, 0),
            "longest_wait_seconds": longest,
            "served": _served(per_service[service.pk]),
            "wait_median_seconds": median(waits(per_service[service.pk])),
            "open_counters": sum(1 for c in counters if c.service_id == service.pk and c.is_open(now)),
            "alert_minutes": threshold,
            "alert": alert,
        }
        service_rows.append(line)
        if alert:
            alerts.append(line)
    counter_rows = []
    for counter in counters:
        ticket = current.get(counter.pk)
        counter_rows.append(
            {
                "id": counter.pk,
                "name": counter.counter_name,
                "service": counter.service.service_name,
                "holder": counter.held_by.display_name if counter.held_by_id else None,
                "status": counter.current_status,
                "status_label": counter.get_current_status_display(),
                "is_open": counter.is_open(now),
                # Staffed and available or busy, but its (or its service's) hours are over.
                "outside_hours": bool(counter.held_by_id)
                and counter.current_status in Counter.OPEN_STATUSES
                and not counter.within_hours(now),
                "ticket": ticket[0] if ticket else None,
                "ticket_since": ticket[1] if ticket else None,
                "ticket_seconds": (now - ticket[1]).total_seconds() if ticket else None,
                "served": _served(per_counter[counter.pk]),
            }
        )
    return Overview(services=service_rows, counters=counter_rows, alerts=alerts, at=now)


def _served(rows: list[Row]) -> int:
    return sum(1 for ticket in rows if ticket.status == Ticket.Status.SERVED)
