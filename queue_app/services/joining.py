"""Joining a service's queue: from a patient's phone, or at the reception desk for a walk-in."""

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .. import selectors
from ..bidi import isolated
from ..errors import InvalidInput, ServiceUnavailable, TicketLimitReached
from ..lines import Lines, counter_streaks
from ..models import Patient, PriorityCategory, QueueHistory, Service, Staff, Ticket, service_day
from ..names import clean_name
from ..statements import remembered
from .changes import history, lock_service, log_transition, next_number, publish_change, queue_change
from .placement import apply_moves, hand_out_pool, least_busy, service_counters

ACTIVE = Ticket.ACTIVE_STATUSES


@queue_change
def join(
    *,
    patient: Patient,
    service: Service | int,
    name: str | None = None,
    by: Staff | None = None,
    priority: PriorityCategory | None = None,
    notify: bool | None = None,
) -> tuple[Ticket, bool]:
    """Give the patient a ticket for the service, or return the active one they already hold.

    `service` may be just its id (as a request names it): it is read once, under the lock, and
    an unknown id raises UnknownService. Returns the ticket and whether it is new.
    A patient joining from their phone (`by` None) holds at most MAX_ACTIVE_TICKETS_PER_PHONE
    active tickets of today, across services; staff (`by`) may give more, vouching for them.
    `priority`: a category staff give (confirmed), or one the patient declares where the
    category allows it (marked for staff to confirm).
    `notify` (SMS when the turn is near, called, moved): default on for a patient's own verified
    phone, off for staff-issued tickets; never without a phone."""
    # With the row, whether today is one of its closed dates (should midnight pass while this
    # waits for the lock, is_offered_on asks again for the new day).
    service = lock_service(service.pk if isinstance(service, Service) else service, closed_on=service_day())
    now = timezone.now()
    today = service_day(now)
    name = clean_name(name if name is not None else patient.name)
    key = Ticket.make_active_key(service_id=service.pk, patient_id=patient.pk, name=name)
    if by is None:
        _lock_phone(patient)
    # One read: the ticket this join may already hold, and the phone's active tickets of today
    # (small rows: the whole ticket is read only when this join is a repeat, to answer with it).
    held = _held(key, patient.pk, today)
    existing = next((pk for pk, active_key, *_ in held if active_key == key), None)
    if existing is not None:
        return Ticket.objects.select_related("service", "counter").get(pk=existing), False
    if not service.is_active:
        raise ServiceUnavailable(_("%(service)s is not available at the moment.") % isolated(service=service))
    if not service.is_offered_on(today):
        raise ServiceUnavailable(
            _("%(service)s is not offered today (%(days)s).")
            % {**isolated(service=service), "days": service.days_display()}
        )
    if by is None:
        _check_ticket_limit(sum(p == patient.pk and d == today and status in ACTIVE for _, _, p, d, status in held))
        if priority is not None and not priority.self_declare:
            raise InvalidInput(
                _("“%(priority)s” is given by staff: please ask at reception.") % {"priority": priority},
                code="priority_not_allowed",
            )

    counters = service_counters(service, busy=True)
    targets = [c for c in counters if c.is_open(now)]
    # The service's line, read once: the counts here, then the texts and messages of the change.
    lines = Lines(service, day=today, streaks=counter_streaks(counters))
    pool_moves, pool_news = {}, []
    if targets and lines.lengths().get(None):
        # Tickets left unassigned while no counter was open (e.g. before opening time) go first.
        pool_moves = hand_out_pool(service.pk, now, targets=targets)
        pool_news = apply_moves(pool_moves, from_counter=None, by=by)
        lines = Lines(service, day=today, streaks=counter_streaks(counters))
    counter = least_busy(targets, lines.lengths()) if targets else None
    # The wait the ticket shows as it is made, for the reports (DESIGN.md, Reports).
    standing = selectors.standing_at_join(lines, counter=counter, counters=counters, now=now, priority=priority)

    number, queue_id = next_number(service, today)
    ticket = Ticket.objects.create(
        queue_id=queue_id,
        number=number,
        service_date=today,
        service=service,
        patient=patient,
        patient_name=name,
        counter=counter,
        status=Ticket.Status.WAITING,
        joined_at=now,
        created_by=by,
        active_key=key,
        priority=priority,
        priority_to_confirm=priority is not None and by is None,
        notify=bool(patient.phone) and (by is None if notify is None else notify),
        estimated_wait_at_join=standing.wait if standing else None,
    )
    ticket.standing = standing  # the answer shows it (selectors.ticket_dict)
    note = f"{priority.code}{' (?)' if by is None else ''}" if priority is not None else ""
    history(
        QueueHistory.Action.JOINED, ticket=ticket, counter=counter, to_status=ticket.status, by=by, note=note
    ).save()
    log_transition("joined", ticket, counter)

    counter_events = [("patient_redistributed", c) for c in pool_moves if c is not None]
    counter_events.append(("new_patient", counter))
    publish_change(
        service_id=service.pk,
        service=service,
        lines=lines.joined(ticket),
        before=lines if not pool_moves else None,  # the hand-out may have moved the front
        counter_events=counter_events,
        ticket_events=[*pool_news, ("joined", ticket)],
        counters=counters,
    )
    return ticket, True


@remembered(values=("key", "patient_id"))
def _held(key: str, patient_id: int, today):
    return Ticket.objects.filter(
        Q(active_key=key) | Q(patient_id=patient_id, service_date=today, status__in=ACTIVE)
    ).values_list("pk", "active_key", "patient_id", "service_date", "status")


def _lock_phone(patient: Patient) -> None:
    """The phone's ticket cap spans services, whose locks do not exclude each other: the
    patient's row is locked before its tickets are read, so that two joins of one phone for two
    services cannot both count the same tickets."""
    _locked_patient(patient.pk)


@remembered(values=("patient_id",))
def _locked_patient(patient_id: int):
    return Patient.objects.select_for_update().filter(pk=patient_id).values_list("pk")


def _check_ticket_limit(held: int) -> None:
    """One verified phone may hold a few tickets (family members), not a hundred: `held`, its
    active tickets of today (read after _lock_phone)."""
    limit = settings.MAX_ACTIVE_TICKETS_PER_PHONE
    if held >= limit:
        raise TicketLimitReached(
            ngettext(
                "This phone already holds %(count)d ticket today, the most one phone may hold. "
                "Leave the queue with it first, or ask at reception.",
                "This phone already holds %(count)d tickets today, the most one phone may hold. "
                "Leave the queue with one of them first, or ask at reception.",
                held,
            )
            % {"count": held}
        )


@queue_change
def issue_walk_in(
    *,
    name: str,
    service: Service,
    by: Staff,
    phone: str | None = None,
    priority: PriorityCategory | None = None,
    notify: bool = False,
) -> tuple[Ticket, bool]:
    """Reception gives a ticket to someone without a smartphone; the staff member vouches for them.

    With a phone, the ticket belongs to that phone's patient (created if new), so it also shows on
    their phone's dashboard once they verify; without one, a patient record is made for the visit.
    """
    name = clean_name(name)
    if phone:
        patient, _created = Patient.objects.get_or_create(phone=phone, defaults={"name": name})
    else:
        patient = Patient.objects.create(phone=None, name=name)
    return join(patient=patient, service=service, name=name, by=by, priority=priority, notify=notify)
