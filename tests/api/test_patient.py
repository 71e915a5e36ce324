"""The patient API through the real URLs: join, dashboard JSON, cancel; CSRF on every POST."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from queue_app import selectors, services
from queue_app.models import Ticket

from ..factories import CounterFactory, PatientFactory, ServiceFactory
from ..patient_helpers import PhoneBrowser, last_code

pytestmark = pytest.mark.django_db


def join(browser, service_id, **extra):
    return browser.api("/queue/join/", {"service_id": service_id}, **extra)


def test_whole_journey_from_phone_to_leaving_the_queue(opd, counters, settings):
    settings.OTP_RESEND_SECONDS = 0
    browser = PhoneBrowser()
    sent = browser.api("/send_otp/", {"phone": "98765 43210", "name": "Asha Rao"})
    assert sent.json() == {"sent": True, "resend_in": 0}
    verified = browser.api("/verify_otp/", {"phone": "+919876543210", "otp": last_code("+919876543210")})
    assert verified.json()["redirect"] == "/service/selection/"

    joined = join(browser, opd.pk)
    assert joined.status_code == 201
    ticket = joined.json()["ticket"]
    assert ticket["queue_id"].startswith("OPD_001_")
    assert ticket["service"] == "OPD"
    assert ticket["counter"] == "Counter 1"
    assert ticket["status"] == "waiting"
    assert ticket["position"] == 1 and ticket["people_ahead"] == 0
    assert ticket["estimated_wait_minutes"] == 0
    assert ticket["patient_name"] == "Asha Rao"

    dashboard = browser.get("/dashboard/", HTTP_ACCEPT="application/json")
    assert dashboard.status_code == 200
    assert dashboard.json() == {"tickets": [ticket]}

    # Signing in again (a new browser) leads straight to the ticket.
    again = PhoneBrowser()
    again.api("/send_otp/", {"phone": "+919876543210"})
    assert (
        again.api("/verify_otp/", {"phone": "+919876543210", "otp": last_code("+919876543210")}).json()["redirect"]
        == "/dashboard/"
    )

    left = browser.api("/queue/cancel/", {"ticket": ticket["id"]})
    assert left.status_code == 200
    assert left.json()["ticket"]["status"] == "cancelled"
    assert browser.get("/dashboard/", HTTP_ACCEPT="application/json").json()["tickets"][0]["status"] == "cancelled"

    rejoined = join(browser, opd.pk)
    assert rejoined.status_code == 201
    assert rejoined.json()["ticket"]["queue_id"].startswith("OPD_002_")


def test_joining_twice_returns_the_ticket_already_held(signed_in_phone, opd, counters):
    first = join(signed_in_phone, opd.pk)
    second = join(signed_in_phone, opd.pk)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["ticket"]["queue_id"] == second.json()["ticket"]["queue_id"]
    assert Ticket.objects.count() == 1


def test_joining_past_the_phones_ticket_limit_is_refused_with_a_clear_message(signed_in_phone, opd, settings):
    settings.MAX_ACTIVE_TICKETS_PER_PHONE = 2
    for name in ("Asha Doe", "Ravi Doe"):
        assert signed_in_phone.api("/queue/join/", {"service_id": opd.pk, "name": name}).status_code == 201

    refused = signed_in_phone.api("/queue/join/", {"service_id": opd.pk, "name": "Mira Doe"})

    assert refused.status_code == 409
    assert refused.json() == {
        "error": "This phone already holds 2 tickets today, the most one phone may hold. "
        "Leave the queue with one of them first, or ask at reception.",
        "code": "too_many_tickets",
    }
    assert Ticket.objects.count() == 2


def test_position_and_wait_count_the_people_ahead(opd, counters, patients, patient, settings):
    settings.DEFAULT_SERVICE_MINUTES = 5
    for other in patients[:4]:  # one line for the service, called from two counters
        services.join(patient=other, service=opd)
    browser = PhoneBrowser()
    browser.sign_in(patient.phone)
    ticket = join(browser, opd.pk).json()["ticket"]
    assert ticket["people_ahead"] == 4 and ticket["position"] == 5
    # 4 places and what is left of the visits at the counters, of 5 minutes, over 2 open counters.
    assert ticket["estimated_wait_minutes"] == round(4.65 * 5 / 2)


def test_join_with_no_counter_open_waits_for_a_counter(signed_in_phone, opd):
    response = join(signed_in_phone, opd.pk)
    assert response.status_code == 201
    ticket = response.json()["ticket"]
    assert ticket["counter"] is None and ticket["counter_id"] is None
    assert ticket["status"] == "waiting"


def test_join_a_service_not_offered_today_is_refused(signed_in_phone):
    closed = ServiceFactory(service_name="Dental", week_days=0)
    response = join(signed_in_phone, closed.pk)
    assert response.status_code == 409
    assert response.json()["code"] == "service_unavailable"
    assert not Ticket.objects.exists()


def test_join_an_unknown_service_is_404(signed_in_phone, opd):
    response = join(signed_in_phone, opd.pk + 1000)
    assert response.status_code == 404
    assert response.json() == {
        "error": "There is no such service. Please choose one from the list.",
        "code": "not_found",
    }
    assert not Ticket.objects.exists()


@pytest.mark.parametrize("service_id", ["", "abc", "-1", "0", "9" * 40])
def test_join_with_a_bad_service_id_is_400(signed_in_phone, service_id):
    response = join(signed_in_phone, service_id)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "service_id" in response.json()["fields"]


def test_join_requires_a_verified_phone(opd):
    response = join(PhoneBrowser(), opd.pk)
    assert response.status_code == 403
    assert response.json()["code"] == "not_authenticated"


def test_join_requires_the_csrf_token(signed_in_phone, opd):
    response = signed_in_phone.post("/queue/join/", {"service_id": opd.pk}, HTTP_ACCEPT="application/json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]
    assert not Ticket.objects.exists()


def test_cancel_requires_the_csrf_token(signed_in_phone, opd):
    ticket = join(signed_in_phone, opd.pk).json()["ticket"]
    response = signed_in_phone.post("/queue/cancel/", {"ticket": ticket["id"]}, HTTP_ACCEPT="application/json")
    assert response.status_code == 403
    assert Ticket.objects.get(pk=ticket["id"]).status == "waiting"


def test_cancel_accepts_ticket_id_as_well(signed_in_phone, opd):
    ticket = join(signed_in_phone, opd.pk).json()["ticket"]
    assert signed_in_phone.api("/queue/cancel/", {"ticket_id": ticket["id"]}).json()["ticket"]["status"] == "cancelled"


def test_cancel_without_a_ticket_is_400(signed_in_phone):
    response = signed_in_phone.api("/queue/cancel/", {})
    assert response.status_code == 400 and "ticket" in response.json()["fields"]


def test_cancelling_twice_is_refused(signed_in_phone, opd):
    ticket = join(signed_in_phone, opd.pk).json()["ticket"]
    signed_in_phone.api("/queue/cancel/", {"ticket": ticket["id"]})
    again = signed_in_phone.api("/queue/cancel/", {"ticket": ticket["id"]})
    assert again.status_code == 409 and again.json()["code"] == "ticket_not_active"


def test_a_patient_cannot_cancel_someone_elses_ticket_nor_tell_it_exists(signed_in_phone, opd, counters):
    other_ticket, _ = services.join(patient=PatientFactory(), service=opd)
    response = signed_in_phone.api("/queue/cancel/", {"ticket": other_ticket.pk})
    missing = signed_in_phone.api("/queue/cancel/", {"ticket": other_ticket.pk + 1000})
    assert response.status_code == missing.status_code == 404
    assert response.json() == missing.json() == {"error": "There is no such ticket.", "code": "not_found"}
    other_ticket.refresh_from_db()
    assert other_ticket.status == "waiting"


def test_dashboard_json_lists_only_the_patients_own_tickets_of_today(signed_in_phone, patient, opd, lab, counters):
    services.join(patient=PatientFactory(), service=opd)
    mine = [join(signed_in_phone, opd.pk).json()["ticket"], join(signed_in_phone, lab.pk).json()["ticket"]]
    tickets = signed_in_phone.get("/dashboard/", HTTP_ACCEPT="application/json").json()["tickets"]
    assert [t["queue_id"] for t in tickets] == [t["queue_id"] for t in mine]
    assert all(t["patient_name"] == patient.name for t in tickets)


def test_dashboard_json_for_one_ticket(signed_in_phone, opd, lab):
    mine = join(signed_in_phone, lab.pk).json()["ticket"]
    join(signed_in_phone, opd.pk)
    tickets = signed_in_phone.get("/dashboard/", {"ticket": mine["id"]}, HTTP_ACCEPT="application/json").json()[
        "tickets"
    ]
    assert [t["id"] for t in tickets] == [mine["id"]]


def test_another_patients_ticket_is_answered_on_the_dashboard_as_a_missing_one(signed_in_phone, opd):
    other_ticket, _ = services.join(patient=PatientFactory(), service=opd)
    response = signed_in_phone.get("/dashboard/", {"ticket": other_ticket.pk}, HTTP_ACCEPT="application/json")
    missing = signed_in_phone.get("/dashboard/", {"ticket": other_ticket.pk + 1000}, HTTP_ACCEPT="application/json")
    assert response.status_code == missing.status_code == 404
    assert response.json() == missing.json() == {"error": "There is no such ticket.", "code": "not_found"}
    assert other_ticket.queue_id not in response.content.decode()


def test_dashboard_json_without_a_verified_phone_is_403():
    response = PhoneBrowser().get("/dashboard/", HTTP_ACCEPT="application/json")
    assert response.status_code == 403
    assert response.json()["code"] == "not_authenticated"


def test_oversized_fields_are_refused_with_400(signed_in_phone):
    too_long = {"phone": "9" * 33, "otp": "1" * 17, "name": "n" * 101}
    for path, data in [
        ("/send_otp/", {"phone": too_long["phone"]}),
        ("/send_otp/", {"phone": "+919876543210", "name": too_long["name"]}),
        ("/verify_otp/", {"phone": "+919876543210", "otp": too_long["otp"]}),
    ]:
        response = signed_in_phone.api(path, data)
        assert response.status_code == 400, (path, data)
        assert set(response.json()) >= {"error", "code"}


def test_schema_documents_the_patient_endpoints(db):
    schema = PhoneBrowser().get("/api/schema/", HTTP_ACCEPT="application/json").content.decode()
    for path in ("/send_otp/", "/verify_otp/", "/check_patient/", "/queue/join/", "/queue/cancel/"):
        assert path in schema


# --- cost per request ------------------------------------------------------------------------

# The session and the patient; the change, in its transaction: the
# service's row locked (with whether today is a closed date), the phone's row locked and its
# tickets read once (the one it may hold already, its cap), the service's counters, its line read
# once as small rows, the ticket and its history row, the service's new version and last number
# (one UPDATE), the texts owed (none read when the front of the line is as it was, as here; else
# the tickets concerned, and an insert when one is owed), the counters'
# versions, and the messages' rows (the called tickets, the listed ones), with (when not
# remembered from the last few seconds) the service's average time. The answer shows what the
# join saw under the lock: no query of its own. SQLite's savepoints count 2 (outside the test's
# transaction: BEGIN and COMMIT).
JOIN_QUERIES = 16


def test_join_costs_the_same_queries_with_5_and_with_200_waiting(signed_in_phone, opd, counters):
    measured = []
    for name, extra in (("Asha", 5), ("Ravi", 195)):
        for patient in PatientFactory.create_batch(extra):
            services.join(patient=patient, service=opd)
        selectors.forget_minutes()  # the worst case: the average is read too
        with CaptureQueriesContext(connection) as queries:
            response = signed_in_phone.api("/queue/join/", {"service_id": opd.pk, "name": name})
        assert response.status_code == 201
        measured.append(len(queries))
    assert measured[0] == measured[1] <= JOIN_QUERIES, measured


@pytest.mark.parametrize("open_counters", [2, 0], ids=["at a counter", "in the pool, no counter open"])
def test_the_join_answers_the_place_a_fresh_read_gives(signed_in_phone, opd, staff, open_counters):
    """The answer to a join shows what a fresh read of the ticket says."""
    for i, member in enumerate(staff[:open_counters], start=1):
        services.hold_counter(counter=CounterFactory(counter_name=f"Counter {i}", service=opd), staff=member)
    for patient in PatientFactory.create_batch(7):
        services.join(patient=patient, service=opd)

    answer = signed_in_phone.api("/queue/join/", {"service_id": opd.pk}).json()["ticket"]

    fresh = selectors.ticket_dict(Ticket.objects.select_related("service", "counter").get(pk=answer["id"]))
    assert answer == fresh
    assert answer["people_ahead"] == 7  # one line for the service, at a counter or in the pool


def test_a_join_that_hands_out_the_pool_first_answers_the_place_a_fresh_read_gives(signed_in_phone, opd, staff):
    for patient in PatientFactory.create_batch(5):
        services.join(patient=patient, service=opd)  # no counter open: they wait unassigned
    counter = services.hold_counter(counter=CounterFactory(service=opd), staff=staff[0])
    Ticket.objects.update(counter=None)  # still in the pool when the counter opened

    answer = signed_in_phone.api("/queue/join/", {"service_id": opd.pk}).json()["ticket"]

    assert answer["counter_id"] == counter.pk
    fresh = selectors.ticket_dict(Ticket.objects.select_related("service", "counter").get(pk=answer["id"]))
    assert answer == fresh and answer["people_ahead"] == 5


def test_a_second_browser_asking_too_soon_is_refused_but_taken_to_the_code_step():
    phone = "+919876543210"
    PhoneBrowser().api("/send_otp/", {"phone": phone, "name": "Asha Rao"})
    other = PhoneBrowser()

    refused = other.api("/send_otp/", {"phone": "98765 43210"})

    assert refused.status_code == 429 and refused.json()["code"] == "resend_too_soon"
    assert 1 <= int(refused["Retry-After"]) <= 30
    page = other.get("/patient/login/").content.decode()  # a reload keeps the code step
    assert 'data-step="code"' in page and 'value="+919876543210"' in page
