"""Reception desk endpoints: who may call them, what they change, what they refuse, what they send.

Also the family tickets of POST /queue/join/ (the optional `name`)."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse

from queue_app import services
from queue_app.bidi import FSI, PDI
from queue_app.models import Patient, QueueHistory, Ticket, service_day
from queue_app.sms import locmem as sms_locmem

from ..factories import CounterFactory, PatientFactory, ServiceFactory, StaffFactory
from ..layer_helpers import Listener, in_memory_layer  # noqa: F401 - the fixture, used below
from ..patient_helpers import PhoneBrowser

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_memory_layer")]

TICKETS = "/staff/reception/tickets/"
ROLES = ["reception", "admin", "operator", "patient", "anonymous"]
ENDPOINTS = ["list", "create", "recall", "move", "cancel"]


# --- helpers ----------------------------------------------------------------------------------


def everything():
    """All the state an endpoint could change: tickets, patients and the history."""
    return (
        list(Ticket.objects.order_by("id").values_list("id", "status", "service_id", "counter_id", "queue_id")),
        Patient.objects.count(),
        QueueHistory.objects.count(),
    )


def refresh(obj):
    return type(obj).objects.get(pk=obj.pk)


@pytest.fixture
def desk(db):
    return StaffFactory(username="reception1", role="reception")


@pytest.fixture
def reception(client, desk):
    client.force_login(desk)
    return client


@pytest.fixture
def lab_counter(lab, staff):
    return services.hold_counter(counter=CounterFactory(counter_name="Lab 1", service=lab), staff=staff[2])


@pytest.fixture
def scene(opd, lab, counters, lab_counter, patients):
    """A skipped ticket (patients[0], Counter 1) and a waiting one (patients[1], expected at Counter 1)."""
    skipped, _ = services.join(patient=patients[0], service=opd)
    services.join(patient=patients[2], service=opd)  # one line: Counter 1 calls this one after the skip
    waiting, _ = services.join(patient=patients[1], service=opd)
    services.serve_next(counter=counters[0], by=None)
    services.skip(counter=counters[0], by=None)
    return {"skipped": refresh(skipped), "waiting": refresh(waiting), "opd": opd, "lab": lab}


def client_for(role, *, desk, admin_user, counters, patient):
    if role == "reception":
        client = Client()
        client.force_login(desk)
    elif role == "admin":
        client = Client()
        client.force_login(admin_user)
    elif role == "operator":
        client = Client()
        client.force_login(counters[0].held_by)
    elif role == "patient":
        client = PhoneBrowser()
        client.sign_in(patient.phone)
    else:
        client = Client()
    return client


def call(client, endpoint, scene):
    """Call an endpoint as the desk's script does (form-encoded, with the CSRF header when known)."""
    headers = {"HTTP_ACCEPT": "application/json"}
    if "csrftoken" in client.cookies:
        headers["HTTP_X_CSRFTOKEN"] = client.cookies["csrftoken"].value
    if endpoint == "list":
        return client.get(TICKETS, **headers)
    if endpoint == "create":
        return client.post(TICKETS, {"name": "Asha Rao", "service_id": scene["opd"].pk}, **headers)
    ticket = scene["skipped"] if endpoint == "recall" else scene["waiting"]
    data = {"service_id": scene["lab"].pk} if endpoint == "move" else {}
    return client.post(f"{TICKETS}{ticket.pk}/{endpoint}/", data, **headers)


# --- who may call: the access matrix ------------------------------------------------------------


SUCCESS = {"list": 200, "create": 201, "recall": 200, "move": 200, "cancel": 200}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("role", ROLES)
def test_every_endpoint_is_for_reception_and_admins_only(role, endpoint, scene, desk, admin_user, counters, patient):
    client = client_for(role, desk=desk, admin_user=admin_user, counters=counters, patient=patient)
    before = everything()
    response = call(client, endpoint, scene)
    body = response.json()
    if role in ("reception", "admin"):
        assert response.status_code == SUCCESS[endpoint], body
        assert "ticket" in body or "tickets" in body
    else:
        assert response.status_code == 403, body
        expected = "permission_denied" if role == "operator" else "not_authenticated"
        assert body["code"] == expected and body["error"]
        assert everything() == before  # nothing changed


@pytest.mark.parametrize("endpoint", ["create", "recall", "move", "cancel"])
def test_every_post_needs_the_csrf_token(endpoint, scene, desk):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(desk)
    before = everything()
    refused = call(browser, endpoint, scene)
    assert refused.status_code == 403 and "CSRF" in refused.json()["error"]
    assert everything() == before
    browser.get(reverse("reception_desk"))  # the page sets the csrftoken cookie
    accepted = call(browser, endpoint, scene)
    assert accepted.status_code == SUCCESS[endpoint], accepted.json()


# --- walk-in tickets ---------------------------------------------------------------------------


def test_a_walk_in_joins_by_the_patient_rules_and_gets_a_slip_and_a_link(reception, desk, opd, counters):
    response = reception.post(TICKETS, {"name": "  Asha   Rao ", "service_id": opd.pk})
    assert response.status_code == 201
    body = response.json()
    ticket = Ticket.objects.get()
    assert body["created"] is True and body["ticket"]["queue_id"] == ticket.queue_id
    assert body["ticket"]["patient_name"] == "Asha Rao" and body["ticket"]["counter"] == "Counter 1"
    assert body["ticket"]["position"] == 1
    assert body["slip_url"] == f"/staff/reception/tickets/{ticket.pk}/slip/"
    assert body["link"].startswith("http://testserver/t/") and body["row"]["can_cancel"] is True
    assert ticket.created_by == desk and ticket.patient.phone is None
    assert QueueHistory.objects.get(ticket=ticket, action="joined").by == desk


def test_a_walk_ins_link_uses_the_public_address_when_set(reception, opd, counters, settings):
    settings.PUBLIC_BASE_URL = "https://queue.example.org"
    body = reception.post(TICKETS, {"name": "Asha", "service_id": opd.pk}).json()
    assert body["link"].startswith("https://queue.example.org/t/")


def test_a_walk_ins_phone_is_normalised_and_the_ticket_shows_on_that_phone(reception, opd, counters, patient):
    response = reception.post(TICKETS, {"name": "Meera Doe", "phone": "98123 45678", "service_id": opd.pk})
    assert response.status_code == 201
    ticket = Ticket.objects.get()
    assert ticket.patient == patient and ticket.patient_name == "Meera Doe"  # +919812345678
    phone = PhoneBrowser()
    phone.sign_in(patient.phone)
    listed = phone.get("/dashboard/", HTTP_ACCEPT="application/json").json()["tickets"]
    assert [t["queue_id"] for t in listed] == [ticket.queue_id]


def test_the_desk_still_issues_tickets_when_the_hourly_sms_cap_is_spent(reception, opd, counters, settings):
    """An SMS-pumping attack that spends every code of the hour cannot close the clinic's door."""
    settings.SMS_HOURLY_CAP = 1
    settings.SMS_HOURLY_RESERVE_PERCENT = 0
    assert PhoneBrowser().api("/send_otp/", {"phone": "+919876500001"}).status_code == 200
    assert PhoneBrowser().api("/send_otp/", {"phone": "+919876500002"}).json()["code"] == "sms_cap"
    sent = len(sms_locmem.outbox)

    for phone in ("", "98765 00003"):
        walk_in = reception.post(TICKETS, {"name": "Asha Rao", "phone": phone, "service_id": opd.pk})
        assert walk_in.status_code == 201, walk_in.content

    assert len(sms_locmem.outbox) == sent  # the desk sends no SMS


def test_the_same_name_phone_and_service_returns_the_existing_ticket_with_200(reception, opd, counters, patient):
    first = reception.post(TICKETS, {"name": "Meera Doe", "phone": patient.phone, "service_id": opd.pk})
    again = reception.post(TICKETS, {"name": " meera  DOE ", "phone": "+91 98123 45678", "service_id": opd.pk})
    assert first.status_code == 201 and again.status_code == 200
    body = again.json()
    assert body["created"] is False and body["ticket"]["id"] == first.json()["ticket"]["id"]
    assert "already holds ticket" in body["message"] and body["ticket"]["queue_id"] in body["message"]
    assert Ticket.objects.count() == 1


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"name": "   "}, 400, "invalid_name"),
        ({"name": "A\u0000B"}, 400, "invalid"),
        ({"name": "x" * 101}, 400, "invalid"),
        ({"phone": "12345"}, 400, "invalid_phone"),
        ({"phone": "+91 80 2222 3333"}, 400, "invalid_phone"),  # a landline: not a mobile
        ({"service_id": 999999}, 404, "not_found"),
        ({"service_id": "OPD"}, 400, "invalid"),
        ({"service_id": ""}, 400, "invalid"),
    ],
)
def test_bad_walk_in_input_is_a_clear_4xx_and_nothing_is_made(reception, opd, counters, fields, status, code):
    data = {"name": "Asha Rao", "service_id": opd.pk, **fields}
    response = reception.post(TICKETS, data)
    assert response.status_code == status, response.json()
    assert response.json()["code"] == code and response.json()["error"]
    assert not Ticket.objects.exists() and not Patient.objects.exists()


def test_a_walk_in_for_a_service_not_offered_today_is_refused(reception, counters):
    closed = ServiceFactory(service_name="Dental", week_days=127 & ~(1 << service_day().weekday()))
    response = reception.post(TICKETS, {"name": "Asha", "service_id": closed.pk})
    assert response.status_code == 409 and response.json()["code"] == "service_unavailable"
    assert not Ticket.objects.exists() and not Patient.objects.exists()


def test_a_walk_in_is_announced_to_its_counter(reception, opd, counters, django_capture_on_commit_callbacks):
    listener = Listener(f"counter.{counters[0].pk}")
    with django_capture_on_commit_callbacks(execute=True):
        reception.post(TICKETS, {"name": "Asha Rao", "service_id": opd.pk})
    events = [m["event"] for m in listener.messages()]
    assert events == ["new_patient"]


# --- today's tickets -----------------------------------------------------------------------------


def test_the_list_is_todays_tickets_newest_first(reception, opd, lab, counters, desk):
    first, _ = services.issue_walk_in(name="Asha Rao", service=opd, by=desk)
    second, _ = services.issue_walk_in(name="Ravi Kumar", service=lab, by=desk)
    old, _ = services.issue_walk_in(name="Old Ticket", service=opd, by=desk)
    Ticket.objects.filter(pk=old.pk).update(service_date=service_day() - timedelta(days=1))
    body = reception.get(TICKETS).json()
    assert [t["queue_id"] for t in body["tickets"]] == [second.queue_id, first.queue_id]
    row = body["tickets"][1]
    assert row["status"] == "waiting" and row["status_label"] == "Waiting" and row["counter"] == "Counter 1"
    assert row["can_cancel"] and row["can_move"] and not row["can_recall"]
    assert body["truncated"] is False


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("2", ["Ravi Kumar", "Meera Joshi"]),  # number 2 of OPD and of Test
        ("opd 2", ["Ravi Kumar"]),
        ("TEST_002", ["Meera Joshi"]),
        ("kumar", ["Ravi Kumar"]),
        ("  ASHA  ", ["Asha Rao"]),
        ("nobody", []),
    ],
)
def test_the_list_is_searchable_by_number_or_name(reception, opd, lab, counters, desk, query, expected):
    for name, service in [("Asha Rao", opd), ("Ravi Kumar", opd), ("Usha Iyer", lab), ("Meera Joshi", lab)]:
        services.issue_walk_in(name=name, service=service, by=desk)
    body = reception.get(TICKETS, {"q": query}).json()
    assert sorted(t["patient_name"] for t in body["tickets"]) == sorted(expected)


def test_the_list_is_one_query_and_capped(opd, counters, desk, django_assert_num_queries):
    from queue_app.selectors import today_tickets

    for i in range(5):
        services.issue_walk_in(name=f"Walk In {i}", service=opd, by=desk)
    with django_assert_num_queries(1):
        tickets, truncated = today_tickets(limit=3)
        shown = [(t.service.service_name, t.counter.counter_name if t.counter else None) for t in tickets]
    assert len(tickets) == 3 and truncated and shown[0] == ("OPD", "Counter 1")
    expected = Ticket.objects.get(patient_name="Walk In 4")
    with django_assert_num_queries(1):
        assert today_tickets("walk in 4", limit=3) == ([expected], False)


def test_an_absurd_search_is_harmless(reception, opd, counters, desk):
    services.issue_walk_in(name="Asha", service=opd, by=desk)
    for query in ("9" * 40, "%", "' OR 1=1 --", "x" * 500, "OPD 99999999999999"):
        response = reception.get(TICKETS, {"q": query})
        assert response.status_code == 200 and response.json()["tickets"] == []


# --- recall ---------------------------------------------------------------------------------------


def test_recall_puts_a_skipped_ticket_back_at_its_place_and_tells_its_page(
    reception, scene, counters, desk, django_capture_on_commit_callbacks
):
    ticket = scene["skipped"]
    listener = Listener(f"ticket.{ticket.pk}", f"counter.{counters[0].pk}")
    with django_capture_on_commit_callbacks(execute=True):
        response = reception.post(f"{TICKETS}{ticket.pk}/recall/")
    assert response.status_code == 200
    body = response.json()
    assert body["ticket"]["status"] == "waiting" and body["ticket"]["counter"] == "Counter 1"
    assert "back in the queue" in body["message"]
    # Counter 1's next call is the recalled ticket: it joined first.
    assert services.serve_next(counter=counters[0], by=None).ticket.pk == ticket.pk
    received = listener.messages()
    assert ("queue_update", "new_patient") in [(m["type"], m.get("event")) for m in received]
    assert any(m["type"] == "ticket_update" and m["event"] == "recalled" for m in received)
    assert QueueHistory.objects.get(ticket=ticket, action="recalled").by == desk


def test_recalling_a_served_ticket_is_409_and_changes_nothing(reception, opd, counters, patients):
    ticket, _ = services.join(patient=patients[0], service=opd)
    services.serve_next(counter=counters[0], by=None)
    services.serve_next(counter=counters[0], by=None)
    before = everything()
    response = reception.post(f"{TICKETS}{ticket.pk}/recall/")
    assert response.status_code == 409 and response.json()["code"] == "ticket_not_active"
    assert "Only a ticket skipped today" in response.json()["error"]
    assert everything() == before


# --- move -------------------------------------------------------------------------------------------


def test_moving_keeps_the_arrival_time_and_sends_moved_service_to_the_patients_page(
    reception, scene, lab_counter, patients, desk, django_capture_on_commit_callbacks
):
    later, _ = services.join(patient=patients[5], service=scene["lab"])
    ticket = scene["waiting"]
    listener = Listener(f"ticket.{ticket.pk}")
    with django_capture_on_commit_callbacks(execute=True):
        response = reception.post(f"{TICKETS}{ticket.pk}/move/", {"service_id": scene["lab"].pk})
    assert response.status_code == 200, response.json()
    moved = refresh(ticket)
    assert moved.service == scene["lab"] and moved.joined_at == ticket.joined_at and moved.queue_id.startswith("TEST_")
    assert response.json()["ticket"]["queue_id"] == moved.queue_id and ticket.queue_id in response.json()["message"]
    assert services.serve_next(counter=lab_counter, by=None).ticket.pk == moved.pk  # ahead of `later`: it arrived first
    update = [m for m in listener.messages() if m["type"] == "ticket_update"]
    assert [m["event"] for m in update] == ["moved_service"]
    assert update[0]["ticket"]["service_id"] == scene["lab"].pk and moved.queue_id in update[0]["message"]
    assert QueueHistory.objects.get(ticket=ticket, action="moved_service").by == desk


@pytest.mark.parametrize(
    ("setup", "status", "code"),
    [
        ("cancelled", 409, "ticket_not_active"),
        ("same_service", 400, "same_service"),
        ("unknown_service", 404, "not_found"),
        ("no_service", 400, "invalid"),
        ("already_there", 409, "ticket_not_active"),
    ],
)
def test_a_move_that_cannot_happen_is_refused_and_changes_nothing(reception, scene, desk, setup, status, code):
    ticket = scene["waiting"]
    data = {"service_id": scene["lab"].pk}
    if setup == "cancelled":
        services.cancel(ticket=ticket, by=desk)
    elif setup == "same_service":
        data = {"service_id": scene["opd"].pk}
    elif setup == "unknown_service":
        data = {"service_id": 999999}
    elif setup == "no_service":
        data = {}
    elif setup == "already_there":
        services.join(patient=ticket.patient, service=scene["lab"], name=ticket.patient_name)
    before = everything()
    response = reception.post(f"{TICKETS}{ticket.pk}/move/", data)
    assert response.status_code == status, response.json()
    assert response.json()["code"] == code and response.json()["error"]
    assert everything() == before


# --- cancel -------------------------------------------------------------------------------------------


def test_cancel_ends_the_ticket_and_updates_its_counter(
    reception, scene, counters, desk, django_capture_on_commit_callbacks
):
    ticket = scene["waiting"]
    listener = Listener(f"counter.{counters[0].pk}")  # the counter it was expected at
    other = Listener(f"counter.{counters[1].pk}")  # one line: the other counter calls from it too
    with django_capture_on_commit_callbacks(execute=True):
        response = reception.post(f"{TICKETS}{ticket.pk}/cancel/")
    assert response.status_code == 200 and response.json()["ticket"]["status"] == "cancelled"
    assert refresh(ticket).status == "cancelled"
    assert QueueHistory.objects.get(ticket=ticket, action="cancelled").by == desk
    counter_events = [m for m in listener.messages() if m["type"] == "queue_update"]
    assert counter_events[-1]["event"] == "counter_status_update" and counter_events[-1]["queue_length"] == 0
    other_events = [m for m in other.messages() if m["type"] == "queue_update"]
    assert other_events[-1]["event"] == "waiting_changed" and other_events[-1]["queue_length"] == 0


def test_cancelling_twice_is_409(reception, scene):
    ticket = scene["waiting"]
    reception.post(f"{TICKETS}{ticket.pk}/cancel/")
    before = everything()
    again = reception.post(f"{TICKETS}{ticket.pk}/cancel/")
    assert again.status_code == 409 and again.json()["code"] == "ticket_not_active"
    assert everything() == before


@pytest.mark.parametrize("action", ["recall", "move", "cancel"])
@pytest.mark.parametrize("ticket_id", ["999999", "99999999999999999999999"])
def test_an_unknown_ticket_is_404(reception, scene, action, ticket_id):
    before = everything()
    response = reception.post(f"{TICKETS}{ticket_id}/{action}/", {"service_id": scene["lab"].pk})
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert everything() == before


# --- family tickets: POST /queue/join/ with a name ------------------------------------------------


def test_a_patient_takes_tickets_for_family_members_on_one_phone(signed_in_phone, patient, opd, counters):
    own = signed_in_phone.api("/queue/join/", {"service_id": opd.pk})
    child = signed_in_phone.api("/queue/join/", {"service_id": opd.pk, "name": "Meera Doe"})
    assert own.status_code == 201 and child.status_code == 201
    assert child.json()["ticket"]["patient_name"] == "Meera Doe"
    assert own.json()["ticket"]["patient_name"] == patient.name
    listed = signed_in_phone.get("/dashboard/", HTTP_ACCEPT="application/json").json()["tickets"]
    assert {t["patient_name"] for t in listed} == {"John Doe", "Meera Doe"}


def test_the_same_family_member_twice_returns_the_ticket_held_and_says_so(signed_in_phone, opd, counters):
    first = signed_in_phone.api("/queue/join/", {"service_id": opd.pk, "name": "Meera Doe"})
    again = signed_in_phone.api("/queue/join/", {"service_id": opd.pk, "name": "MEERA   doe"})
    assert again.status_code == 200 and again.json()["ticket"]["id"] == first.json()["ticket"]["id"]
    assert f"{FSI}Meera Doe{PDI} already holds ticket" in again.json()["message"]
    assert Ticket.objects.count() == 1


def test_an_empty_name_is_the_patient_themself(signed_in_phone, patient, opd, counters):
    response = signed_in_phone.api("/queue/join/", {"service_id": opd.pk, "name": "  "})
    assert response.status_code == 201 and response.json()["ticket"]["patient_name"] == patient.name


def test_a_family_name_with_control_characters_is_refused(signed_in_phone, opd, counters):
    response = signed_in_phone.api("/queue/join/", {"service_id": opd.pk, "name": "Meera\u200b"})
    assert response.status_code == 400 and response.json()["code"] == "invalid_name"
    assert not Ticket.objects.exists()


def test_a_family_ticket_is_still_the_phones_own_for_leaving(signed_in_phone, patient, opd, counters):
    other = PatientFactory()
    theirs, _ = services.join(patient=other, service=opd, name="Meera Doe")
    mine = signed_in_phone.api("/queue/join/", {"service_id": opd.pk, "name": "Meera Doe"}).json()["ticket"]
    assert mine["id"] != theirs.pk  # another phone's Meera is another person
    assert signed_in_phone.api("/queue/cancel/", {"ticket": theirs.pk}).status_code == 404  # as if it did not exist
    assert signed_in_phone.api("/queue/cancel/", {"ticket": mine["id"]}).status_code == 200


# --- the contract ---------------------------------------------------------------------------------------


def test_the_schema_documents_the_reception_endpoints(db):
    schema = Client().get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    assert set(paths[TICKETS]) >= {"get", "post"}
    for action in ("recall", "move", "cancel"):
        assert "post" in paths[f"{TICKETS}{{ticket_id}}/{action}/"]
    join = paths["/queue/join/"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert "name" in schema["components"]["schemas"][join.rsplit("/", 1)[1]]["properties"]


def test_a_search_for_a_digit_that_is_not_a_decimal_finds_nothing_instead_of_failing(db):
    from queue_app.selectors import today_tickets

    assert today_tickets("²") == ([], False)  # "²".isdigit() is true, int("²") fails
