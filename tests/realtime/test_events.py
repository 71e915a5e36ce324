"""Events leave after commit, one group_send per change and group, nothing private in public; a
committed change is announced even when the client that asked for it goes away."""

import asyncio
import json
import threading

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import transaction

from queue_app import events, services
from queue_app.models import Ticket

from ..factories import CounterFactory, PatientFactory
from ..layer_helpers import Listener, frames, in_memory_layer  # noqa: F401 - the fixture, used below

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("in_memory_layer")]


def test_events_are_sent_only_after_commit(opd, counters, patients):
    listener = Listener(events.DISPLAY_GROUP)
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            services.join(patient=patients[0], service=opd)
            raise RuntimeError("rolled back")
    assert listener.drain() == []
    services.join(patient=patients[0], service=opd)
    assert [m["event"] for m in listener.drain()] == ["new_patient"]


def test_serve_next_sends_served_then_called_in_the_seed_format(opd, counters, patients):
    services.join(patient=patients[0], service=opd)
    listener = Listener(events.DISPLAY_GROUP)
    called = services.serve_next(counter=counters[0], by=None).ticket
    served, call = listener.drain()
    assert (served["event"], call["event"]) == ("patient_served", "patient_called")
    for message in (served, call):
        assert message["type"] == "queue_update"
        assert message["counter_id"] == counters[0].pk
        assert message["serving_patient"]["queue_id"] == called.queue_id
        assert set(message["serving_patient"]) == {"queue_id", "patient_name"}
        assert message["queue_length"] == 0


def test_public_messages_never_carry_phone_numbers(opd, counters, patients):
    listener = Listener(events.DISPLAY_GROUP, events.queue_group(opd.pk))
    for p in patients[:3]:
        services.join(patient=p, service=opd)
    services.serve_next(counter=counters[0], by=None)
    services.set_status(counter=counters[0], status="break", by=None)
    raw = json.dumps(listener.drain())
    for p in patients[:3]:
        assert p.phone not in raw and p.phone[1:] not in raw
        assert p.name not in raw  # masked on the display, absent from positions


def test_position_messages_carry_ticket_numbers_only(opd, counters, patients):
    listener = Listener(events.queue_group(opd.pk))
    tickets = [services.join(patient=p, service=opd)[0] for p in patients[:3]]
    last = listener.drain()[-1]
    assert last["type"] == "queue_position"
    assert last["counters"][str(counters[0].pk)]["waiting"] == [tickets[0].number, tickets[2].number]
    assert last["line"] == [t.number for t in tickets]  # OPD's one line
    assert set(last) <= {
        "type",
        "service_id",
        "version",
        "counters",
        "unassigned",
        "line",
        "minutes_per_place",
        "places_under_way",
        "as_of",
        "sent_at",
    }


def test_break_sends_one_message_per_group_not_per_ticket(opd, counters, patients):
    tickets = [services.join(patient=p, service=opd)[0] for p in patients[:10]]
    display = Listener(events.DISPLAY_GROUP)
    positions = Listener(events.queue_group(opd.pk))
    moved_ticket = Listener(events.ticket_group(tickets[0].pk))
    services.set_status(counter=counters[0], status="break", by=None)
    assert [m["event"] for m in display.drain()] == ["counter_status_update", "patient_redistributed"]
    assert len(positions.drain()) == 1
    (personal,) = moved_ticket.drain()
    assert personal["event"] == "moved" and personal["ticket"]["counter_id"] == counters[1].pk
    assert "kept your place" in personal["message"]


def test_break_with_no_open_counter_tells_patients_they_wait_for_one(opd, counters, patients):
    ticket, _ = services.join(patient=patients[0], service=opd)
    services.set_status(counter=counters[1], status="closed", by=None)
    listener = Listener(events.ticket_group(ticket.pk))
    services.set_status(counter=counters[0], status="break", by=None)
    (personal,) = listener.drain()
    assert personal["event"] == "pool" and personal["ticket"]["counter_id"] is None


def test_a_ticket_called_from_the_pool_hears_where_to_go(opd, staff, patients):
    counter = CounterFactory(service=opd)
    ticket, _ = services.join(patient=patients[0], service=opd)
    listener = Listener(events.ticket_group(ticket.pk))
    services.hold_counter(counter=counter, staff=staff[0])
    services.serve_next(counter=counter, by=staff[0])
    assigned, called = listener.drain()
    assert assigned["event"] == "assigned" and called["event"] == "called"
    assert called["ticket"]["counter"] == counter.counter_name


def test_staff_group_gets_full_names_and_the_waiting_list(opd, counters, patients):
    listener = Listener(events.counter_group(counters[0].pk))
    services.join(patient=patients[0], service=opd)
    (message,) = listener.drain()
    assert message["event"] == "new_patient"
    assert message["waiting"][0]["patient_name"] == patients[0].name


def test_a_layer_that_fails_does_not_fail_the_change(opd, counters, patients, settings, caplog):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]},
        }
    }
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    ticket, created = services.join(patient=patients[0], service=opd)
    assert created and ticket.pk
    assert "event delivery failed" in caplog.text


def test_the_counter_a_ticket_was_taken_from_hears_its_waiting_list_changed(opd, counters, patients):
    tickets = [services.join(patient=p, service=opd)[0] for p in patients[:3]]  # c1: 1,3; c2: 2
    services.serve_next(counter=counters[1], by=None)  # c2 calls 2
    source = Listener(events.counter_group(counters[0].pk))
    display = Listener(events.DISPLAY_GROUP)
    services.serve_next(counter=counters[1], by=None)  # c2 is empty: takes 1 from c1
    (message,) = source.drain()
    assert message["event"] == "waiting_changed"
    assert [w["queue_id"] for w in message["waiting"]] == [tickets[2].queue_id]
    assert [m["event"] for m in display.drain()] == ["patient_served", "patient_called"]


@pytest.mark.parametrize("lines", ["one line", "per counter"])
def test_a_join_that_first_hands_out_the_pool_announces_the_counts_after_the_hand_out(
    request, opd, staff, patients, lines
):
    """The pool was counted again before its tickets were moved: the new patient went to a
    counter by stale counts, and the display was told 5 still waited unassigned."""
    if lines == "per counter":
        request.getfixturevalue("per_counter_lines")
    for p in patients[:5]:
        services.join(patient=p, service=opd)  # no counter open: they wait unassigned
    first = services.hold_counter(counter=CounterFactory(service=opd), staff=staff[0])
    second = services.hold_counter(counter=CounterFactory(service=opd), staff=staff[1])
    Ticket.objects.update(counter=None)  # still in the pool when the counters opened
    listener = Listener(events.DISPLAY_GROUP)

    ticket, _ = services.join(patient=patients[5], service=opd)

    *_, new = listener.drain()
    assert new["event"] == "new_patient" and new["unassigned"] == 0
    # One line: both counters call from OPD's line of six. Per counter: each its own, 3 and 3.
    each = 6 if lines == "one line" else 3
    assert new["queue_lengths"] == {str(first.pk): each, str(second.pk): each}
    assert ticket.counter_id == second.pk  # the pool gave the first counter 3, the second 2


# --- delivery: the client that asked may be gone ----------------------------------------------


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
