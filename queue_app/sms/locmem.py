from dataclasses import dataclass

from .base import BaseSmsBackend

outbox: list["Message"] = []


@dataclass
class Message:
    to: str
    body: str


class SmsBackend(BaseSmsBackend):
    """Tests: messages are kept in `queue_app.sms.locmem.outbox`."""

    def send(self, *, to: str, body: str, status_callback: str | None = None) -> str | None:
        outbox.append(Message(to=to, body=body))
        return f"locmem-{len(outbox)}"
