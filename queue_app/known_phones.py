"""Phones this browser has verified before: a signed cookie the browser keeps between visits.

A returning patient may use the part of the hourly SMS cap kept back from anonymous senders
(SMS_HOURLY_RESERVE_PERCENT). Asking the database whether a phone has verified before would
answer differently for patients and strangers, and so tell anyone who is a patient; the cookie
only tells a browser about phones it verified itself. It holds keyed digests, never a number.
"""

import json

from django.conf import settings
from django.utils.crypto import salted_hmac

from .errors import InvalidInput
from .phones import normalize_phone

COOKIE_NAME = "queue_known_phones"
SALT = "queue_app.known_phones"
MAX_PHONES = 5  # a family's phones on one device; older ones drop off
MAX_AGE_SECONDS = 400 * 24 * 3600  # the longest browsers keep a cookie


def _digest(phone: str) -> str:
    return salted_hmac(SALT, phone).hexdigest()[:24]


def _digests(request) -> list[str]:
    raw = request.get_signed_cookie(COOKIE_NAME, default=None, salt=SALT, max_age=MAX_AGE_SECONDS)
    try:
        value = json.loads(raw) if raw else []
    except ValueError:
        return []
    return [d for d in value if isinstance(d, str)][-MAX_PHONES:] if isinstance(value, list) else []


def verified_here_before(request, phone: str) -> bool:
    """Whether this browser has verified this phone (as typed, normalised) on an earlier visit."""
    try:
        phone = normalize_phone(phone)
    except InvalidInput:
        return False
    return _digest(phone) in _digests(request)


def remember(response, *, request, phone: str) -> None:
    """After a verification: this browser knows the phone (E.164) from now on."""
    digest = _digest(phone)
    kept = [d for d in _digests(request) if d != digest][-(MAX_PHONES - 1) :]
    response.set_signed_cookie(
        COOKIE_NAME,
        json.dumps([*kept, digest]),
        salt=SALT,
        max_age=MAX_AGE_SECONDS,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
