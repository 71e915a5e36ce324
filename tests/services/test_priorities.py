"""Priority categories, staff notes and sending the patient at a counter on (services/priorities.py)."""

import pytest

from queue_app import selectors, services
from queue_app.models import QueueHistory, Ticket

from ..factories import CounterFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def lab_counter(lab, staff):
    return services.hold_counter(counter=CounterFactory(counter_name="Lab 1", service=lab), staff=staff[2])


def join_all(service, patients, **kwargs):
    return [services.join(patient=p, service=service, **kwargs)[0] for p in patients]


def refresh(ticket):
    return Ticket.objects.select_related("priority").get(pk=ticket.pk)


def called_order(counter, n):
    return [services.serve_next(counter=counter, by=None).ticket.pk for _ in range(n)]


def test_priority_patients_go_first_but_at_most_the_limit_in_a_row(opd, counters, patients, elderly, admin_user):
    opd.priority_calls_in_a_row = 2
    opd.save()
    ordinary = join_all(opd, patients[:3])
    priority = join_all(opd, patients[3:7], priority=elderly, by=admin_user)
    expected = [priority[0], priority[1], ordinary[0], priority[2], priority[3], ordinary[1], ordinary[2]]
    assert called_order(counters[0], 7) == [t.pk for t in expected]


def test_an_emergency_is_called_next_whatever_the_line(opd, counters, patients, elderly, emergency, admin_user):
    join_all(opd, patients[:2])
    join_all(opd, patients[2:4], priority=elderly, by=admin_user)
    urgent = services.join(patient=patients[4], service=opd, priority=emergency, by=admin_user)[0]
    assert selectors.ticket_dict(refresh(urgent))["position"] == 1
    assert services.serve_next(counter=counters[1], by=None).ticket.pk == urgent.pk


def test_positions_follow_the_order_and_the_line_message_carries_no_category(
    opd, counters, patients, elderly, admin_user
):
    first, second = join_all(opd, patients[:2])
    late = services.join(patient=patients[2], service=opd, priority=elderly, by=admin_user)[0]
    positions = [selectors.ticket_dict(refresh(t))["position"] for t in (first, second, late)]
    assert positions == [2, 3, 1]
    message = selectors.positions_now(opd.pk)
    assert message["line"] == [late.number, first.number, second.number]
    assert "60+" not in str(message) and "Elderly" not in str(message)


def test_a_patient_may_declare_only_an_allowed_category_and_staff_see_it_to_confirm(
    opd, counters, patients, elderly, emergency
):
    with pytest.raises(services.InvalidInput) as refused:
        services.join(patient=patients[0], service=opd, priority=emergency)
    assert refused.value.code == "priority_not_allowed" and not Ticket.objects.exists()
    ticket = services.join(patient=patients[0], service=opd, priority=elderly)[0]
    assert ticket.priority_to_confirm
    waiting = selectors.counter_state(counters[0], with_waiting=True)["waiting"]
    assert waiting[0]["priority"] == {"code": "60+", "name": "Elderly 60+", "to_confirm": True}


def test_staff_set_and_confirm_a_priority_with_history(opd, counters, patients, elderly, emergency):
    first, second = join_all(opd, patients[:2])
    services.join(patient=patients[2], service=opd, priority=elderly)
    by = counters[0].held_by
    services.set_priority(ticket=second, priority=emergency, by=by, counter=counters[0])
    assert services.serve_next(counter=counters[0], by=None).ticket.pk == second.pk
    services.set_priority(ticket=second, priority=None, by=by)
    row = QueueHistory.objects.filter(ticket=second, action="priority").order_by("at", "id")
    assert [(h.note, h.by_id) for h in row] == [("— → EMG", by.pk), ("EMG → —", by.pk)]


def test_a_priority_on_a_finished_ticket_or_another_service_is_refused(opd, lab, counters, patients, elderly):
    ticket = services.join(patient=patients[0], service=opd)[0]
    other = services.join(patient=patients[1], service=lab)[0]
    services.cancel(ticket=ticket)
    with pytest.raises(services.TicketNotActive):
        services.set_priority(ticket=ticket, priority=elderly, by=None)
    with pytest.raises(services.NotAllowed):
        services.set_priority(ticket=other, priority=elderly, by=None, counter=counters[0])
    assert not Ticket.objects.filter(priority__isnull=False).exists()


def test_an_unknown_or_inactive_category_is_a_clear_error(elderly):
    assert services.category("60+") == elderly and services.category(str(elderly.pk)) == elderly
    assert services.category("") is None
    elderly.is_active = False
    elderly.save()
    for value in ("60+", "nope", "9" * 30):
        with pytest.raises(services.InvalidInput) as refused:
            services.category(value)
        assert refused.value.code == "unknown_priority" and refused.value.status_code == 400


def test_transfer_sends_the_patient_on_keeping_arrival_priority_and_a_note(
    opd, lab, counters, lab_counter, patients, elderly, admin_user
):
    early = services.join(patient=patients[0], service=opd, priority=elderly, by=admin_user)[0]
    waiting_in_lab = services.join(patient=patients[1], service=lab)[0]
    services.serve_next(counter=counters[0], by=None)
    by = counters[0].held_by
    moved = services.transfer(
        counter=counters[0], service=lab, by=by, note="Fasting blood sugar", expected=early.queue_id
    )
    moved = refresh(moved)
    assert (moved.service_id, moved.status, moved.priority_id) == (lab.pk, "waiting", elderly.pk)
    assert moved.joined_at == early.joined_at and moved.staff_note == "Fasting blood sugar"
    assert selectors.ticket_dict(moved)["position"] == 1  # priority, and joined before the lab's patient
    assert selectors.ticket_dict(refresh(waiting_in_lab))["position"] == 2
    lab_list = selectors.counter_state(lab_counter, with_waiting=True)["waiting"]
    assert lab_list[0]["note"] == "Fasting blood sugar"
    actions = list(QueueHistory.objects.filter(ticket=early).values_list("action", flat=True))
    assert "note" in actions and "moved_service" in actions


@pytest.mark.parametrize("problem", ["closed_service", "note_too_long", "nobody_there", "stale"])
def test_a_refused_transfer_changes_nothing(opd, lab, counters, patients, problem):
    ticket = services.join(patient=patients[0], service=opd)[0]
    services.serve_next(counter=counters[0], by=None)
    note, expected = "", ticket.queue_id
    if problem == "closed_service":
        lab.is_active = False
        lab.save()
    elif problem == "note_too_long":
        note = "x" * 201
    elif problem == "nobody_there":
        services.serve_next(counter=counters[0], by=None)
        expected = None
    elif problem == "stale":
        expected = "OPD_999_0000"
    before = list(QueueHistory.objects.values_list("id", flat=True))
    with pytest.raises(services.QueueError):
        services.transfer(counter=counters[0], service=lab, by=None, note=note, expected=expected)
    assert list(QueueHistory.objects.values_list("id", flat=True)) == before
    assert refresh(ticket).service_id == opd.pk and refresh(ticket).staff_note == ""


def test_back_to_the_line_keeps_the_place_and_another_counter_may_call_them(opd, counters, patients):
    first, second = join_all(opd, patients[:2])
    services.serve_next(counter=counters[0], by=None)
    back = services.back_to_line(counter=counters[0], by=None, note="Gone for an X-ray form")
    assert (refresh(back).status, refresh(back).called_at, refresh(back).staff_note) == (
        "waiting",
        None,
        "Gone for an X-ray form",
    )
    assert selectors.ticket_dict(refresh(first))["position"] == 1
    assert services.serve_next(counter=counters[1], by=None).ticket.pk == first.pk
    assert QueueHistory.objects.filter(ticket=first, action="back_to_line").exists()
    with pytest.raises(services.NoCurrentTicket):
        services.back_to_line(counter=counters[0], by=None)
