"""Position lists inside a server: coalesced per service, the latest state, never stale.

Inside an event loop (as under Daphne) the first change sends its list at once and the changes
within QUEUE_POSITION_INTERVAL_MS of it share one list read at the end of the interval; outside
one (commands, shell) every change sends its own list at once.
"""

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from queue_app import events, services

from ..factories import CounterFactory
from ..layer_helpers import Listener, frames, in_memory_layer  # noqa: F401 - the fixture, used below

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("in_memory_layer")]

INTERVAL_MS = 300


async def listen(group: str):
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    return layer, channel


async def lists(layer, channel, *, within: float) -> list[tuple[float, dict]]:
    """Every message of the channel for `within` seconds, with when it arrived."""
    received, deadline = [], time.monotonic() + within
    while (left := deadline - time.monotonic()) > 0:
        try:
            message = await asyncio.wait_for(layer.receive(channel), left)
        except TimeoutError:
            break
        (payload,) = frames(message)
        received.append((time.monotonic(), payload))
    return received


def waiting_numbers(payload: dict) -> list[int]:
    return sorted(n for c in payload["counters"].values() for n in c["waiting"]) + payload["unassigned"]


async def test_a_burst_of_changes_sends_one_list_now_and_one_with_the_end_state(settings, opd, counters, patients):
    join = sync_to_async(lambda p: services.join(patient=p, service=opd))
    for patient in patients[:8]:  # lists sent at once (interval 0): nothing pending afterwards
        await join(patient)
    layer, channel = await listen(events.queue_group(opd.pk))
    settings.QUEUE_POSITION_INTERVAL_MS = INTERVAL_MS

    # Five commits in a few milliseconds, each asking for its service's list, as
    # events.send does after a change. (Without writes in between: SQLite's in-memory test
    # database locks whole tables between threads; the bench and live servers cover writes.)
    started = time.monotonic()
    refresh = sync_to_async(events.refresh_positions)
    for _ in range(5):
        await refresh(opd.pk)
    last_asked = time.time() * 1000
    received = await lists(layer, channel, within=3 * INTERVAL_MS / 1000)

    assert len(received) == 2, [p["as_of"] for _, p in received]
    (first_at, first), (second_at, second) = received
    assert first_at - started < INTERVAL_MS / 1000  # the first change is not delayed
    assert second_at - first_at >= INTERVAL_MS / 1000 * 0.9
    assert first["as_of"] < second["as_of"]
    assert second["as_of"] >= last_asked  # read after the last change asked for it
    assert waiting_numbers(second) == [1, 2, 3, 4, 5, 6, 7, 8]


async def test_a_change_after_a_quiet_interval_is_sent_at_once(settings, opd, counters, patients):
    layer, channel = await listen(events.queue_group(opd.pk))
    settings.QUEUE_POSITION_INTERVAL_MS = INTERVAL_MS
    join = sync_to_async(lambda p: services.join(patient=p, service=opd))

    await join(patients[0])
    assert len(await lists(layer, channel, within=2 * INTERVAL_MS / 1000)) == 1
    started = time.monotonic()
    await join(patients[1])
    ((arrived, payload),) = await lists(layer, channel, within=2 * INTERVAL_MS / 1000)
    assert arrived - started < INTERVAL_MS / 1000
    assert waiting_numbers(payload) == [1, 2]


async def test_the_services_lists_are_coalesced_separately(settings, opd, lab, counters, patients, staff):
    await sync_to_async(lambda: services.hold_counter(counter=CounterFactory(service=lab), staff=staff[2]))()
    layer, opd_channel = await listen(events.queue_group(opd.pk))
    _, lab_channel = await listen(events.queue_group(lab.pk))
    settings.QUEUE_POSITION_INTERVAL_MS = INTERVAL_MS

    await sync_to_async(lambda: services.join(patient=patients[0], service=opd))()
    # Its list is read and sent at once (and nothing else runs meanwhile: SQLite's in-memory test
    # database locks tables between threads).
    opd_first = await asyncio.wait_for(layer.receive(opd_channel), INTERVAL_MS / 1000)
    await sync_to_async(lambda: services.join(patient=patients[0], service=lab))()
    started = time.monotonic()  # after the join itself, whose own time says nothing of coalescing
    # Inside the OPD list's interval, the lab's first list is not held back by it.
    lab_lists = await lists(layer, lab_channel, within=INTERVAL_MS / 1000 / 2)
    assert frames(opd_first)[0]["service_id"] == opd.pk
    assert [p["service_id"] for _, p in lab_lists] == [lab.pk]
    assert lab_lists[0][0] - started < INTERVAL_MS / 1000 / 2
    assert await lists(layer, opd_channel, within=2 * INTERVAL_MS / 1000) == []  # OPD did not change again


def test_outside_a_server_every_change_sends_its_list_at_once(settings, opd, counters, patients):
    settings.QUEUE_POSITION_INTERVAL_MS = 5000
    listener = Listener(events.queue_group(opd.pk))
    for patient in patients[:3]:
        services.join(patient=patient, service=opd)
    received = [m for m in listener.messages(wait=0.3) if m["type"] == "queue_position"]
    assert [waiting_numbers(m) for m in received] == [[1], [1, 2], [1, 2, 3]]
