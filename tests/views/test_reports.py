"""The reports page, its live fragment and the CSV exports: who may see them, and what they say."""

import csv
import io

import pytest
from django.test import Client

from queue_app.models import Staff, Ticket

from ..factories import StaffFactory
from ..report_helpers import build_history

RANGE = "date_from=2026-11-02&date_to=2026-11-04"


def client_for(role=None, **extra) -> Client:
    client = Client()
    if role is not None:
        client.force_login(StaffFactory(username=f"user-{role}", role=role, **extra))
    return client


@pytest.fixture
def past(db, settings):
    settings.TIME_ZONE = "UTC"
    return build_history()


@pytest.mark.parametrize(("role", "extra"), [("admin", {}), ("manager", {}), ("operator", {"is_superuser": True})])
def test_admins_managers_and_superusers_see_reports(db, role, extra):
    response = client_for(role, **extra).get("/reports/")
    assert response.status_code == 200
    assert "Today, live" in response.content.decode()


@pytest.mark.parametrize("role", ["operator", "reception"])
def test_other_staff_get_403(db, role):
    assert client_for(role).get("/reports/").status_code == 403
    answer = client_for(role).get(f"/reports/tickets.csv?{RANGE}")
    assert answer.status_code == 403 and answer.json()["code"] == "forbidden"


def test_anonymous_users_and_patients_go_to_the_staff_login(db, signed_in_phone):
    response = Client().get("/reports/")
    assert response.status_code == 302 and response["Location"].startswith("/staff/login/?next=/reports/")
    assert Client().get(f"/reports/summary.csv?{RANGE}").status_code == 403


def test_a_manager_is_not_admin_staff_and_starts_at_the_reports(db):
    manager = StaffFactory(username="boss", role=Staff.Role.MANAGER)
    assert manager.is_staff is False
    client = Client()
    client.force_login(manager)
    assert client.get("/admin/").status_code == 302  # Django admin's own login page
    assert client.get("/staff/dashboard/")["Location"] == "/reports/"


def test_a_manager_logs_in_at_the_staff_login_without_a_counter(db):
    StaffFactory(username="boss", role=Staff.Role.MANAGER)
    response = Client().post("/staff/login/", {"username": "boss", "password": "correct horse battery"})
    assert response.status_code == 302 and response["Location"] == "/reports/"


def test_the_page_shows_the_history_figures(past):
    page = client_for("manager").get(f"/reports/?{RANGE}").content.decode()
    assert "Asha Rao" in page and "Room A" in page
    assert "20 min" in page  # the median wait, 1200 s


def test_a_bad_range_on_the_page_is_a_readable_400(db):
    response = client_for("manager").get("/reports/?date_from=2026-11-05&date_to=2026-11-01")
    assert response.status_code == 400
    page = response.content.decode()
    assert "The start date is after the end date: choose a start date on or before the end date." in page
    assert 'name="date_from" aria-invalid="true" aria-describedby="range-error" value="2026-11-05"' in page


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("date_from=2026-13-01", "date_from", "The start date is not a date: write it as year-month-day"),
        ("date_to=tomorrow", "date_to", "The end date is not a date: write it as year-month-day"),
        ("date_from=1999-01-01&date_to=1999-01-02", "date_to", "The end date is too early"),
        ("date_from=2026-01-01&date_to=2026-11-01", "date_from", "The range is longer than 92 days"),
        ("service=424242", "service", "There is no such service: choose one from the list."),
    ],
)
def test_a_bad_field_is_named_in_words_and_marked_on_the_form(db, query, field, message):
    response = client_for("manager").get(f"/reports/?{query}")
    assert response.status_code == 400
    page = response.content.decode()
    assert message in page and f"{field} must" not in page
    assert page.count('aria-invalid="true"') == 1
    marked = page.split('aria-invalid="true"')[0].rsplit("<", 1)[1]
    assert f'name="{field}"' in marked


def test_the_page_says_how_close_the_estimates_came(past):
    page = client_for("manager").get(f"/reports/?{RANGE}").content.decode()
    # tests/selectors/test_reports.py works the figures out: 3 of 5 within 2 min, |errors| 1, 1,
    # 2, 3, 5, errors summing to −6.
    assert (
        "Estimates were within 2 minutes for 60% of the 5 patients called in this period (median error 2.0 min). "
        "On average they were 1.2 min too short."
    ) in page


def test_the_page_says_so_when_no_estimate_can_be_compared(past):
    page = client_for("manager").get("/reports/?date_from=2026-11-03&date_to=2026-11-03").content.decode()
    assert "No patient with a recorded estimate was called in this period." in page


def test_the_page_costs_the_same_queries_for_3_and_92_days(past):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_for("manager")
    client.get(f"/reports/?{RANGE}")  # the session's first save (its expiry slides) out of the way
    counts = []
    for query in (RANGE, "date_from=2026-08-05&date_to=2026-11-04"):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/reports/?{query}").status_code == 200
        counts.append(len(queries))
    # Session and user; the overview's 3; the history's 4; the texts; the filter's 3 lists.
    assert counts[0] == counts[1] == 13


def _csv(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_tickets_csv_has_one_row_a_ticket_with_local_iso_times_and_no_phone(past, settings, elderly):
    settings.TIME_ZONE = "Asia/Kolkata"
    response = client_for("admin").get(f"/reports/tickets.csv?{RANGE}")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = _csv(response)
    assert list(rows[0])[:10] == [
        "queue_id", "service", "counter", "status", "priority",
        "joined_at", "called_at", "finished_at", "wait_seconds", "service_seconds",
    ]  # fmt: skip
    assert len(rows) == 8
    t1 = rows[0]
    assert t1["queue_id"] == "OPD_001_1234" and t1["counter"] == "Room A" and t1["status"] == "served"
    assert t1["joined_at"] == "2026-11-02T14:30:00+05:30"
    assert (t1["wait_seconds"], t1["service_seconds"], t1["priority"]) == ("600", "300", "")
    Ticket.objects.filter(queue_id="OPD_001_1234").update(priority=elderly)
    again = _csv(client_for("admin").get(f"/reports/tickets.csv?{RANGE}"))
    assert again[0]["priority"] == "60+"  # the category's short code
    cancelled = next(r for r in rows if r["status"] == "cancelled")
    assert cancelled["called_at"] == "" and cancelled["wait_seconds"] == ""
    assert cancelled["first_called_at"] == "" and cancelled["estimated_wait_minutes"] == "5"
    t5 = next(r for r in rows if r["queue_id"] == "OPD_005_1234")  # skipped, recalled, called again
    assert (t5["first_called_at"], t5["called_at"]) == ("2026-11-02T15:35:00+05:30", "2026-11-02T16:10:00+05:30")
    assert t5["estimated_wait_minutes"] == "6" and t5["wait_seconds"] == "2400"
    t6 = next(r for r in rows if r["queue_id"] == "OPD_006_1234")  # called after midnight, no estimate
    assert t6["called_at"] == "2026-11-03T05:40:00+05:30" and t6["estimated_wait_minutes"] == ""
    body = b"".join(client_for("admin").get(f"/reports/tickets.csv?{RANGE}").streaming_content)
    assert b"+9198" not in body and b"Patient t1" not in body


def test_tickets_csv_filters_by_service(past):
    rows = _csv(client_for("admin").get(f"/reports/tickets.csv?{RANGE}&service={past.lab.pk}"))
    assert [r["queue_id"] for r in rows] == ["TEST_001_1234"]


def test_tickets_csv_reads_in_pages_not_per_row(past, django_assert_max_num_queries, monkeypatch):
    from queue_app.reports import exports

    monkeypatch.setattr(exports, "PAGE", 3)  # 8 tickets: pages of 3, 3, 2
    client = client_for("admin")
    # The session (read, saved: sliding expiry) and the user, the services' and counters' names and
    # the priorities' codes, 3 pages, and the transaction's own.
    with django_assert_max_num_queries(2 + 4 + 5):
        assert len(_csv(client.get(f"/reports/tickets.csv?{RANGE}"))) == 8


def test_summary_csv_rows_per_day_and_service(past):
    rows = _csv(client_for("admin").get(f"/reports/summary.csv?{RANGE}"))
    assert [(r["date"], r["service"]) for r in rows][:2] == [("2026-11-02", "OPD"), ("2026-11-02", "Test")]
    monday = rows[0]
    assert {k: monday[k] for k in ("arrivals", "served", "skipped", "cancelled", "expired")} == {
        "arrivals": "7", "served": "4", "skipped": "1", "cancelled": "1", "expired": "1",
    }  # fmt: skip
    assert (monday["wait_median_seconds"], monday["wait_p90_seconds"], monday["service_median_seconds"]) == (
        "1200", "2400", "600",
    )  # fmt: skip
    # Monday's OPD estimates: errors −1, −5, +2, +1 min (t1, t2, t3, t5 at its first call).
    assert [monday[k] for k in SUMMARY_ESTIMATES] == ["4", "75", "90", "-45"]
    empty = rows[2]
    assert empty["date"] == "2026-11-03" and empty["arrivals"] == "0" and empty["wait_median_seconds"] == ""
    assert [empty[k] for k in SUMMARY_ESTIMATES] == ["0", "", "", ""]


SUMMARY_ESTIMATES = (
    "estimated_patients",
    "estimates_within_2_min_percent",
    "estimate_median_error_seconds",
    "estimate_bias_seconds",
)


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("date_from=2026-11-05&date_to=2026-11-01", "reversed_range"),
        ("date_from=2026-02-30", "bad_date"),
        ("date_from=0001-01-01&date_to=0001-01-02", "absurd_range"),
        ("date_from=2020-01-01&date_to=2026-11-01", "range_too_long"),
        ("service=424242", "unknown_service"),
        ("date_from=%00", "bad_date"),
    ],
)
@pytest.mark.parametrize("export", ["tickets", "summary"])
def test_bad_export_requests_are_400_with_the_error_shape(db, query, code, export):
    response = client_for("admin").get(f"/reports/{export}.csv?{query}")
    assert response.status_code == 400
    assert response.json()["code"] == code and response.json()["error"]


def test_an_export_over_its_limit_says_the_limit(db, settings):
    settings.REPORTS_EXPORT_MAX_DAYS = 400
    response = client_for("admin").get("/reports/tickets.csv?date_from=2025-01-01&date_to=2026-11-01")
    assert response.status_code == 400
    assert response.json()["error"] == "The range is longer than 400 days: please choose a shorter one."


def test_the_overview_fragment_shows_counters_and_their_current_ticket(counters, patients, admin_user):
    from queue_app import services

    services.join(patient=patients[0], service=counters[0].service)
    services.serve_next(counter=counters[0], by=counters[0].held_by)
    client = Client()
    client.force_login(admin_user)
    body = client.get("/reports/overview/").content.decode()
    assert "Counter 1" in body and "OPD_001" in body
    data = client.get("/reports/overview/", HTTP_ACCEPT="application/json").json()
    assert data["counters"][0]["ticket"].startswith("OPD_001") and data["services"][0]["open_counters"] == 2


def test_the_overview_says_how_close_todays_estimates_came(counters, patients, admin_user):
    from queue_app import services

    client = Client()
    client.force_login(admin_user)
    before = client.get("/reports/overview/", HTTP_ACCEPT="application/json").json()
    assert before["estimates"] is None
    assert before["estimates_text"] == "No patient with a recorded estimate has been called yet today."
    services.join(patient=patients[0], service=counters[0].service)  # a counter is free: no wait
    services.serve_next(counter=counters[0], by=counters[0].held_by)  # called at once
    data = client.get("/reports/overview/", HTTP_ACCEPT="application/json").json()
    assert data["estimates"]["patients"] == 1 and data["estimates"]["within_share"] == 1.0
    assert data["estimates_text"].startswith("Estimates were within 2 minutes for 100% of the 1 patient called today")
    assert data["estimates_text"] in client.get("/reports/overview/").content.decode()


def test_the_overview_warns_past_the_service_alert(counters, patients, admin_user, django_assert_max_num_queries):
    from datetime import timedelta

    from django.utils import timezone

    from queue_app import services
    from queue_app.models import Ticket

    opd = counters[0].service
    opd.wait_alert_minutes = 10
    opd.save()
    ticket, _created = services.join(patient=patients[0], service=opd)
    Ticket.objects.filter(pk=ticket.pk).update(joined_at=timezone.now() - timedelta(minutes=11))
    client = Client()
    client.force_login(admin_user)
    # Session and user; services, counters, today's tickets; the session's save (and its savepoint).
    with django_assert_max_num_queries(8):
        body = client.get("/reports/overview/").content.decode()
    assert "over the 10 min alert" in body
    assert f"\u2068{opd.service_name}\u2069: someone has waited" in body  # the name isolated (bidi.py)


def test_the_page_counts_texts_per_day_by_kind_and_outcome(past):
    from queue_app.models import Notification

    tickets = {t.queue_id: t for t in Ticket.objects.all()}
    t1, other = tickets["OPD_001_1234"], next(t for q, t in tickets.items() if q != "OPD_001_1234")
    Status = Notification.Status
    for ticket, kind, status in [
        (t1, "near", Status.DELIVERED),
        (t1, "called", Status.UNDELIVERED),
        (other, "near", Status.DROPPED),
        (other, "called", Status.PENDING),
    ]:
        Notification.objects.create(ticket=ticket, kind=kind, to="+919800000001", body="x", status=status)
    from queue_app.reports.ranges import parse_filter
    from queue_app.reports.texts import texts_per_day

    rows = texts_per_day(parse_filter({"date_from": "2026-11-02", "date_to": "2026-11-04"}))
    assert sum(r["total"] for r in rows) == 4
    assert sum(r["near"] for r in rows) == 2 and sum(r["called"] for r in rows) == 2
    totals = {k: sum(r[k] for r in rows) for k in ("sent", "failed", "dropped", "waiting")}
    assert totals == {"sent": 1, "failed": 1, "dropped": 1, "waiting": 1}
    page = client_for("manager").get(f"/reports/?{RANGE}").content.decode()
    assert "Texts to patients per day" in page and "+9198" not in page
