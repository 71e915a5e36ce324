"""Answers shared by pages, the API and the server: whether the client wants JSON, and the quick
503 "busy, try again" (nothing was changed) in one shape wherever it is given."""

from django.http import HttpResponse, JsonResponse

from .errors import Busy


def wants_json(request) -> bool:
    """The client prefers JSON to a page (the pages' scripts ask with Accept: application/json)."""
    return request.get_preferred_type(["text/html", "application/json"]) == "application/json"


def busy_body() -> dict[str, str]:
    """The API's error for "busy, try again", from services.Busy's own message and code."""
    busy = Busy()
    return {"error": busy.message, "code": busy.code}


def busy_headers() -> dict[str, str]:
    return {"Retry-After": str(Busy().retry_after)}


def busy_response(*, json: bool) -> HttpResponse:
    """503 "busy, try again": the API's JSON error, or the message as plain text for a page."""
    body = busy_body()
    if json:
        return JsonResponse(body, status=503, headers=busy_headers())
    return HttpResponse(body["error"], content_type="text/plain; charset=utf-8", status=503, headers=busy_headers())
