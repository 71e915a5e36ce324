"""State versions: how a screen notices that it missed a message.

Every change of a service's queue raises the service's version by one, in the change's
transaction; every event and snapshot carries it, and the pong to a ping names the newest
version the socket should have seen. A screen whose own version is older (a gap between two
events, or a pong ahead of it) asks for a snapshot (static/js/live.js). A handshake the server
cannot serve (the channel layer down) is closed with 4013 "try again later", not answered 500.
"""

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from queue_app import consumers, events, selectors, services
from queue_app.models import Counter, Service

from ..factories import PatientFactory
from ..layer_helpers import in_memory_layer  # noqa: F401 - the fixture: its groups are readable
from ..security_helpers import free_port
from .test_consumers import (
    join,
    messages,
    open_socket,
    patient_session,
    run,
    sockets,  # noqa: F401 - the fixture
    staff_session,
)

pytestmark = pytest.mark.django_db(transaction=True)


newcomer = database_sync_to_async(PatientFactory)


def version_of(service) -> int:
    return Service.objects.get(pk=service.pk).version


async def ping(communicator) -> dict:
    await asyncio.sleep(1.1 / consumers.FRAMES_PER_SECOND)  # the frame allowance refills
    selectors.forget_versions()  # pongs read versions at most once a second: read them now
    await communicator.send_json_to({"type": "ping"})
    pong = await communicator.receive_json_from(timeout=2)
    assert pong["type"] == "pong"
    return pong["versions"]


# --- the version: +1 per change, carried by every frame -----------------------------------------


async def test_every_frame_of_a_change_carries_the_services_next_version(sockets, counters, opd):  # noqa: F811
    display, snapshot = await sockets()
    start = snapshot["versions"][str(opd.pk)]

    await join(await newcomer(), opd)
    await run(services.serve_next, counter=counters[0], by=counters[0].held_by)

    joined, served, called = await messages(display, 3)
    assert (joined["event"], joined["version"]) == ("new_patient", start + 1)
    assert (served["event"], served["version"]) == ("patient_served", start + 2)
    assert (called["event"], called["version"]) == ("patient_called", start + 2)
    assert {frame["service_id"] for frame in (joined, served, called)} == {opd.pk}
    assert await database_sync_to_async(version_of)(opd) == start + 2


async def test_a_change_that_changes_nothing_keeps_the_version(counters, opd, patient):
    ticket = await join(patient, opd)
    before = await database_sync_to_async(version_of)(opd)

    again, created = await run(services.join, patient=patient, service=opd)  # the ticket already held
    await run(services.set_status, counter=counters[0], status="available", by=None)  # already available

    assert (again.pk, created) == (ticket.pk, False)
    assert await database_sync_to_async(version_of)(opd) == before


async def test_cancelling_a_ticket_of_the_pool_still_tells_the_display(sockets, opd, patient):  # noqa: F811
    """With no frame, the display would see the next change's version jump and resync for nothing."""
    ticket = await join(patient, opd)  # no counter open: the pool
    display, snapshot = await sockets()

    await run(services.cancel, ticket=ticket, patient=patient)

    (frame,) = await messages(display, 1)
    assert (frame["event"], frame["counter_id"], frame["unassigned"]) == ("counter_status_update", None, 0)
    assert frame["version"] == snapshot["versions"][str(opd.pk)] + 1


async def test_a_display_that_missed_a_change_sees_the_next_version_jump(in_memory_layer, sockets, counters, opd):  # noqa: F811
    display, snapshot = await sockets()
    start = snapshot["versions"][str(opd.pk)]
    layer = get_channel_layer()
    (channel,) = layer.groups[events.DISPLAY_GROUP]  # the in-memory layer: the process's relay
    await layer.group_discard(events.DISPLAY_GROUP, channel)  # as if the layer dropped its messages
    await join(await newcomer(), opd)
    await layer.group_add(events.DISPLAY_GROUP, channel)

    await join(await newcomer(), opd)

    (frame,) = await messages(display, 1)
    assert frame["version"] == start + 2  # a jump of two: the page asks for a snapshot


async def test_position_lists_carry_the_version_they_are_at_least_as_new_as(counters, opd, patient):
    await join(patient, opd)

    positions = await database_sync_to_async(selectors.positions_now)(opd.pk)

    assert positions["version"] == await database_sync_to_async(version_of)(opd)


# --- snapshots and pongs --------------------------------------------------------------------------


async def test_the_display_snapshot_and_pong_carry_every_services_version(sockets, counters, opd, lab):  # noqa: F811
    await join(await newcomer(), opd)
    display, snapshot = await sockets()
    expected = {str(opd.pk): await database_sync_to_async(version_of)(opd), str(lab.pk): 0}

    assert snapshot["versions"] == expected
    assert await ping(display) == expected


async def test_a_pong_names_a_version_the_display_has_not_seen_when_a_change_was_lost(sockets, counters, opd):  # noqa: F811
    display, snapshot = await sockets()
    await database_sync_to_async(Service.objects.filter(pk=opd.pk).update)(version=99)  # a change never heard

    assert (await ping(display))[str(opd.pk)] == 99 > snapshot["versions"][str(opd.pk)]


async def test_a_counter_socket_is_pinged_back_only_the_changes_sent_to_its_counter(per_counter_lines, counters, opd):
    """Per-counter lines: another counter's change is not sent here (with one line, every staffed
    counter of the service hears every change: test_one_line_counter_socket_hears_another_counters_change)."""
    key = await database_sync_to_async(staff_session)(counters[0].held_by)
    socket, connected, _ = await open_socket(f"counter={counters[0].pk}", key)
    assert connected
    snapshot = await socket.receive_json_from(timeout=5)
    mine = snapshot["versions"][str(opd.pk)]

    await run(services.set_status, counter=counters[1], status="busy", by=None)  # another counter
    assert await ping(socket) == {
        str(opd.pk): (await database_sync_to_async(Counter.objects.get)(pk=counters[0].pk)).version
    }
    assert (await ping(socket))[str(opd.pk)] <= mine  # nothing new for this counter: no resync

    await join(await newcomer(), opd)  # waits at counter 1 (the fewest waiting, lowest id)
    update = await socket.receive_json_from(timeout=2)
    assert update["event"] == "new_patient"
    assert await ping(socket) == {str(opd.pk): update["version"]}
    await socket.disconnect()


async def test_one_line_counter_socket_hears_another_counters_change(counters, opd):
    key = await database_sync_to_async(staff_session)(counters[0].held_by)
    socket, connected, _ = await open_socket(f"counter={counters[0].pk}", key)
    assert connected
    await socket.receive_json_from(timeout=5)

    await run(services.set_status, counter=counters[1], status="busy", by=None)  # another counter, the same line
    update = await socket.receive_json_from(timeout=2)
    assert (update["event"], update["counter_id"]) == ("waiting_changed", counters[0].pk)
    assert await ping(socket) == {str(opd.pk): update["version"]}
    await socket.disconnect()


async def test_a_ticket_socket_gets_its_services_version_in_snapshot_and_pong(counters, opd, patient):
    from ..patient_helpers import open_ticket_socket_with_cookie

    ticket = await join(patient, opd)
    socket, connected, _ = await open_ticket_socket_with_cookie(
        await database_sync_to_async(patient_session)(patient), ticket.pk
    )
    assert connected
    snapshot = await socket.receive_json_from(timeout=5)
    now = await database_sync_to_async(version_of)(opd)

    assert snapshot["versions"] == {str(opd.pk): now}
    await run(services.serve_next, counter=counters[0], by=counters[0].held_by)
    news = [await socket.receive_json_from(timeout=2) for _ in range(2)]
    called = next(m for m in news if m["type"] == "ticket_update")
    assert (called["event"], called["version"], called["service_id"]) == ("called", now + 1, opd.pk)
    assert await ping(socket) == {str(opd.pk): now + 1}
    await socket.disconnect()


# --- handshakes while the channel layer is down ---------------------------------------------------


async def test_a_handshake_while_the_channel_layer_is_down_is_closed_with_4013_not_a_500(settings, counters):
    from channels.layers import channel_layers

    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{free_port()}/0"]},  # nothing listens there
        }
    }
    channel_layers.backends.clear()
    try:
        from channels.testing import WebsocketCommunicator

        from queue_system.asgi import application

        communicator = WebsocketCommunicator(
            application, "/ws/queue/updates/", headers=[(b"origin", b"http://testserver")]
        )
        connected, _ = await communicator.connect(timeout=5)
        assert connected  # accepted only to say why it closes
        assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": 4013}
    finally:
        channel_layers.backends.clear()
