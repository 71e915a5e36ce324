"""Production: Twilio's Messages API through the official twilio library.

Credentials come from settings (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_PHONE_NUMBER, read
from the environment). TWILIO_PHONE_NUMBER may also be a Messaging Service SID (MG…). Every call
has a timeout (TWILIO_TIMEOUT_SECONDS): a patient never waits on a hung provider. Any refusal or
failure becomes SmsDeliveryError carrying Twilio's error code; the message body is never logged.
"""

import logging

import requests
from django.conf import settings
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from .base import BaseSmsBackend, SmsDeliveryError

log = logging.getLogger("queue.sms")


class SmsBackend(BaseSmsBackend):
    def __init__(self, *, http_client: TwilioHttpClient | None = None):
        self.http_client = http_client or TwilioHttpClient(timeout=settings.TWILIO_TIMEOUT_SECONDS)

    def send(self, *, to: str, body: str, status_callback: str | None = None) -> str | None:
        sid, token, sender = settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, settings.TWILIO_PHONE_NUMBER
        if not (sid and token and sender):
            raise SmsDeliveryError(
                "Twilio is not configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_PHONE_NUMBER)",
                retryable=False,
            )
        origin = {"messaging_service_sid": sender} if sender.startswith("MG") else {"from_": sender}
        if status_callback:
            origin["status_callback"] = status_callback
        try:
            message = Client(sid, token, http_client=self.http_client).messages.create(to=to, body=body, **origin)
        except TwilioRestException as exc:
            log.warning("twilio refused the message: http_status=%s twilio_code=%s", exc.status, exc.code)
            # 4xx: this message is refused for good (bad number, blocked, …); 429 and 5xx pass.
            permanent = 400 <= exc.status < 500 and exc.status != 429
            raise SmsDeliveryError(
                f"Twilio answered HTTP {exc.status}", provider_code=exc.code, retryable=not permanent
            ) from exc
        except requests.Timeout as exc:
            log.warning("twilio did not answer within %ss", settings.TWILIO_TIMEOUT_SECONDS)
            raise SmsDeliveryError("Twilio timed out", provider_code="timeout") from exc
        except (requests.RequestException, TwilioException) as exc:
            log.warning("twilio request failed: %s", exc.__class__.__name__)
            raise SmsDeliveryError(f"Twilio request failed: {exc.__class__.__name__}") from exc
        return message.sid
