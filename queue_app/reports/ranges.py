"""The date range and filters of a report, read from a request's query string."""

from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ..models import Counter, Service, Staff, parse_id, service_day

EARLIEST = date(2000, 1, 1)


class BadRange(ValueError):
    """A report's parameters cannot be answered: a 400 with this message and code; `field` is
    the form field the page marks (None: the range as a whole)."""

    def __init__(self, message: str, *, code: str, field: str | None = None):
        super().__init__(message)
        self.message, self.code, self.field = message, code, field


@dataclass(frozen=True)
class ReportFilter:
    date_from: date
    date_to: date  # inclusive
    service: Service | None = None
    counter: Counter | None = None
    staff: Staff | None = None

    @property
    def days(self) -> int:
        return (self.date_to - self.date_from).days + 1

    def dates(self) -> list[date]:
        return [self.date_from + timedelta(days=i) for i in range(self.days)]

    def query(self) -> dict:
        """The filter as query-string parameters (for links to the exports)."""
        params = {"date_from": self.date_from.isoformat(), "date_to": self.date_to.isoformat()}
        for name in ("service", "counter", "staff"):
            if getattr(self, name) is not None:
                params[name] = str(getattr(self, name).pk)
        return params


def _day(value: str | None, field: str) -> date | None:
    if value in (None, ""):
        return None
    try:
        day = date.fromisoformat(value.strip()[:10]) if len(value.strip()) == 10 else None
    except ValueError:
        day = None
    if day is None:
        if field == "date_from":
            message = _("The start date is not a date: write it as year-month-day, for example 2026-11-02.")
        else:
            message = _("The end date is not a date: write it as year-month-day, for example 2026-11-30.")
        raise BadRange(message, code="bad_date", field=field)
    return day


def _one(model, value, *, code: str, message: str, field: str):
    if value in (None, ""):
        return None
    pk = parse_id(value)
    found = model.objects.filter(pk=pk).first() if pk else None
    if found is None:
        raise BadRange(message, code=code, field=field)
    return found


def parse_filter(params, *, max_days: int | None = None, default_days: int = 30) -> ReportFilter:
    """The report's range and filters; BadRange for a malformed, reversed or absurd range, one
    longer than `max_days`, or an unknown service, counter or staff member."""
    today = service_day()
    date_to = _day(params.get("date_to"), "date_to") or today
    date_from = _day(params.get("date_from"), "date_from") or date_to - timedelta(days=default_days - 1)
    if date_from > date_to:
        raise BadRange(
            _("The start date is after the end date: choose a start date on or before the end date."),
            code="reversed_range",
            field="date_from",
        )
    if date_to < EARLIEST:
        raise BadRange(
            _("The end date is too early: reports go back to the year 2000."), code="absurd_range", field="date_to"
        )
    if date_from < EARLIEST:
        raise BadRange(
            _("The start date is too early: reports go back to the year 2000."), code="absurd_range", field="date_from"
        )
    if date_to > today + timedelta(days=366):
        raise BadRange(
            _("The end date is too far ahead: reports go up to a year from today."),
            code="absurd_range",
            field="date_to",
        )
    max_days = max_days or settings.REPORTS_MAX_DAYS
    if (date_to - date_from).days + 1 > max_days:
        raise BadRange(
            ngettext(
                "The range is longer than %(n)d day: please choose a shorter one.",
                "The range is longer than %(n)d days: please choose a shorter one.",
                max_days,
            )
            % {"n": max_days},
            code="range_too_long",
            field="date_from",
        )
    return ReportFilter(
        date_from=date_from,
        date_to=date_to,
        service=_one(
            Service,
            params.get("service"),
            code="unknown_service",
            message=_("There is no such service: choose one from the list."),
            field="service",
        ),
        counter=_one(
            Counter,
            params.get("counter"),
            code="unknown_counter",
            message=_("There is no such counter: choose one from the list."),
            field="counter",
        ),
        staff=_one(
            Staff,
            params.get("staff"),
            code="unknown_staff",
            message=_("There is no such staff member: choose one from the list."),
            field="staff",
        ),
    )
