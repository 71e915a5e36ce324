"""Privacy: a patient's phone number and SMS code appear in no public page, no socket message
and no log line.

One full day's journey runs through the real URLs — a patient signs in by SMS (a wrong code
first, an early resend), joins, follows the ticket; staff log in, call, announce, skip, break
and log out; reception issues a walk-in with a phone; the display and the public pages are
read — with every logger at DEBUG and every broadcast recorded. Then all of it is searched for
the phone (as typed, E.164, grouped, national digits) and for every code that was sent.
The log records are searched as emitted, before the handlers' redaction filter (logs.RedactFilter):
nothing may rely on the safety net.
"""

import base64
import json
import logging
import re
import urllib.parse

import pytest
import requests
from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache
from django.db import connection

from queue_app import access, events, selectors
from queue_app.models import Ticket
from queue_app.sms import locmem

from ..patient_helpers import CODE, PhoneBrowser
from ..security_helpers import Actor, build_cast

PHONE = "+919876512345"
TYPED = "98765 12345"  # as a patient types it
FORMS = [PHONE, PHONE[1:], "9876512345", "98765 12345", "+91 98765 12345", "98765-12345", "%2B919876512345"]


def leaks(text: str, codes: list[str]) -> list[str]:
    """Which forms of the phone, and which codes, the text contains."""
    found = [form for form in FORMS if form in text]
    found += [f"code {code}" for code in codes if re.search(rf"(?<!\d){code}(?!\d)", text)]
    return found


@pytest.fixture
def journey(opd, counters, admin_user, settings, caplog, monkeypatch):
    """The day's journey; returns what to search: log text, broadcasts, public pages, codes."""
    settings.OTP_RESEND_SECONDS = 5
    settings.DISPLAY_NAME_MODE = "full"
    caplog.set_level(logging.DEBUG)  # every logger, ours and the libraries'
    records = Recorder()
    logging.getLogger().handlers.insert(0, records)  # first: the redaction filter edits records in place
    sent: list[tuple[str, dict]] = []
    real_deliver = events._deliver  # every message on its way to the channel layer
    monkeypatch.setattr(events, "_deliver", lambda layer, msgs: (sent.extend(msgs), real_deliver(layer, msgs)))
    cast = build_cast(opd, counters, admin_user)

    phone = PhoneBrowser()
    assert phone.api("/send_otp/", {"phone": TYPED, "name": "Meera Iyer"}).status_code == 200
    assert phone.api("/send_otp/", {"phone": TYPED}).status_code == 429  # too early
    code = CODE.findall(locmem.outbox[-1].body)[0]
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    assert phone.api("/verify_otp/", {"phone": TYPED, "otp": wrong}).status_code == 400
    assert phone.api("/verify_otp/", {"phone": TYPED, "otp": code}).status_code == 200
    assert phone.get("/check_patient/", {"phone": TYPED}).status_code == 200
    assert phone.get("/service/selection/").status_code == 200
    joined = phone.api("/queue/join/", {"service_id": opd.pk})
    assert joined.status_code == 201
    ticket = Ticket.objects.get(pk=joined.json()["ticket"]["id"])
    assert phone.get("/dashboard/").status_code == 200
    assert phone.get("/dashboard/", HTTP_ACCEPT="application/json").status_code == 200

    # Someone else tries the number: no answer gives it away, nothing logs it.
    stranger = PhoneBrowser()
    assert stranger.get("/check_patient/", {"phone": PHONE}).status_code == 403
    assert stranger.api("/verify_otp/", {"phone": PHONE, "otp": "000000"}).status_code == 400

    operator = Actor("op1", cast.actors["op1"].session_key)
    for _ in range(3):  # one line for OPD: the two patients who joined before ours, then ours
        assert operator.post("/staff/serve_next/").status_code == 200
    assert operator.get("/staff/get_queue_data/").json()["serving_patient"]["queue_id"] == ticket.queue_id
    assert operator.post("/staff/announce_patient/").status_code == 200
    assert operator.get("/staff/dashboard/").status_code == 200
    assert operator.post("/staff/skip_patient/").status_code == 200
    assert operator.post("/staff/update_status/", {"status": "break"}).status_code == 200
    assert operator.post("/staff/update_status/", {"status": "available"}).status_code == 200

    reception = cast.actors["recep"]
    walk_in = reception.post(
        "/staff/reception/tickets/", {"name": "Ravi Menon", "phone": "98765 54321", "service_id": opd.pk}
    )
    assert walk_in.status_code == 201, walk_in.content
    assert reception.get("/staff/reception/").status_code == 200

    login = Actor("anon").post("/staff/login/", {"username": "operator3", "password": "wrong"})
    assert login.status_code == 200
    assert operator.post("/staff/logout/").status_code == 302
    assert phone.api("/queue/cancel/", {"ticket": ticket.pk}).status_code in (200, 409)

    anon = Actor("anon")
    public = {
        path: anon.get(path).content.decode(errors="replace")
        for path in (
            "/",
            "/patient/login/",
            "/display/",
            "/display/screen/data/",
            "/qr/",
            "/qr.svg",
            "/healthz/",
            "/api/schema/",
            f"/t/{access.ticket_link_token(ticket)}/",
            f"/t/{access.ticket_link_token(Ticket.objects.get(pk=walk_in.json()['ticket']['id']))}/",
        )
    }
    # What each socket is sent first on connect (consumers.send_snapshot builds the same).
    snapshots = [selectors.display_snapshot(), selectors.counter_state(cast.counters[0], with_waiting=True)]
    snapshots.append(selectors.ticket_dict(ticket))
    codes = [c for m in locmem.outbox for c in CODE.findall(m.body)]
    logging.getLogger().removeHandler(records)
    assert len(codes) >= 1 and len(sent) >= 10 and records.records
    return {"logs": records.records, "sent": sent, "public": public, "snapshots": snapshots, "codes": codes}


class Recorder(logging.Handler):
    """Every record as emitted, before any handler's filter (the settings' redaction included):
    (logger, message, everything the line could carry), taken at once."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.records: list[tuple[str, str, str]] = []

    def emit(self, record):
        self.records.append((record.name, record.getMessage(), record_text(record)))


def record_text(record: logging.LogRecord) -> str:
    """Everything a log line could carry: the message, its arguments, extra fields, a traceback."""
    parts = [record.getMessage(), repr(record.args)]
    parts += [str(v) for k, v in record.__dict__.items() if k not in ("msg", "args", "exc_info")]
    if record.exc_info:
        parts.append(logging.Formatter().formatException(record.exc_info))
    return "\n".join(parts)


@pytest.mark.django_db(transaction=True)  # events leave on commit
def test_no_log_record_carries_the_phone_or_a_code(journey):
    found = {f"{name}: {message[:120]}": leaks(text, journey["codes"]) for name, message, text in journey["logs"]}
    assert not {line: what for line, what in found.items() if what}
    loggers = {name for name, _message, _text in journey["logs"]}
    assert {"queue.otp", "queue.requests", "queue.transitions"} <= loggers  # the journey was logged


@pytest.mark.django_db(transaction=True)  # events leave on commit
def test_no_socket_message_carries_the_phone_or_a_code(journey):
    """Every group: the display's, the counters' (staff), the queue positions, each ticket's."""
    for group, payload in journey["sent"]:
        assert not leaks(json.dumps(payload), journey["codes"]), (group, payload)
    groups = {group.split(".")[0] for group, _payload in journey["sent"]}
    assert groups == {"display", "counter", "queue", "ticket"}
    for snapshot in journey["snapshots"]:
        assert not leaks(json.dumps(snapshot, default=str), journey["codes"])


@pytest.mark.django_db(transaction=True)  # events leave on commit
def test_no_public_page_carries_the_phone_or_a_code(journey):
    for path, body in journey["public"].items():
        assert not leaks(body, journey["codes"]), path
    assert "Meera" in journey["public"]["/display/"]  # the page does show the patient (by name)


@pytest.mark.django_db(transaction=True)  # events leave on commit
def test_rate_limit_counters_keep_no_phone_number(journey):
    """The counters live in the shared cache (a database table, or Redis): only digests as keys."""
    if isinstance(caches["default"], DatabaseCache):
        with connection.cursor() as cursor:
            cursor.execute("SELECT cache_key, value FROM queue_cache")
            rows = cursor.fetchall()
        stored = "\n".join(f"{key} {base64.b64decode(value)!r}" for key, value in rows)
    else:
        client = caches["default"]._cache.get_client()
        stored = "\n".join(repr(key) for key in client.keys("*"))
    assert "otp:" in stored
    assert not leaks(stored, journey["codes"])


@pytest.mark.django_db
def test_the_twilio_path_logs_neither_the_phone_nor_the_code(settings, monkeypatch):
    """Through the real twilio library (its HTTP transport stubbed): a delivery, then a refusal.
    test_sms checks this with caplog, which sees records after the redaction filter; here they
    are read as emitted."""
    settings.SMS_BACKEND = "queue_app.sms.twilio.SmsBackend"
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = "AC" + "0" * 32, "secret-token"
    settings.TWILIO_PHONE_NUMBER, settings.OTP_RESEND_SECONDS = "+15005550006", 0
    bodies = []

    def transport(session, prepared, **kwargs):
        form = dict(urllib.parse.parse_qsl(prepared.body if isinstance(prepared.body, str) else prepared.body.decode()))
        bodies.append(form["Body"])
        status, answer = (201, {"sid": "SM" + "f" * 32, "to": form["To"], "body": form["Body"]})
        if len(bodies) > 1:
            status, answer = (
                400,
                {"code": 21211, "message": f"The 'To' number {form['To']} is not valid.", "status": 400},
            )
        response = requests.Response()
        response.status_code, response._content = status, json.dumps(answer).encode()
        response.headers["Content-Type"] = "application/json"
        response.url, response.request = prepared.url, prepared
        return response

    monkeypatch.setattr(requests.Session, "send", transport)
    records = Recorder()
    root = logging.getLogger()
    root.handlers.insert(0, records)
    levels = {name: logging.getLogger(name).level for name in ("", "queue", "twilio")}
    for name in levels:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        browser = PhoneBrowser()
        assert browser.api("/send_otp/", {"phone": TYPED, "name": "Meera"}).status_code == 200
        assert browser.api("/send_otp/", {"phone": TYPED}).status_code == 502
    finally:
        root.removeHandler(records)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    codes = [c for body in bodies for c in CODE.findall(body)]
    assert len(codes) == 2 and any(name.startswith("twilio") for name, _m, _t in records.records)
    found = {f"{name}: {message[:100]}": leaks(text, codes) for name, message, text in records.records}
    assert not {line: what for line, what in found.items() if what}
    assert not any("secret-token" in text for _n, _m, text in records.records)
