"""Twilio's delivery receipts for patient texts (services/sending.py asks for them when
PUBLIC_BASE_URL is set). Twilio signs each request with the account's auth token; that signature,
checked by twilio's own validator, stands in for the CSRF token a browser would carry."""

import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.http.request import RawPostDataException
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from twilio.request_validator import RequestValidator

from ..services import sending

log = logging.getLogger("queue.notifications")

# A receipt is a dozen short fields; anything much larger is not one.
MAX_BODY_BYTES = 8 * 1024


def _error(message: str, code: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message, "code": code}, status=status)


@csrf_exempt
def sms_status(request):
    if request.method != "POST":
        return JsonResponse(
            {"error": _("Use POST."), "code": "method_not_allowed"}, status=405, headers={"Allow": "POST"}
        )
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY_BYTES:
        return _error(_("The request is too large."), "too_large", 413)
    try:
        params = request.POST
    except (RequestDataTooBig, RawPostDataException):
        return _error(_("The request is too large."), "too_large", 413)
    signature = request.headers.get("X-Twilio-Signature", "")
    url = settings.PUBLIC_BASE_URL + request.get_full_path()
    token = settings.TWILIO_AUTH_TOKEN
    if not (
        signature and token and settings.PUBLIC_BASE_URL and RequestValidator(token).validate(url, params, signature)
    ):
        log.warning("sms status callback refused: bad or missing signature")
        return _error(_("The request is not signed by the SMS provider."), "forbidden", 403)
    provider_id = params.get("MessageSid", "")[:64]
    row = sending.record_receipt(
        provider_id=provider_id,
        provider_status=params.get("MessageStatus", "")[:20],
        error_code=params.get("ErrorCode", "")[:12],
    )
    if row is None:
        return _error(_("No message with that id was sent from here."), "not_found", 404)
    return JsonResponse({"status": row.status})
