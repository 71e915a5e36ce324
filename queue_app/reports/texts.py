"""Texts to patients per day (the outbox, services/notifications.py) for the reports page: how
many of each kind were written, and what became of them."""

from collections import defaultdict

from django.db.models import Count

from ..models import Notification
from .ranges import ReportFilter

Status = Notification.Status
# What a manager needs to tell apart: reached the phone (or handed to the provider), did not, was
# never sent (over a cap, too late), still on its way.
OUTCOMES = {
    Status.SENT: "sent",
    Status.DELIVERED: "sent",
    Status.UNDELIVERED: "failed",
    Status.FAILED: "failed",
    Status.DROPPED: "dropped",
    Status.PENDING: "waiting",
    Status.SENDING: "waiting",
}


def texts_per_day(report: ReportFilter) -> list[dict]:
    """One row per day of the range with texts, by the day of their ticket (one query):
    {date, near, called, moved, sent, failed, dropped, waiting, total}."""
    texts = Notification.objects.filter(
        ticket__service_date__gte=report.date_from, ticket__service_date__lte=report.date_to
    )
    if report.service is not None:
        texts = texts.filter(ticket__service_id=report.service.pk)
    if report.counter is not None:
        texts = texts.filter(ticket__counter_id=report.counter.pk)
    rows = texts.values_list("ticket__service_date", "kind", "status").annotate(n=Count("id")).order_by()
    days = defaultdict(lambda: dict.fromkeys(("near", "called", "moved", "sent", "failed", "dropped", "waiting"), 0))
    for day, kind, status, n in rows:
        days[day][kind] += n
        days[day][OUTCOMES.get(status, "waiting")] += n
    return [
        {"date": day, **days[day], "total": sum(days[day][k] for k in ("near", "called", "moved"))}
        for day in sorted(days)
    ]
