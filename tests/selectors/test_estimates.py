"""The one wait estimate (queue_app/estimates.py) and where it is shown."""

import pytest

from queue_app import estimates, selectors, services
from queue_app.estimates import ServiceStats, minutes_per_patient, wait_minutes


def stats(minutes=4.0, counters=1) -> ServiceStats:
    return ServiceStats(minutes_per_patient=minutes, open_counters=counters)


def test_a_quiet_morning_uses_the_default():
    assert minutes_per_patient([], default=5) == 5


def test_the_first_patients_lean_on_the_default():
    # One patient served in 1 minute: (1 x 1 + 3 x 5) / 4, not 1.
    assert minutes_per_patient([1.0], default=5) == 4.0


def test_many_samples_give_the_trimmed_mean_of_the_latest_fifteen():
    times = [3.0] * 15 + [30.0] * 10  # newest first: older slow ones are out of the window
    assert minutes_per_patient(times, default=5) == pytest.approx((15 * 3 + 3 * 5) / 18)
    # The longest and the shortest of the window are left out; the rest averaged.
    assert minutes_per_patient([1.0, 9.0, 4.0, 5.0, 6.0], default=5) == pytest.approx((5 * 5 + 3 * 5) / 8)


def test_one_long_consultation_barely_moves_it():
    steady = [4.0] * 14
    before = minutes_per_patient(steady, default=5)
    after = minutes_per_patient([40.0, *steady], default=5)
    assert after - before < 0.1  # trimmed away; a plain mean would jump by more than 2 minutes


def test_the_wait_is_shared_by_the_open_counters():
    # Six ahead and what is left of the visits at the busy counters: 6.65 visits over the counters.
    assert wait_minutes(stats=stats(4.0, counters=2), people_ahead=6) == round(6.65 * 4 / 2)
    assert wait_minutes(stats=stats(4.0, counters=1), people_ahead=6) == round(6.65 * 4)


def test_next_waits_about_half_a_visit_and_no_counter_open_is_no_time():
    assert wait_minutes(stats=stats(), people_ahead=0) == 3  # every counter busy: what is left of a visit
    assert wait_minutes(stats=stats(counters=0), people_ahead=5) is None
    assert wait_minutes(stats=stats(counters=3), people_ahead=5, lines=0) is None


def test_serving_the_person_ahead_never_raises_the_estimate_much():
    """Seven ahead, then one is served in an ordinary time: the estimate goes down, not up."""
    window = [4.0, 5.0, 3.5, 6.0, 4.5, 5.5, 4.0, 5.0]
    before = wait_minutes(stats=stats(minutes_per_patient(window, default=5)), people_ahead=7)
    after = wait_minutes(stats=stats(minutes_per_patient([6.0, *window], default=5)), people_ahead=6)
    assert after <= before


def test_service_selection_shows_no_time_while_no_counter_is_open(opd, patients):
    services.join(patient=patients[0], service=opd)
    row = next(r for r in selectors.services_overview() if r["id"] == opd.pk)
    assert row["open_counters"] == 0 and row["estimated_wait_minutes"] is None


def test_service_selection_and_the_ticket_page_agree(opd, counters, patients):
    tickets = [services.join(patient=p, service=opd)[0] for p in patients[:5]]
    row = next(r for r in selectors.services_overview() if r["id"] == opd.pk)
    minutes = selectors.minutes_per_patient(opd.pk)
    assert row["estimated_wait_minutes"] == round(5.65 * minutes / 2)  # five waiting, two counters
    last = selectors.ticket_dict(tickets[-1])
    # One line for the service: the four before it, served by its two counters; as the page said.
    assert last["people_ahead"] == 4 and last["estimated_wait_minutes"] == round(4.65 * minutes / 2)
    assert estimates.wait_minutes(stats=selectors.service_stats(opd.pk, open_counters=1), people_ahead=2) == round(
        2.65 * minutes
    )


def test_nothing_to_wait_while_a_counter_is_free(opd, counters, patients):
    first = services.join(patient=patients[0], service=opd)[0]
    assert selectors.ticket_dict(first)["estimated_wait_minutes"] == 0  # both counters have nobody


def test_service_selection_with_nobody_waiting_shows_no_wait(opd, counters):
    row = next(r for r in selectors.services_overview() if r["id"] == opd.pk)
    assert row["people_waiting"] == 0 and row["estimated_wait_minutes"] == 0
