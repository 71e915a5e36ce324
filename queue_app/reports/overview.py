"""The live overview: today now, per service and per counter, from three queries (services,
counters, today's tickets' times), and how close today's wait estimates came."""

from collections import defaultdict
from datetime import datetime
from typing import NamedTuple

from django.utils import timezone

from ..models import Counter, Service, Ticket, service_day
from .accuracy import accuracy, error_minutes, sentence
from .figures import median

FIELDS = (
    "service_id",
    "counter_id",
    "status",
    "joined_at",
    "called_at",
    "first_called_at",
    "estimated_wait_at_join",
    "queue_id",
)


class Overview(NamedTuple):
    services: list
    counters: list
    alerts: list
    estimates: dict | None  # accuracy.accuracy of today's called tickets
    estimates_text: str
    at: datetime


class _Today:
    """Today's tickets, tallied per service and counter in one pass."""

    def __init__(self, today):
        self.waits, self.served = defaultdict(list), defaultdict(int)
        self.waiting_since: dict[int, datetime] = {}
        self.waiting = defaultdict(int)
        self.current: dict[int, tuple[str, datetime]] = {}
        self.errors = []
        for service, counter, status, joined, called, first, estimate, queue_id in (
            Ticket.objects.of_day(today).order_by().values_list(*FIELDS)
        ):
            if status == Ticket.Status.WAITING:
                self.waiting[service] += 1
                since = self.waiting_since.get(service)
                self.waiting_since[service] = joined if since is None else min(since, joined)
            elif called is not None:
                # The wait runs to the last call (a recalled ticket waited until it was called again).
                self.waits[service].append(max(0.0, (called - joined).total_seconds()))
            if status == Ticket.Status.SERVED:
                self.served[("service", service)] += 1
                self.served[("counter", counter)] += 1
            elif status == Ticket.Status.CALLED and counter is not None and called is not None:
                if counter not in self.current or self.current[counter][1] < called:
                    self.current[counter] = (queue_id, called)
            if first is not None and estimate is not None:
                self.errors.append(error_minutes((first - joined).total_seconds(), estimate))


def overview(now: datetime | None = None) -> Overview:
    """Today now: per service and per counter, and today's estimates against the waits."""
    now = now or timezone.now()
    services = list(Service.objects.filter(is_active=True).order_by("service_name"))
    counters = list(Counter.objects.select_related("service", "held_by").order_by("service__service_name", "id"))
    today = _Today(service_day(now))
    service_rows, alerts = [], []
    for service in services:
        since = today.waiting_since.get(service.pk)
        longest = (now - since).total_seconds() if since is not None else None
        threshold = service.wait_alert_minutes
        alert = longest is not None and threshold is not None and longest >= threshold * 60
        line = {
            "id": service.pk,
            "name": service.service_name,
            "waiting": today.waiting.get(service.pk, 0),
            "longest_wait_seconds": longest,
            "served": today.served.get(("service", service.pk), 0),
            "wait_median_seconds": median(today.waits.get(service.pk, [])),
            "open_counters": sum(1 for c in counters if c.service_id == service.pk and c.is_open(now)),
            "alert_minutes": threshold,
            "alert": alert,
        }
        service_rows.append(line)
        if alert:
            alerts.append(line)
    counter_rows = []
    for counter in counters:
        ticket = today.current.get(counter.pk)
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
                "served": today.served.get(("counter", counter.pk), 0),
            }
        )
    estimates = accuracy(today.errors)
    return Overview(
        services=service_rows,
        counters=counter_rows,
        alerts=alerts,
        estimates=estimates,
        estimates_text=sentence(estimates, today=True),
        at=now,
    )
