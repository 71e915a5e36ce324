"""The end of a service day: tickets still open from an earlier day become expired."""

import logging
from datetime import date

from django.db import transaction
from django.utils import timezone

from .. import events
from ..models import QueueHistory, Ticket, service_day

log = logging.getLogger("queue.transitions")

_rolled_over_through: date | None = None  # per process; the expiry itself is idempotent


def rollover_if_new_day() -> None:
    """Expire earlier days' open tickets at the first change of a new day (once per process)."""
    global _rolled_over_through
    today = service_day()
    if _rolled_over_through != today:
        expire_previous_days(today=today)
        _rolled_over_through = today


@transaction.atomic
def expire_previous_days(*, today: date | None = None) -> int:
    """Tickets still open from an earlier service date become expired. Idempotent."""
    today = today or service_day()
    open_from_before = Ticket.objects.active().filter(service_date__lt=today)
    # A plain read first: most days there is nothing to expire, and locking the rows' index range
    # before the service's lock made two processes' first changes of a day deadlock on MariaDB.
    if not open_from_before.exists():
        return 0
    stale = list(open_from_before.select_for_update().select_related("service", "counter"))
    if not stale:
        return 0
    now = timezone.now()
    Ticket.objects.filter(pk__in=[t.pk for t in stale]).update(
        status=Ticket.Status.EXPIRED, finished_at=now, active_key=None
    )
    QueueHistory.objects.bulk_create(
        QueueHistory(
            action=QueueHistory.Action.EXPIRED,
            ticket=t,
            counter=t.counter,
            from_status=t.status,
            to_status=Ticket.Status.EXPIRED,
        )
        for t in stale
    )
    for ticket in stale:
        ticket.status = Ticket.Status.EXPIRED
    events.publish_ticket_news([("expired", ticket) for ticket in stale])
    log.info("expired %d tickets from before %s", len(stale), today)
    return len(stale)
