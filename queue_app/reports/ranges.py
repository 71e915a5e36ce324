"""The date range and filters of a report, read from a request's query string."""

from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.utils.translation import gettext as _

from ..models import Counter, Service, Staff, parse_id, service_day

EARLIEST = date(2000, 1, 1)


class BadRange(ValueError):
    """A report's parameters cannot be answered: a 400 with this message and code."""

    def __init__(self, message: str, *, code: str):
        super().__init__(message)
        self.message, self.code = message, code


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


def _day(value: str | None, name: str) -> date | None:
    if value in (None, ""):
        return None
    try:
        day = date.fromisoformat(value.strip()[:10]) if len(value.strip()) == 10 else None
    except ValueError:
        day = None
    if day is None:
        raise BadRange(_("%(name)s must be a date written YYYY-MM-DD.") % {"name": name}, code="bad_date")
    return day


def _one(model, value, *, code: str, message: str):
    if value in (None, ""):
        return None
    pk = parse_id(value)
    found = model.objects.filter(pk=pk).first() if pk else None
    if found is None:
        raise BadRange(message, code=code)
    return found


def parse_filter(params, *, max_days: int | None = None, default_days: int = 30) -> ReportFilter:
    """The report's range and filters; BadRange for a malformed, reversed or absurd range, one
    longer than `max_days`, or an unknown service, counter or staff member."""
    today = service_day()
    date_to = _day(params.get("date_to"), "date_to") or today
    date_from = _day(params.get("date_from"), "date_from") or date_to - timedelta(days=default_days - 1)
    if date_from > date_to:
        raise BadRange(_("The start date is after the end date."), code="reversed_range")
    if date_from < EARLIEST or date_to > today + timedelta(days=366):
        raise BadRange(_("The dates must lie between 2000 and next year."), code="absurd_range")
    max_days = max_days or settings.REPORTS_MAX_DAYS
    if (date_to - date_from).days + 1 > max_days:
        raise BadRange(
            _("The range is longer than %(n)d days: please choose a shorter one.") % {"n": max_days},
            code="range_too_long",
        )
    return ReportFilter(
        date_from=date_from,
        date_to=date_to,
        service=_one(Service, params.get("service"), code="unknown_service", message=_("No such service.")),
        counter=_one(Counter, params.get("counter"), code="unknown_counter", message=_("No such counter.")),
        staff=_one(Staff, params.get("staff"), code="unknown_staff", message=_("No such staff member.")),
    )
