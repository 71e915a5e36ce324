"""What a queue change owes patients by SMS: the outbox rows ("near", "called", "moved") written in
the change's own transaction, so a rolled-back change owes nothing and a committed one is never
forgotten. services/sending.py sends them after the commit."""

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _

from ..bidi import isolate, isolated
from ..errors import InvalidInput, NotAllowed, TicketNotActive
from ..languages import patient_language
from ..lines import Lines
from ..models import Counter, Notification, Patient, Service, Ticket
from ..sms.gsm import is_gsm7
from ..statements import remembered

Kind = Notification.Kind
# What a ticket's news in a change's events means for its patient: a new place to go.
MOVE_NEWS = frozenset({"moved", "pool", "recalled", "moved_service"})


# What write_owed needs of the service (read with its new version in one query by publish_change).
SERVICE_FIELDS = ("pk", "version", "notify_near_at", "per_counter_lines", "priority_streak", "priority_calls_in_a_row")

# What write_owed and text() read of a ticket: its code and status, its patient's number and
# language, its counter's and service's names. The columns of four tables cost more to compile.
TEXT_FIELDS = (
    "queue_id",
    "status",
    "patient__phone",
    "patient__language",
    "counter__counter_name",
    "service__service_name",
)


def write_owed(*, service: Service, ticket_events=(), lines: Lines | None = None, before: Lines | None = None) -> int:
    """Write the outbox rows the change of the service's queue owes (call inside the change, the
    service locked, as publish_change does); returns how many. A constant number of queries:
    the line (as small rows, unless the change's `lines` are given), the tickets concerned, one
    insert.

    `before`: the lines the change started from, when it only added a ticket (a join). If the
    front of every line is as it was and nobody is called or moved, the change owes nothing: what
    the front is owed was written by the change that made it so (or by set_notify), and it costs
    no query."""
    near_at = service.notify_near_at
    called = {t.pk for news, t in ticket_events if news == "called" and t.notify}
    moved = {t.pk: news for news, t in ticket_events if news in MOVE_NEWS and t.notify}
    # People ahead in their line (the service's one line, or their counter's), up to the threshold.
    ahead = (lines or Lines(service)).near_the_front(near_at) if near_at else {}
    if before is not None and not called and not moved and ahead == before.near_the_front(near_at):
        return 0
    ids = ahead.keys() | called | moved.keys()
    if not ids:
        return 0
    tickets = _text_tickets(tuple(sorted(ids)))
    now = timezone.now()
    owed = []
    for ticket in tickets:
        if ticket.pk in called and not ticket.had_called:
            owed.append(_row(ticket, Kind.CALLED, now))
        elif ticket.pk in moved and (ticket.had_near or ticket.had_called) and not ticket.had_moved:
            # Only who was told where to go hears that it changed.
            owed.append(_row(ticket, Kind.MOVED, now, news=moved[ticket.pk]))
        near = ticket.pk in ahead and ticket.status == Ticket.Status.WAITING and ticket.counter_open
        if near and not ticket.had_near:
            owed.append(_row(ticket, Kind.NEAR, now, ahead=ahead[ticket.pk]))
    if owed:
        Notification.objects.bulk_create(owed)
        transaction.on_commit(wake_sender)
    return len(owed)


@remembered(values=("ids",))
def _text_tickets(ids: tuple):
    """The tickets `ids` that are texted, with what they were told already."""
    rows = Notification.objects.filter(ticket=OuterRef("pk"))
    staffed = Counter.objects.filter(
        service_id=OuterRef("service_id"), held_by__isnull=False, current_status__in=Counter.OPEN_STATUSES
    )
    return (
        Ticket.objects.filter(pk__in=ids, notify=True, patient__phone__isnull=False)
        .select_related("patient", "counter", "service")
        .only(*TEXT_FIELDS)
        .annotate(
            had_near=Exists(rows.filter(kind=Kind.NEAR)),
            had_called=Exists(rows.filter(kind=Kind.CALLED)),
            had_moved=Exists(rows.filter(kind=Kind.MOVED)),
            # Before any counter opens nobody's turn is near, however short the line.
            counter_open=Exists(staffed),
        )
    )


def _row(ticket: Ticket, kind: str, now, *, ahead: int = 0, news: str = "") -> Notification:
    body = text(ticket, kind, ahead=ahead, news=news)
    return Notification(ticket=ticket, kind=kind, to=ticket.patient.phone, body=body, next_attempt_at=now)


def text(ticket: Ticket, kind: str, *, ahead: int = 0, news: str = "") -> str:
    """The message, in the patient's language: the ticket's own code, service and counter only."""
    with patient_language(ticket.patient):
        values = {"ticket": ticket.queue_id, "service": ticket.service, "counter": ticket.counter, "ahead": ahead}
        if kind == Kind.CALLED:
            message = _("It is your turn: ticket %(ticket)s, please go to %(counter)s now.")
        elif kind == Kind.NEAR and ahead == 0:
            message = _("Your turn is next: ticket %(ticket)s (%(service)s). Please be near the counters.")
        elif kind == Kind.NEAR:
            message = _("Your turn is near: ticket %(ticket)s (%(service)s), %(ahead)d ahead of you. Please come back.")
        elif news == "moved_service":
            message = _("You have been sent to %(service)s: your ticket is now %(ticket)s. You kept your place.")
        elif ticket.counter is not None:
            message = _("Ticket %(ticket)s (%(service)s) now waits for %(counter)s. You kept your place.")
        else:
            message = _("Ticket %(ticket)s (%(service)s): your counter closed. You keep your place; we will text you.")
        plain = f"{settings.FACILITY_NAME}: {message % values}"
        if is_gsm7(plain):
            # Isolates are outside the GSM alphabet: they would turn a 160-character text into
            # UCS-2 (70 a part), and a text all in Latin letters has no direction to sort out.
            return plain[:320]
        # Already UCS-2 (Arabic, Devanagari, accents): two characters a value buy the right order,
        # and the facility's name, isolated, no longer makes an Arabic text's paragraph LTR.
        return f"{isolate(settings.FACILITY_NAME)}: {message % isolated(**values)}"[:320]


def wake_sender() -> None:
    """After the commit: hand the new rows to this process's sender thread, if it runs one."""
    if settings.NOTIFY_SENDER_THREAD:
        from ..background import notification_sender

        notification_sender().wake()


@transaction.atomic
def set_notify(*, ticket: Ticket, notify: bool, patient: Patient | None = None) -> Ticket:
    """Turn the ticket's texts on or off (the patient on their page, or staff for a walk-in).

    Turned on near the front of the line, the "near" text is owed at once, not at the queue's
    next change: the service is locked first, as a change locks it, so the two never write it
    twice."""
    lock = Service.objects.select_for_update().filter(pk=ticket.service_id)
    service = lock.only(*SERVICE_FIELDS).first()
    ticket = Ticket.objects.select_for_update().select_related("patient").get(pk=ticket.pk)
    if patient is not None and ticket.patient_id != patient.pk:
        raise NotAllowed()
    if notify and not ticket.patient.phone:
        raise InvalidInput(_("Texts need a phone number; this ticket has none."), code="no_phone")
    if notify and not ticket.is_active:
        raise TicketNotActive()
    if ticket.notify != notify:
        ticket.notify = notify
        ticket.save(update_fields=["notify"])
        if notify and ticket.status == Ticket.Status.WAITING:
            write_owed(service=service)
        if not notify:
            # Stop means stop: what is still waiting to go out is not sent.
            waiting = (Notification.Status.PENDING, Notification.Status.FAILED)
            ticket.notifications.filter(status__in=waiting, next_attempt_at__isnull=False).update(
                status=Notification.Status.DROPPED, next_attempt_at=None, error="patient turned texts off"
            )
    return ticket
