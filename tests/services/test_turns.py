"""services.turns.Turns: at most N holders, the others let in in the order they came."""

import threading
import time

import pytest

from queue_app.services.turns import Turns


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
