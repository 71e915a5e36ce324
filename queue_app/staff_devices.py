"""Browsers trusted for a staff account: those it logged in on before (OWASP's "device cookies").

django-axes counts failed logins per account across every address, and locks the account after
AXES_FAILURE_LIMIT of them, but only for browsers that have never logged in to it. A browser
that has (the counter PC, the desk PC) carries a signed cookie saying so and keeps logging in.
So guessing from anywhere (any number of addresses) stops after a few tries per account, while
nobody, behind the clinic's NAT or elsewhere, can lock a colleague out of their own PC.

A trusted browser's own failures are limited too: after STAFF_DEVICE_FAILURE_LIMIT of them it is
treated like any other browser until AXES_COOLOFF_MINUTES have passed since the last one (someone
at an unlocked counter PC gets a few guesses, not unlimited ones).
The cookie holds a random id for the browser and keyed digests of the usernames, never a name.
"""

import json
import logging
import secrets

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.cache import cache
from django.dispatch import receiver
from django.utils.crypto import salted_hmac

log = logging.getLogger("queue.staff")

COOKIE_NAME = "queue_staff_device"
SALT = "queue_app.staff_devices"
MAX_ACCOUNTS = 10  # a shared counter PC: the staff who work at it; older ones drop off


def _max_age() -> int:
    return settings.STAFF_DEVICE_TRUST_DAYS * 24 * 3600


def _digest(username: str) -> str:
    return salted_hmac(SALT, username).hexdigest()[:24]


def _device(request) -> dict | None:
    """This browser's id and the digests of the accounts trusted on it, or None."""
    raw = request.get_signed_cookie(COOKIE_NAME, default=None, salt=SALT, max_age=_max_age())
    try:
        value = json.loads(raw) if raw else None
    except ValueError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("id"), str) or not isinstance(value.get("users"), list):
        return None
    return value


def _failures_key(device: dict, username: str) -> str:
    return f"staff-device:{device['id']}:{_digest(username)}"


def is_trusted(request, username: str | None) -> bool:
    """Whether this browser logged in to this account before and has not failed too often since."""
    device = _device(request) if request is not None and username else None
    if device is None or _digest(username) not in device["users"]:
        return False
    try:
        failures = cache.get(_failures_key(device, username)) or 0
    except Exception:  # noqa: BLE001 - the rate-limit store is down: no favours, axes' rule applies
        log.warning("staff device failures unreadable: treating the browser as untrusted", exc_info=True)
        return False
    return failures < settings.STAFF_DEVICE_FAILURE_LIMIT


def _username(request, credentials) -> str | None:
    username = (credentials or {}).get("username")
    if username is None and request is not None and request.method == "POST":
        username = request.POST.get("username")
    return username if isinstance(username, str) else None


def axes_whitelist(request, credentials) -> bool:
    """AXES_WHITELIST_CALLABLE: a trusted browser is neither locked out nor counted by axes."""
    return is_trusted(request, _username(request, credentials))


@receiver(user_login_failed)
def count_a_trusted_browsers_failure(sender, credentials, request=None, **kwargs):
    username = _username(request, credentials)
    if not is_trusted(request, username):
        return  # counted by django-axes
    key, timeout = _failures_key(_device(request), username), int(settings.AXES_COOLOFF_TIME * 3600)
    cache.add(key, 0, timeout=timeout)
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=timeout)
    cache.touch(key, timeout)  # the cool-off counts from the latest failure, as axes' does


@receiver(user_logged_in)
def trust_this_browser(sender, request, user, **kwargs):
    """Marks the request; StaffDeviceMiddleware writes the cookie on its response."""
    if request is None:
        return
    username = user.get_username()
    device = _device(request)
    if device is not None:
        cache.delete(_failures_key(device, username))
    request.staff_device_login = username


class StaffDeviceMiddleware:
    """Sets (or renews) the device cookie on the answer to a successful login."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        username = getattr(request, "staff_device_login", None)
        if username:
            device = _device(request) or {"id": secrets.token_hex(16), "users": []}
            digest = _digest(username)
            users = [d for d in device["users"] if isinstance(d, str) and d != digest][-(MAX_ACCOUNTS - 1) :]
            response.set_signed_cookie(
                COOKIE_NAME,
                json.dumps({"id": device["id"], "users": [*users, digest]}),
                salt=SALT,
                max_age=_max_age(),
                secure=settings.SESSION_COOKIE_SECURE,
                httponly=True,
                samesite="Lax",
            )
        return response
