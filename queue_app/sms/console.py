import logging

from .base import BaseSmsBackend

log = logging.getLogger("queue.sms")


class SmsBackend(BaseSmsBackend):
    """Development: the message (code included) goes to the server's console."""

    def send(self, *, to: str, body: str, status_callback: str | None = None) -> str | None:
        print(f"SMS to {to}: {body}", flush=True)  # noqa: T201 - the console backend's whole job
        return None
