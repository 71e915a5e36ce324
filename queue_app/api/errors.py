"""One exception handler: every API error, DRF's own included, becomes {"error", "code"} + 4xx."""

from django.core.exceptions import PermissionDenied
from django.db import DatabaseError
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ..services.errors import QueueError


def _first_message(detail) -> str:
    if isinstance(detail, dict):
        for field, value in detail.items():
            message = _first_message(value)
            return message if field in ("non_field_errors", "detail") else f"{field}: {message}"
        return _("Invalid request.")
    if isinstance(detail, list):
        return _first_message(detail[0]) if detail else _("Invalid request.")
    return str(detail)


def exception_handler(exc, context):
    if isinstance(exc, QueueError):
        return Response({"error": exc.message, "code": exc.code}, status=exc.status_code)
    if isinstance(exc, DatabaseError):
        # A lost database connection or a lock timeout: nothing was committed; try again.
        return Response(
            {"error": _("The service is busy, please try again in a moment."), "code": "unavailable"},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "2"},
        )
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
