"""Django's error pages (handler400/403/404), answered in the API's error shape to a client that
asked for JSON: a script gets {"error", "code"} whatever failed, a browser gets the page.

Django answers with these when no view did: a path that matches no route, a body it cannot parse
(a multipart body without a usable boundary), an Http404 or PermissionDenied raised by a page.
"""

from django.http import JsonResponse
from django.utils.translation import gettext as _
from django.views import defaults

from ..http import wants_json


def _error(status: int, message: str, code: str) -> JsonResponse:
    return JsonResponse({"error": message, "code": code}, status=status)


def _message(exception, default: str) -> str:
    """What the view said (Http404("There is no such ticket.")), not the resolver's internals."""
    said = exception.args[0] if exception is not None and getattr(exception, "args", None) else None
    return said if isinstance(said, str) and said else default


def bad_request(request, exception):
    if wants_json(request):
        return _error(400, _("The request is malformed."), "parse_error")
    return defaults.bad_request(request, exception)


def permission_denied(request, exception):
    if wants_json(request):
        return _error(403, _message(exception, _("You do not have permission to do this.")), "permission_denied")
    return defaults.permission_denied(request, exception)


def page_not_found(request, exception):
    if wants_json(request):
        return _error(404, _message(exception, _("Not found.")), "not_found")
    return defaults.page_not_found(request, exception)
