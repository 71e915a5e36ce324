"""The reception desk: walk-in tickets, today's tickets, slips to print, and each ticket's public
signed link (the slip's QR code), so a walk-in with any smartphone follows their place without SMS.

Thin views: the desk page and the slip render; the desk's buttons call queue_app/api/reception.py,
which makes one service call each (issue_walk_in, recall, move_to_service, cancel).
"""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

from .. import access, selectors
from ..http import wants_json
from ..links import qr_data_uri, ticket_link_url
from ..models import PriorityCategory, Ticket, end_of_service_day, service_day
from ..names import MAX_NAME_LENGTH, public_name
from ..phones import MAX_PHONE_INPUT
from ..presenters import dashboard_context, desk_services, reception_row, script_strings
from .staff import STAFF_LOGIN_URL

SLIP_SIZES = {
    "80": gettext_lazy("80 mm receipt"),
    "58": gettext_lazy("58 mm receipt"),
    "a6": gettext_lazy("A6 paper"),
}
DEFAULT_SLIP_SIZE = "80"


# --- access -----------------------------------------------------------------------------------


def reception_required(view):
    """Reception staff and admins. Anyone not logged in as staff (patients too) goes to the staff
    login; a counter operator gets a 403 page pointing back to their counter."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not access.is_staff_user(request.user):
            return redirect_to_login(request.get_full_path(), STAFF_LOGIN_URL)
        if not access.is_reception_user(request.user):
            return render(request, "reception/forbidden.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper


# --- the desk ---------------------------------------------------------------------------------


@never_cache
@ensure_csrf_cookie
@require_GET
@reception_required
def reception_desk(request):
    """Walk-in form, today's tickets (searchable) and their actions; keyboard first."""
    tickets, truncated = selectors.today_tickets()
    services = desk_services()
    config = {
        "urls": {
            "tickets": reverse("reception_tickets"),
            "login": STAFF_LOGIN_URL,
        },
        "tickets": [reception_row(t) for t in tickets],
        "truncated": truncated,
        "services": services,
        "strings": _desk_strings(),
    }
    context = {
        "services": services,
        "config": config,
        "max_name_length": MAX_NAME_LENGTH,
        "max_phone_length": MAX_PHONE_INPUT,
        "slip_sizes": SLIP_SIZES,
        "categories": PriorityCategory.objects.filter(is_active=True),
    }
    return render(request, "reception/desk.html", context)


def _desk_strings() -> dict:
    """Every sentence the desk's script shows."""
    return script_strings(
        {
            "priorityTitle": _("Priority for %(ticket)s (%(name)s)"),
            "priorityNone": _("No priority"),
            "newTicket": _("New ticket"),
            "existing": _("Already in the queue"),
            "chooseService": _("Choose a service."),
            "reconnecting": _("Live updates paused. Reconnecting…"),
            "recalled": _("%(ticket)s is back in the queue, in its original place."),
            "moved": _("%(old)s moved to %(service)s as %(ticket)s, keeping its arrival time."),
            "cancelled": _("%(ticket)s cancelled."),
            "cancelConfirm": _("Cancel ticket %(ticket)s for %(name)s? They lose their place in the queue."),
            "moveTitle": _("Move %(ticket)s (%(name)s) to another service"),
            "noTargets": _("There is no other service open today to move this ticket to."),
            "empty": _("No tickets today yet."),
            "noMatch": _("No ticket of today matches “%(query)s”."),
            "truncated": _("Showing the latest %(n)s. Search to find an earlier one."),
            "count": _("%(n)s tickets"),
            "countOne": _("1 ticket"),
            "waitCounter": _("wait for a counter"),
            "working": _("Working…"),
            "recall": _("Recall"),
            "move": _("Move…"),
            "cancel": _("Cancel"),
            "slip": _("Slip"),
            "printSlip": _("Print slip"),
            "copyLink": _("Copy link"),
            "copied": _("Link copied."),
            "recallHint": _("Back into the queue at its original place"),
            "moveTo": _("Move to %(service)s"),
        }
    )


# --- the slip ---------------------------------------------------------------------------------


@never_cache
@xframe_options_sameorigin  # the desk prints the slip from a hidden same-origin frame
@require_GET
@reception_required
def reception_slip(request, ticket_id: int):
    """The ticket slip for a receipt printer (58 or 80 mm) or A6 paper; ?print=1 opens the print dialog."""
    ticket = get_object_or_404(Ticket.objects.select_related("service", "counter"), pk=ticket_id)
    size = request.GET.get("size", "")
    link = ticket_link_url(request, ticket)
    context = {
        "ticket": ticket,
        "info": selectors.ticket_dict(ticket),
        "name": public_name(ticket.patient_name, "masked"),
        "link": link,
        "qr": qr_data_uri(link),
        "size": size if size in SLIP_SIZES else DEFAULT_SLIP_SIZE,
        "size_chosen": size in SLIP_SIZES,
        "slip_sizes": SLIP_SIZES,
        "autoprint": request.GET.get("print") == "1",
        "today": ticket.service_date == service_day(),
    }
    return render(request, "reception/slip.html", context)


# --- a ticket's own signed link (public) ------------------------------------------------------


@never_cache
@require_GET
def ticket_link(request, token: str):
    """The live page of the one ticket a signed link names, for whoever holds the slip.

    A forged or altered link is refused (404); a link of another service day is expired (410).
    Opening it lets this browser follow the ticket: its id goes into session["ticket_links"],
    which the WebSocket (?ticket=<id>) and this page's polling accept.
    """
    link = access.read_ticket_link(token)
    if link is None:
        return _link_refused(request, status=404)
    if link.service_date != service_day():
        return _link_refused(request, status=410, day=link.service_date)
    ticket = Ticket.objects.select_related("service", "counter").filter(pk=link.ticket_id).first()
    if ticket is None or ticket.service_date != link.service_date:
        return _link_refused(request, status=404)
    access.grant_ticket_link(request.session, ticket.pk)
    if not access.is_staff_user(request.user):
        # Like a patient's session, it lasts the service day (staff sessions keep their rules).
        request.session.set_expiry(end_of_service_day())
    # Whoever holds the slip sees the name as the slip prints it (a dropped slip names nobody).
    data = [{**selectors.ticket_dict(ticket), "patient_name": public_name(ticket.patient_name, "masked")}]
    if wants_json(request):
        return JsonResponse({"tickets": data})
    context = dashboard_context(data, patient=None, poll_url=reverse("ticket_link", args=[token]))
    return render(request, "patient/dashboard.html", context)


def _link_refused(request, *, status: int, day=None):
    if status == 410:
        title = _("This ticket is from another day")
        message = _("It was for %(day)s. Tickets are valid on their day only.") % {
            "day": date_format(day, "DATE_FORMAT")
        }
        code = "expired"
    else:
        title = _("This link is not valid")
        message = _("It may be incomplete or changed. Please scan the code on your slip again.")
        code = "invalid_link"
    if wants_json(request):
        return JsonResponse({"error": f"{title}. {message}", "code": code}, status=status)
    context = {"title": title, "message": message, "expired": status == 410}
    return render(request, "reception/link_refused.html", context, status=status)
