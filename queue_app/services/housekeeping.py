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
    # Found without a lock, then locked by primary key. A locking read over an index range would
    # also lock the first of today's rows past the range; a queue change that holds its
    # service's lock and updates that row then deadlocks with the first change of the day of
    # another process, which runs this before taking its service's lock (seen on MariaDB).
    stale_ids = list(Ticket.objects.active().filter(service_date__lt=today).values_list("pk", flat=True))
    if not stale_ids:
        return 0
    # The tickets' rows only: FOR UPDATE with a join would lock their services' rows too, out of
    # the order the rules take them in.
    locked = list(
        Ticket.objects.select_for_update()
        .filter(pk__in=stale_ids, service_date__lt=today)
        .active()
        .values_list("pk", flat=True)
    )
    if not locked:
        return 0  # another process expired them meanwhile
    stale = list(Ticket.objects.filter(pk__in=locked).select_related("service", "counter"))
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
