"""Database constraints: what must never happen is refused by the database itself."""

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from queue_app import services
from queue_app.models import Counter, Service, Staff, Ticket

from ..factories import PatientFactory, ServiceFactory

pytestmark = pytest.mark.django_db


def make_ticket(service, patient, number, **extra):
    fields = {
        "queue_id": f"{service.code}_{number:03d}_0000",
        "number": number,
        "service_date": timezone.localdate(),
        "service": service,
        "patient": patient,
        "patient_name": patient.name,
    }
    return Ticket.objects.create(**(fields | extra))


def test_a_duplicate_ticket_number_is_refused_by_the_database(opd):
    make_ticket(opd, PatientFactory(), 1)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_ticket(opd, PatientFactory(), 1)


def test_the_same_number_is_fine_for_another_service_or_day(opd, lab):
    patient = PatientFactory()
    make_ticket(opd, patient, 1)
    make_ticket(lab, patient, 1)
    make_ticket(opd, patient, 1, service_date=timezone.localdate() - timezone.timedelta(days=1))
    assert Ticket.objects.count() == 3


def test_a_second_active_ticket_for_the_same_patient_and_service_is_refused(opd):
    patient = PatientFactory()
    key = Ticket.make_active_key(service_id=opd.pk, patient_id=patient.pk, name=patient.name)
    make_ticket(opd, patient, 1, active_key=key)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_ticket(opd, patient, 2, active_key=key)


def test_finished_tickets_release_the_active_key(opd, counters, patients):
    ticket, _ = services.join(patient=patients[0], service=opd)
    services.serve_next(counter=counters[0], by=None)
    services.serve_next(counter=counters[0], by=None)
    assert Ticket.objects.get(pk=ticket.pk).active_key is None


@pytest.mark.parametrize(
    "model, field, value",
    [(Ticket, "status", "lost"), (Counter, "current_status", "lunch"), (Staff, "role", "janitor")],
)
def test_invalid_statuses_are_refused_by_the_database(opd, model, field, value):
    patient = PatientFactory()
    if model is Ticket:
        obj = make_ticket(opd, patient, 1)
    elif model is Counter:
        obj = Counter.objects.create(counter_name="C", service=opd)
    else:
        obj = Staff.objects.create(username="x", password="p")
    with pytest.raises(IntegrityError), transaction.atomic():
        model.objects.filter(pk=obj.pk).update(**{field: value})


def test_week_days_bitmask_means_monday_one_sunday_sixty_four():
    monday = ServiceFactory.build(week_days=1)
    assert monday.is_offered_on(timezone.datetime(2026, 11, 23).date())  # a Monday
    assert not monday.is_offered_on(timezone.datetime(2026, 11, 24).date())
    assert ServiceFactory.build(week_days=64).is_offered_on(timezone.datetime(2026, 11, 29).date())  # Sunday
    assert ServiceFactory.build(week_days=1 | 4).days_display() == "Mon, Wed"


def test_week_days_above_127_are_refused_by_the_database():
    with pytest.raises(IntegrityError), transaction.atomic():
        Service.objects.create(service_name="Bad", week_days=300)


def test_staff_created_with_a_plain_password_stores_a_hash():
    user = Staff.objects.create(username="operator1", password="password123", role="operator", is_active=True)
    assert user.password != "password123" and user.check_password("password123")


def test_a_closed_date_makes_a_week_day_not_offered(opd):
    from datetime import date

    from queue_app.models import ServiceClosedDate

    monday = date(2026, 12, 7)
    assert opd.is_offered_on(monday)
    ServiceClosedDate.objects.create(service=opd, date=monday, reason="Holiday")
    assert not opd.is_offered_on(monday) and opd.is_offered_on(date(2026, 12, 8))


def test_a_counter_is_open_only_within_its_own_and_its_services_hours(opd, settings):
    from datetime import UTC, datetime, time

    from ..factories import CounterFactory

    settings.TIME_ZONE = "UTC"
    opd.opens_at, opd.closes_at = time(8), time(13)
    counter = CounterFactory.build(service=opd, start_time=time(9), end_time=time(17))
    at = lambda h, m=0: datetime(2026, 12, 7, h, m, tzinfo=UTC)  # noqa: E731
    assert counter.within_hours(at(9)) and counter.within_hours(at(12, 59))
    assert not counter.within_hours(at(8, 30))  # the service is open, the counter not yet
    assert not counter.within_hours(at(13))  # the counter is, the service has closed
    opd.opens_at = opd.closes_at = None
    assert counter.within_hours(at(16, 59))  # no service hours: the counter's own
