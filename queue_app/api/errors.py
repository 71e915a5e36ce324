"""One exception handler: every API error, DRF's own included, becomes {"error", "code"} + 4xx
(503 with Retry-After when the database or Redis is down: nothing was changed, try again)."""

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.db import DatabaseError
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ..errors import QueueError
from ..http import busy_body, busy_headers

# Failures of what the request depends on, not of the request: answered 503 "try again".
UNAVAILABLE: tuple[type[Exception], ...] = (DatabaseError,)
try:  # redis is installed with channels_redis; with REDIS_URL it holds the cache (rate limits)
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError
except ImportError:  # pragma: no cover
    pass
else:
    UNAVAILABLE += (RedisConnectionError, RedisTimeoutError)


def _first_message(detail) -> str:
    if isinstance(detail, dict):
        for field, value in detail.items():
            message = _first_message(value)
            return message if field in ("non_field_errors", "detail") else f"{field}: {message}"
        return _("Invalid request.")
    if isinstance(detail, list):
        return _first_message(detail[0]) if detail else _("Invalid request.")
    return str(detail)


def _spare_unloaded_session(request) -> None:
    """When loading the session is what failed, let SessionMiddleware finish without the database.

    With SESSION_SAVE_EVERY_REQUEST it reads the session again after the view (for the cookie's
    expiry) before it skips saving on a 5xx; that read would hit the lost database and turn this
    503 into a bare 500. An empty cache in place of the unloaded session is never saved (5xx).
    """
    session = getattr(request, "session", None)
    if session is not None and not hasattr(session, "_session_cache"):
        session._session_cache = {}


def exception_handler(exc, context):
    if isinstance(exc, QueueError):
        retry_after = getattr(exc, "retry_after", None)  # 429s and 503s say when to come back (RFC 6585)
        headers = {"Retry-After": str(retry_after)} if retry_after else None
        return Response({"error": exc.message, "code": exc.code}, status=exc.status_code, headers=headers)
    if isinstance(exc, UNAVAILABLE):
        # A lost database connection, a lock timeout, Redis (the rate-limit cache) down: nothing
        # was committed; try again.
        _spare_unloaded_session(context["request"])
        return Response(busy_body(), status=status.HTTP_503_SERVICE_UNAVAILABLE, headers=busy_headers())
    if isinstance(exc, RequestDataTooBig):
        return Response(
            {"error": _("The request is too large."), "code": "too_large"},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, SuspiciousOperation):  # too many fields or files: a malformed request
        exc = exceptions.ParseError(_("The request is malformed."))
    elif isinstance(exc, RecursionError):  # JSON nested past Python's limit: "[[[[…"
        exc = exceptions.ParseError(_("JSON parse error - nested too deeply."))
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code = "invalid"
    if isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = (
            codes
            if isinstance(codes, str)
            else ("invalid" if isinstance(exc, exceptions.ValidationError) else exc.default_code)
        )
    if isinstance(exc, exceptions.NotAuthenticated):
        response.status_code = status.HTTP_403_FORBIDDEN
        code = "not_authenticated"
    response.data = {"error": _first_message(response.data), "code": code}
    if isinstance(exc, exceptions.ValidationError) and isinstance(exc.detail, dict):
        response.data["fields"] = {
            k: [str(m) for m in (v if isinstance(v, list) else [v])] for k, v in exc.detail.items()
        }
    return response
