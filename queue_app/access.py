"""Who may see what: shared by the API permissions, page views and the WebSocket consumer."""

from .models import Counter, Patient, Staff, Ticket

PATIENT_SESSION_KEY = "patient_id"


def session_patient(session) -> Patient | None:
    patient_id = session.get(PATIENT_SESSION_KEY) if session is not None else None
    if not patient_id:
        return None
    return Patient.objects.filter(pk=patient_id).first()


def is_staff_user(user) -> bool:
    return bool(user and user.is_authenticated and isinstance(user, Staff) and user.is_active)


def can_watch_counter(user, counter_id) -> bool:
    """Staff holding the counter, and admins, may follow its staff group."""
    if not is_staff_user(user):
        return False
    if user.is_queue_admin:
        return Counter.objects.filter(pk=counter_id).exists()
    return Counter.objects.filter(pk=counter_id, held_by=user).exists()


def can_watch_ticket(session, ticket_id) -> Ticket | None:
    """A patient follows only their own tickets; returns the ticket when allowed."""
    patient_id = session.get(PATIENT_SESSION_KEY) if session is not None else None
    allowed = set(session.get("ticket_links", [])) if session is not None else set()
    ticket = Ticket.objects.select_related("service", "counter").filter(pk=ticket_id).first()
    if ticket is None:
        return None
    if (patient_id and ticket.patient_id == patient_id) or ticket.pk in allowed:
        return ticket
    return None
