"""Reception desk rules: walk-ins, recall, moving between services, family tickets."""

import pytest

from queue_app import selectors, services
from queue_app.models import Patient, QueueHistory, Ticket

from ..factories import StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk(db):
    return StaffFactory(username="reception1", role="reception")


def waiting_numbers(counter):
    return [int(w["queue_id"].split("_")[1]) for w in selectors.counter_state(counter, with_waiting=True)["waiting"]]


def test_a_walk_in_joins_by_the_same_rules_with_history_naming_the_staff(opd, counters, desk):
    ticket, created = services.issue_walk_in(name="  Asha   Rao ", service=opd, by=desk)
    assert created and ticket.patient_name == "Asha Rao" and ticket.counter_id == counters[0].pk
    assert ticket.patient.phone is None
    joined = QueueHistory.objects.get(ticket=ticket, action="joined")
    assert joined.by_id == desk.pk and ticket.created_by_id == desk.pk


def test_a_walk_in_with_a_known_phone_belongs_to_that_patient(opd, counters, desk, patient):
    ticket, _ = services.issue_walk_in(name=patient.name, phone=patient.phone, service=opd, by=desk)
    assert ticket.patient_id == patient.pk
    again, created = services.issue_walk_in(name=patient.name, phone=patient.phone, service=opd, by=desk)
    assert not created and again.pk == ticket.pk


def test_a_walk_in_needs_a_name(opd, counters, desk):
    with pytest.raises(services.InvalidInput):
        services.issue_walk_in(name="   ", service=opd, by=desk)
    assert not Patient.objects.exists()


def test_family_members_each_get_a_ticket_on_one_phone(opd, counters, patient):
    own, _ = services.join(patient=patient, service=opd)
    child, created = services.join(patient=patient, service=opd, name="Meera Doe")
    assert created and child.pk != own.pk
    again, created_again = services.join(patient=patient, service=opd, name=" meera  doe ")
    assert not created_again and again.pk == child.pk  # the same name, however typed
    assert [t.pk for t in selectors.patient_tickets(patient)] == [own.pk, child.pk]


def test_recall_puts_a_skipped_ticket_back_at_its_original_join_position(opd, counters, patients, desk):
    tickets = [services.join(patient=p, service=opd)[0] for p in patients[:7]]
    services.serve_next(counter=counters[0], by=None)  # calls 1
    services.skip(counter=counters[0], by=None)  # 1 skipped, calls 2
    recalled = services.recall(ticket=tickets[0], by=desk)
    assert recalled.status == "waiting" and recalled.counter_id == counters[0].pk
    assert waiting_numbers(counters[0]) == [1, 3, 4, 5, 6, 7]  # at the front of the line: it joined first
    assert QueueHistory.objects.filter(ticket=recalled, action="recalled", by=desk).exists()


def test_recall_of_a_served_ticket_is_refused(opd, counters, patients, desk):
    ticket, _ = services.join(patient=patients[0], service=opd)
    services.serve_next(counter=counters[0], by=None)
    services.serve_next(counter=counters[0], by=None)
    with pytest.raises(services.TicketNotActive):
        services.recall(ticket=ticket, by=desk)
    assert Ticket.objects.get(pk=ticket.pk).status == "served"


def test_recall_goes_to_another_open_counter_when_its_own_closed(opd, counters, patients, desk):
    ticket, _ = services.join(patient=patients[0], service=opd)
    services.serve_next(counter=counters[0], by=None)
    services.skip(counter=counters[0], by=None)
    services.set_status(counter=counters[0], status="break", by=None)
    assert services.recall(ticket=ticket, by=desk).counter_id == counters[1].pk


def test_move_to_another_service_keeps_the_original_arrival_time(opd, lab, counters, staff, patients, desk):
    from ..factories import CounterFactory

    lab_counter = services.hold_counter(counter=CounterFactory(service=lab), staff=staff[2])
    early, _ = services.join(patient=patients[0], service=opd)
    lab_tickets = [services.join(patient=p, service=lab)[0] for p in patients[1:4]]
    services.serve_next(counter=counters[0], by=None)
    services.serve_next(counter=counters[0], by=None)  # early was served at OPD
    moved = services.move_to_service(ticket=early, service=lab, by=desk)
    assert moved.pk == early.pk and moved.service_id == lab.pk and moved.status == "waiting"
    assert moved.queue_id.startswith("TEST_004_") and moved.joined_at == early.joined_at
    order = [w["queue_id"] for w in selectors.counter_state(lab_counter, with_waiting=True)["waiting"]]
    assert order[0] == moved.queue_id and order[1:] == [t.queue_id for t in lab_tickets]


def test_a_cancelled_ticket_cannot_be_moved(opd, lab, counters, patients, desk):
    ticket, _ = services.join(patient=patients[0], service=opd)
    services.cancel(ticket=ticket, by=desk)
    with pytest.raises(services.TicketNotActive):
        services.move_to_service(ticket=ticket, service=lab, by=desk)
    assert Ticket.objects.get(pk=ticket.pk).service_id == opd.pk


def test_moving_to_the_same_service_is_refused(opd, counters, patients, desk):
    ticket, _ = services.join(patient=patients[0], service=opd)
    with pytest.raises(services.InvalidInput):
        services.move_to_service(ticket=ticket, service=opd, by=desk)


def test_moving_when_the_patient_already_holds_that_service_is_refused(opd, lab, counters, patients, desk):
    ticket, _ = services.join(patient=patients[0], service=opd)
    services.join(patient=patients[0], service=lab)
    with pytest.raises(services.TicketNotActive):
        services.move_to_service(ticket=ticket, service=lab, by=desk)
    assert Ticket.objects.get(pk=ticket.pk).service_id == opd.pk
