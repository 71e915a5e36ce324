"""The reports' figures against values worked out by hand on tests/report_helpers.py's history."""

from datetime import timedelta

import pytest

from queue_app.reports import figures, queries
from queue_app.reports.ranges import BadRange, ReportFilter, parse_filter

from ..report_helpers import EMPTY_DAY, MONDAY, WEDNESDAY, build_history


@pytest.fixture
def past(db, settings):
    settings.TIME_ZONE = "UTC"
    return build_history()


def whole(past, **filters):
    return ReportFilter(date_from=MONDAY, date_to=WEDNESDAY, **filters)


def test_median_and_nearest_rank_percentile():
    assert figures.median([3, 1, 2]) == 2
    assert figures.median([4, 1, 2, 3]) == 2.5
    assert figures.percentile(list(range(1, 11)), 90) == 9
    assert figures.percentile([5], 90) == 5
    assert figures.median([]) is None and figures.percentile([], 90) is None


def test_totals_count_every_outcome_and_time(past):
    total = queries.history(whole(past))["total"]
    assert total == {
        "arrivals": 8, "served": 5, "skipped": 1, "cancelled": 1, "expired": 1,
        # waits 600, 600, 1200, 1200, 1800, 2400; service times 300, 600, 600, 600, 900
        "wait_median": 1200.0, "wait_p90": 2400.0, "wait_max": 2400.0,
        "service_median": 600.0, "service_p90": 900.0,
    }  # fmt: skip


def test_days_include_the_empty_day_and_keep_a_ticket_crossing_midnight_on_its_day(past):
    days = {d["date"]: d for d in queries.history(whole(past))["days"]}
    assert list(days) == [MONDAY, EMPTY_DAY, WEDNESDAY]
    monday = days[MONDAY]
    assert (monday["arrivals"], monday["served"], monday["skipped"], monday["cancelled"], monday["expired"]) == (
        7,
        4,
        1,
        1,
        1,
    )
    assert (monday["wait_median"], monday["wait_p90"], monday["wait_max"]) == (1200.0, 2400.0, 2400.0)
    assert (monday["service_median"], monday["service_p90"]) == (600.0, 600.0)
    assert days[EMPTY_DAY]["arrivals"] == 0 and days[EMPTY_DAY]["wait_median"] is None
    assert days[WEDNESDAY]["wait_median"] == 1800.0 and days[WEDNESDAY]["service_median"] == 900.0


def test_a_skipped_then_recalled_ticket_waits_until_its_last_call(past):
    room_b = queries.history(whole(past, counter=past.counter_b))["total"]  # t3 skipped, t5 recalled
    assert (room_b["wait_median"], room_b["wait_max"], room_b["service_median"]) == (1500.0, 2400.0, 600.0)


def test_per_staff_member_is_who_called_the_ticket(past):
    staff = {row["name"]: row for row in queries.history(whole(past))["staff"]}
    asha, bala = staff["Asha Rao"], staff["Bala Iyer"]
    assert (asha["arrivals"], asha["served"], asha["wait_median"], asha["service_median"]) == (3, 3, 1200.0, 600.0)
    assert (bala["arrivals"], bala["served"], bala["skipped"], bala["wait_median"]) == (2, 1, 1, 1500.0)


def test_per_counter_and_per_service(past):
    report = queries.history(whole(past))
    counters = {row["name"]: row for row in report["counters"]}
    assert (counters["Room A"]["arrivals"], counters["Room A"]["served"], counters["Room A"]["cancelled"]) == (4, 3, 1)
    assert counters["Room B"]["arrivals"] == 2
    services = {row["name"]: row["arrivals"] for row in report["services"]}
    assert services == {"OPD": 7, "Test": 1}


def test_hours_of_the_week_count_arrivals_and_median_wait_by_local_joining_time(past):
    hours = queries.history(whole(past))["hours"]
    assert hours[(0, 9)] == {"arrivals": 4, "wait_median": 600.0}  # t1..t4; t4 never called
    assert hours[(0, 23)]["arrivals"] == 1 and hours[(2, 11)]["arrivals"] == 1
    assert (0, 0) not in hours  # t6 was called after midnight, but joined on Monday at 23:50


def test_hours_follow_time_zone(past, settings):
    settings.TIME_ZONE = "Asia/Kolkata"  # UTC+5:30: 09:00, 09:05 and 09:20 UTC are 14:30-14:50 there
    hours = queries.history(whole(past))["hours"]
    assert hours[(0, 14)]["arrivals"] == 3 and hours[(0, 15)]["arrivals"] == 2 and (0, 9) not in hours


def test_filters_by_service_counter_and_staff(past):
    assert queries.history(whole(past, service=past.lab))["total"]["arrivals"] == 1
    assert queries.history(whole(past, counter=past.counter_b))["total"]["served"] == 1
    assert queries.history(whole(past, staff=past.op1))["total"]["arrivals"] == 3


def test_daily_summary_has_a_row_per_day_and_service(past):
    rows = queries.daily_summary(whole(past))
    assert [(r["date"], r["service"]) for r in rows] == [
        (d, s) for d in (MONDAY, EMPTY_DAY, WEDNESDAY) for s in ("OPD", "Test")
    ]
    assert rows[0]["arrivals"] == 7 and rows[1]["arrivals"] == 0 and rows[5]["served"] == 1


def test_the_report_reads_its_tickets_in_one_query(past, django_assert_num_queries):
    with django_assert_num_queries(1):
        queries.read_columns(whole(past))


@pytest.mark.parametrize("days", [3, 300])
def test_the_history_costs_four_queries_however_long_the_range(past, days, django_assert_num_queries):
    # The tickets, then the names of the services, counters and staff members they mention.
    with django_assert_num_queries(4):
        queries.history(ReportFilter(date_from=WEDNESDAY - timedelta(days=days - 1), date_to=WEDNESDAY))


def test_estimates_are_compared_with_the_wait_until_the_first_call(past):
    estimates = queries.history(whole(past))["estimates"]
    # Errors (estimate − wait to the first call, minutes): t1 −1, t2 −5, t3 +2, t5 +1 (first call
    # after 5 min, not its last after 40), t8 −3; t4 and t7 were never called, t6 has none.
    assert estimates == {
        "patients": 5,
        "within_share": 3 / 5,
        "tolerance_minutes": 2,
        "median_error_minutes": 2.0,
        "bias_minutes": pytest.approx(-6 / 5),
    }


def test_a_transferred_ticket_is_compared_with_its_first_call_at_the_first_service(past):
    from queue_app.models import Ticket

    from ..report_helpers import at

    t9 = Ticket.objects.create(
        queue_id="TEST_002_1234", number=2, service_date=WEDNESDAY, service=past.lab,
        patient=past.tickets["t8"].patient,
        patient_name="Patient t9", status="served", joined_at=at(WEDNESDAY, 13, 0),
        first_called_at=at(WEDNESDAY, 13, 4),  # at OPD, before it was sent to the lab
        called_at=at(WEDNESDAY, 13, 30), finished_at=at(WEDNESDAY, 13, 40), estimated_wait_at_join=3,
    )  # fmt: skip
    estimates = queries.history(whole(past))["estimates"]
    # Errors −1, −5, +2, +1, −3 and t9's 3 − 4 = −1: |errors| 1, 1, 1, 2, 3, 5.
    assert (estimates["patients"], estimates["within_share"]) == (6, 4 / 6)
    assert estimates["median_error_minutes"] == 1.5 and estimates["bias_minutes"] == pytest.approx(-7 / 6)
    assert t9.pk and queries.history(whole(past, service=past.lab))["estimates"]["patients"] == 2


def test_no_estimate_called_means_no_estimate_figures(past):
    assert queries.history(ReportFilter(date_from=EMPTY_DAY, date_to=EMPTY_DAY))["estimates"] is None
    assert queries.history(whole(past, staff=past.op1))["estimates"]["patients"] == 2  # t1, t2; t6 has none


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"date_from": "2026-11-05", "date_to": "2026-11-01"}, "reversed_range"),
        ({"date_from": "yesterday"}, "bad_date"),
        ({"date_from": "2026-13-01"}, "bad_date"),
        ({"date_from": "1900-01-01", "date_to": "1900-01-02"}, "absurd_range"),
        ({"date_from": "1999-12-31", "date_to": "2000-01-02"}, "absurd_range"),
        ({"date_from": "9999-01-01", "date_to": "9999-01-02"}, "absurd_range"),
        ({"date_from": "2025-01-01", "date_to": "2026-11-30"}, "range_too_long"),
        ({"service": "999999"}, "unknown_service"),
        ({"service": "x"}, "unknown_service"),
        ({"counter": "0"}, "unknown_counter"),
    ],
)
def test_bad_ranges_and_unknown_filters_are_refused(db, params, code):
    with pytest.raises(BadRange) as refused:
        parse_filter(params)
    assert refused.value.code == code


def test_no_dates_means_the_last_30_days(db):
    report = parse_filter({})
    assert report.days == 30 and report.date_to - report.date_from == timedelta(days=29)


def test_a_ticket_sent_to_another_service_counts_once_there_waiting_from_its_first_arrival(
    opd, lab, counters, patients, admin_user
):
    from django.utils import timezone

    from queue_app import services
    from queue_app.models import Counter, Ticket, service_day

    lab_counter = Counter.objects.create(counter_name="Lab 1", service=lab, start_time=counters[0].start_time)
    lab_counter.end_time = counters[0].end_time
    lab_counter.save()
    services.hold_counter(counter=lab_counter, staff=admin_user)
    ticket, _ = services.join(patient=patients[0], service=opd)
    services.serve_next(counter=counters[0], by=None)
    services.serve_next(counter=counters[0], by=None)  # served at OPD
    services.move_to_service(ticket=Ticket.objects.get(pk=ticket.pk), service=lab, by=admin_user)
    services.serve_next(counter=lab_counter, by=admin_user)
    moved = Ticket.objects.get(pk=ticket.pk)
    today = service_day(timezone.now())
    report = queries.history(ReportFilter(date_from=today, date_to=today))
    assert {row["name"]: row["arrivals"] for row in report["services"]} == {"Test": 1}
    expected_wait = (moved.called_at - moved.joined_at).total_seconds()
    assert report["total"]["wait_max"] == pytest.approx(expected_wait)


def test_no_garbage_collection_pass_while_a_report_is_built_and_back_after():
    import gc

    assert gc.isenabled()
    with queries.bulk_rows():
        assert not gc.isenabled()
        with queries.bulk_rows():  # a report inside another leaves it off until the outer ends
            pass
        assert not gc.isenabled()
    assert gc.isenabled()
