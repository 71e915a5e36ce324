"""The CSV exports (DESIGN.md, Reports): tickets.csv streamed in keyset pages, summary.csv."""

import csv
import io
from collections.abc import Iterator
from datetime import UTC

from django.utils import timezone

from ..models import Counter, PriorityCategory, Service
from .figures import OUTCOMES
from .queries import daily_summary, filtered_tickets, raw_values
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
)
PAGE = 5000  # rows a query: memory stays flat however long the range


class _Line:
    """A file-like sink for csv.writer that hands back what was written."""

    def write(self, text: str) -> str:
        return text


def _local(moment, zone) -> str:
    """A naive UTC date-time from raw_values as ISO 8601 in TIME_ZONE."""
    return moment.replace(tzinfo=UTC).astimezone(zone).isoformat(timespec="seconds") if moment else ""


def _seconds(start, end) -> str:
    return str(max(0, round((end - start).total_seconds()))) if start and end else ""


EXPORT_FIELDS = (
    "id",
    "queue_id",
    "service_id",
    "counter_id",
    "status",
    "joined_at",
    "called_at",
    "finished_at",
    "priority_id",
)


def export_pages(report: ReportFilter) -> Iterator[list[tuple]]:
    """Every ticket of the report (EXPORT_FIELDS), in id order, PAGE rows a query walking the
    primary key: never one query per row, and memory flat for a year. No join: with one,
    MariaDB read the services first and sorted the whole range again for every page."""
    last = 0
    tickets = filtered_tickets(report)
    while True:
        page = list(raw_values(tickets.filter(id__gt=last).order_by("id").values_list(*EXPORT_FIELDS)[:PAGE]))
        if page:
            yield page
        if len(page) < PAGE:
            return
        last = page[-1][0]


def ticket_lines(report: ReportFilter) -> Iterator[str]:
    """tickets.csv, a page of rows at a time: times ISO 8601 in TIME_ZONE, no names or phones."""
    zone = timezone.get_current_timezone()
    services = dict(Service.objects.values_list("pk", "service_name"))
    counters = dict(Counter.objects.values_list("pk", "counter_name"))
    # Read once, as the names are: a join in the page query slows MariaDB's plan (see above).
    priorities = dict(PriorityCategory.objects.values_list("pk", "code"))
    yield csv.writer(_Line()).writerow(TICKET_COLUMNS)
    for page in export_pages(report):
        out = io.StringIO()
        writer = csv.writer(out)
        for _id, queue_id, service, counter, status, joined, called, finished, priority in page:
            writer.writerow(
                (
                    queue_id,
                    services.get(service, ""),
                    counters.get(counter, ""),
                    status,
                    priorities.get(priority, ""),
                    _local(joined, zone),
                    _local(called, zone),
                    _local(finished, zone),
                    _seconds(joined, called) if status != "waiting" else "",
                    _seconds(called, finished) if status == "served" else "",
                )
            )
        yield out.getvalue()


def _number(value) -> str:
    return "" if value is None else str(round(value))


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
            )
        )
