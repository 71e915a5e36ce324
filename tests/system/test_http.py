"""The answers pages, the API and the server share: "wants JSON?", "busy, try again", compression."""

import gzip
import json

import pytest
from django.test import Client, RequestFactory
from django.utils.functional import empty

from queue_app import services
from queue_app.http import busy_response, wants_json

from ..factories import StaffFactory
from ..patient_helpers import PhoneBrowser


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("application/json", True),
        ("application/json, text/plain, */*", True),  # a script's fetch library
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", False),  # a browser
        ("*/*", False),
        (None, False),
    ],
)
def test_only_a_client_preferring_json_to_a_page_wants_json(accept, expected):
    headers = {} if accept is None else {"Accept": accept}
    assert wants_json(RequestFactory().get("/", headers=headers)) is expected


def test_busy_is_a_503_with_retry_after_as_the_apis_json_error_or_plain_text():
    api, page = busy_response(json=True), busy_response(json=False)
    assert api.status_code == page.status_code == 503
    assert api["Retry-After"] == page["Retry-After"] == "2"
    message = "The service is busy, please try again in a moment."
    assert json.loads(api.content) == {"error": message, "code": "unavailable"}
    assert page["Content-Type"].startswith("text/plain") and page.content.decode() == message


# --- compression ----------------------------------------------------------------------------------

GZIP = {"HTTP_ACCEPT_ENCODING": "gzip, deflate, br"}


def unzipped(response) -> str:
    return gzip.decompress(b"".join(response.streaming_content) if response.streaming else response.content).decode()


@pytest.mark.django_db
def test_patient_pages_and_their_json_are_gzipped_for_a_browser_that_accepts_it(opd, patient):
    phone = PhoneBrowser()
    login = phone.get("/patient/login/", **GZIP)
    assert login["Content-Encoding"] == "gzip" and "Accept-Encoding" in login["Vary"]
    assert "Join the queue" in unzipped(login)

    phone.sign_in(patient.phone)
    services.join(patient=patient, service=opd)
    answer = phone.get("/dashboard/", HTTP_ACCEPT="application/json", **GZIP)
    assert answer["Content-Encoding"] == "gzip"
    assert json.loads(unzipped(answer))["tickets"][0]["service"] == "OPD"


@pytest.mark.django_db
def test_nothing_is_gzipped_for_a_client_that_does_not_accept_it():
    response = Client().get("/patient/login/", HTTP_ACCEPT_ENCODING="identity")
    assert not response.has_header("Content-Encoding")
    assert "Join the queue" in response.content.decode()


@pytest.mark.django_db
def test_staff_answers_are_never_gzipped_as_they_echo_searches_next_to_patients_data(opd, patient):
    """BREACH: a search term the request chose, echoed beside names and phones, in a compressed
    answer lets an attacker who sees sizes on the wire guess those names a letter at a time."""
    services.join(patient=patient, service=opd)
    desk = Client()
    desk.force_login(StaffFactory(username="desk", role="reception"))
    for path in (f"/staff/reception/tickets/?q={patient.name[:3]}", "/staff/reception/"):
        response = desk.get(path, HTTP_ACCEPT="application/json" if "tickets" in path else "text/html", **GZIP)
        assert response.status_code == 200, path
        assert not response.has_header("Content-Encoding"), path


# --- what an answer that needs nobody costs -------------------------------------------------------


@pytest.mark.django_db
def test_an_answer_for_nobody_builds_no_user_session_or_message_store():
    """The health check, the display's reads, the API's small answers: no session cookie, a short
    JSON answer. Compression, the sliding staff session and messages each used to load the user
    (and with it the session), or build the message store, on every such request."""
    response = Client().get("/healthz/", HTTP_ACCEPT="application/json", **GZIP)
    assert response.status_code == 200 and not response.has_header("Content-Encoding")
    request = response.wsgi_request
    assert request.user._wrapped is empty
    assert request._messages._wrapped is empty
    assert not hasattr(request.session, "_session_cache")


@pytest.mark.django_db
def test_a_message_added_by_a_view_is_still_stored_and_shown_on_the_next_page(opd, patient):
    phone = PhoneBrowser()
    phone.sign_in(patient.phone)
    ticket, *_ = services.join(patient=patient, service=opd)
    left = phone.form("/dashboard/", {"ticket": ticket.pk})
    assert left.status_code == 302
    page = phone.get(left["Location"]).content.decode()
    assert "You left the queue for <bdi>OPD</bdi>." in page
