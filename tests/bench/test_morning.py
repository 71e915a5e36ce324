"""The simulated morning (bench/morning.py) runs with a handful of patients, so it cannot rot, and
its correctness figures hold: nobody called twice, lost or left unannounced, and one line per
service calls everyone of a class in the order they came."""

import pytest

from bench import morning


@pytest.mark.django_db(transaction=True)  # the `called` events leave at the real commit
@pytest.mark.parametrize("order", ["one-line", "per-counter"])
def test_a_small_morning_calls_everyone_once_and_tells_them(order):
    result = morning.simulate(seed=3, order=order, patients=20, minutes=20)

    assert result["correctness"] == {"called_twice": 0, "lost": 0, "never_announced": 0}
    assert result["calls"] >= 20
    assert set(result["waits"]) == {"OPD", "Test"}


@pytest.mark.django_db(transaction=True)
def test_one_line_per_service_overtakes_nobody_within_a_class():
    result = morning.simulate(seed=3, order="one-line", patients=20, minutes=20)

    assert (result["overtakes"], result["minutes_lost_max"]) == (0, 0.0)
