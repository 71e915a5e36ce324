"""The staff endpoints: who may call them, what they change, what they broadcast, what they cost."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from queue_app import services
from queue_app.bidi import FSI, PDI
from queue_app.models import Counter, QueueHistory, Ticket

from ..factories import CounterFactory, PatientFactory
from ..layer_helpers import Listener, in_memory_layer  # noqa: F401 - the fixture, used below

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_memory_layer")]

POST_ENDPOINTS = ["serve_next", "skip_patient", "announce_patient", "update_counter_status"]
ALL_ENDPOINTS = [*POST_ENDPOINTS, "get_queue_data"]
STATUS_FIELDS = {"update_counter_status": {"status": "busy"}}


# --- helpers ----------------------------------------------------------------------------------


def call(client, name, **data):
    """Call an endpoint as the dashboard does: POST form fields, or GET with a query string."""
    if name == "get_queue_data":
        return client.get(reverse(name), data)
    return client.post(reverse(name), {**STATUS_FIELDS.get(name, {}), **data})


def join_all(service, patients):
    return [services.join(patient=p, service=service)[0] for p in patients]


def refresh(obj):
    return type(obj).objects.get(pk=obj.pk)


def queue_snapshot():
    """Everything the endpoints could change: tickets, counters and the history."""
    return (
        list(Ticket.objects.order_by("id").values_list("id", "status", "counter_id")),
        list(Counter.objects.order_by("id").values_list("id", "current_status", "held_by_id")),
        QueueHistory.objects.count(),
    )


@pytest.fixture
def operator(client, counters):
    """operator1, logged in at Counter 1."""
    client.force_login(counters[0].held_by)
    return client


@pytest.fixture
def third_counter(opd, staff):
    return services.hold_counter(counter=CounterFactory(counter_name="Counter 3", service=opd), staff=staff[2])


# --- who may call ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_ENDPOINTS)
def test_every_endpoint_refuses_an_anonymous_visitor_with_403(client, counters, name):
    response = call(client, name)
    assert response.status_code == 403
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.parametrize("name", ALL_ENDPOINTS)
def test_every_endpoint_refuses_a_patient_session_with_403(client, counters, patient, name):
    session = client.session
    session["patient_id"] = patient.pk
    session.save()
    response = call(client, name)
    assert response.status_code == 403
    assert response.json()["error"]


@pytest.mark.parametrize("name", ALL_ENDPOINTS)
def test_every_endpoint_refuses_another_operators_counter_with_403(operator, counters, patients, opd, name):
    join_all(opd, patients[:4])
    services.serve_next(counter=counters[1], by=None)
    before = queue_snapshot()
    response = call(operator, name, counter=counters[1].pk)
    assert response.status_code == 403
    assert response.json() == {"error": "You can only act on your own counter.", "code": "permission_denied"}
    assert queue_snapshot() == before


@pytest.mark.parametrize("name", POST_ENDPOINTS)
def test_every_post_endpoint_enforces_csrf(counters, patients, opd, name):
    join_all(opd, patients[:2])
    services.serve_next(counter=counters[0], by=None)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(counters[0].held_by)
    before = queue_snapshot()

    refused = call(browser, name)
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["error"]
    assert queue_snapshot() == before

    browser.get(reverse("staff_dashboard"))  # sets the csrftoken cookie, as the page does
    token = browser.cookies["csrftoken"].value
    data = {**STATUS_FIELDS.get(name, {})}
    accepted = browser.post(reverse(name), data, headers={"X-CSRFToken": token})
    assert accepted.status_code == 200, accepted.json()


def test_operator_not_at_a_counter_is_told_to_log_in_again(client, counters, staff):
    client.force_login(staff[3])
    response = call(client, "serve_next")
    assert response.status_code == 403
    assert "not at a counter" in response.json()["error"]


def test_a_deactivated_staff_members_session_stops_working(operator, counters):
    Counter.objects.filter(pk=counters[0].pk)  # operator1 holds it
    counters[0].held_by.is_active = False
    counters[0].held_by.save()
    response = call(operator, "get_queue_data")
    assert response.status_code == 403


def test_admin_may_act_on_any_counter_by_id(client, admin_user, counters, patients, opd):
    first, _ = join_all(opd, patients[:2])
    client.force_login(admin_user)
    response = call(client, "serve_next", counter=counters[1].pk)
    assert response.status_code == 200
    assert response.json()["serving_patient"]["queue_id"] == first.queue_id  # one line: its head, at Counter 2
    assert refresh(first).called_by == admin_user and refresh(first).counter_id == counters[1].pk


def test_admin_without_a_counter_must_name_one(client, admin_user, counters):
    client.force_login(admin_user)
    response = call(client, "get_queue_data")
    assert response.status_code == 403
    assert "not at a counter" in response.json()["error"]


@pytest.mark.parametrize(
    ("forged", "status"),
    [("abc", 400), ("1.5", 400), ("999999", 404), ("-3", 404), ("99999999999999999999999999", 404)],
)
@pytest.mark.parametrize("name", ALL_ENDPOINTS)
def test_forged_counter_ids_answer_a_clear_4xx_and_change_nothing(operator, opd, patients, name, forged, status):
    join_all(opd, patients[:3])
    before = queue_snapshot()
    response = call(operator, name, counter=forged)
    assert response.status_code == status
    assert response.json()["error"]
    assert queue_snapshot() == before


@pytest.mark.parametrize("body", ["[1, 2]", '"serve"', "{not json", "null"])
def test_a_body_that_is_not_a_json_object_answers_400(operator, opd, patients, body):
    join_all(opd, patients[:2])
    before = queue_snapshot()
    response = operator.post(reverse("serve_next"), body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]
    assert queue_snapshot() == before


# --- serve next ------------------------------------------------------------------------------


def test_serve_next_calls_the_earliest_waiting_patient_and_answers_the_counter_state(operator, counters, opd, patients):
    first, _, third = join_all(opd, patients[:3])
    response = call(operator, "serve_next", expected_queue_id="")
    assert response.status_code == 200
    body = response.json()
    assert body["serving_patient"] == {
        "queue_id": first.queue_id,
        "patient_name": first.patient_name,
        "priority": None,
        "note": "",
    }
    assert body["queue_length"] == 2  # the service's one line: the second and the third
    assert body["counter"]["id"] == counters[0].pk and body["counter"]["current_status"] == "available"
    assert refresh(first).status == Ticket.Status.CALLED


@pytest.mark.parametrize("lines", ["one line", "per counter"])
def test_each_action_answers_what_a_fresh_read_of_the_counter_shows(request, operator, opd, patients, lines):
    """The answer is built from the ticket the rule returns; it must match the database."""
    if lines == "per counter":
        request.getfixturevalue("per_counter_lines")
    first, second, third = join_all(opd, patients[:3])
    # One line: the service's order. Per counter: Counter 1's own line (#1, #3), then Counter 2's #2.
    after_skip, last = (second, third) if lines == "one line" else (third, second)
    steps = [
        ("serve_next", {"expected_queue_id": ""}, first),  # calls the first
        ("announce_patient", {"expected_queue_id": first.queue_id}, first),  # the same, again
        ("skip_patient", {"expected_queue_id": first.queue_id}, after_skip),  # calls the next
        ("serve_next", {"expected_queue_id": after_skip.queue_id}, last),  # calls the last one waiting
        ("serve_next", {}, None),  # finishes it; nobody is left: serving null
    ]
    for name, fields, called in steps:
        answer = call(operator, name, **fields).json()
        fresh = call(operator, "get_queue_data").json()
        assert answer["serving_patient"] == fresh["serving_patient"], name
        assert answer["queue_length"] == fresh["queue_length"], name
        assert answer["counter"] == fresh["counter"], name
        assert (answer["serving_patient"] or {}).get("queue_id") == (called and called.queue_id), name


def test_serve_next_finishes_the_patient_on_screen(operator, opd, patients):
    first, second, _ = join_all(opd, patients[:3])
    call(operator, "serve_next")
    response = call(operator, "serve_next", expected_queue_id=first.queue_id)
    assert response.json()["serving_patient"]["queue_id"] == second.queue_id  # one line: next in join order
    assert refresh(first).status == Ticket.Status.SERVED


def test_serve_next_with_a_stale_ticket_answers_409_and_changes_nothing(operator, opd, patients):
    first, *_ = join_all(opd, patients[:3])
    call(operator, "serve_next")
    before = queue_snapshot()
    response = call(operator, "serve_next", expected_queue_id="OPD_999_0000")
    assert response.status_code == 409
    assert response.json()["code"] == "stale"
    assert "no longer current" in response.json()["error"]
    assert queue_snapshot() == before


def test_a_repeated_serve_next_answers_409_instead_of_serving_twice(operator, opd, patients):
    first, second, third, *_ = join_all(opd, patients[:5])
    call(operator, "serve_next")
    assert call(operator, "serve_next", expected_queue_id=first.queue_id).status_code == 200
    before = queue_snapshot()
    replay = call(operator, "serve_next", expected_queue_id=first.queue_id)
    assert replay.status_code == 409 and replay.json()["code"] == "stale"
    assert queue_snapshot() == before
    assert refresh(second).status == Ticket.Status.CALLED and refresh(third).status == Ticket.Status.WAITING


def test_a_double_click_at_an_idle_counter_calls_only_one_patient(operator, opd, patients):
    first, _, third = join_all(opd, patients[:3])
    assert call(operator, "serve_next", expected_queue_id="").status_code == 200
    second_click = call(operator, "serve_next", expected_queue_id="")
    assert second_click.status_code == 409 and second_click.json()["code"] == "stale"
    assert refresh(first).status == Ticket.Status.CALLED
    assert refresh(third).status == Ticket.Status.WAITING


def test_serve_next_when_nobody_in_the_service_is_waiting_says_nobody_is_waiting(
    operator, counters, opd, lab, patients
):
    services.hold_counter(counter=CounterFactory(service=lab), staff=counters[1].held_by)  # lab queue elsewhere
    join_all(lab, patients[:2])
    before = queue_snapshot()
    response = call(operator, "serve_next", expected_queue_id="")
    assert response.status_code == 409
    assert response.json() == {
        "error": "Nobody is waiting, so nobody was called. New patients appear in your list as they join.",
        "code": "nobody_waiting",
    }
    assert queue_snapshot() == before


def test_serve_next_at_a_closed_counter_answers_409_and_calls_nobody(operator, counters, opd, patients):
    services.set_status(counter=counters[0], status="closed", by=None)
    join_all(opd, patients[:2])
    before = queue_snapshot()
    response = call(operator, "serve_next", expected_queue_id="")
    assert response.status_code == 409
    assert response.json()["code"] == "counter_not_open"
    assert f"{FSI}Counter 1{PDI} is not open" in response.json()["error"]
    assert queue_snapshot() == before


def test_serve_next_broadcasts_patient_served_then_patient_called(
    operator, counters, opd, patients, django_capture_on_commit_callbacks
):
    first, second, _ = join_all(opd, patients[:3])
    call(operator, "serve_next")
    listener = Listener(f"counter.{counters[0].pk}", "display")
    with django_capture_on_commit_callbacks(execute=True):
        call(operator, "serve_next", expected_queue_id=first.queue_id)
    staff_events = [m for m in listener.messages() if "waiting" in m]
    assert [m["event"] for m in staff_events] == ["patient_served", "patient_called"]
    assert all(m["serving_patient"]["queue_id"] == second.queue_id for m in staff_events)
    assert all(m["counter_id"] == counters[0].pk for m in staff_events)


def test_serve_next_of_the_last_patient_broadcasts_patient_served_only(
    operator, counters, opd, patient, django_capture_on_commit_callbacks
):
    (ticket,) = join_all(opd, [patient])
    call(operator, "serve_next")
    listener = Listener(f"counter.{counters[0].pk}")
    with django_capture_on_commit_callbacks(execute=True):
        response = call(operator, "serve_next", expected_queue_id=ticket.queue_id)
    assert response.json()["serving_patient"] is None
    events = listener.messages()
    assert [m["event"] for m in events] == ["patient_served"]
    assert events[0]["serving_patient"] is None


def test_serve_next_says_who_was_finished_and_who_was_called(operator, opd, patients):
    first, second, _ = join_all(opd, patients[:3])
    assert call(operator, "serve_next").json()["message"] == f"Called {FSI}{first.queue_id}{PDI}."
    response = call(operator, "serve_next", expected_queue_id=first.queue_id)
    assert response.json()["message"] == f"Finished {FSI}{first.queue_id}{PDI}. Called {FSI}{second.queue_id}{PDI}."


def test_serve_next_of_the_last_patient_says_nobody_else_is_waiting(operator, opd, patient):
    (ticket,) = join_all(opd, [patient])
    call(operator, "serve_next")
    response = call(operator, "serve_next", expected_queue_id=ticket.queue_id)
    assert response.json()["message"] == (
        f"Finished {FSI}{ticket.queue_id}{PDI}. Nobody else is waiting. New patients appear in your list as they join."
    )


def test_serve_next_on_break_says_nobody_new_was_called_and_how_many_wait_for_the_other_counters(
    operator, counters, opd, patients
):
    first, *_ = join_all(opd, patients[:5])  # counter 1: #1, #3, #5; counter 2: #2, #4
    call(operator, "serve_next")
    call(operator, "update_counter_status", status="break")  # #3 and #5 move to counter 2
    response = call(operator, "serve_next", expected_queue_id=first.queue_id)
    assert response.status_code == 200
    data = response.json()
    assert data["serving_patient"] is None and data["counter"]["current_status"] == "break"
    assert data["message"] == (
        f"Finished {FSI}{first.queue_id}{PDI}. You are on break, so nobody new was called. "
        "4 patients are waiting for the other counters. Choose Available to call patients again."
    )
    assert refresh(first).status == Ticket.Status.SERVED


def test_serve_next_on_break_with_no_other_counter_open_says_they_wait_for_a_counter_to_open(
    operator, counters, opd, patients
):
    first, _ = join_all(opd, patients[:2])
    services.release_counter(staff=counters[1].held_by)
    call(operator, "serve_next")
    call(operator, "update_counter_status", status="break")
    response = call(operator, "serve_next", expected_queue_id=first.queue_id)
    assert response.json()["message"] == (
        f"Finished {FSI}{first.queue_id}{PDI}. You are on break, so nobody new was called. "
        "1 patient is waiting for a counter to open. Choose Available to call patients again."
    )


# --- skip ------------------------------------------------------------------------------------


def test_skip_says_the_patient_was_marked_a_no_show_and_who_was_called_next(operator, opd, patients):
    first, second, _ = join_all(opd, patients[:3])
    call(operator, "serve_next")
    response = call(operator, "skip_patient", expected_queue_id=first.queue_id)
    assert response.json()["message"] == (
        f"{FSI}{first.queue_id}{PDI} marked as a no-show. Called {FSI}{second.queue_id}{PDI}."
    )


def test_skip_with_nobody_at_the_counter_says_to_press_serve_next(operator, opd, patients):
    join_all(opd, patients[:2])
    response = call(operator, "skip_patient", expected_queue_id="")
    assert response.json()["error"] == (
        "Nobody is at the counter, so there is nobody to skip. Press Serve next to call the next patient."
    )


def test_skip_marks_the_patient_on_screen_a_no_show_and_calls_the_next(operator, opd, patients):
    first, second, _ = join_all(opd, patients[:3])
    call(operator, "serve_next")
    response = call(operator, "skip_patient", expected_queue_id=first.queue_id)
    assert response.status_code == 200
    assert response.json()["serving_patient"]["queue_id"] == second.queue_id
    assert refresh(first).status == Ticket.Status.SKIPPED


def test_skip_with_nobody_at_the_counter_answers_409_and_calls_nobody(operator, opd, patients):
    join_all(opd, patients[:2])
    before = queue_snapshot()
    response = call(operator, "skip_patient", expected_queue_id="")
    assert response.status_code == 409
    assert response.json()["code"] == "no_current_ticket"
    assert queue_snapshot() == before


def test_skip_with_a_stale_ticket_answers_409_and_changes_nothing(operator, opd, patients):
    first, _, third = join_all(opd, patients[:3])
    call(operator, "serve_next")
    call(operator, "serve_next", expected_queue_id=first.queue_id)
    before = queue_snapshot()
    response = call(operator, "skip_patient", expected_queue_id=first.queue_id)
    assert response.status_code == 409 and response.json()["code"] == "stale"
    assert queue_snapshot() == before


def test_skip_broadcasts_patient_served_then_patient_called(
    operator, counters, opd, patients, django_capture_on_commit_callbacks
):
    first, _, third = join_all(opd, patients[:3])
    call(operator, "serve_next")
    listener = Listener(f"counter.{counters[0].pk}", f"ticket.{first.pk}")
    with django_capture_on_commit_callbacks(execute=True):
        call(operator, "skip_patient", expected_queue_id=first.queue_id)
    messages = listener.messages()
    assert [m["event"] for m in messages if m["type"] == "queue_update"] == ["patient_served", "patient_called"]
    assert [m["event"] for m in messages if m["type"] == "ticket_update"] == ["skipped"]


# --- announce --------------------------------------------------------------------------------


def test_announce_calls_the_patient_on_screen_again_on_the_display(
    operator, counters, opd, patients, django_capture_on_commit_callbacks
):
    first, *_ = join_all(opd, patients[:2])
    call(operator, "serve_next")
    listener = Listener("display", f"counter.{counters[0].pk}")
    with django_capture_on_commit_callbacks(execute=True):
        response = call(operator, "announce_patient", expected_queue_id=first.queue_id)
    assert response.status_code == 200
    assert response.json()["serving_patient"]["queue_id"] == first.queue_id
    events = listener.messages()
    assert [m["event"] for m in events] == ["patient_called", "patient_called"]  # display, staff group
    assert {m["serving_patient"]["queue_id"] for m in events} == {first.queue_id}
    assert refresh(first).status == Ticket.Status.CALLED


def test_announce_with_a_stale_ticket_answers_409(operator, opd, patients):
    join_all(opd, patients[:2])
    call(operator, "serve_next")
    before = queue_snapshot()
    response = call(operator, "announce_patient", expected_queue_id="")
    assert response.status_code == 409 and response.json()["code"] == "stale"
    assert queue_snapshot() == before


def test_announce_with_nobody_at_the_counter_answers_409(operator, counters):
    response = call(operator, "announce_patient")
    assert response.status_code == 409
    assert response.json()["code"] == "no_current_ticket"
    assert response.json()["error"] == (
        "Nobody is at the counter, so there is nobody to announce. Press Serve next to call the next patient."
    )


def test_announce_says_the_patient_was_announced_again(operator, opd, patients):
    first, *_ = join_all(opd, patients[:2])
    call(operator, "serve_next")
    response = call(operator, "announce_patient", expected_queue_id=first.queue_id)
    assert response.json()["message"] == f"{FSI}{first.queue_id}{PDI} announced again on the display."


# --- status ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["lunch", "", "AVAILABLE", "break; drop table"])
def test_an_unknown_status_answers_400_with_a_readable_message_and_changes_nothing(operator, opd, patients, status):
    join_all(opd, patients[:2])
    before = queue_snapshot()
    response = operator.post(reverse("update_counter_status"), {"status": status})
    assert response.status_code == 400
    assert "available, busy, break or closed" in response.json()["error"]
    assert queue_snapshot() == before


def test_busy_keeps_the_queue_and_the_counter_open(operator, counters, opd, patients):
    join_all(opd, patients[:4])
    response = call(operator, "update_counter_status", status="busy")
    assert response.json()["counter"]["current_status"] == "busy"
    assert response.json()["redistributed"] == 0
    assert refresh(counters[0]).is_open()


def test_a_repeated_status_change_changes_nothing(operator, opd, patients):
    join_all(opd, patients[:4])
    call(operator, "update_counter_status", status="break")
    before = queue_snapshot()
    response = call(operator, "update_counter_status", status="break")
    assert response.status_code == 200 and response.json()["redistributed"] == 0
    assert queue_snapshot() == before


def test_break_from_the_dashboard_moves_the_waiting_list_to_the_other_counters(
    client, counters, third_counter, opd, patients, django_capture_on_commit_callbacks
):
    tickets = join_all(opd, patients[:6])
    mine = [t for t in tickets if t.counter_id == counters[0].pk]
    assert len(mine) == 2
    listener = Listener(*(f"ticket.{t.pk}" for t in mine), f"queue.{opd.pk}")
    client.force_login(counters[0].held_by)
    with django_capture_on_commit_callbacks(execute=True):
        response = call(client, "update_counter_status", status="break")
    assert response.status_code == 200
    assert response.json()["redistributed"] == 2
    assert response.json()["counter"]["current_status"] == "break"

    # Visible in the other counters' get_queue_data (one line: each lists the service's, in join
    # order), each moved ticket expected at one of them ...
    others = {}
    for counter in (counters[1], third_counter):
        other = Client()
        other.force_login(counter.held_by)
        others[counter.pk] = call(other, "get_queue_data").json()["waiting"]
    assert others[counters[1].pk] == others[third_counter.pk]
    line = others[counters[1].pk]
    assert [w["queue_id"] for w in line] == [t.queue_id for t in tickets]
    moved_to = {w["queue_id"]: w["expected_counter_id"] for w in line if w["queue_id"] in {t.queue_id for t in mine}}
    assert set(moved_to) == {t.queue_id for t in mine}
    assert set(moved_to.values()) <= {counters[1].pk, third_counter.pk}
    # ... and on the patients' groups: each moved ticket hears where it went, the queue its position.
    messages = listener.messages()
    moved = {m["ticket"]["queue_id"]: m["ticket"]["counter_id"] for m in messages if m["type"] == "ticket_update"}
    assert moved == moved_to
    assert all(m["event"] == "moved" and m["message"] for m in messages if m["type"] == "ticket_update")
    positions = [m for m in messages if m["type"] == "queue_position"]
    assert len(positions) == 1
    assert (
        str(counters[0].pk) not in positions[0]["counters"]
        or not positions[0]["counters"][str(counters[0].pk)]["waiting"]
    )


def test_status_change_broadcasts_counter_status_update_then_patient_redistributed_per_receiving_counter(
    operator, counters, third_counter, opd, patients, django_capture_on_commit_callbacks
):
    join_all(opd, patients[:6])
    listener = Listener("display")
    with django_capture_on_commit_callbacks(execute=True):
        call(operator, "update_counter_status", status="break")
    events = [(m["event"], m["counter_id"]) for m in listener.messages()]
    assert events == [
        ("counter_status_update", counters[0].pk),
        ("patient_redistributed", counters[1].pk),
        ("patient_redistributed", third_counter.pk),
    ]


def test_break_with_no_other_open_counter_puts_the_queue_back_in_the_pool(operator, counters, opd, patients):
    tickets = join_all(opd, patients[:4])
    services.set_status(counter=counters[1], status="break", by=None)
    response = call(operator, "update_counter_status", status="break")
    assert response.json()["redistributed"] == 4
    assert all(refresh(t).counter_id is None and refresh(t).status == Ticket.Status.WAITING for t in tickets)


def test_available_after_a_break_takes_the_waiting_pool(operator, counters, opd, patients):
    services.set_status(counter=counters[1], status="break", by=None)
    call(operator, "update_counter_status", status="break")
    tickets = join_all(opd, patients[:3])
    assert all(t.counter_id is None for t in tickets)
    response = call(operator, "update_counter_status", status="available")
    assert response.json()["redistributed"] == 3
    assert response.json()["queue_length"] == 3


# --- queue data ------------------------------------------------------------------------------


WAITING_KEYS = {"queue_id", "patient_name", "joined_at", "waited_minutes", "priority", "note", "expected_counter_id"}


def test_get_queue_data_lists_the_waiting_patients_in_queue_order(operator, counters, opd, patients):
    tickets = join_all(opd, patients[:7])
    call(operator, "serve_next")
    response = call(operator, "get_queue_data")
    assert response.status_code == 200
    body = response.json()
    first, *line = tickets  # one line: the service's, whichever counter each is expected at
    assert body["serving_patient"] == {
        "queue_id": first.queue_id,
        "patient_name": first.patient_name,
        "priority": None,
        "note": "",
    }
    assert [w["queue_id"] for w in body["waiting"]] == [t.queue_id for t in line]
    assert [w["expected_counter_id"] for w in body["waiting"]] == [t.counter_id for t in line]
    assert body["queue_length"] == len(line)
    assert set(body["waiting"][0]) == WAITING_KEYS
    assert body["today"] == {"served": 0, "skipped": 0, "average_minutes": None}


def test_get_queue_data_lists_the_counters_own_line_with_per_counter_lines(
    operator, counters, per_counter_lines, patients
):
    tickets = join_all(per_counter_lines, patients[:7])
    call(operator, "serve_next")
    body = call(operator, "get_queue_data").json()
    mine = [t for t in tickets if t.counter_id == counters[0].pk]
    assert body["serving_patient"]["queue_id"] == mine[0].queue_id
    assert [w["queue_id"] for w in body["waiting"]] == [t.queue_id for t in mine[1:]]
    assert body["queue_length"] == len(mine) - 1
    assert set(body["waiting"][0]) == WAITING_KEYS


def test_get_queue_data_counts_how_long_each_patient_has_waited(operator, counters, opd, patients):
    from datetime import timedelta

    (ticket,) = join_all(opd, patients[:1])
    Ticket.objects.filter(pk=ticket.pk).update(joined_at=ticket.joined_at - timedelta(minutes=17, seconds=5))
    waiting = call(operator, "get_queue_data").json()["waiting"]
    assert waiting[0]["waited_minutes"] == 17


def test_get_queue_data_counts_todays_served_and_skipped(operator, opd, patients):
    first, second, *_ = join_all(opd, patients[:5])
    call(operator, "serve_next")
    call(operator, "serve_next", expected_queue_id=first.queue_id)
    call(operator, "skip_patient", expected_queue_id=second.queue_id)
    today = call(operator, "get_queue_data").json()["today"]
    assert (today["served"], today["skipped"]) == (1, 1)
    assert today["average_minutes"] is not None


# --- cost per request ------------------------------------------------------------------------

# serve_next: the session, the staff member, their counter; in the
# change: the service's row locked, its counters, their called tickets (the counter's is finished:
# UPDATE), the line read once as small rows (queue_app/lines.py), the next ticket locked and
# called (UPDATE), both history rows (one INSERT), the messages' listed rows, the service's new
# version (one UPDATE), the texts owed (the tickets concerned, one insert:
# services.notifications.write_owed), the counters' versions; SQLite's savepoints count 2.
QUERY_BOUND = 18


@pytest.mark.parametrize("name", ["serve_next", "get_queue_data"])
def test_query_count_is_the_same_with_5_and_with_200_waiting(operator, opd, name, django_assert_max_num_queries):
    join_all(opd, PatientFactory.create_batch(6))  # one line for the service's two counters
    call(operator, "serve_next")  # someone at the counter, so serve_next also finishes a ticket
    measured = []
    for extra in (0, 196):  # 5 waiting in the line, then 200
        join_all(opd, PatientFactory.create_batch(extra))
        state = call(operator, "get_queue_data").json()
        fields = {"expected_queue_id": state["serving_patient"]["queue_id"]} if name == "serve_next" else {}
        with django_assert_max_num_queries(QUERY_BOUND), CaptureQueriesContext(connection) as queries:
            response = call(operator, name, **fields)
        assert response.status_code == 200
        measured.append((state["queue_length"], len(queries)))
    assert measured[0][0] == 5 and measured[1][0] >= 200
    assert measured[0][1] == measured[1][1]
