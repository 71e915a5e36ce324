"""Who may see what: shared by the API permissions, page views and the WebSocket consumer."""

from datetime import date
from typing import NamedTuple

from django.core import signing

from .models import Counter, Patient, Staff, Ticket

PATIENT_SESSION_KEY = "patient_id"
# Ticket ids this browser opened through a signed ticket link (the slip's QR code).
TICKET_LINKS_KEY = "ticket_links"
TICKET_LINK_SALT = "queue.ticket-link"
MAX_TICKET_LINKS = 20  # a parent scanning several slips; older ones drop off


def session_patient(session) -> Patient | None:
    patient_id = session.get(PATIENT_SESSION_KEY) if session is not None else None
    if not patient_id:
        return None
    return Patient.objects.filter(pk=patient_id).first()


def is_staff_user(user) -> bool:
    return bool(user and user.is_authenticated and isinstance(user, Staff) and user.is_active)


def is_reception_user(user) -> bool:
    """Reception staff and administrators may use the reception desk; counter operators may not."""
    return is_staff_user(user) and (user.role == Staff.Role.RECEPTION or user.is_queue_admin)


def can_see_reports(user) -> bool:
    """Administrators, managers and superusers see the reports; operators and reception do not."""
    return is_staff_user(user) and (user.role in (Staff.Role.ADMIN, Staff.Role.MANAGER) or user.is_superuser)


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


class TicketLink(NamedTuple):
    ticket_id: int
    service_date: date


def ticket_link_token(ticket: Ticket) -> str:
    """The unguessable part of a ticket's public link: its id and service date, signed.

    No timestamp inside: the link expires with its service date, and the same ticket always has
    the same link (a reprinted slip, the desk and the page agree).
    """
    return signing.Signer(salt=TICKET_LINK_SALT).sign_object({"t": ticket.pk, "d": ticket.service_date.isoformat()})


def read_ticket_link(token: str) -> TicketLink | None:
    """The ticket a link names, or None when the signature (or what it signs) is not ours."""
    try:
        data = signing.Signer(salt=TICKET_LINK_SALT).unsign_object(token)
        ticket_id, day = data["t"], date.fromisoformat(data["d"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None
    if not isinstance(ticket_id, int) or isinstance(ticket_id, bool) or ticket_id < 1:
        return None
    return TicketLink(ticket_id, day)


def grant_ticket_link(session, ticket_id: int) -> None:
    """Let this browser follow the ticket (its page and its WebSocket ?ticket=<id>)."""
    links = [i for i in session.get(TICKET_LINKS_KEY, []) if i != ticket_id]
    session[TICKET_LINKS_KEY] = [*links[-(MAX_TICKET_LINKS - 1) :], ticket_id]
