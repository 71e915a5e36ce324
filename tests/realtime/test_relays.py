"""The groups many sockets share reach them through one member per process (queue_app.relays).

Every wall display follows `display` and every phone in line its service's `queue.<id>`: the
process joins each such group once and forwards each message's frames to its sockets, in order,
after each socket's snapshot, and to none that has closed or lost its rights.
"""

import asyncio
import time

import pytest
from channels.layers import get_channel_layer

from queue_app import consumers, events, relays, services

from ..layer_helpers import in_memory_layer  # noqa: F401 - the fixture: its groups are readable
from . import test_consumers as ws
from .test_consumers import sockets  # noqa: F401 - the fixture
from .test_revocation import closed_within

pytestmark = pytest.mark.django_db(transaction=True)


async def test_many_displays_are_one_member_of_the_display_group_and_all_hear_a_call(
    in_memory_layer,  # noqa: F811
    sockets,  # noqa: F811
    counters,
    patients,
    opd,
):
    displays = [(await sockets())[0] for _ in range(5)]
    await ws.join(patients[0], opd)
    for display in displays:
        assert [m["event"] for m in await ws.messages(display, 1)] == ["new_patient"]

    assert len(get_channel_layer().groups[events.DISPLAY_GROUP]) == 1

    await ws.run(services.serve_next, counter=counters[0], by=counters[0].held_by)
    for display in displays:
        assert [m["event"] for m in await ws.messages(display, 2)] == ["patient_served", "patient_called"]
        await ws.assert_no_more(display)


async def test_pausing_between_sockets_keeps_every_sockets_frames_in_order(sockets, monkeypatch):  # noqa: F811
    """The relay lets the loop write out every few sockets; the next message waits for the last."""
    monkeypatch.setattr(relays, "FLUSH_EVERY", 1)
    displays = [(await sockets())[0] for _ in range(4)]
    layer = get_channel_layer()

    await layer.group_send(events.DISPLAY_GROUP, {"type": "broadcast", "texts": ['{"n": 1}', '{"n": 2}']})
    await layer.group_send(events.DISPLAY_GROUP, {"type": "broadcast", "texts": ['{"n": 3}']})

    for display in displays:
        assert [m["n"] for m in await ws.messages(display, 3)] == [1, 2, 3]
        await ws.assert_no_more(display)


async def test_a_frame_sent_while_the_snapshot_is_read_comes_after_the_snapshot(sockets, monkeypatch):  # noqa: F811
    """Sent first, an event newer than the snapshot would be undone on the screen by it."""
    reading, release = asyncio.Event(), asyncio.Event()
    read_snapshot = consumers.QueueUpdatesConsumer.__dict__["_snapshot"]  # unbound: takes the consumer

    async def slow_snapshot(consumer):
        reading.set()
        await release.wait()
        return await read_snapshot(consumer)

    display, _ = await sockets()  # the relay is open: the next socket's join is immediate
    monkeypatch.setattr(consumers.QueueUpdatesConsumer, "_snapshot", slow_snapshot)
    second, _ = await asyncio.gather(sockets(expect_snapshot=False), _send_when(reading, release))
    communicator = second[0]

    frames = [await communicator.receive_json_from(timeout=2) for _ in range(3)]
    assert [frame["type"] for frame in frames] == ["snapshot", "queue_update", "queue_update"]
    assert [frame["n"] for frame in frames[1:]] == [1, 2]
    assert [m["n"] for m in await ws.messages(display, 2)] == [1, 2]  # the first display was not held


async def _send_when(reading: asyncio.Event, release: asyncio.Event) -> None:
    await reading.wait()
    layer = get_channel_layer()
    frames = ['{"type": "queue_update", "n": 1}', '{"type": "queue_update", "n": 2}']
    await layer.group_send(events.DISPLAY_GROUP, {"type": "broadcast", "texts": frames})
    await asyncio.sleep(0.2)  # the relay has had it for a while
    release.set()


async def test_a_closed_display_leaves_the_relay_and_the_others_still_hear(sockets):  # noqa: F811
    first, _ = await sockets()
    second, _ = await sockets()
    relay = relays._relay(get_channel_layer(), events.DISPLAY_GROUP)
    assert len(relay.members) == 2

    await first.disconnect()

    assert len(relay.members) == 1
    await get_channel_layer().group_send(events.DISPLAY_GROUP, {"type": "broadcast", "texts": ['{"n": 1}']})
    assert [m["n"] for m in await ws.messages(second, 1)] == [1]


async def test_a_ticket_socket_whose_rights_are_withdrawn_hears_no_more_of_the_queue(counters, opd, patient):
    ticket = await ws.join(patient, opd)
    key = await ws.run(ws.patient_session, patient=patient)
    socket, connected, code = await ws.open_socket(f"ticket={ticket.pk}", key)
    assert connected, code
    assert (await socket.receive_json_from(timeout=5))["type"] == "snapshot"
    relay = relays._relay(get_channel_layer(), events.queue_group(opd.pk))
    assert len(relay.members) == 1

    await ws.run(events.revoke_session, session_key=key)  # what a logout sends
    await closed_within(socket)

    assert len(relay.members) == 0


async def test_the_relay_joins_its_group_again_before_the_in_memory_layer_forgets_it(
    in_memory_layer,  # noqa: F811
    sockets,  # noqa: F811
    monkeypatch,
):
    """make run's layer drops a group's member a day after it joined; a wall TV stays on longer."""
    monkeypatch.setattr(relays, "REJOIN_SECONDS", 0.05)
    display, _ = await sockets()
    layer = get_channel_layer()
    (channel,) = layer.groups[events.DISPLAY_GROUP]
    layer.groups[events.DISPLAY_GROUP][channel] = time.time() - layer.group_expiry + 0.5  # due in half a second

    await asyncio.sleep(2.0)  # past it, even as the layer rounds the time down to a second
    await layer.group_send(events.DISPLAY_GROUP, {"type": "broadcast", "texts": ['{"n": 1}']})

    assert [m["n"] for m in await ws.messages(display, 1)] == [1]
