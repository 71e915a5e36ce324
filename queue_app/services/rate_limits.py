"""Rate counters in the shared cache (the database, or Redis), which every server process sees.

Fixed windows: a counter per key and window, expiring with it. Keys hold digests only: phones
and addresses are personal data, and the cache may be a database table.
"""

import math

from django.core.cache import cache
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy

from ..errors import QueueError


class RateLimited(QueueError):
    status_code = 429
    code = "rate_limited"
    default_message = gettext_lazy("Too many requests. Please wait a little and try again.")

    def __init__(self, message=None, *, code: str | None = None, retry_after: float):
        super().__init__(message, code=code)
        self.retry_after = max(1, math.ceil(retry_after))


def key(kind: str, value: str) -> str:
    """The cache key counting `kind` for `value` (a phone, a network), as a digest."""
    return f"otp:{kind}:{salted_hmac('queue_app.otp.limits', value).hexdigest()[:32]}"


def take(key: str, *, limit: int, window: int, now: float, message: str, code: str = "rate_limited") -> str:
    """Count one use in the current fixed window; past the limit, un-count it and refuse.

    On Redis incr is atomic; on the database cache two simultaneous requests may count once,
    which only matters for the generous per-address and hourly limits that use this.
    Returns the window's counter, for `give_back`.
    """
    bucket = f"{key}:{int(now // window)}"
    cache.add(bucket, 0, timeout=window + 60)
    try:
        used = cache.incr(bucket)
    except ValueError:  # expired between add and incr
        cache.set(bucket, 1, timeout=window + 60)
        used = 1
    if used > limit:
        give_back(bucket)
        raise RateLimited(message, code=code, retry_after=window - now % window)
    return bucket


def give_back(bucket: str) -> None:
    """Un-count a use `take` counted (the SMS was not sent after all)."""
    try:
        cache.decr(bucket)
    except ValueError:
        pass
