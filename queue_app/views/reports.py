"""Reports (DESIGN.md, Reports): the live overview and history page, the overview fragment the
page reloads when the queue changes, and the CSV exports. Admins, managers and superusers only."""

from functools import wraps

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .. import access
from ..http import wants_json
from ..models import Counter, Service, Staff
from ..reports import charts, exports, queries
from ..reports.accuracy import sentence
from ..reports.overview import overview
from ..reports.ranges import BadRange, parse_filter
from ..reports.texts import texts_per_day
from .staff import STAFF_LOGIN_URL


def reports_required(view):
    """Admins, managers and superusers. Anyone not signed in as staff goes to the staff login
    (a script asking for JSON or a CSV gets a 403 answer it can read); other staff get a 403."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        signed_in = access.is_staff_user(request.user)
        if not signed_in and not (wants_json(request) or request.path.endswith(".csv")):
            return redirect_to_login(request.get_full_path(), STAFF_LOGIN_URL)
        if not access.can_see_reports(request.user):
            if wants_json(request) or request.path.endswith(".csv"):
                code = "forbidden" if signed_in else "not_authenticated"
                return JsonResponse(
                    {"error": _("Only administrators and managers see reports."), "code": code}, status=403
                )
            return render(request, "reports/forbidden.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper


def _overview_context():
    today = overview()
    return {"overview": today, "now": timezone.localtime(today.at)}


@never_cache
@require_GET
@reports_required
def reports_page(request):
    """Today live, and the history of a date range with its filters and charts."""
    context = _overview_context()
    status = 200
    try:
        report = parse_filter(request.GET)
    except BadRange as error:
        report, status = None, 400
        context.update(range_error=error.message, error_field=error.field)
    if report is not None:
        history = queries.history(report)
        context.update(
            report=report,
            history=history,
            estimates_text=sentence(history["estimates"], today=False),
            texts=texts_per_day(report),
            day_chart=charts.day_bars(history["days"]),
            arrivals_map=charts.week_heatmap(history["hours"], "arrivals"),
            waits_map=charts.week_heatmap(history["hours"], "wait_median", scale=60),
            export_query=report.query(),
        )
    context.update(
        services=Service.objects.order_by("service_name"),
        counters=Counter.objects.select_related("service").order_by("service__service_name", "counter_name"),
        staff_members=Staff.objects.filter(is_active=True).order_by("username"),
        form=request.GET,
        max_days=settings.REPORTS_MAX_DAYS,
    )
    return render(request, "reports/page.html", context, status=status)


@never_cache
@require_GET
@reports_required
def overview_fragment(request):
    """The live overview alone: HTML for the page to swap in, JSON for scripts."""
    if wants_json(request):
        today = overview()
        return JsonResponse(
            {
                "services": today.services,
                "counters": today.counters,
                "estimates": today.estimates,
                "estimates_text": today.estimates_text,
                "at": timezone.localtime(today.at).isoformat(),
            }
        )
    return render(request, "reports/_overview.html", _overview_context())


def _export(request, lines, filename: str):
    try:
        report = parse_filter(request.GET, max_days=settings.REPORTS_EXPORT_MAX_DAYS)
    except BadRange as error:
        return JsonResponse({"error": error.message, "code": error.code}, status=400)
    response = StreamingHttpResponse(lines(report), content_type="text/csv; charset=utf-8")
    name = f"{filename}-{report.date_from.isoformat()}-{report.date_to.isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@never_cache
@require_GET
@reports_required
def tickets_csv(request):
    return _export(request, exports.ticket_lines, "tickets")


@never_cache
@require_GET
@reports_required
def summary_csv(request):
    return _export(request, exports.summary_lines, "summary")
