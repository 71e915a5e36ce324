"""The read side (queue_app/selectors.py): a ticket's place and wait, and the average service time
it is estimated from."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from queue_app import selectors, services
from queue_app.models import Ticket

pytestmark = pytest.mark.django_db


def join_all(service, patients):
    return [services.join(patient=p, service=service)[0] for p in patients]


def refresh(ticket):
    return Ticket.objects.get(pk=ticket.pk)


def test_position_and_wait_count_people_ahead_at_the_same_counter(opd, counters, patients):
    tickets = join_all(opd, patients[:5])  # c1: 1,3,5
    data = selectors.ticket_dict(refresh(tickets[4]))
    assert data["people_ahead"] == 2 and data["position"] == 3
    assert data["estimated_wait_minutes"] == 2 * 5  # the default service time before any data


def test_estimated_wait_uses_todays_average_service_time(opd, counters, patients):
    tickets = join_all(opd, patients[:5])
    services.serve_next(counter=counters[0], by=None)
    Ticket.objects.filter(pk=tickets[0].pk).update(called_at=timezone.now() - timedelta(minutes=12))
    services.serve_next(counter=counters[0], by=None)  # served one in 12 minutes
    data = selectors.ticket_dict(refresh(tickets[4]))
    assert data["people_ahead"] == 0 and data["minutes_per_patient"] == pytest.approx(12, abs=0.1)


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
    assert selectors.minutes_per_patient(opd.pk) == pytest.approx(12, abs=0.1)
    # A serve by another server process is seen once the memo has run out.
    Ticket.objects.filter(pk=tickets[0].pk).update(called_at=timezone.now() - timedelta(minutes=20))
    assert selectors.minutes_per_patient(opd.pk) == pytest.approx(12, abs=0.1)
    later = selectors.time.monotonic() + selectors.MINUTES_MEMO_SECONDS + 1
    monkeypatch.setattr(selectors.time, "monotonic", lambda: later)
    assert selectors.minutes_per_patient(opd.pk) == pytest.approx(20, abs=0.1)


def test_a_served_ticket_sent_elsewhere_leaves_the_average_at_once(opd, lab, counters, patients, admin_user):
    first = join_all(opd, patients[:1])[0]
    services.serve_next(counter=counters[0], by=None)
    Ticket.objects.filter(pk=first.pk).update(called_at=timezone.now() - timedelta(minutes=12))
    services.serve_next(counter=counters[0], by=None)
    assert selectors.minutes_per_patient(opd.pk) == pytest.approx(12, abs=0.1)
    services.move_to_service(ticket=refresh(first), service=lab, by=admin_user)
    assert selectors.minutes_per_patient(opd.pk) == settings.DEFAULT_SERVICE_MINUTES
