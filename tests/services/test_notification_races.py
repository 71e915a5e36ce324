"""Patient texts under real concurrency (threads, separate connections): MariaDB/MySQL only, as in
test_concurrency.py. On SQLite the IMMEDIATE transaction serialises everything."""

from collections import Counter as Tally

import pytest
from django.db import close_old_connections

from queue_app import services
from queue_app.models import Notification
from queue_app.services import sending
from queue_app.sms import locmem

from ..factories import PatientFactory, ServiceFactory
from .test_concurrency import ON_MYSQL, run_threads, seated_counters, serve_until_empty

pytestmark = [
    pytest.mark.mysql,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not ON_MYSQL, reason="row locking needs MariaDB/MySQL: set DATABASE_URL=mysql://..."),
]


def test_two_sweepers_racing_send_each_text_once():
    service = ServiceFactory(service_name="OPD", notify_near_at=60)
    seated_counters(service, 2)
    for patient in PatientFactory.create_batch(40):
        services.join(patient=patient, service=service)
    assert Notification.objects.filter(status="pending").count() == 40

    def sweeper():
        close_old_connections()
        while sending.send_due(limit=3).claimed:
            pass

    run_threads([sweeper for _ in range(4)])

    assert Notification.objects.filter(status="sent").count() == 40
    assert max(Tally(m.to for m in locmem.outbox).values()) == 1
    assert len(locmem.outbox) == 40


def test_the_near_text_comes_exactly_at_the_threshold_under_calls_at_several_counters():
    service = ServiceFactory(service_name="OPD", notify_near_at=2)
    counters = seated_counters(service, 4)
    tickets = [services.join(patient=p, service=service)[0] for p in PatientFactory.create_batch(60)]

    run_threads([serve_until_empty(c, c.held_by) for c in counters for _ in range(2)])

    near = {row.ticket_id: row.body for row in Notification.objects.filter(kind="near")}
    assert Notification.objects.filter(kind="near").count() == len(near)  # at most once a ticket
    # One line for the service: every ticket passes 2 ahead on its way to a counter, whichever
    # counter calls. The first three joined with 0, 1 and 2 ahead (before any call, with counters
    # open); every later one heard it at exactly 2 ahead.
    assert set(near) == {t.pk for t in tickets}
    assert all(", 2 ahead" in near[t.pk] for t in tickets[3:])
    assert Notification.objects.filter(kind="called").count() == 60
