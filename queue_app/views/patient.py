"""Patient pages: login (phone + SMS code), service selection, the ticket dashboard.

Every page works as plain HTML forms posting back to these views; the pages' scripts enhance
them with the JSON endpoints in queue_app/api/patient.py. Both paths call the same services.
"""

from collections import defaultdict
from functools import wraps

import phonenumbers
from django import forms
from django.contrib import messages
from django.http import Http404, JsonResponse
from django.middleware.csrf import rotate_token
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from .. import access, known_phones, selectors, services
from ..bidi import html_isolated
from ..errors import QueueError, UnknownService
from ..http import wants_json
from ..models import PriorityCategory, Service, Ticket, parse_id
from ..names import MAX_NAME_LENGTH, same_person
from ..net import client_ip
from ..phones import MAX_PHONE_INPUT, display_phone
from ..presenters import after_login_url, already_held_message, dashboard_context
from ..services import otp

# --- access ------------------------------------------------------------------------------------


def patient_required(view):
    """Pages for a patient whose phone was verified in this session; others go to the login."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        patient = access.session_patient(request.session)
        if patient is None:
            if wants_json(request):
                return JsonResponse(
                    {"error": _("Please verify your phone number first."), "code": "not_authenticated"}, status=403
                )
            messages.info(request, _("Please enter your mobile number to continue."))
            return redirect("patient_login")
        request.patient = patient
        return view(request, *args, **kwargs)

    return wrapper


def _field_for(error: QueueError) -> str | None:
    return {
        "invalid_phone": "phone",
        "region_not_allowed": "phone",
        "invalid_name": "name",
    }.get(error.code, "otp" if isinstance(error, otp.CodeRejected) else None)


def _staff_here(request) -> bool:
    return access.is_staff_user(request.user)


# --- login -------------------------------------------------------------------------------------

# Asked for a code again (another browser, a reload) while the last one is fresh: no new SMS, but
# the patient may have that one.
CODE_ALREADY_SENT = gettext_lazy(
    "A code was sent to this number recently. Type it below, or ask for a new one when the wait is over."
)


class PhoneForm(forms.Form):
    phone = forms.CharField(max_length=MAX_PHONE_INPUT, label=gettext_lazy("Mobile number"))
    name = forms.CharField(max_length=MAX_NAME_LENGTH, required=False, label=gettext_lazy("Your name"))


class CodeForm(forms.Form):
    phone = forms.CharField(max_length=MAX_PHONE_INPUT)
    otp = forms.CharField(max_length=16, label=gettext_lazy("6-digit code"))


class NameForm(forms.Form):
    name = forms.CharField(max_length=MAX_NAME_LENGTH, label=gettext_lazy("Your name"))


@never_cache
def home_redirect(request):
    return redirect("patient_login")


@never_cache
def patient_login(request):
    """Three steps on one page: phone (+ name), the code from the SMS, and a name for new phones."""
    if request.method == "POST":
        action = {"send": _send_code, "resend": _resend_code, "verify": _verify_code, "name": _register_name}.get(
            request.POST.get("action", "")
        )
        if action is None:  # "Use another number", or a form from an older page
            otp.forget_code_sent(session=request.session)
            return redirect("patient_login")
        return action(request)
    patient = access.session_patient(request.session)
    if patient is not None:
        return redirect(after_login_url(patient))
    if otp.verified_phone(request.session):
        return _render_login(request, "name")
    if otp.code_sent(request.session):
        return _render_login(request, "code")
    return _render_login(request, "phone")


def _send_code(request):
    form = PhoneForm(request.POST)
    if not form.is_valid():
        return _render_login(request, "phone", phone_form=form, status=400)
    try:
        phone = form.cleaned_data["phone"]
        sent = otp.send_code(
            phone=phone,
            name=form.cleaned_data["name"],
            ip=client_ip(request),
            verified_before=known_phones.verified_here_before(request, phone),
        )
    except otp.CodeAlreadySent as exc:
        otp.remember_code_sent(session=request.session, sent=exc.sent)  # on to the code step, with the wait
        messages.info(request, CODE_ALREADY_SENT)
        return redirect("patient_login")
    except QueueError as exc:
        field = _field_for(exc)
        form.add_error(field if field in ("phone", "name") else None, exc.message)
        return _render_login(request, "phone", phone_form=form, status=exc.status_code)
    otp.remember_code_sent(session=request.session, sent=sent)
    return redirect("patient_login")


def _resend_code(request):
    sent = otp.code_sent(request.session)
    if sent is None:
        return redirect("patient_login")
    try:
        result = otp.send_code(
            phone=sent["phone"],
            ip=client_ip(request),
            verified_before=known_phones.verified_here_before(request, sent["phone"]),
        )
    except QueueError as exc:
        form = CodeForm(initial={"phone": sent["phone"]})
        return _render_login(request, "code", code_form=form, error=exc.message, status=exc.status_code)
    otp.remember_code_sent(session=request.session, sent=result)
    messages.success(request, _("A new code is on its way."))
    return redirect("patient_login")


def _verify_code(request):
    form = CodeForm(request.POST)
    if not form.is_valid():
        return _render_login(request, "code", code_form=form, status=400)
    try:
        verification = otp.verify_code(
            session=request.session,
            phone=form.cleaned_data["phone"],
            code=form.cleaned_data["otp"],
            ip=client_ip(request),
        )
    except QueueError as exc:
        form.add_error("otp" if _field_for(exc) == "otp" else None, exc.message)
        return _render_login(request, "code", code_form=form, status=exc.status_code)
    otp.start_patient_session(session=request.session, verification=verification, staff_signed_in=_staff_here(request))
    services.remember_language(patient=verification.patient)
    rotate_token(request)
    response = redirect(after_login_url(verification.patient))
    known_phones.remember(response, request=request, phone=verification.phone)
    return response


def _register_name(request):
    form = NameForm(request.POST)
    if not form.is_valid():
        return _render_login(request, "name", name_form=form, status=400)
    try:
        patient = otp.register_verified_phone(session=request.session, name=form.cleaned_data["name"])
    except QueueError as exc:
        form.add_error("name" if exc.code == "invalid_name" else None, exc.message)
        return _render_login(request, "name", name_form=form, status=exc.status_code)
    services.remember_language(patient=patient)
    return redirect(after_login_url(patient))


def _readable(phone: str) -> str:
    try:
        return display_phone(phone)
    except phonenumbers.NumberParseException:
        return phone


def _render_login(request, step, *, phone_form=None, code_form=None, name_form=None, error=None, status=200):
    sent = otp.code_sent(request.session) or {}
    phone = sent.get("phone", "")
    if code_form is not None and code_form.is_bound:
        phone = code_form.data.get("phone", "")[:MAX_PHONE_INPUT]
    resend_in = max(0, int(sent.get("resend_at", 0) - timezone.now().timestamp()))
    verified = otp.verified_phone(request.session)
    context = {
        "step": step,
        "phone_form": phone_form or PhoneForm(),
        "code_form": code_form or CodeForm(initial={"phone": phone}),
        "name_form": name_form or NameForm(),
        "error": error,
        "sent_phone": phone,
        "sent_phone_display": _readable(phone) if phone else "",
        "verified_phone_display": _readable(verified) if verified else "",
        "resend_in": resend_in,
        "login_data": {
            "sendUrl": reverse("send_otp"),
            "verifyUrl": reverse("verify_otp"),
            "step": step,
            "resendIn": resend_in,
            "strings": {
                "sending": _("Sending…"),
                "checking": _("Checking…"),
                "resendIn": _("You can ask for a new code in %(time)s."),
                "resendNow": _("Did not get it? You can ask for a new code."),
                "resent": _("A new code is on its way."),
                "alreadySent": str(CODE_ALREADY_SENT),
                "sentTo": _("We sent a code by SMS to %(phone)s."),
                "digit": _("Digit %(n)s of 6"),
                "network": _("No connection. Please check your network and try again."),
            },
        },
    }
    return render(request, "patient/login.html", context, status=status)


@require_POST
def patient_logout(request):
    otp.end_patient_session(session=request.session, staff_signed_in=_staff_here(request))
    messages.info(request, _("You are signed out. Your place in the queue is kept."))
    return redirect("patient_login")


# --- service selection -------------------------------------------------------------------------


def _who_for(post) -> str | None:
    """The name a ticket is for: None for the signed-in patient ("Me"), else the name typed."""
    choice = post.get("for", "")
    name = post.get("name", "")[: MAX_NAME_LENGTH * 2]
    if choice == "other" or (choice != "me" and name.strip()):
        return name
    return None


@never_cache
@patient_required
def service_selection(request):
    """Today's services with people waiting and the wait; joining shows the ticket at once.

    "Who is this for?": the patient ("Me") or a family member by name, one active ticket per
    phone, service and name.
    """
    error, status_code, failed_service, name_error = None, 200, None, None
    who = {"for": "me", "name": "", "notify": True}  # texts on by default: the phone is verified
    chosen_priority = ""
    if request.method == "POST":
        name = _who_for(request.POST)
        # The form always carries the texts checkbox: absent means unticked.
        notify = request.POST.get("notify") == "1"
        who = {"for": "me" if name is None else "other", "name": name or "", "notify": notify}
        service_id = parse_id(request.POST.get("service_id"))
        service = Service.objects.filter(pk=service_id).first() if service_id else None
        chosen_priority = request.POST.get("priority", "")[:20]
        if service is None:
            error, status_code = str(UnknownService.default_message), UnknownService.status_code
        else:
            try:
                priority = services.category(chosen_priority)
                ticket, created = services.join(
                    patient=request.patient, service=service, name=name, priority=priority, notify=notify
                )
            except QueueError as exc:
                if exc.code == "invalid_name":
                    name_error, status_code = exc.message, exc.status_code
                else:
                    error, status_code, failed_service = exc.message, exc.status_code, service.pk
            else:
                if not created:
                    messages.info(request, already_held_message(ticket))
                return redirect(f"{reverse('patient_dashboard')}?ticket={ticket.pk}")
    own, family = {}, defaultdict(list)
    for ticket in selectors.patient_tickets(request.patient):
        if ticket.is_active:
            if same_person(ticket.patient_name, request.patient.name):
                own[ticket.service_id] = ticket
            else:
                family[ticket.service_id].append(ticket)
    rows = [
        {
            **row,
            "held": own.get(row["id"]),
            "family": family.get(row["id"], []),
            "state": "not_today" if not row["offered_today"] else ("open" if row["open_counters"] else "no_counter"),
        }
        for row in selectors.services_overview()
    ]
    rows.sort(key=lambda row: ("open", "no_counter", "not_today").index(row["state"]))  # joinable first
    context = {
        "services": rows,
        "selection_data": {"joinUrl": reverse("join_queue"), "dashboardUrl": reverse("patient_dashboard")},
        "error": error,
        "failed_service": failed_service,
        "patient": request.patient,
        "who": who,
        "patient_phone": display_phone(request.patient.phone) if request.patient.phone else "",
        "name_error": name_error,
        "max_name_length": MAX_NAME_LENGTH,
        "categories": PriorityCategory.objects.filter(is_active=True, self_declare=True),
        "chosen_priority": chosen_priority,
    }
    return render(request, "patient/selection.html", context, status=status_code)


# --- dashboard ---------------------------------------------------------------------------------


@never_cache
@patient_required
def patient_dashboard(request):
    """The patient's tickets of today, live; JSON with Accept: application/json (polling fallback).

    `?ticket=<id>` (where a join lands): that ticket first, then the phone's other tickets, so a
    second service's ticket never hides the first. As JSON, that ticket alone (one card's poll).
    """
    if request.method == "POST":
        return _set_notify(request) if request.POST.get("action") == "notify" else _leave_queue(request)
    focus = _focused_ticket(request)
    if focus is not None and wants_json(request):
        return JsonResponse({"tickets": [selectors.ticket_dict(focus)]})
    tickets = selectors.patient_tickets(request.patient)
    if focus is not None:
        tickets = [focus, *(t for t in tickets if t.pk != focus.pk)]
    data = [selectors.ticket_dict(t) for t in tickets]
    if wants_json(request):
        return JsonResponse({"tickets": data})
    context = dashboard_context(data, patient=request.patient, poll_url=reverse("patient_dashboard"))
    return render(request, "patient/dashboard.html", context)


def _focused_ticket(request) -> Ticket | None:
    raw = request.GET.get("ticket")
    if raw is None:
        return None
    ticket_id = parse_id(raw)
    ticket = access.can_watch_ticket(request.session, ticket_id) if ticket_id else None
    if ticket is None:
        # Someone else's ticket is answered like one that does not exist: ids are sequential, and
        # a different answer would tell which exist (and so how busy the clinic is, and when).
        raise Http404(_("There is no such ticket."))
    return ticket


def _leave_queue(request):
    ticket_id = parse_id(request.POST.get("ticket"))
    # Only the patient's own tickets: someone else's is answered like one that does not exist.
    ticket = Ticket.objects.filter(pk=ticket_id, patient=request.patient).first() if ticket_id else None
    if ticket is None:
        messages.error(request, _("There is no such ticket."))
        return redirect("patient_dashboard")
    try:
        services.cancel(ticket=ticket, patient=request.patient)
    except QueueError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, html_isolated(_("You left the queue for %(service)s."), service=ticket.service))
    return redirect("service_selection")


def _set_notify(request):
    """The texts checkbox posted without JavaScript (the script posts to /queue/notify/)."""
    ticket_id = parse_id(request.POST.get("ticket"))
    ticket = Ticket.objects.filter(pk=ticket_id, patient=request.patient).first() if ticket_id else None
    if ticket is None:
        messages.error(request, _("There is no such ticket."))
        return redirect("patient_dashboard")
    notify = request.POST.get("notify") == "1"
    try:
        services.set_notify(ticket=ticket, notify=notify, patient=request.patient)
    except QueueError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Texts are on for this ticket.") if notify else _("Texts are off for this ticket."))
    return redirect(f"{reverse('patient_dashboard')}?ticket={ticket.pk}")
