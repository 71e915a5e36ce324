"""Housekeeping runs on a schedule, not on requests: `manage.py housekeeping` and each server
process's housekeeper thread expire earlier days' tickets and release idle counters."""

import asyncio
import io
import logging
import threading
from datetime import timedelta

import pytest
from asgiref.sync import SyncToAsync
from django.core.management import call_command
from django.db import DatabaseError
from django.utils import timezone

from queue_app import background, services
from queue_app.models import Counter, Ticket

from ..factories import PatientFactory


def _yesterdays_tickets(opd, count=2):
    for _ in range(count):
        services.join(patient=PatientFactory(), service=opd)
    Ticket.objects.update(service_date=timezone.localdate() - timedelta(days=1))


def _quiet_since_before_the_cutoff(counter, settings):
    long_ago = timezone.now() - timedelta(minutes=settings.COUNTER_IDLE_MINUTES + 1)
    Counter.objects.filter(pk=counter.pk).update(last_seen_at=long_ago)


def _held(counter) -> bool:
    return Counter.objects.get(pk=counter.pk).held_by_id is not None


def test_the_command_expires_yesterdays_open_tickets_and_releases_idle_counters(opd, counters, settings):
    _yesterdays_tickets(opd)
    _quiet_since_before_the_cutoff(counters[0], settings)
    out = io.StringIO()

    call_command("housekeeping", stdout=out)

    assert out.getvalue().strip() == "2 tickets expired, 1 counters released."
    assert set(Ticket.objects.values_list("status", flat=True)) == {"expired"}
    assert not _held(counters[0]) and _held(counters[1])


def test_a_request_no_longer_triggers_housekeeping(client, opd, counters, settings, monkeypatch):
    _yesterdays_tickets(opd)
    _quiet_since_before_the_cutoff(counters[0], settings)
    called = []
    for name in ("rollover_if_new_day", "expire_previous_days", "release_idle_counters"):
        monkeypatch.setattr(services, name, lambda *args, name=name, **kwargs: called.append(name))

    assert client.get("/display/").status_code == 200
    assert client.get("/staff/login/").status_code == 200

    assert called == []

    assert set(Ticket.objects.values_list("status", flat=True)) == {"waiting"}
    assert _held(counters[0])


@pytest.mark.django_db(transaction=True)
def test_the_housekeeper_runs_a_round_and_survives_a_database_error(opd, counters, settings, monkeypatch, caplog):
    _quiet_since_before_the_cutoff(counters[0], settings)
    caplog.set_level(logging.WARNING, logger="queue.housekeeping")
    real, calls = services.expire_previous_days, []

    def database_gone_the_first_time():
        calls.append(1)
        if len(calls) == 1:
            raise DatabaseError("server has gone away")
        return real()

    monkeypatch.setattr(services, "expire_previous_days", database_gone_the_first_time)
    a_round, done = background.housekeeping, threading.Event()

    def round_then_tell():
        result = a_round()
        done.set()
        return result

    monkeypatch.setattr(background, "housekeeping", round_then_tell)
    housekeeper = background.Housekeeper(interval=0.05)
    housekeeper.start()
    try:
        # Waited for, not polled: SQLite's shared in-memory test database locks whole tables.
        assert done.wait(10)
    finally:
        housekeeper.stop()
        housekeeper.join(10)

    assert "housekeeping skipped: database unavailable" in caplog.text
    assert len(calls) >= 2 and not _held(counters[0])


def test_a_round_without_a_turn_is_skipped_and_the_next_one_tries_again(opd, counters, settings, monkeypatch, caplog):
    _quiet_since_before_the_cutoff(counters[0], settings)
    caplog.set_level(logging.WARNING, logger="queue.housekeeping")
    real = services.expire_previous_days

    def no_turn():
        raise services.Busy()

    monkeypatch.setattr(services, "expire_previous_days", no_turn)
    housekeeper = background.Housekeeper(interval=60)
    assert housekeeper.run_once() is None
    assert "housekeeping skipped: no turn" in caplog.text and _held(counters[0])

    monkeypatch.setattr(services, "expire_previous_days", real)
    assert housekeeper.run_once() == background.Housekeeping(expired=0, released=1)
    assert not _held(counters[0])


def test_each_server_process_starts_one_housekeeper_and_none_when_the_interval_is_zero(monkeypatch):
    monkeypatch.setattr(background, "_housekeeper", None)

    async def app(scope, receive, send):
        pass

    assert background.with_housekeeping(app, every=0) is app and background._housekeeper is None
    background.with_housekeeping(app, every=3600)
    first = background._housekeeper
    try:
        background.with_housekeeping(app, every=3600)
        assert background._housekeeper is first and first.is_alive()
        assert sum(t.name == "housekeeper" for t in threading.enumerate()) == 1
    finally:
        first.stop()
        first.join(5)


async def test_inside_a_server_a_round_runs_on_the_servers_event_loop(monkeypatch):
    """So the events it sends reach this process's sockets as a request's would."""
    seen = {}

    def record_round():
        seen["loop"] = SyncToAsync.threadlocal.main_event_loop
        return background.Housekeeping(expired=0, released=0)

    monkeypatch.setattr(background, "housekeeping", record_round)
    housekeeper = background.Housekeeper(interval=60)

    async def app(scope, receive, send):
        pass

    await housekeeper.serving(app)({"type": "http"}, None, None)
    # The housekeeper's own thread asks for the round; the server's loop runs it.
    assert await asyncio.to_thread(housekeeper.run_once) == (0, 0)
    assert seen["loop"] is asyncio.get_running_loop()
