"""SMS backends. Twilio: the request the real twilio library sends, intercepted underneath it at
requests.Session.send (the HTTP transport), never by mocking our code."""

import base64
import json
import logging
from urllib.parse import parse_qs

import pytest
import requests

from queue_app.models import OTP
from queue_app.sms import locmem

from ..patient_helpers import CODE, PhoneBrowser

pytestmark = pytest.mark.django_db

PHONE = "+919876543210"
SID = "AC" + "0123456789abcdef" * 2
TOKEN = "test-auth-token"
SENDER = "+15005550006"


class TwilioTransport:
    """Stands in for the network under the twilio library: records requests, answers like Twilio."""

    def __init__(self):
        self.sent = []
        self.answer = (201, {"sid": "SM" + "f" * 32, "status": "queued"})
        self.raises = None

    def __call__(self, session, prepared, **kwargs):
        self.sent.append((prepared, kwargs))
        if self.raises is not None:
            raise self.raises
        status, body = self.answer
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(body).encode()
        response.headers["Content-Type"] = "application/json"
        response.url = prepared.url
        response.request = prepared
        return response

    @property
    def form(self) -> dict:
        prepared, _kwargs = self.sent[-1]
        body = prepared.body if isinstance(prepared.body, str) else prepared.body.decode()
        return {key: values[0] for key, values in parse_qs(body).items()}


@pytest.fixture
def twilio(settings, monkeypatch):
    settings.SMS_BACKEND = "queue_app.sms.twilio.SmsBackend"
    settings.TWILIO_ACCOUNT_SID = SID
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.TWILIO_PHONE_NUMBER = SENDER
    settings.TWILIO_TIMEOUT_SECONDS = 7
    transport = TwilioTransport()
    # A plain function, so it binds as a method: `session.send(prepared, **kwargs)`.
    monkeypatch.setattr(requests.Session, "send", lambda session, prepared, **kw: transport(session, prepared, **kw))
    return transport


def send(browser, phone=PHONE):
    return browser.api("/send_otp/", {"phone": phone, "name": "Asha Rao"})


def test_twilio_backend_posts_to_the_messages_api_with_to_from_and_body(twilio):
    browser = PhoneBrowser()
    assert send(browser).status_code == 200
    [(prepared, kwargs)] = twilio.sent
    assert prepared.method == "POST"
    assert prepared.url == f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json"
    assert prepared.headers["Authorization"] == "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    assert kwargs["timeout"] == 7
    form = twilio.form
    assert form["To"] == PHONE
    assert form["From"] == SENDER
    [code] = CODE.findall(form["Body"])
    assert "City Health Clinic" in form["Body"]
    # The code Twilio was asked to deliver is the one that verifies.
    assert browser.api("/verify_otp/", {"phone": PHONE, "otp": code}).status_code == 200


def test_twilio_messaging_service_sid_is_sent_as_messaging_service(twilio, settings):
    settings.TWILIO_PHONE_NUMBER = "MG" + "a" * 32
    assert send(PhoneBrowser()).status_code == 200
    assert twilio.form["MessagingServiceSid"] == "MG" + "a" * 32
    assert "From" not in twilio.form


def test_twilio_server_error_gives_502_and_is_not_counted_as_sent(twilio, caplog):
    caplog.set_level(logging.INFO)
    twilio.answer = (500, {"code": 20500, "message": "Internal Server Error", "status": 500})
    browser = PhoneBrowser()
    response = send(browser)
    assert response.status_code == 502
    assert response.json() == {"error": "We could not send the code, please try again", "code": "sms_failed"}
    assert "20500" in caplog.text
    assert not OTP.objects.exists()

    # Not a sent code: no cooldown, no count against the phone; the retry goes straight out.
    twilio.answer = (201, {"sid": "SM" + "e" * 32, "status": "queued"})
    assert send(browser).status_code == 200
    assert OTP.objects.get(phone=PHONE).send_count == 1


def test_twilio_refusal_is_logged_with_twilios_error_code(twilio, caplog):
    caplog.set_level(logging.INFO)
    twilio.answer = (400, {"code": 21211, "message": "The 'To' number is not a valid phone number.", "status": 400})
    response = send(PhoneBrowser())
    assert response.status_code == 502 and response.json()["code"] == "sms_failed"
    assert "21211" in caplog.text


def test_twilio_timeout_gives_502(twilio, caplog):
    caplog.set_level(logging.INFO)
    twilio.raises = requests.exceptions.ReadTimeout("read timed out")
    response = send(PhoneBrowser())
    assert response.status_code == 502
    assert response.json()["error"] == "We could not send the code, please try again"
    assert "timeout" in caplog.text
    assert not OTP.objects.exists()


def test_twilio_unreachable_gives_502(twilio):
    twilio.raises = requests.exceptions.ConnectionError("no route to host")
    assert send(PhoneBrowser()).status_code == 502


def test_twilio_without_credentials_gives_502_without_calling_out(twilio, settings):
    settings.TWILIO_AUTH_TOKEN = ""
    assert send(PhoneBrowser()).status_code == 502
    assert twilio.sent == []


def test_twilio_path_never_logs_the_code(twilio, caplog):
    caplog.set_level(logging.DEBUG)
    send(PhoneBrowser())
    [code] = CODE.findall(twilio.form["Body"])
    assert "BEGIN Twilio API Request" in caplog.text  # the library logged its request, headers and all
    assert code not in caplog.text


def test_file_backend_writes_to_then_a_blank_line_then_the_body(settings, tmp_path):
    settings.SMS_BACKEND = "queue_app.sms.file.SmsBackend"
    settings.SMS_FILE_PATH = str(tmp_path / "sms")
    browser = PhoneBrowser()
    assert send(browser, phone="98765 43210").status_code == 200
    [message] = list((tmp_path / "sms").iterdir())
    lines = message.read_text(encoding="utf-8").split("\n")
    assert lines[0] == f"To: {PHONE}"
    assert lines[1] == ""
    [code] = CODE.findall("\n".join(lines[2:]))
    assert browser.api("/verify_otp/", {"phone": PHONE, "otp": code}).status_code == 200


def test_console_backend_prints_the_message(settings, capsys):
    settings.SMS_BACKEND = "queue_app.sms.console.SmsBackend"
    assert send(PhoneBrowser()).status_code == 200
    printed = capsys.readouterr().out
    assert f"SMS to {PHONE}:" in printed and len(CODE.findall(printed)) == 1
    assert locmem.outbox == []
