"""Helpers for the patient-journey tests: a phone's browser with CSRF checks on, the SMS outbox."""

import asyncio
import json
import re
from datetime import timedelta

from django.conf import settings
from django.test import Client
from django.utils import timezone

from queue_app.sms import locmem

CODE = re.compile(r"(?<!\d)\d{6}(?!\d)")


class PhoneBrowser(Client):
    """A Client that enforces CSRF like a real browser and sends the token like our scripts do."""

    def __init__(self, **defaults):
        super().__init__(enforce_csrf_checks=True, **defaults)
        self.get("/patient/login/")  # sets the csrftoken cookie, as opening the page does

    @property
    def csrf_token(self) -> str:
        return self.cookies["csrftoken"].value

    def api(self, path, data=None, **extra):
        """POST form-encoded with X-CSRFToken, as QueueLive.post does; answers JSON."""
        return self.post(path, data or {}, HTTP_X_CSRFTOKEN=self.csrf_token, HTTP_ACCEPT="application/json", **extra)

    def form(self, path, data=None, **extra):
        """POST a page's plain HTML form (JavaScript off): the token travels in the form."""
        return self.post(path, {**(data or {}), "csrfmiddlewaretoken": self.csrf_token}, **extra)

    def sign_in(self, phone: str, name: str = "", **extra):
        sent = self.api("/send_otp/", {"phone": phone, "name": name}, **extra)
        assert sent.status_code == 200, sent.content
        verified = self.api("/verify_otp/", {"phone": phone, "otp": last_code(phone)}, **extra)
        assert verified.status_code == 200, verified.content
        return verified


def last_code(phone: str | None = None) -> str:
    """The code in the latest SMS (to `phone`); it must be the only 6-digit number in the text."""
    messages = [m for m in locmem.outbox if phone is None or m.to == phone]
    assert messages, f"no SMS sent to {phone}"
    codes = CODE.findall(messages[-1].body)
    assert len(codes) == 1, messages[-1].body
    return codes[0]


class Clock:
    """Moves django.utils.timezone.now (every clock the OTP rules and the DB cache read)."""

    def __init__(self, monkeypatch):
        self.offset = timedelta()
        real_now = timezone.now
        monkeypatch.setattr(timezone, "now", lambda: real_now() + self.offset)

    def advance(self, **delta):
        self.offset += timedelta(**delta)


async def open_ticket_socket_with_cookie(cookie: str, ticket_id):
    """A phone's WebSocket following one ticket, authenticated by a session cookie."""
    from channels.testing import WebsocketCommunicator

    from queue_system.asgi import application

    socket = WebsocketCommunicator(
        application,
        f"/ws/queue/updates/?ticket={ticket_id}",
        headers=[
            (b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()),
            (b"origin", b"http://testserver"),
            (b"host", b"testserver"),
        ],
    )
    connected, code = await socket.connect(timeout=5)
    return socket, connected, code


async def next_message(socket, *, type_, event=None, timeout=3):
    """Read until a message of this type (and event) arrives; others are skipped."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        assert left > 0, f"no {type_} {event or ''} message"
        message = json.loads(await socket.receive_from(timeout=left))
        if message["type"] == type_ and (event is None or message.get("event") == event):
            return message


def page(response) -> str:
    return response.content.decode()


def json_script(response, element_id):
    """The data a page hands its JavaScript through Django's json_script."""
    match = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', page(response), re.S)
    assert match, element_id
    return json.loads(match.group(1))
