"""Staff pages: log in at a counter, the counter dashboard, switching counters, logging out.

Thin views: they parse the form, make one service call (hold_counter / release_counter) and render.
The dashboard's buttons call the JSON endpoints in queue_app/api/staff.py.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect, ensure_csrf_cookie
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods

from .. import access, events, selectors, services
from ..bidi import html_isolated
from ..forms import StaffLoginForm, SwitchCounterForm, counter_choices
from ..http import wants_json
from ..models import Counter, PriorityCategory, Service, Staff, parse_id
from ..presenters import script_strings
from ..services.priorities import NOTE_MAX

STAFF_LOGIN_URL = "/staff/login/"


def staff_required(view):
    """Logged-in, active staff only; anyone else (patients included) goes to the staff login."""
    return login_required(login_url=STAFF_LOGIN_URL)(view)


def _home(user) -> str:
    """Where a staff member starts: reception at the reception desk, managers at the reports,
    everyone else at a counter."""
    if user.role == Staff.Role.RECEPTION:
        return reverse("reception_desk")
    if user.role == Staff.Role.MANAGER:
        return reverse("reports")
    return reverse("staff_dashboard")


def _safe_next(request, user) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return _home(user)


def _takeover_url(counter: Counter) -> str:
    return f"{reverse('switch_counter')}?counter={counter.pk}"


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def staff_login(request):
    if request.method == "GET" and access.is_staff_user(request.user):
        return redirect(_home(request.user))
    form = StaffLoginForm(request, data=request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        user = form.get_user()
        if access.is_staff_user(request.user) and request.user.pk != user.pk:
            # Someone else was still logged in on this PC: their counter closes as at logout,
            # and their session's sockets with it (login() replaces the session).
            services.release_counter(staff=request.user)
            events.revoke_session(request.session.session_key)
        login(request, user)  # rotates the session key (session fixation)
        request.session.set_expiry(None)  # the seed's policy: 1 hour sliding, ends at browser close
        counter = form.cleaned_data.get("counter")
        if counter is not None:
            try:
                services.hold_counter(counter=counter, staff=user)
            except services.CounterTaken:
                return redirect(_takeover_url(counter))
        return HttpResponseRedirect(_safe_next(request, user))
    return render(request, "staff/login.html", {"form": form, "next": request.GET.get("next", "")})


def lockout_response(request, credentials, *args, **kwargs):
    """django-axes calls this after too many failed logins to an account: a readable 429.

    Axes passes (request, original_response, credentials) or (request, credentials) depending on
    its code path, so nothing here relies on the extra arguments.
    """
    minutes = max(1, round(settings.AXES_COOLOFF_TIME * 60))
    message = _(
        "Too many failed login attempts. For your security, logging in is blocked for %(minutes)d minutes, "
        "except on a computer where you have logged in before. Please wait, use that computer, or ask an "
        "administrator to unlock your account."
    ) % {"minutes": minutes}
    headers = {"Retry-After": str(minutes * 60)}
    if wants_json(request) or request.headers.get("X-Requested-With") == "XMLHttpRequest":
        return JsonResponse({"error": message, "code": "locked_out"}, status=429, headers=headers)
    response = render(request, "staff/lockout.html", {"message": message, "minutes": minutes}, status=429)
    for name, value in headers.items():
        response[name] = value
    return response


def _counter_on_screen(request) -> Counter | None:
    """The counter the dashboard shows: an admin may name any counter; everyone else their own."""
    user = request.user
    requested = parse_id(request.GET.get("counter"))
    if user.is_queue_admin and requested:
        counter = Counter.objects.filter(pk=requested).first()
        if counter is not None:
            return counter
        messages.error(request, _("That counter does not exist."))
    return Counter.objects.filter(held_by=user).first()


def _render_picker(request, *, takeover: Counter | None = None, status: int = 200):
    held = Counter.objects.filter(held_by=request.user).select_related("service").first()
    serving = selectors.counter_state(held)["serving_patient"] if held else None
    context = {
        "counters": counter_choices(),
        "held": held,
        "serving": serving,
        "takeover": takeover,
        # Their counter was taken since they logged in: say by whom and when, not just "no counter".
        "taken_over": None if held else selectors.counter_taken_over(request.user, since=request.user.last_login),
    }
    return render(request, "staff/picker.html", context, status=status)


@never_cache
@ensure_csrf_cookie
@require_GET
@staff_required
def staff_dashboard(request):
    if not access.is_staff_user(request.user):
        return redirect(STAFF_LOGIN_URL)
    if request.user.role in (Staff.Role.RECEPTION, Staff.Role.MANAGER):
        return redirect(_home(request.user))
    counter = _counter_on_screen(request)
    if counter is None:
        return _render_picker(request)
    state = selectors.counter_state(counter, with_waiting=True)
    today = selectors.today_counts(counter)
    counters_of_service = Counter.objects.filter(service_id=counter.service_id).order_by("id")
    config = {
        "counterId": counter.pk,
        "urls": {
            "serve_next": reverse("serve_next"),
            "skip": reverse("skip_patient"),
            "announce": reverse("announce_patient"),
            "status": reverse("update_counter_status"),
            "data": f"{reverse('get_queue_data')}?counter={counter.pk}",
            "login": STAFF_LOGIN_URL,
            "transfer": reverse("transfer_patient"),
            "back_to_line": reverse("back_to_line"),
            "priority": reverse("set_priority"),
        },
        "oneLine": not counter.service.per_counter_lines,
        "counterNames": {str(c.pk): c.counter_name for c in counters_of_service},
        "state": state,
        "today": today,
        "strings": _dashboard_strings(),
    }
    context = {
        "counter": counter,
        "state": state,
        "today": today,
        "held_here": counter.held_by_id == request.user.pk,
        "one_line": not counter.service.per_counter_lines,
        "categories": PriorityCategory.objects.filter(is_active=True),
        "other_services": Service.objects.filter(is_active=True).exclude(pk=counter.service_id),
        "note_max": NOTE_MAX,
        # The list may be capped (WAITING_LIST_LIMIT) while queue_length stays the true total.
        "waiting_more": max(0, state["queue_length"] - len(state["waiting"])),
        "statuses": [
            ("available", _("Available")),
            ("busy", _("Busy")),
            ("break", _("Break")),
            ("closed", _("Closed")),
        ],
        "config": config,
    }
    return render(request, "staff/dashboard.html", context)


def _dashboard_strings() -> dict:
    """Every sentence the dashboard's script shows."""
    return script_strings(
        {
            "nobody": _("No patient at the counter"),
            "nobodyHint": _("Press Serve next to call the next patient."),
            "waitingEmpty": _("Nobody is waiting at this counter."),
            "waitingMore": _("…and %(n)s more waiting"),
            "minutes": _("%(n)s min"),
            "justNow": _("just now"),
            # A shortcut pressed while its button is disabled says why (the actions' own answers
            # come with their message from the server: presenters.call_message).
            "nobodyToSkip": _(
                "Nobody is at the counter, so there is nobody to skip. Press Serve next to call the next patient."
            ),
            "nobodyToAnnounce": _(
                "Nobody is at the counter, so there is nobody to announce. Press Serve next to call the next patient."
            ),
            "statusSet": _("Status: %(status)s."),
            "moved": _("%(n)s waiting patients were moved to other counters or back to the pool."),
            "pulled": _("%(n)s patients who were waiting for a counter were sent here."),
            "stale": _("The screen was out of date and has been refreshed. Nothing was changed."),
            "reconnecting": _("Connection lost. Reconnecting…"),
            "polling": _("Live updates are blocked; refreshing every few seconds."),
            "lost": _("This counter is no longer yours (someone took it over, or you were logged out)."),
            "breakTitle": _("Go on break?"),
            "closedTitle": _("Close this counter?"),
            "breakBody": _(
                "%(n)s waiting patients will be moved to the other open counters of this service, keeping their "
                "place in line. If no other counter is open, they wait until one opens. "
                "Your current patient stays with you."
            ),
            "breakBodyNone": _("Nobody is waiting here, so nobody will be moved. Your current patient stays with you."),
            "breakConfirm": _("Go on break"),
            "toConfirm": _("to confirm"),
            "expectedAt": _("expected at %(counter)s"),
            "noteLabel": _("Note:"),
            "priorityFor": _("Priority for %(ticket)s"),
            "setPriority": _("Priority"),
            "prioritySet": _("%(ticket)s: priority %(priority)s."),
            "priorityNone": _("none"),
            "chooseService": _("Choose the service to send the patient to."),
            "closedConfirm": _("Close counter"),
            "notOpen": {
                "break": _("You are on break: no new patients are sent here. Choose Available to start again."),
                "closed": _("This counter is closed: no patients are sent here. Choose Available to open it."),
                "hours": _("Outside this counter's opening hours: no new patients are sent here."),
                "unheld": _("Nobody is logged in at this counter, so it is not open."),
            },
        }
    )


@never_cache
@require_http_methods(["GET", "POST"])
@staff_required
def switch_counter(request):
    """GET: the counter picker (or the take-over question). POST: take the chosen counter."""
    if not access.is_staff_user(request.user):
        return redirect(STAFF_LOGIN_URL)
    if request.user.role in (Staff.Role.RECEPTION, Staff.Role.MANAGER):
        return redirect(_home(request.user))  # reception and managers never hold a counter
    if request.method == "GET":
        requested = parse_id(request.GET.get("counter"))
        takeover = None
        if requested:
            takeover = (
                Counter.objects.select_related("service", "held_by")
                .filter(pk=requested, held_by__isnull=False)
                .exclude(held_by=request.user)
                .first()
            )
        return _render_picker(request, takeover=takeover)

    form = SwitchCounterForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return _render_picker(request, status=400)
    counter = form.cleaned_data["counter"]
    try:
        services.hold_counter(counter=counter, staff=request.user, force=form.cleaned_data["force"])
    except services.CounterTaken:
        # Someone else is working there: ask before ending their hold.
        return _render_picker(request, takeover=counter, status=409)
    except services.QueueError as exc:
        messages.error(request, exc.message)
        return _render_picker(request, status=exc.status_code)
    messages.success(request, html_isolated(_("You are now working at %(counter)s."), counter=counter))
    return redirect("staff_dashboard")


@never_cache
@require_http_methods(["GET", "POST"])
def staff_logout(request):
    """GET asks (a cross-site image must never close a counter); POST logs out and closes it."""
    if not request.user.is_authenticated:
        return redirect(STAFF_LOGIN_URL)
    if request.method == "GET":
        held = Counter.objects.filter(held_by=request.user).select_related("service").first()
        serving = selectors.counter_state(held)["serving_patient"] if held else None
        return render(request, "staff/logout.html", {"held": held, "serving": serving})
    counter = Counter.objects.filter(held_by=request.user).first()
    services.release_counter(staff=request.user)
    logout(request)
    if counter is not None:
        messages.info(request, html_isolated(_("You have logged out. %(counter)s is closed."), counter=counter))
    else:
        messages.info(request, _("You have logged out."))
    return redirect(STAFF_LOGIN_URL)
