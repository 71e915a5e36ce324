"""The CSV exports (DESIGN.md, Reports): tickets.csv streamed in keyset pages, summary.csv."""

import csv
from collections.abc import Iterator

from django.utils import timezone

from .figures import OUTCOMES
from .queries import daily_summary, filtered_tickets
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


def priority_code(row: dict) -> str:
    # Ticket.priority (a PriorityCategory with a `code`) is being added on another branch; at the
    # merge this returns its code (select the column in export_rows), "" for an ordinary ticket.
    return ""


def _moment(value, zone) -> str:
    return value.astimezone(zone).isoformat(timespec="seconds") if value else ""


def _seconds(start, end) -> str:
    return str(max(0, round((end - start).total_seconds()))) if start and end else ""


def export_rows(report: ReportFilter) -> Iterator[dict]:
    """Every ticket of the report, in id order: one query per PAGE rows (the service's and
    counter's names joined in), never one per row."""
    fields = (
        "id",
        "queue_id",
        "service__service_name",
        "counter__counter_name",
        "status",
        "joined_at",
        "called_at",
        "finished_at",
    )
    last = 0
    tickets = filtered_tickets(report)
    while True:
        page = list(tickets.filter(id__gt=last).order_by("id").values(*fields)[:PAGE])
        yield from page
        if len(page) < PAGE:
            return
        last = page[-1]["id"]


def ticket_lines(report: ReportFilter) -> Iterator[str]:
    """tickets.csv, line by line: times ISO 8601 in TIME_ZONE, no phone numbers."""
    zone = timezone.get_current_timezone()
    writer = csv.writer(_Line())
    yield writer.writerow(TICKET_COLUMNS)
    for row in export_rows(report):
        called, finished = row["called_at"], row["finished_at"]
        waited = row["status"] != "waiting"
        yield writer.writerow(
            (
                row["queue_id"],
                row["service__service_name"],
                row["counter__counter_name"] or "",
                row["status"],
                priority_code(row),
                _moment(row["joined_at"], zone),
                _moment(called, zone),
                _moment(finished, zone),
                _seconds(row["joined_at"], called) if waited else "",
                _seconds(called, finished) if row["status"] == "served" else "",
            )
        )


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
