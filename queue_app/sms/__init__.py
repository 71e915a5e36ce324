"""SMS backends, chosen by settings.SMS_BACKEND like Django's email backends."""

from django.conf import settings
from django.utils.module_loading import import_string

from .base import SmsDeliveryError  # noqa: F401


def get_backend():
    return import_string(settings.SMS_BACKEND)()


def send_sms(to: str, body: str) -> str | None:
    """Send one message; returns the provider's message id when it gives one.

    Raises SmsDeliveryError when the provider refused or did not answer in time.
    """
    return get_backend().send(to=to, body=body)
