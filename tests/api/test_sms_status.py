"""Twilio's delivery receipts at POST /sms/status/: signed by Twilio (its own validator) or refused."""

import pytest
from django.test import Client
from twilio.request_validator import RequestValidator

from queue_app import services
from queue_app.models import Notification
from queue_app.services import sending

from ..factories import PatientFactory

pytestmark = pytest.mark.django_db

TOKEN = "twilio-auth-token"
BASE = "https://clinic.example"
URL = "/sms/status/"
SID = "SM" + "b" * 32


@pytest.fixture
def sent(opd, counters, settings):
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.PUBLIC_BASE_URL = BASE
    services.join(patient=PatientFactory(), service=opd)
    sending.send_due()
    row = Notification.objects.get()
    Notification.objects.filter(pk=row.pk).update(provider_id=SID)
    return row


def post(params, *, signature=None, token=TOKEN):
    signature = signature if signature is not None else RequestValidator(token).compute_signature(BASE + URL, params)
    # CSRF checks on, as in production: the signature stands in for the token.
    return Client(enforce_csrf_checks=True).post(URL, params, HTTP_X_TWILIO_SIGNATURE=signature)


def status_of(row):
    row.refresh_from_db()
    return row.status


@pytest.mark.parametrize("reported", ["delivered", "undelivered", "failed"])
def test_a_signed_receipt_records_the_final_status(sent, reported):
    response = post({"MessageSid": SID, "MessageStatus": reported, "ErrorCode": "30003"})
    assert response.status_code == 200 and response.json() == {"status": reported}
    assert status_of(sent) == reported


def test_an_interim_status_changes_nothing(sent):
    assert post({"MessageSid": SID, "MessageStatus": "sent"}).status_code == 200
    assert status_of(sent) == "sent"


@pytest.mark.parametrize("signature", ["", "forged", None])
def test_a_forged_or_unsigned_receipt_is_refused_and_changes_nothing(sent, signature):
    params = {"MessageSid": SID, "MessageStatus": "delivered"}
    if signature is None:  # signed, but with another account's token
        response = post(params, token="someone-else")
    else:
        response = post(params, signature=signature)
    assert response.status_code == 403 and response.json()["code"] == "forbidden"
    assert status_of(sent) == "sent"


def test_a_receipt_signed_for_other_fields_is_refused(sent):
    signature = RequestValidator(TOKEN).compute_signature(BASE + URL, {"MessageSid": SID, "MessageStatus": "sent"})
    response = post({"MessageSid": SID, "MessageStatus": "delivered"}, signature=signature)
    assert response.status_code == 403 and status_of(sent) == "sent"


def test_an_unknown_message_id_is_a_404(sent):
    response = post({"MessageSid": "SM" + "c" * 32, "MessageStatus": "delivered"})
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert status_of(sent) == "sent"


def test_an_oversized_body_is_refused_before_it_is_read(sent):
    response = post({"MessageSid": SID, "MessageStatus": "delivered", "Padding": "x" * 20_000})
    assert response.status_code == 413 and response.json()["code"] == "too_large"
    assert status_of(sent) == "sent"


def test_without_a_configured_token_every_receipt_is_refused(sent, settings):
    settings.TWILIO_AUTH_TOKEN = ""
    assert post({"MessageSid": SID, "MessageStatus": "delivered"}, token="").status_code == 403
    assert status_of(sent) == "sent"


def test_a_get_is_not_allowed(sent):
    response = Client().get(URL)
    assert response.status_code == 405 and response.json()["code"] == "method_not_allowed"
