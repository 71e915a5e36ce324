"""The order of a service's line (queue_app/ordering.py), on plain rows."""

from datetime import UTC, datetime, timedelta

import pytest

from queue_app.ordering import Place, line, streak_after_call

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def place(pk, minute, rank=0, emergency=False):
    return Place(id=pk, joined_at=T0 + timedelta(minutes=minute), rank=rank, emergency=emergency)


def ids(places):
    return [p.id for p in places]


def test_without_priorities_the_line_is_join_order():
    places = [place(3, 2), place(1, 0), place(2, 1)]
    assert ids(line(places, streak=0, in_a_row=3)) == [1, 2, 3]


def test_equal_join_times_are_ordered_by_id():
    assert ids(line([place(2, 0), place(1, 0)], streak=0, in_a_row=3)) == [1, 2]


def test_priority_goes_ahead_of_ordinary_up_to_the_limit_in_a_row():
    ordinary = [place(i, i) for i in range(1, 4)]  # joined first
    priority = [place(10 + i, 10 + i, rank=1) for i in range(1, 6)]
    assert ids(line(ordinary + priority, streak=0, in_a_row=2)) == [11, 12, 1, 13, 14, 2, 15, 3]


def test_the_streak_so_far_counts_towards_the_limit():
    places = [place(1, 0), place(2, 5, rank=1), place(3, 6, rank=1)]
    assert ids(line(places, streak=1, in_a_row=2)) == [2, 1, 3]
    assert ids(line(places, streak=2, in_a_row=2)) == [1, 2, 3]


def test_higher_rank_first_then_join_order():
    places = [place(1, 0, rank=1), place(2, 1, rank=3), place(3, 2, rank=3), place(4, 3, rank=2)]
    assert ids(line(places, streak=0, in_a_row=5)) == [2, 3, 4, 1]


def test_emergencies_go_first_whatever_the_streak():
    places = [place(1, 0), place(2, 1, rank=1), place(3, 9, rank=9, emergency=True)]
    assert ids(line(places, streak=7, in_a_row=2)) == [3, 1, 2]


def test_a_limit_of_zero_turns_priorities_off_but_not_emergencies():
    places = [place(1, 0), place(2, 1, rank=5), place(3, 2, emergency=True)]
    assert ids(line(places, streak=0, in_a_row=0)) == [3, 1, 2]


def test_priority_calls_with_nobody_ordinary_waiting_do_not_count():
    places = [place(1, 0, rank=1), place(2, 1, rank=1)]
    assert ids(line(places, streak=5, in_a_row=2)) == [1, 2]
    assert streak_after_call(places[0], streak=5, others=places[1:]) == 0


@pytest.mark.parametrize(
    ("called", "others", "before", "after"),
    [
        (place(1, 0, rank=1), [place(2, 0)], 1, 2),  # held someone ordinary back
        (place(1, 0), [place(2, 0, rank=1)], 2, 0),  # an ordinary call restarts it
        (place(1, 0, emergency=True), [place(2, 0)], 2, 2),  # emergencies are outside the count
    ],
)
def test_streak_after_call(called, others, before, after):
    assert streak_after_call(called, streak=before, others=others) == after


def test_the_line_is_what_repeated_calls_would_call():
    """Calling the head again and again, with the streak each call leaves, gives the line."""
    places = [place(i, i, rank=(i % 3 == 0) * (1 + i % 2), emergency=i == 7) for i in range(1, 13)]
    expected = line(places, streak=1, in_a_row=2)
    called, streak, waiting = [], 1, list(places)
    while waiting:
        head = line(waiting, streak=streak, in_a_row=2)[0]
        waiting.remove(head)
        streak = streak_after_call(head, streak=streak, others=waiting)
        called.append(head)
    assert ids(called) == ids(expected)
