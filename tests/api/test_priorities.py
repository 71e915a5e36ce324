"""Priorities, notes and sending on through the real URLs: the counter, the desk and check-in."""

import pytest
from django.urls import reverse

from queue_app import services
from queue_app.models import QueueHistory, Ticket

from ..factories import StaffFactory
from ..layer_helpers import in_memory_layer  # noqa: F401 - the fixture, used below

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_memory_layer")]


@pytest.fixture
def operator(client, counters):
    client.force_login(counters[0].held_by)
    return client


def state():
    """What a refused request must leave untouched."""
    return (
        list(Ticket.objects.order_by("id").values_list("id", "status", "service_id", "priority_id", "staff_note")),
        QueueHistory.objects.count(),
    )


def serving(opd, patients, counters, n=2):
    tickets = [services.join(patient=p, service=opd)[0] for p in patients[:n]]
    services.serve_next(counter=counters[0], by=None)
    return tickets


def test_the_counter_sends_its_patient_to_another_service_with_a_note(operator, opd, lab, counters, patients):
    first, _ = serving(opd, patients, counters)
    answer = operator.post(
        reverse("transfer_patient"), {"service": lab.pk, "note": "Blood test", "expected_queue_id": first.queue_id}
    )
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["serving_patient"] is None and "Test" in body["message"]
    moved = Ticket.objects.get(pk=first.pk)
    assert (moved.service_id, moved.status, moved.staff_note) == (lab.pk, "waiting", "Blood test")


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"service": 999999}, 404, "not_found"),
        ({"service": "x"}, 400, "invalid"),
        ({"service": ""}, 400, "invalid"),
        ({"note": "x" * 201}, 400, "note_too_long"),
        ({"expected_queue_id": "OPD_999_0000"}, 409, "stale"),
    ],
)
def test_a_bad_transfer_is_a_clear_error_and_changes_nothing(
    operator, opd, lab, counters, patients, fields, status, code
):
    first, _ = serving(opd, patients, counters)
    before = state()
    answer = operator.post(reverse("transfer_patient"), {"service": lab.pk, **fields})
    assert answer.status_code == status, answer.content
    assert answer.json()["code"] == code and answer.json()["error"]
    assert state() == before


def test_a_transfer_to_a_closed_service_is_refused(operator, opd, lab, counters, patients):
    serving(opd, patients, counters)
    lab.is_active = False
    lab.save()
    before = state()
    answer = operator.post(reverse("transfer_patient"), {"service": lab.pk})
    assert answer.status_code == 409 and answer.json()["code"] == "service_unavailable"
    assert state() == before


def test_back_to_the_line_through_the_url(operator, opd, counters, patients):
    first, _ = serving(opd, patients, counters)
    answer = operator.post(reverse("back_to_line"), {"expected_queue_id": first.queue_id, "note": "Needs a form"})
    assert answer.status_code == 200 and answer.json()["serving_patient"] is None
    assert Ticket.objects.get(pk=first.pk).status == "waiting"
    again = operator.post(reverse("back_to_line"), {"expected_queue_id": first.queue_id})
    assert again.status_code == 409  # a double click: nobody at the counter now


def test_staff_set_a_priority_and_the_list_shows_it(operator, opd, counters, patients, emergency):
    first, second, third = (services.join(patient=p, service=opd)[0] for p in patients[:3])
    answer = operator.post(reverse("set_priority"), {"queue_id": third.queue_id, "priority": "emg"})
    assert answer.status_code == 200, answer.content
    assert answer.json()["ticket"]["priority"] == {"code": "EMG", "name": "Emergency", "to_confirm": False}
    waiting = operator.get(reverse("get_queue_data")).json()["waiting"]
    assert [w["queue_id"] for w in waiting] == [third.queue_id, first.queue_id, second.queue_id]
    assert waiting[0]["priority"]["code"] == "EMG"


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"priority": "nope"}, 400, "unknown_priority"),
        ({"queue_id": "OPD_999_0000"}, 404, "not_found"),
        ({"queue_id": ""}, 400, "invalid"),
    ],
)
def test_a_bad_priority_is_a_clear_error_and_changes_nothing(
    operator, opd, counters, patients, emergency, fields, status, code
):
    ticket = services.join(patient=patients[0], service=opd)[0]
    before = state()
    answer = operator.post(reverse("set_priority"), {"queue_id": ticket.queue_id, "priority": "EMG", **fields})
    assert answer.status_code == status, answer.content
    assert answer.json()["code"] == code
    assert state() == before


def test_a_priority_on_a_finished_ticket_is_refused(operator, opd, counters, patients, emergency):
    ticket = services.join(patient=patients[0], service=opd)[0]
    services.cancel(ticket=ticket)
    before = state()
    answer = operator.post(reverse("set_priority"), {"queue_id": ticket.queue_id, "priority": "EMG"})
    assert answer.status_code == 409 and answer.json()["code"] == "ticket_not_active"
    assert state() == before


def test_an_operator_cannot_set_a_priority_in_another_services_line(operator, opd, lab, counters, patients, emergency):
    other = services.join(patient=patients[0], service=lab)[0]
    answer = operator.post(reverse("set_priority"), {"queue_id": other.queue_id, "priority": "EMG"})
    assert answer.status_code == 403
    assert Ticket.objects.get(pk=other.pk).priority_id is None


def test_the_desk_gives_a_walk_in_a_priority_and_changes_one(client, opd, counters, elderly, emergency):
    client.force_login(StaffFactory(username="desk", role="reception"))
    made = client.post(reverse("reception_tickets"), {"name": "Kamala Devi", "service_id": opd.pk, "priority": "60+"})
    assert made.status_code == 201, made.content
    row = made.json()["row"]
    assert row["priority"] == {"code": "60+", "name": "Elderly 60+", "to_confirm": False}
    changed = client.post(reverse("reception_priority", args=[row["id"]]), {"priority": "EMG"})
    assert changed.status_code == 200 and changed.json()["ticket"]["priority"]["code"] == "EMG"
    bad = client.post(reverse("reception_priority", args=[row["id"]]), {"priority": "???"})
    assert bad.status_code == 400 and bad.json()["code"] == "unknown_priority"
    assert Ticket.objects.get(pk=row["id"]).priority == emergency


def test_a_patient_declares_an_allowed_priority_at_check_in(signed_in_phone, opd, counters, elderly, emergency):
    refused = signed_in_phone.api("/queue/join/", {"service_id": opd.pk, "priority": "EMG"})
    assert refused.status_code == 400 and refused.json()["code"] == "priority_not_allowed"
    assert not Ticket.objects.exists()
    joined = signed_in_phone.api("/queue/join/", {"service_id": opd.pk, "priority": "60+"})
    assert joined.status_code == 201
    ticket = Ticket.objects.get()
    assert ticket.priority == elderly and ticket.priority_to_confirm
    assert "priority" not in joined.json()["ticket"]  # the patient's own view: their place, not a label


def test_public_screens_never_carry_a_category(client, opd, counters, patients, emergency):
    from queue_app import events, selectors

    services.join(patient=patients[0], service=opd)
    urgent = services.join(patient=patients[1], service=opd, priority=emergency, by=counters[0].held_by)[0]
    services.serve_next(counter=counters[0], by=None)  # the emergency is called
    public = [
        selectors.display_snapshot(),
        client.get(reverse("display_screen_data")).json(),
        selectors.positions_now(opd.pk),
        *(
            m
            for group, m in events.queue_messages(service_id=opd.pk, counter_events=[("patient_called", counters[0])])
            if group == events.DISPLAY_GROUP
        ),
    ]
    assert urgent.queue_id in str(public[0])
    for shape in public:
        assert "EMG" not in str(shape) and "Emergency" not in str(shape) and "priority" not in str(shape)
