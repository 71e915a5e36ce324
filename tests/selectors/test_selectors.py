"""The read side (queue_app/selectors.py): a ticket's place and wait, and the average service time
it is estimated from."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from queue_app import estimates, selectors, services
from queue_app.models import Ticket

from ..factories import CounterFactory

pytestmark = pytest.mark.django_db


def join_all(service, patients):
    return [services.join(patient=p, service=service)[0] for p in patients]


def refresh(ticket):
    return Ticket.objects.get(pk=ticket.pk)


def test_position_is_the_place_in_the_services_line_and_the_wait_is_shared_by_its_counters(opd, counters, patients):
    tickets = join_all(opd, patients[:5])  # expected at c1, c2, c1, c2, c1: one line all the same
    data = selectors.ticket_dict(refresh(tickets[4]))
    assert data["people_ahead"] == 4 and data["position"] == 5
    # The default service time before any data (5 minutes), two counters calling from the line.
    # Four ahead and both counters busy with someone by then: 4.65 visits of 5 minutes over two.
    assert data["minutes_per_place"] == 2.5 and data["estimated_wait_minutes"] == round(4.65 * 5 / 2)


def test_with_a_line_per_counter_the_position_is_at_the_counter(per_counter_lines, counters, patients):
    tickets = join_all(per_counter_lines, patients[:5])  # c1: 1,3,5
    data = selectors.ticket_dict(refresh(tickets[4]))
    assert data["people_ahead"] == 2 and data["position"] == 3
    assert data["estimated_wait_minutes"] == round(2.65 * 5)  # the default service time before any data


def one_served_in(minutes: float) -> float:
    """The service's time a patient after one served in `minutes` (estimates.py leans on the
    default until a few are served)."""
    return estimates.minutes_per_patient([minutes], default=settings.DEFAULT_SERVICE_MINUTES)


def test_estimated_wait_uses_todays_service_times(opd, counters, patients):
    tickets = join_all(opd, patients[:5])
    services.serve_next(counter=counters[0], by=None)
    Ticket.objects.filter(pk=tickets[0].pk).update(called_at=timezone.now() - timedelta(minutes=12))
    services.serve_next(counter=counters[0], by=None)  # served one in 12 minutes
    data = selectors.ticket_dict(refresh(tickets[4]))  # #2 at the counter; #3, #4 ahead
    per_patient = one_served_in(12)
    assert data["people_ahead"] == 2 and data["minutes_per_place"] == pytest.approx(per_patient / 2, abs=0.01)
    assert data["estimated_wait_minutes"] == round(2.65 * per_patient / 2)  # two counters share the line


def test_the_average_is_remembered_briefly_and_forgotten_when_someone_is_served(
    opd, counters, patients, monkeypatch, django_assert_num_queries
):
    tickets = join_all(opd, patients[:3])
    services.serve_next(counter=counters[0], by=None)
    Ticket.objects.filter(pk=tickets[0].pk).update(called_at=timezone.now() - timedelta(minutes=12))
    assert selectors.minutes_per_patient(opd.pk) == settings.DEFAULT_SERVICE_MINUTES  # nobody served yet
    with django_assert_num_queries(0):
        assert selectors.minutes_per_patient(opd.pk) == settings.DEFAULT_SERVICE_MINUTES
    services.serve_next(counter=counters[0], by=None)  # served one in 12 minutes: read afresh
    assert selectors.minutes_per_patient(opd.pk) == pytest.approx(one_served_in(12), abs=0.01)
    # A serve by another server process is seen once the memo has run out.
    Ticket.objects.filter(pk=tickets[0].pk).update(called_at=timezone.now() - timedelta(minutes=20))
    assert selectors.minutes_per_patient(opd.pk) == pytest.approx(one_served_in(12), abs=0.01)
    later = selectors.time.monotonic() + selectors.MINUTES_MEMO_SECONDS + 1
    monkeypatch.setattr(selectors.time, "monotonic", lambda: later)
    assert selectors.minutes_per_patient(opd.pk) == pytest.approx(one_served_in(20), abs=0.01)


def test_a_served_ticket_sent_elsewhere_leaves_the_average_at_once(opd, lab, counters, patients, admin_user):
    first = join_all(opd, patients[:1])[0]
    services.serve_next(counter=counters[0], by=None)
    Ticket.objects.filter(pk=first.pk).update(called_at=timezone.now() - timedelta(minutes=12))
    services.serve_next(counter=counters[0], by=None)
    assert selectors.minutes_per_patient(opd.pk) == pytest.approx(one_served_in(12), abs=0.01)
    services.move_to_service(ticket=refresh(first), service=lab, by=admin_user)
    assert selectors.minutes_per_patient(opd.pk) == settings.DEFAULT_SERVICE_MINUTES


# --- a counter taken over ------------------------------------------------------------------------


def test_a_counter_taken_over_names_who_took_it_and_when(staff, counters):
    before = timezone.now()
    services.hold_counter(counter=counters[0], staff=staff[2], force=True)
    taken = selectors.counter_taken_over(staff[0])
    assert taken.counter == counters[0] and taken.by == staff[2]
    assert before <= taken.at <= timezone.now()


def test_a_counter_left_by_its_holder_and_then_taken_is_no_take_over(staff, counters):
    services.release_counter(staff=staff[0])
    services.hold_counter(counter=counters[0], staff=staff[2])
    assert selectors.counter_taken_over(staff[0]) is None


def test_a_counter_taken_over_after_its_holder_moved_on_is_not_theirs_to_miss(staff, counters, opd):
    services.hold_counter(counter=CounterFactory(counter_name="Counter 3", service=opd), staff=staff[0])
    services.hold_counter(counter=counters[0], staff=staff[2], force=True)  # counter 1 was free by then
    assert selectors.counter_taken_over(staff[0]) is None


def test_a_take_over_before_the_staff_members_login_is_old_news(staff, counters):
    services.hold_counter(counter=counters[0], staff=staff[2], force=True)
    assert selectors.counter_taken_over(staff[0], since=timezone.now() + timedelta(seconds=1)) is None
    assert selectors.counter_taken_over(staff[0], since=timezone.now() - timedelta(minutes=5)) is not None


def test_staff_who_never_held_a_counter_lost_none(staff, counters):
    assert selectors.counter_taken_over(staff[3]) is None
