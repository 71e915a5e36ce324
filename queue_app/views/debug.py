"""Debug pages from the seed; routed only when DEBUG is on (queue_app/urls.py)."""

from django.contrib.admin.views.decorators import staff_member_required
from django.http import JsonResponse

from .. import selectors
from ..access import PATIENT_SESSION_KEY


@staff_member_required
def debug_counters(request):
    return JsonResponse(selectors.display_snapshot())


def debug_session(request):
    user = request.user
    return JsonResponse(
        {
            "session_key_present": bool(request.session.session_key),
            "staff": user.username if user.is_authenticated else None,
            "patient_id": request.session.get(PATIENT_SESSION_KEY),
            "expires_at": request.session.get_expiry_date().isoformat(),
            "expire_at_browser_close": request.session.get_expire_at_browser_close(),
        }
    )
