"""Queue changes take turns per process (QUEUE_CHANGE_CONCURRENCY) before they start their
transaction, instead of all queueing inside the database on a service's lock.

First services.turns.Turns itself: at most N holders, the others let in in the order they came;
then `queue_change`, which every rule runs under."""

import threading
import time

import pytest
from django.db import connection
from django.urls import reverse

from queue_app.errors import NobodyWaiting
from queue_app.models import Counter, Ticket
from queue_app.services import changes as rules
from queue_app.services.turns import Turns

from ..conftest import ON_MYSQL

# --- Turns ----------------------------------------------------------------------------------------


def wait_until(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_a_returned_turn_goes_to_the_thread_waiting_for_it_not_back_to_the_one_returning_it():
    """threading.Semaphore lets the returning thread take the turn again at once; under a steady
    stream of changes a waiting request then went without a turn until it gave up."""
    turns = Turns(1)
    assert turns.acquire()
    got = threading.Event()
    waiter = threading.Thread(target=lambda: turns.acquire(timeout=5) and got.set())
    waiter.start()
    wait_until(lambda: turns._waiting)

    turns.release()
    assert not turns.acquire(blocking=False)  # it is the waiter's now
    waiter.join(timeout=5)
    assert got.is_set()
    turns.release()
    assert turns.acquire(blocking=False)


def test_waiting_threads_get_their_turn_in_the_order_they_came():
    turns, order = Turns(1), []
    assert turns.acquire()
    threads = []
    for number in range(5):
        thread = threading.Thread(target=lambda n=number: (turns.acquire(timeout=5), order.append(n), turns.release()))
        thread.start()
        threads.append(thread)
        wait_until(lambda n=number: len(turns._waiting) == n + 1)
    turns.release()
    for thread in threads:
        thread.join(timeout=5)
    assert order == [0, 1, 2, 3, 4]


def test_a_wait_that_runs_out_gives_up_its_place_in_line():
    turns = Turns(1)
    assert turns.acquire()
    assert not turns.acquire(timeout=0.01)
    assert not turns._waiting
    turns.release()
    assert turns.acquire(blocking=False)


def test_at_most_size_turns_and_never_more_released_than_taken():
    turns = Turns(2)
    assert turns.acquire(blocking=False) and turns.acquire(blocking=False)
    assert not turns.acquire(blocking=False)
    turns.release()
    turns.release()
    with pytest.raises(ValueError):
        turns.release()


# --- queue_change: a rule waits for its turn, then opens its transaction --------------------------


@pytest.fixture
def two_turns(monkeypatch):
    monkeypatch.setattr(rules, "_turns", Turns(2))


@pytest.mark.django_db(transaction=True)
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


@pytest.mark.django_db(transaction=True)
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


@pytest.mark.django_db(transaction=True)
def test_a_failed_change_gives_its_turn_back(monkeypatch):
    monkeypatch.setattr(rules, "_turns", Turns(1))

    @rules.queue_change
    def failing():
        raise NobodyWaiting()

    for _ in range(3):
        with pytest.raises(NobodyWaiting):
            failing()
    assert rules._turns.acquire(blocking=False)


@pytest.mark.django_db(transaction=True)
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


@pytest.mark.django_db(transaction=True)
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
