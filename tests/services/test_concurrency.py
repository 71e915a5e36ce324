"""Concurrency on MariaDB/MySQL with real threads and separate connections.

Row locks only show on a server database: on SQLite the whole database is one lock, so these run
in CI's MariaDB pass and are skipped (with the reason) on SQLite.
"""

import threading
from collections import Counter as Tally

import pytest
from django.db import close_old_connections, connection

from queue_app import services
from queue_app.models import Counter, QueueHistory, Ticket

from ..conftest import ON_MYSQL
from ..factories import CounterFactory, PatientFactory, ServiceFactory, StaffFactory

pytestmark = [
    pytest.mark.mysql,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not ON_MYSQL, reason="row locking needs MariaDB/MySQL: set DATABASE_URL=mysql://..."),
]


def run_threads(workers, timeout=120):
    """Start all workers at once (a barrier), wait for them, re-raise the first error."""
    barrier = threading.Barrier(len(workers))
    errors = []

    def wrap(fn):
        def target():
            try:
                barrier.wait()
                fn()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                connection.close()

        return target

    threads = [threading.Thread(target=wrap(w)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), "a worker hung (deadlock?)"
    if errors:
        raise errors[0]


def seated_counters(service, n):
    return [
        services.hold_counter(counter=CounterFactory(service=service), staff=StaffFactory(username=f"op{i}"))
        for i in range(n)
    ]


def serve_until_empty(counter, staff):
    def work():
        close_old_connections()
        while True:
            try:
                services.serve_next(counter=counter, by=staff)
            except services.NobodyWaiting:
                return

    return work


def called_once_each(tickets):
    calls = Tally(QueueHistory.objects.filter(action="called").values_list("ticket_id", flat=True))
    return {t.pk: calls.get(t.pk, 0) for t in tickets}


def test_eight_threads_on_four_counters_call_every_ticket_exactly_once():
    service = ServiceFactory(service_name="OPD")
    counters = seated_counters(service, 4)
    patients = PatientFactory.create_batch(400)
    tickets = [services.join(patient=p, service=service)[0] for p in patients]

    run_threads([serve_until_empty(c, c.held_by) for c in counters for _ in range(2)])

    assert set(called_once_each(tickets).values()) == {1}
    assert Ticket.objects.filter(status="served").count() == 400
    assert QueueHistory.objects.filter(action="served").count() == 400


def test_fifty_concurrent_joins_get_numbers_one_to_fifty():
    service = ServiceFactory(service_name="OPD")
    seated_counters(service, 2)
    patients = PatientFactory.create_batch(50)

    def joiner(patient):
        return lambda: services.join(patient=patient, service=service)

    run_threads([joiner(p) for p in patients])

    numbers = sorted(Ticket.objects.values_list("number", flat=True))
    assert numbers == list(range(1, 51))
    assert len(set(Ticket.objects.values_list("queue_id", flat=True))) == 50


def test_changes_of_two_services_at_once_never_deadlock():
    # Each change locks its service's row; marking the counters that must refresh once read
    # every service's row through a join, so two services' changes waited on each other and
    # MariaDB rolled one back (a 503 to the patient).
    opd, lab = ServiceFactory(service_name="OPD"), ServiceFactory(service_name="Lab")
    counters = seated_counters(opd, 2) + [
        services.hold_counter(counter=CounterFactory(service=lab), staff=StaffFactory(username=f"lab{i}"))
        for i in range(2)
    ]
    patients = PatientFactory.create_batch(80)

    def joins(batch, service):
        def work():
            close_old_connections()
            for patient in batch:
                services.join(patient=patient, service=service)

        return work

    run_threads([joins(patients[i::8], (opd, lab)[i % 2]) for i in range(8)])
    run_threads([serve_until_empty(c, c.held_by) for c in counters])

    assert Ticket.objects.filter(status="served").count() == 80
    assert set(called_once_each(Ticket.objects.all()).values()) == {1}


def test_a_counters_heartbeat_during_its_calls_and_joins_never_deadlocks():
    # A change checks its new rows' counter (a shared lock, for the foreign key) and then marks
    # the counter's version (an exclusive one): the dashboard's heartbeat asking for the row in
    # between made MariaDB roll one of them back (a 503 at the counter).
    service = ServiceFactory(service_name="OPD")
    counter = seated_counters(service, 1)[0]
    patients = PatientFactory.create_batch(150)
    done = threading.Event()

    def joins():
        close_old_connections()
        for patient in patients:
            services.join(patient=patient, service=service)

    def calls():
        close_old_connections()
        for _ in patients:
            try:
                services.serve_next(counter=counter, by=counter.held_by)
            except services.NobodyWaiting:
                pass
        done.set()

    def heartbeats():
        close_old_connections()
        while not done.is_set():
            services.counter_heartbeat(counter_id=counter.pk, staff=counter.held_by)

    run_threads([joins, calls, heartbeats])
    assert Ticket.objects.count() == 150


def test_the_same_patient_joining_from_two_tabs_gets_one_ticket():
    service = ServiceFactory(service_name="OPD")
    seated_counters(service, 1)
    patient = PatientFactory()
    run_threads([lambda: services.join(patient=patient, service=service) for _ in range(6)])
    assert Ticket.objects.count() == 1


def test_one_phone_joining_six_services_at_once_stays_within_its_ticket_limit(settings):
    settings.MAX_ACTIVE_TICKETS_PER_PHONE = 2
    patient = PatientFactory()
    offered = [ServiceFactory(service_name=f"Clinic {n}") for n in range(6)]

    def joiner(service):
        def work():
            try:
                services.join(patient=patient, service=service)
            except services.TicketLimitReached:
                pass

        return work

    run_threads([joiner(s) for s in offered])

    assert Ticket.objects.filter(patient=patient).count() == 2


def test_break_while_others_serve_and_patients_join_keeps_every_ticket_in_one_place():
    service = ServiceFactory(service_name="OPD")
    c1, c2, c3 = seated_counters(service, 3)
    first = [services.join(patient=p, service=service)[0] for p in PatientFactory.create_batch(60)]
    newcomers = PatientFactory.create_batch(40)

    def toggle_break():
        for status in ["break", "available", "break", "available", "break"]:
            services.set_status(counter=c1, status=status, by=c1.held_by)

    def join_more():
        for p in newcomers:
            services.join(patient=p, service=service)

    def serve_some(counter):
        def work():
            for i in range(15):
                action = services.skip if i % 4 == 3 else services.serve_next
                try:
                    action(counter=counter, by=counter.held_by)
                except services.QueueError:
                    pass  # nobody waiting / no current ticket at that moment: allowed answers

        return work

    run_threads([toggle_break, join_more, serve_some(c2), serve_some(c3)])

    assert Counter.objects.get(pk=c1.pk).current_status == "break"
    assert not Ticket.objects.filter(counter=c1, status="waiting").exists()
    total = Ticket.objects.count()
    assert total == len(first) + len(newcomers)
    assert Ticket.objects.filter(status__in=["waiting", "called", "served", "skipped"]).count() == total
    assert Ticket.objects.filter(status="waiting", counter__isnull=True).count() == 0  # c2/c3 stayed open
    assert max(called_once_each(Ticket.objects.all()).values()) == 1
    # Join order kept: each counter's waiting list is in join order and every number is unique.
    for counter in (c2, c3):
        joined = list(Ticket.objects.filter(counter=counter, status="waiting").order_by("joined_at", "id"))
        numbers = [t.number for t in joined]
        assert numbers == sorted(numbers)
    assert len(set(Ticket.objects.values_list("number", flat=True))) == total


def test_an_idle_counter_taking_from_a_busy_one_never_calls_a_ticket_twice():
    service = ServiceFactory(service_name="OPD")
    busy, idle = seated_counters(service, 2)
    services.set_status(counter=idle, status="break", by=None)  # every join goes to `busy`
    tickets = [services.join(patient=p, service=service)[0] for p in PatientFactory.create_batch(80)]
    services.set_status(counter=idle, status="available", by=None)
    assert not Ticket.objects.filter(counter=idle, status="waiting").exists()

    run_threads([serve_until_empty(busy, busy.held_by), serve_until_empty(idle, idle.held_by)])

    calls = called_once_each(tickets)
    assert set(calls.values()) == {1}
    assert Ticket.objects.filter(counter=idle).exists(), "the idle counter should have taken tickets"


def test_racing_counters_call_the_one_line_in_order_with_priorities_bounded():
    """Four counters racing over one line with priority patients among 120: every ticket is
    called once, and the calls, in the order the service lock let them happen, are the order's."""
    from queue_app.models import PriorityCategory

    service = ServiceFactory(service_name="OPD", priority_calls_in_a_row=2)
    elderly = PriorityCategory.objects.update_or_create(code="60+", defaults={"name": "Elderly", "rank": 1})[0]
    counters = seated_counters(service, 4)
    admin = StaffFactory(username="desk", role="admin")
    tickets = [
        services.join(patient=p, service=service, priority=elderly if i % 3 == 0 else None, by=admin)[0]
        for i, p in enumerate(PatientFactory.create_batch(120))
    ]

    run_threads([serve_until_empty(c, c.held_by) for c in counters for _ in range(2)])

    assert set(called_once_each(tickets).values()) == {1}
    calls = QueueHistory.objects.filter(action="called").order_by("id").values_list("ticket_id", flat=True)
    with_priority = {t.pk for t in tickets if t.priority_id}
    priority_calls = [pk for pk in calls if pk in with_priority]
    ordinary_calls = [pk for pk in calls if pk not in with_priority]
    # First come, first served within each class, whichever counter called.
    assert priority_calls == [t.pk for t in tickets if t.pk in with_priority]
    assert ordinary_calls == [t.pk for t in tickets if t.pk not in with_priority]
    # Never more than two priority calls in a row while someone without priority waited.
    in_a_row, ordinary_left = 0, len(ordinary_calls)
    for pk in calls:
        if pk in with_priority:
            in_a_row += 1 if ordinary_left else 0
            assert in_a_row <= 2
        else:
            in_a_row, ordinary_left = 0, ordinary_left - 1
