"""Remembered statements (queue_app/statements.py): compiled once, run again with fresh rows."""

import threading
from unittest import mock

import pytest
from django.db import connection, transaction
from django.db.models.sql.compiler import SQLCompiler
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from queue_app import statements
from queue_app.models import Counter, Service

from ..factories import CounterFactory, ServiceFactory

pytestmark = pytest.mark.django_db


@statements.remembered
def active_services(is_active):
    return Service.objects.filter(is_active=is_active).order_by("pk")


@statements.remembered
def services_named(ids):
    return Service.objects.filter(pk__in=ids)


@statements.remembered
def counters_for_update(service_id):
    return Counter.objects.filter(service_id=service_id).select_related("service").select_for_update()


@statements.remembered(values=("ids",))
def services_by_id(ids, is_active=True):
    return Service.objects.filter(pk__in=ids, is_active=is_active).order_by("pk")


@statements.remembered(values=("service_id", "name"))
def counter_named(service_id, name):
    return Counter.objects.filter(service_id=service_id, counter_name=name)


@statements.remembered(values=("pk",))
def service_row(pk):
    return Service.objects.filter(pk=pk)


@statements.remembered(values=("fragment",))
def services_containing(fragment):
    return Service.objects.filter(service_name__contains=fragment).order_by("pk")


@pytest.fixture(autouse=True)
def _nothing_remembered():
    statements._kept().clear()
    yield
    statements._kept().clear()


@pytest.fixture
def compiles():
    """How many times Django compiles a SELECT."""
    with mock.patch.object(SQLCompiler, "as_sql", autospec=True, side_effect=SQLCompiler.as_sql) as as_sql:
        yield as_sql


def test_a_remembered_read_is_compiled_once_and_reads_fresh_rows_each_time(compiles):
    first = ServiceFactory(service_name="First")
    compiles.reset_mock()
    assert active_services(True) == [first]
    assert compiles.call_count == 1
    second = ServiceFactory(service_name="Second")
    compiles.reset_mock()
    with CaptureQueriesContext(connection) as queries:
        assert active_services(True) == [first, second]
    assert compiles.call_count == 0
    assert len(queries) == 1


def test_other_arguments_are_another_statement(compiles):
    closed = ServiceFactory(service_name="Closed", is_active=False)
    compiles.reset_mock()
    assert active_services(False) == [closed]
    assert active_services(True) == []
    assert compiles.call_count == 2


def test_a_read_no_row_can_match_is_empty_as_django_makes_it(compiles):
    ServiceFactory()
    compiles.reset_mock()
    with CaptureQueriesContext(connection) as queries:
        assert services_named(()) == []
        assert services_named(()) == []
    assert len(queries) == 0
    assert compiles.call_count == 1


def test_rows_come_with_what_the_queryset_selects_related_and_a_lock():
    counter = CounterFactory(counter_name="Room 1")
    with transaction.atomic():
        counters_for_update(counter.service_id)
        with CaptureQueriesContext(connection) as queries:
            (again,) = counters_for_update(counter.service_id)
            assert again.service.service_name == counter.service.service_name
    assert len(queries) == 1
    if connection.features.has_select_for_update:
        assert "FOR UPDATE" in queries[0]["sql"]


@pytest.mark.skipif(not connection.features.has_select_for_update, reason="SQLite locks the whole database")
@pytest.mark.django_db(transaction=True)
def test_a_lock_outside_a_transaction_is_refused_as_django_refuses_it():
    counter = CounterFactory()
    with transaction.atomic():
        counters_for_update(counter.service_id)
    with pytest.raises(TransactionManagementError):
        counters_for_update(counter.service_id)


def test_only_the_latest_statements_are_kept(compiles, monkeypatch):
    monkeypatch.setattr(statements, "KEPT", 2)
    services = [ServiceFactory().pk for _ in range(3)]
    compiles.reset_mock()
    with transaction.atomic():
        for service_id in services:
            counters_for_update(service_id)
        assert len(statements._kept()) == 2
        counters_for_update(services[0])  # forgotten: compiled again
    assert compiles.call_count == 4


@pytest.mark.django_db(transaction=True)
def test_each_thread_compiles_its_own_statement_for_its_own_connection(compiles):
    service = ServiceFactory(service_name="Shared")
    compiles.reset_mock()
    assert active_services(True) == [service]
    seen = {}

    def read():
        try:
            seen["rows"] = active_services(True)
        finally:
            connection.close()

    thread = threading.Thread(target=read)
    thread.start()
    thread.join()
    assert seen["rows"] == [service]
    assert compiles.call_count == 2


def test_values_are_parameters_of_one_statement_compiled_once(compiles):
    a, b, c = (ServiceFactory(service_name=name) for name in "ABC")
    compiles.reset_mock()
    assert services_by_id((a.pk, b.pk)) == [a, b]
    assert compiles.call_count == 2  # once with each set of stand-ins
    compiles.reset_mock()
    with CaptureQueriesContext(connection) as queries:
        assert services_by_id((c.pk, a.pk)) == [a, c]
        assert services_by_id((b.pk, 10**9)) == [b]
    assert compiles.call_count == 0
    assert len(queries) == 2
    assert services_by_id((a.pk, b.pk, c.pk)) == [a, b, c]  # another length: another statement
    assert services_by_id((a.pk, b.pk), is_active=False) == []  # another key
    assert services_by_id(()) == []
    assert compiles.call_count == 6
    d = ServiceFactory(service_name="D")
    compiles.reset_mock()
    # Lists are padded to a power of two with their last id: three and four ids, one statement.
    assert services_by_id((d.pk, c.pk, b.pk, a.pk)) == [a, b, c, d]
    assert services_by_id((d.pk, a.pk, c.pk)) == [a, c, d]
    assert compiles.call_count == 0


def test_values_of_two_arguments_and_strings_each_go_to_their_place(compiles):
    one, two = CounterFactory(counter_name="Room 1"), CounterFactory(counter_name="Room 2")
    assert counter_named(one.service_id, "Room 1") == [one]
    compiles.reset_mock()
    assert counter_named(two.service_id, "Room 2") == [two]
    assert counter_named(two.service_id, "Room 1") == []
    assert counter_named(one.service_id, "Room 1") == [one]
    assert compiles.call_count == 0


def test_a_value_django_changes_on_its_way_is_compiled_every_time_and_still_right(compiles):
    opd, lab = ServiceFactory(service_name="OPD"), ServiceFactory(service_name="Lab tests")
    compiles.reset_mock()
    assert services_containing("PD") == [opd]  # __contains sends %PD%: not the value as given
    assert services_containing("tests") == [lab]
    assert compiles.call_count == 2 + 2


def test_a_value_of_another_kind_is_read_the_plain_way(compiles):
    first = ServiceFactory()
    compiles.reset_mock()
    assert services_by_id([first.pk]) == [first]  # a list, not a tuple
    assert service_row(2**70) == []  # past 64 bits: no row, as Django answers it
    assert service_row(None) == []
    assert len(statements._kept()) == 0


def test_an_id_out_of_the_columns_range_finds_no_row_as_django_does():
    first = ServiceFactory()
    assert service_row(first.pk) == [first]
    assert service_row(2**40) == []  # substituted: the database finds nothing, as Django's EmptyResultSet
