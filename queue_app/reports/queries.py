"""The reads of the reports: one query of ticket times per report, figures computed in Python."""

from collections import defaultdict
from datetime import datetime
from typing import NamedTuple

from django.utils import timezone

from ..models import Counter, Service, Staff, Ticket, service_day
from .figures import Tally, median
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


class TicketTimes(NamedTuple):
    service_date: object
    service_id: int
    counter_id: int | None
    called_by_id: int | None
    status: str
    joined_at: datetime
    called_at: datetime | None
    finished_at: datetime | None

    @property
    def wait(self) -> float | None:
        """Seconds from joining to the (last) call; none for a ticket never called, or waiting
        again after a recall (its wait is not over)."""
        if self.called_at is None or self.status == Ticket.Status.WAITING:
            return None
        return max(0.0, (self.called_at - self.joined_at).total_seconds())

    @property
    def service_time(self) -> float | None:
        """Seconds at the counter, call to finish, of a served ticket."""
        if self.status != Ticket.Status.SERVED or self.called_at is None or self.finished_at is None:
            return None
        return max(0.0, (self.finished_at - self.called_at).total_seconds())


def filtered_tickets(report: ReportFilter):
    tickets = Ticket.objects.filter(service_date__gte=report.date_from, service_date__lte=report.date_to)
    if report.service is not None:
        tickets = tickets.filter(service_id=report.service.pk)
    if report.counter is not None:
        tickets = tickets.filter(counter_id=report.counter.pk)
    if report.staff is not None:
        tickets = tickets.filter(called_by_id=report.staff.pk)
    return tickets.order_by()


def ticket_times(report: ReportFilter) -> list[TicketTimes]:
    """The times of every ticket in the report, in one query."""
    return [TicketTimes(*row) for row in filtered_tickets(report).values_list(*TIME_FIELDS).iterator(chunk_size=5000)]


def history(report: ReportFilter) -> dict:
    """The figures of a date range: totals, per day, per service, per hour of the week (arrivals
    and median wait by local weekday and hour of joining), per counter and per staff member."""
    rows = ticket_times(report)
    zone = timezone.get_current_timezone()
    total, by_day, by_service = Tally(), defaultdict(Tally), defaultdict(Tally)
    by_counter, by_staff, by_hour = defaultdict(Tally), defaultdict(Tally), defaultdict(Tally)
    for row in rows:
        total.add(row)
        by_day[row.service_date].add(row)
        by_service[row.service_id].add(row)
        local = row.joined_at.astimezone(zone)
        by_hour[(local.weekday(), local.hour)].add(row)
        if row.counter_id is not None:
            by_counter[row.counter_id].add(row)
        if row.called_by_id is not None:
            by_staff[row.called_by_id].add(row)
    services = dict(Service.objects.filter(pk__in=list(by_service)).values_list("pk", "service_name"))
    counters = dict(Counter.objects.filter(pk__in=list(by_counter)).values_list("pk", "counter_name"))
    staff = {s.pk: s.display_name for s in Staff.objects.filter(pk__in=list(by_staff))}
    return {
        "total": total.figures(),
        "days": [{"date": day, **by_day[day].figures()} for day in report.dates()],
        "services": sorted(
            ({"id": pk, "name": services.get(pk, "?"), **t.figures()} for pk, t in by_service.items()),
            key=lambda r: r["name"],
        ),
        "counters": sorted(
            ({"id": pk, "name": counters.get(pk, "?"), **t.figures()} for pk, t in by_counter.items()),
            key=lambda r: r["name"],
        ),
        "staff": sorted(
            ({"id": pk, "name": staff.get(pk, "?"), **t.figures()} for pk, t in by_staff.items()),
            key=lambda r: r["name"].lower(),
        ),
        "hours": {key: {"arrivals": t.arrivals, "wait_median": median(t.waits)} for key, t in by_hour.items()},
    }


def daily_summary(report: ReportFilter) -> list[dict]:
    """One row per day and service (summary.csv), days without tickets included with zeros, in
    date then service-name order."""
    tallies = defaultdict(Tally)
    for row in ticket_times(report):
        tallies[(row.service_date, row.service_id)].add(row)
    services = Service.objects.order_by("service_name")
    if report.service is not None:
        services = services.filter(pk=report.service.pk)
    names = list(services.values_list("pk", "service_name"))
    return [
        {"date": day, "service": name, **tallies[(day, service_id)].figures()}
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
    per_service, per_counter = defaultdict(Tally), defaultdict(Tally)
    waiting_since: dict[int, datetime] = {}
    waiting_count: dict[int, int] = defaultdict(int)
    current: dict[int, tuple[str, datetime]] = {}
    fields = (*TIME_FIELDS, "queue_id")
    for values in Ticket.objects.of_day(today).order_by().values_list(*fields):
        row, queue_id = TicketTimes(*values[:-1]), values[-1]
        per_service[row.service_id].add(row)
        if row.counter_id is not None:
            per_counter[row.counter_id].add(row)
        if row.status == Ticket.Status.WAITING:
            waiting_count[row.service_id] += 1
            first = waiting_since.get(row.service_id)
            waiting_since[row.service_id] = row.joined_at if first is None else min(first, row.joined_at)
        elif row.status == Ticket.Status.CALLED and row.counter_id is not None and row.called_at:
            if row.counter_id not in current or current[row.counter_id][1] < row.called_at:
                current[row.counter_id] = (queue_id, row.called_at)
    service_rows, alerts = [], []
    for service in services:
        longest = (now - waiting_since[service.pk]).total_seconds() if service.pk in waiting_since else None
        threshold = service.wait_alert_minutes
        alert = longest is not None and threshold is not None and longest >= threshold * 60
        row = {
            "id": service.pk,
            "name": service.service_name,
            "waiting": waiting_count.get(service.pk, 0),
            "longest_wait_seconds": longest,
            "served": per_service[service.pk].served,
            "wait_median_seconds": median(per_service[service.pk].waits),
            "open_counters": sum(1 for c in counters if c.service_id == service.pk and c.is_open(now)),
            "alert_minutes": threshold,
            "alert": alert,
        }
        service_rows.append(row)
        if alert:
            alerts.append(row)
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
                "ticket": ticket[0] if ticket else None,
                "ticket_since": ticket[1] if ticket else None,
                "ticket_seconds": (now - ticket[1]).total_seconds() if ticket else None,
                "served": per_counter[counter.pk].served,
            }
        )
    return Overview(services=service_rows, counters=counter_rows, alerts=alerts, at=now)
