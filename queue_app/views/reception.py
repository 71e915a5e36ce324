"""The reception desk: walk-in tickets, today's tickets, slips to print, and each ticket's public
signed link (the slip's QR code), so a walk-in with any smartphone follows their place without SMS.

Thin views: the desk page and the slip render; the desk's buttons call queue_app/api/reception.py,
which makes one service call each (issue_walk_in, recall, move_to_service, cancel).
"""

import base64
import re
from functools import wraps

import qrcode
from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.db.models import Q
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET
from qrcode.image.svg import SvgPathFillImage

from .. import access, selectors
from ..http import wants_json
from ..models import Ticket, service_day
from ..phones import MAX_PHONE_INPUT
from ..services.names import MAX_NAME_LENGTH, public_name
from ..services.otp import end_of_service_day
from ..services.queue import MOVABLE
from .patient import dashboard_context
from .staff import STAFF_LOGIN_URL

LIST_LIMIT = 50  # the desk shows the latest tickets; a search finds any of today's
MAX_QUERY = 100
# "OPD 12", "opd_012", "TEST-7": a service code and a ticket number.
CODE_AND_NUMBER = re.compile(r"^([A-Za-z0-9]*[A-Za-z])[\s_-]*0*(\d{1,9})$")
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


# --- reads shared with the API ----------------------------------------------------------------


def today_tickets(query: str = "", *, limit: int = LIST_LIMIT) -> tuple[list[Ticket], bool]:
    """Today's tickets, newest first, matching a number ("12"), a code and number ("OPD 12"),
    or part of a ticket id or name. One query; returns the tickets and whether more matched."""
    tickets = Ticket.objects.filter(service_date=service_day()).select_related("service", "counter")
    query = " ".join(query.split())[:MAX_QUERY]
    if query:
        match = Q(queue_id__icontains=query) | Q(patient_name__icontains=query)
        coded = CODE_AND_NUMBER.match(query)
        if query.isdigit() and len(query) <= 9:
            match = Q(number=int(query))  # digits are a ticket number, not part of the random suffix
        elif coded:
            code = re.sub(r"[^A-Z0-9]", "", coded.group(1).upper())
            match |= Q(queue_id__istartswith=f"{code}_", number=int(coded.group(2)))
        tickets = tickets.filter(match)
    found = list(tickets.order_by("-id")[: limit + 1])
    return found[:limit], len(found) > limit


def reception_row(ticket: Ticket) -> dict:
    """A ticket as the desk lists it: what it is, where it is, and which actions apply now.

    The `can_*` flags only choose the buttons; the services decide (and refuse with a reason).
    """
    data = selectors.ticket_dict(ticket, with_position=False)
    data.update(
        status_label=str(ticket.get_status_display()),
        joined_time=timezone.localtime(ticket.joined_at).strftime("%H:%M"),
        slip_url=reverse("reception_slip", args=[ticket.pk]),
        can_recall=ticket.status == Ticket.Status.SKIPPED,
        can_move=ticket.status in MOVABLE,
        can_cancel=ticket.is_active,
    )
    return data


def desk_services() -> list[dict]:
    """The services a walk-in can join today, with how busy each is, in words."""
    rows = []
    for service in selectors.services_overview():
        if not service["offered_today"]:
            continue
        waiting = ngettext("%(n)d waiting", "%(n)d waiting", service["people_waiting"]) % {
            "n": service["people_waiting"]
        }
        if service["open_counters"]:
            counters = ngettext("%(n)d counter open", "%(n)d counters open", service["open_counters"]) % {
                "n": service["open_counters"]
            }
        else:
            counters = _("no counter open")
        rows.append(
            {
                "id": service["id"],
                "name": service["service_name"],
                "meta": f"{waiting} · {counters}",
                "no_counter": not service["open_counters"],
            }
        )
    return rows


def absolute_url(request, path: str) -> str:
    """PUBLIC_BASE_URL (the address phones reach) when set, else this request's host."""
    if settings.PUBLIC_BASE_URL:
        return settings.PUBLIC_BASE_URL + path
    return request.build_absolute_uri(path)


def ticket_link_url(request, ticket: Ticket) -> str:
    return absolute_url(request, reverse("ticket_link", args=[access.ticket_link_token(ticket)]))


# --- the desk ---------------------------------------------------------------------------------


@never_cache
@ensure_csrf_cookie
@require_GET
@reception_required
def reception_desk(request):
    """Walk-in form, today's tickets (searchable) and their actions; keyboard first."""
    tickets, truncated = today_tickets()
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
    }
    return render(request, "reception/desk.html", context)


def _desk_strings() -> dict:
    """Every sentence the desk's script shows, translated here (no JS catalogue needed)."""
    return {
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
        "network": _("No connection: nothing was changed. Check the network and try again."),
        "loggedOut": _("Your session has ended. Please log in again."),
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


# --- the slip ---------------------------------------------------------------------------------


def qr_data_uri(url: str) -> str:
    """The QR code of `url` as an SVG data URI (crisp at any print size)."""
    # Error correction M survives a crumpled slip; border 4 is the quiet zone the standard asks for.
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=10, border=4)
    code.add_data(url)
    code.make(fit=True)
    svg = code.make_image(image_factory=SvgPathFillImage).to_string(encoding="unicode")
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


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
