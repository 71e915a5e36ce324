"""The CSV exports (DESIGN.md, Reports): tickets.csv streamed in keyset pages, summary.csv."""

import csv
import io
from collections.abc import Iterator
from datetime import timedelta

from django.db.models import DateTimeField
from django.utils import timezone

from ..models import Counter, PriorityCategory, Service
from .figures import OUTCOMES
from .queries import EPOCH, US, bulk_rows, daily_summary, filtered_tickets, raw_values, since
from .ranges import ReportFilter

TICKET_COLUMNS = (
    "queue_id",
    "service",
    "counter",
    "status",
    "priority",
    "joined_at",
    "called_at",
    "finished_at",
    "wait_seconds",
    "service_seconds",
    "first_called_at",
    "estimated_wait_minutes",
)
SUMMARY_COLUMNS = (
    "date",
    "service",
    "arrivals",
    *OUTCOMES,
    "wait_median_seconds",
    "wait_p90_seconds",
    "wait_max_seconds",
    "service_median_seconds",
    "service_p90_seconds",
    "estimated_patients",
    "estimates_within_2_min_percent",
    "estimate_median_error_seconds",
    "estimate_bias_seconds",
)
PAGE = 5000  # rows a query: memory stays flat however long the range


class _Line:
    """A file-like sink for csv.writer that hands back what was written."""

    def write(self, text: str) -> str:
        return text


# "MM:SS" of each second of a quarter-hour starting at minute 0, 15, 30 or 45 of its hour.
_CLOCKS = {start: [f"{start + r // 60:02d}:{r % 60:02d}" for r in range(900)] for start in (0, 15, 30, 45)}


def local_times():
    """A function from microseconds since EPOCH (or None) to ISO 8601 in TIME_ZONE. Offsets and
    their changes fall on whole quarter-hours, so the date, hour and offset are worked out once
    per UTC quarter-hour and the rest looked up: a year's export formats 900,000 instants from
    about 16,000 time-zone conversions."""
    zone = timezone.get_current_timezone()
    quarters: dict[int, tuple[str, list[str], str]] = {}

    def iso(microseconds) -> str:
        if microseconds is None:
            return ""
        quarter, rest = divmod(int(microseconds) // US, 900)
        parts = quarters.get(quarter)
        if parts is None:
            local = (EPOCH + timedelta(seconds=quarter * 900)).astimezone(zone)
            text = local.isoformat(timespec="seconds")  # 2026-11-02T14:30:00+05:30
            parts = quarters[quarter] = (text[:14], _CLOCKS[local.minute], text[19:])
        return parts[0] + parts[1][rest] + parts[2]

    return iso


EXPORT_FIELDS = (
    "id",
    "queue_id",
    "service_id",
    "counter_id",
    "status",
    "priority_id",
    "joined",
    "called",
    "finished",
    "first_called",
    "estimated_wait_at_join",
)


def export_pages(report: ReportFilter) -> Iterator[list[tuple]]:
    """Every ticket of the report (EXPORT_FIELDS, times as microseconds since EPOCH), in id order,
    PAGE rows a query walking the primary key: never one query per row, and memory flat for a
    year. No join: with one, MariaDB read the services first and sorted the whole range again
    for every page."""
    last = 0
    tickets = filtered_tickets(report).annotate(
        joined=since("joined_at", EPOCH, DateTimeField()),
        called=since("called_at", EPOCH, DateTimeField()),
        finished=since("finished_at", EPOCH, DateTimeField()),
        first_called=since("first_called_at", EPOCH, DateTimeField()),
    )
    while True:
        with bulk_rows():
            page = list(raw_values(tickets.filter(id__gt=last).order_by("id").values_list(*EXPORT_FIELDS)[:PAGE]))
        if page:
            yield page
        if len(page) < PAGE:
            return
        last = page[-1][0]


def ticket_lines(report: ReportFilter) -> Iterator[str]:
    """tickets.csv, a page of rows at a time: times ISO 8601 in TIME_ZONE, no names or phones."""
    iso = local_times()
    services = dict(Service.objects.values_list("pk", "service_name"))
    counters = dict(Counter.objects.values_list("pk", "counter_name"))
    # Read once, as the names are: a join in the page query slows MariaDB's plan (see above).
    priorities = dict(PriorityCategory.objects.values_list("pk", "code"))
    yield csv.writer(_Line()).writerow(TICKET_COLUMNS)
    for page in export_pages(report):
        out = io.StringIO()
        # One generator, no call per field but the times': it runs for every ticket of a year.
        with bulk_rows():
            csv.writer(out).writerows(
                (
                    queue_id,
                    services.get(service, ""),
                    counters.get(counter, ""),
                    status,
                    priorities.get(priority, ""),
                    iso(joined),
                    iso(called),
                    iso(finished),
                    round(max(0, called - joined) / US) if called is not None and status != "waiting" else "",
                    round(max(0, finished - called) / US) if finished is not None and status == "served" else "",
                    iso(first),
                    "" if estimate is None else estimate,
                )
                for _id, queue_id, service, counter, status, priority, joined, called, finished, first, estimate in page
            )
        yield out.getvalue()


def _number(value) -> str:
    return "" if value is None else str(round(value))


def _estimates(figures: dict | None) -> tuple:
    if figures is None:
        return (0, "", "", "")
    return (
        figures["patients"],
        _number(figures["within_share"] * 100),
        _number(figures["median_error_minutes"] * 60),
        _number(figures["bias_minutes"] * 60),
    )


def summary_lines(report: ReportFilter) -> Iterator[str]:
    """summary.csv: one row per day and service with tickets."""
    writer = csv.writer(_Line())
    yield writer.writerow(SUMMARY_COLUMNS)
    for row in daily_summary(report):
        yield writer.writerow(
            (
                row["date"].isoformat(),
                row["service"],
                row["arrivals"],
                *(row[outcome] for outcome in OUTCOMES),
                _number(row["wait_median"]),
                _number(row["wait_p90"]),
                _number(row["wait_max"]),
                _number(row["service_median"]),
                _number(row["service_p90"]),
                *_estimates(row["estimates"]),
            )
        )
