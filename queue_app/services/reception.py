"""Tickets leaving or coming back: a patient leaves the queue, reception recalls a no-show or
sends a ticket on to another service."""

from django.utils import timezone
from django.utils.translation import gettext as _

from ..bidi import isolated
from ..errors import InvalidInput, NotAllowed, ServiceUnavailable, TicketNotActive
from ..models import Patient, QueueHistory, Service, Staff, Ticket, service_day
from .changes import (
    finish,
    history,
    lock_service,
    lock_services,
    log_transition,
    next_number,
    publish_change,
    queue_change,
    service_times_changed,
)
from .placement import place_in_queue

History = QueueHistory.Action


def _ticket(ticket: Ticket) -> Ticket:
    return Ticket.objects.select_related("service", "counter", "priority").get(pk=ticket.pk)


def _refuse_second_active(*, service: Service, ticket: Ticket, message: str) -> str:
    """The active key the ticket takes in `service`, unless its patient already holds one there."""
    key = Ticket.make_active_key(service_id=service.pk, patient_id=ticket.patient_id, name=ticket.patient_name)
    if Ticket.objects.filter(active_key=key).exists():
        raise TicketNotActive(message % isolated(name=ticket.patient_name, service=service))
    return key


@queue_change
def cancel(*, ticket: Ticket, by: Staff | None = None, patient: Patient | None = None) -> Ticket:
    """The patient leaves the queue (or staff cancel the ticket for them)."""
    service = lock_service(ticket.service_id)
    ticket = _ticket(ticket)
    if patient is not None and ticket.patient_id != patient.pk:
        raise NotAllowed()
    if not ticket.is_active:
        raise TicketNotActive()
    counter = ticket.counter
    finish(ticket, Ticket.Status.CANCELLED, by=by, now=timezone.now())
    publish_change(
        service_id=service.pk,
        # A ticket of the pool (no counter) is a change of the pool's length: the display hears it.
        counter_events=[("counter_status_update", counter)],
        ticket_events=[("cancelled", ticket)],
    )
    return ticket


@queue_change
def recall(*, ticket: Ticket, by: Staff) -> Ticket:
    """A skipped patient came back: the ticket waits again at its original join position."""
    service = lock_service(ticket.service_id)
    ticket = _ticket(ticket)
    now = timezone.now()
    if ticket.status != Ticket.Status.SKIPPED or ticket.service_date != service_day(now):
        raise TicketNotActive(
            _("Only a ticket skipped today can be recalled (this one is %(status)s).")
            % {"status": ticket.get_status_display()}
        )
    key = _refuse_second_active(
        service=service, ticket=ticket, message=_("%(name)s already holds another ticket for %(service)s.")
    )
    previous_counter = ticket.counter
    ticket.counter = place_in_queue(service.pk, now, prefer=previous_counter)
    ticket.status = Ticket.Status.WAITING
    ticket.finished_at = None
    ticket.active_key = key
    ticket.save(update_fields=["counter", "status", "finished_at", "active_key"])
    history(
        History.RECALLED,
        ticket=ticket,
        counter=ticket.counter,
        from_counter=previous_counter,
        from_status=Ticket.Status.SKIPPED,
        to_status=ticket.status,
        by=by,
    ).save()
    log_transition("recalled", ticket)
    publish_change(
        service_id=service.pk, counter_events=[("new_patient", ticket.counter)], ticket_events=[("recalled", ticket)]
    )
    return ticket


@queue_change
def move_to_service(*, ticket: Ticket, service: Service, by: Staff) -> Ticket:
    """Send a ticket to another service (OPD → Test), keeping its original arrival time.

    The same ticket (and so the patient's page and signed link) moves: it gets the new service's
    next number and waits there by its first join time, so it does not start again at the back.
    """
    lock_services(ticket.service_id, service.pk)
    ticket = _ticket(ticket)
    target = Service.objects.get(pk=service.pk)
    now = timezone.now()
    today = service_day(now)
    if ticket.service_id == target.pk:
        raise InvalidInput(_("The ticket is already for %(service)s.") % isolated(service=target), code="same_service")
    if ticket.status not in Ticket.MOVABLE_STATUSES or ticket.service_date != today:
        raise TicketNotActive(
            _("A %(status)s ticket cannot be moved.") % {"status": ticket.get_status_display().lower()}
        )
    if not target.is_active or not target.is_offered_on(today):
        raise ServiceUnavailable(_("%(service)s is not available today.") % isolated(service=target))
    key = _refuse_second_active(
        service=target, ticket=ticket, message=_("%(name)s already holds a ticket for %(service)s.")
    )
    source, old_counter, old_queue_id, old_status = ticket.service, ticket.counter, ticket.queue_id, ticket.status
    ticket.number, ticket.queue_id = next_number(target, today)
    ticket.service = target
    ticket.counter = place_in_queue(target.pk, now)
    ticket.status = Ticket.Status.WAITING
    ticket.called_at = ticket.finished_at = None
    if ticket.first_called_at is None:
        # Its estimate was of the line it leaves; its wait still runs from when it joined, so
        # an estimate made now would be compared with a wait it does not describe.
        ticket.estimated_wait_at_join = None
    ticket.active_key = key
    ticket.save()
    history(
        History.MOVED_SERVICE,
        ticket=ticket,
        counter=ticket.counter,
        from_counter=old_counter,
        from_status=old_status,
        to_status=ticket.status,
        by=by,
        note=f"{old_queue_id} ({source}) → {ticket.queue_id} ({target})",
    ).save()
    log_transition("moved_service", ticket, ticket.counter, previous=old_queue_id)
    if old_status == Ticket.Status.SERVED:
        service_times_changed(source.pk)
    note = _(
        "You have been sent to %(service)s. Your new number is %(ticket)s; you kept your place by arrival time."
    ) % isolated(service=target, ticket=ticket.queue_id)
    publish_change(service_id=source.pk, counter_events=[("counter_status_update", old_counter)])
    publish_change(
        service_id=target.pk,
        service=target,
        counter_events=[("new_patient", ticket.counter)],
        ticket_events=[("moved_service", ticket)],
        notes={ticket.pk: note},
    )
    return ticket
