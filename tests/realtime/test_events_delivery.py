"""A committed change is announced even when the client that asked for it goes away."""

import asyncio
import threading

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from queue_app import events, services

from ..factories import PatientFactory
from ..layer_helpers import frames, in_memory_layer  # noqa: F401 - the fixture

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("in_memory_layer")]


async def test_a_call_is_announced_even_if_the_request_is_cancelled_after_commit(opd, counters, monkeypatch):
    """Django cancels the request of a client that disconnected while its sync view goes on and
    commits: the event for that committed change must still reach the display."""
    layer = get_channel_layer()
    display = await layer.new_channel()
    await layer.group_add(events.DISPLAY_GROUP, display)
    await database_sync_to_async(services.join)(patient=await database_sync_to_async(PatientFactory)(), service=opd)
    assert [f["event"] for f in frames(await layer.receive(display))] == ["new_patient"]

    sending = threading.Event()
    real_group_send = layer.group_send

    async def slow_group_send(group, message):  # the layer (e.g. Redis) taking a moment to answer
        sending.set()
        await asyncio.sleep(0.2)
        await real_group_send(group, message)

    monkeypatch.setattr(layer, "group_send", slow_group_send)
    request = asyncio.ensure_future(database_sync_to_async(services.serve_next)(counter=counters[0], by=None))
    for _ in range(500):  # not sync_to_async(sending.wait): it would queue behind the view's thread
        if sending.is_set():
            break
        await asyncio.sleep(0.01)
    assert sending.is_set()
    request.cancel()  # the clerk's browser went away: Django cancels the request
    try:
        await request
    except asyncio.CancelledError:
        pass  # nobody is there to read the answer; the change is committed either way

    received = []
    while True:
        try:
            message = await asyncio.wait_for(layer.receive(display), 2)
        except TimeoutError:
            break
        received.append([f["event"] for f in frames(message)])
    assert received == [["patient_served", "patient_called"]]  # one layer message, its frames in order
