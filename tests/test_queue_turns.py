"""Queue changes take turns per process (QUEUE_CHANGE_CONCURRENCY) before they start their
transaction, instead of all queueing inside the database on a service's lock."""

import threading
import time

import pytest
from django.db import connection
from django.urls import reverse

from queue_app.models import Counter, Ticket
from queue_app.services import queue as rules
from queue_app.services.turns import Turns

from .conftest import ON_MYSQL

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def two_turns(monkeypatch):
    monkeypatch.setattr(rules, "_turns", Turns(2))


@pytest.mark.skipif(not ON_MYSQL, reason="needs MariaDB/MySQL: SQLite runs one write transaction at a time")
def test_at_most_the_allowed_number_of_changes_run_at_once(two_turns):
    inside = peak = 0
    count = threading.Lock()

    @rules.queue_change
    def change():
        nonlocal inside, peak
        with count:
            inside += 1
            peak = max(peak, inside)
        assert connection.in_atomic_block  # the turn is taken before the transaction starts
        time.sleep(0.05)
        with count:
            inside -= 1
        connection.close()  # this thread's own connection

    threads = [threading.Thread(target=change) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert peak == 2 and inside == 0


def test_a_rule_called_from_another_runs_in_its_turn(monkeypatch):
    monkeypatch.setattr(rules, "_turns", Turns(1))

    @rules.queue_change
    def inner():
        return "done"

    @rules.queue_change
    def outer():
        return inner()

    result = []
    worker = threading.Thread(target=lambda: result.append(outer()))
    worker.start()
    worker.join(5)
    assert result == ["done"]  # with one turn, asking again from inside would wait for ever


def test_a_failed_change_gives_its_turn_back(monkeypatch):
    monkeypatch.setattr(rules, "_turns", Turns(1))

    @rules.queue_change
    def failing():
        raise rules.NobodyWaiting()

    for _ in range(3):
        with pytest.raises(rules.NobodyWaiting):
            failing()
    assert rules._turns.acquire(blocking=False)


def test_a_change_that_gets_no_turn_in_time_is_busy_and_changes_nothing(
    monkeypatch, settings, signed_in_phone, opd, counters
):
    monkeypatch.setattr(rules, "_turns", Turns(1))
    settings.HTTP_QUEUE_SECONDS = 1
    assert rules._turns.acquire()  # every turn of this process is taken, and stays taken
    response = signed_in_phone.api("/queue/join/", {"service_id": opd.pk})
    assert response.status_code == 503 and response["Retry-After"] == "2"
    assert response.json() == {"error": "The service is busy, please try again in a moment.", "code": "unavailable"}
    assert not Ticket.objects.exists()
    rules._turns.release()
    assert signed_in_phone.api("/queue/join/", {"service_id": opd.pk}).status_code == 201


def test_a_page_whose_change_gets_no_turn_answers_busy_not_500(monkeypatch, settings, client, counters):
    monkeypatch.setattr(rules, "_turns", Turns(1))
    settings.HTTP_QUEUE_SECONDS = 1
    client.force_login(counters[0].held_by)
    client.raise_request_exception = False
    assert rules._turns.acquire()
    response = client.post(reverse("staff_logout"))
    assert response.status_code == 503 and response["Retry-After"] == "2"
    assert response.content.decode() == "The service is busy, please try again in a moment."
    assert Counter.objects.get(pk=counters[0].pk).held_by_id == counters[0].held_by_id  # still held
    rules._turns.release()
    assert client.post(reverse("staff_logout")).status_code == 302
