"""Priority categories on tickets, staff notes, and sending the patient at a counter on: to
another service or back to the line. Each change writes history (who, when, what)."""

from django.utils import timezone
from django.utils.translation import gettext as _

from ..bidi import isolated
from ..errors import InvalidInput, NoCurrentTicket, NotAllowed, StaleAction, TicketNotActive
from ..models import Counter, PriorityCategory, QueueHistory, Service, Staff, Ticket, service_day
from .calling import current_ticket
from .changes import history, lock_service, lock_services, log_transition, publish_change, queue_change
from .placement import place_in_queue
from .reception import move_to_service

History = QueueHistory.Action
NOTE_MAX = Ticket._meta.get_field("staff_note").max_length


def category(value) -> PriorityCategory | None:
    """The active category a request names by id or short code ("" or None: no priority)."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    found = PriorityCategory.objects.filter(is_active=True)
    found = found.filter(pk=int(text)) if text.isdecimal() and len(text) < 10 else found.filter(code__iexact=text)
    result = found.first()
    if result is None:
        raise InvalidInput(
            _("There is no priority category “%(value)s”.") % {"value": text[:20]}, code="unknown_priority"
        )
    return result


def clean_note(note) -> str:
    note = " ".join(str(note or "").split())
    if len(note) > NOTE_MAX:
        raise InvalidInput(
            _("A note may be at most %(max)d characters (this one has %(n)d).") % {"max": NOTE_MAX, "n": len(note)},
            code="note_too_long",
        )
    return note


def _label(ticket: Ticket) -> str:
    if ticket.priority_id is None:
        return "—"
    return ticket.priority.code + (" (?)" if ticket.priority_to_confirm else "")


@queue_change
def set_priority(
    *, ticket: Ticket, priority: PriorityCategory | None, by: Staff, counter: Counter | None = None
) -> Ticket:
    """Give an active ticket of today a priority category (None: none), confirmed by the staff
    member; at a counter, only a ticket of the counter's service."""
    service = lock_service(ticket.service_id)
    ticket = Ticket.objects.select_related("service", "counter", "priority").get(pk=ticket.pk)
    if counter is not None and counter.service_id != ticket.service_id:
        message = _("%(ticket)s is not in %(service)s's line.")
        raise NotAllowed(message % isolated(ticket=ticket, service=counter.service))
    if not ticket.is_active or ticket.service_date != service_day():
        raise TicketNotActive(
            _("A %(status)s ticket cannot be given a priority.") % {"status": ticket.get_status_display().lower()}
        )
    before = _label(ticket)
    ticket.priority, ticket.priority_to_confirm = priority, False
    ticket.save(update_fields=["priority", "priority_to_confirm"])
    history(
        History.PRIORITY,
        ticket=ticket,
        counter=ticket.counter,
        from_status=ticket.status,
        to_status=ticket.status,
        by=by,
        note=f"{before} → {_label(ticket)}",
    ).save()
    log_transition("priority", ticket, ticket.counter, priority=_label(ticket))
    # The order of the line changed: every list showing it, and every phone's position.
    changed = [ticket.counter_id] if ticket.counter_id and ticket.status == Ticket.Status.WAITING else []
    publish_change(service_id=service.pk, waiting_changed=changed)
    return ticket


def _current(counter: Counter, expected: str | None) -> Ticket:
    ticket = current_ticket(counter)
    if ticket is None:
        raise NoCurrentTicket(_("Nobody is at the counter, so there is nobody to send on."))
    if expected is not None and ticket.queue_id != expected:
        raise StaleAction()
    return ticket


def _note(ticket: Ticket, note: str, *, by: Staff, counter: Counter) -> None:
    if note == ticket.staff_note:
        return
    ticket.staff_note = note
    Ticket.objects.filter(pk=ticket.pk).update(staff_note=note)
    history(History.NOTE, ticket=ticket, counter=counter, by=by, note=note or "—").save()


@queue_change
def transfer(*, counter: Counter, service: Service, by: Staff, note: str = "", expected: str | None = None) -> Ticket:
    """Send the patient at the counter to another service (OPD → Test), keeping their arrival
    time and priority; the note travels with the ticket to the next counter."""
    note = clean_note(note)
    lock_services(counter.service_id, service.pk)
    ticket = _current(counter, expected)
    _note(ticket, note, by=by, counter=counter)  # first, so the next counter's list shows it at once
    return move_to_service(ticket=ticket, service=service, by=by)


@queue_change
def back_to_line(*, counter: Counter, by: Staff, note: str = "", expected: str | None = None) -> Ticket:
    """The patient at the counter waits again in the service's line, in their place by arrival
    time (e.g. called by mistake, or not ready yet): another counter, or this one, calls them again."""
    note = clean_note(note)
    service = lock_service(counter.service_id)
    ticket = _current(counter, expected)
    now = timezone.now()
    ticket.status = Ticket.Status.WAITING
    ticket.called_at = None
    ticket.counter = place_in_queue(service.pk, now, prefer=counter)
    ticket.save(update_fields=["status", "called_at", "counter"])
    _note(ticket, note, by=by, counter=counter)
    history(
        History.BACK_TO_LINE,
        ticket=ticket,
        counter=ticket.counter,
        from_counter=counter,
        from_status=Ticket.Status.CALLED,
        to_status=Ticket.Status.WAITING,
        by=by,
    ).save()
    log_transition("back_to_line", ticket, counter)
    message = _("You are back in the line in your place. Please wait to be called again.")
    publish_change(
        service_id=service.pk,
        counter_events=[("patient_served", counter), ("new_patient", ticket.counter)],
        ticket_events=[("back_to_line", ticket)],
        notes={ticket.pk: message},
    )
    return ticket
