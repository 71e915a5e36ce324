"""The counter's staff group on /ws/queue/updates/?counter=<id>: authorised from the session."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client

from queue_app import services
from queue_system.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


def staff_session(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def patient_session(patient) -> str:
    session = SessionStore()
    session["patient_id"] = patient.pk
    session.create()
    return session.session_key


async def open_socket(query: str, session_key: str | None = None):
    headers = [(b"origin", b"http://testserver")]
    if session_key:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={session_key}".encode()))
    communicator = WebsocketCommunicator(application, f"/ws/queue/updates/?{query}", headers=headers)
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


async def next_update(communicator, event: str) -> dict:
    """The next queue_update with this event name (other events of the change may come first)."""
    for _ in range(10):
        message = await communicator.receive_json_from(timeout=5)
        if message.get("event") == event:
            return message
    raise AssertionError(f"no {event} event")


async def events_until_quiet(communicator) -> list[str]:
    names = []
    while not await communicator.receive_nothing(timeout=0.3):
        names.append((await communicator.receive_json_from())["event"])
    return names


join = database_sync_to_async(lambda patient, service: services.join(patient=patient, service=service)[0])


async def test_an_anonymous_socket_cannot_join_a_counter_group(counters):
    _, connected, code = await open_socket(f"counter={counters[0].pk}")
    assert not connected and code == 4403


async def test_a_patient_socket_cannot_join_a_counter_group(counters, patient, opd):
    await join(patient, opd)  # even with a ticket at that very counter
    key = await database_sync_to_async(patient_session)(patient)
    _, connected, code = await open_socket(f"counter={counters[0].pk}", key)
    assert not connected and code == 4403


async def test_an_operator_cannot_join_another_counters_group(counters):
    key = await database_sync_to_async(staff_session)(counters[0].held_by)
    _, connected, code = await open_socket(f"counter={counters[1].pk}", key)
    assert not connected and code == 4403


@pytest.mark.parametrize("query", ["counter=abc", "counter=999999", "counter=-1", "counter=1e3"])
async def test_a_forged_counter_id_is_refused(counters, query):
    key = await database_sync_to_async(staff_session)(counters[0].held_by)
    _, connected, code = await open_socket(query, key)
    assert not connected and code == 4403


async def test_a_logged_out_session_cannot_join(counters):
    def logged_out_key():
        client = Client()
        client.force_login(counters[0].held_by)
        key = client.cookies[settings.SESSION_COOKIE_NAME].value
        client.post("/staff/logout/")
        return key

    key = await database_sync_to_async(logged_out_key)()
    _, connected, code = await open_socket(f"counter={counters[0].pk}", key)
    assert not connected and code == 4403


async def test_an_operator_joins_their_counter_group_and_first_gets_the_snapshot(counters, opd, patients):
    first = await join(patients[0], opd)
    key = await database_sync_to_async(staff_session)(counters[0].held_by)
    communicator, connected, _ = await open_socket(f"counter={counters[0].pk}", key)
    assert connected
    snapshot = await communicator.receive_json_from(timeout=5)
    assert snapshot["type"] == "snapshot"
    assert snapshot["counter"]["id"] == counters[0].pk
    assert snapshot["waiting"][0]["queue_id"] == first.queue_id
    assert snapshot["waiting"][0]["patient_name"] == first.patient_name  # staff see full names
    await communicator.disconnect()


async def test_an_admin_may_join_any_counter_group(counters, admin_user):
    key = await database_sync_to_async(staff_session)(admin_user)
    communicator, connected, _ = await open_socket(f"counter={counters[1].pk}", key)
    assert connected
    assert (await communicator.receive_json_from(timeout=5))["counter"]["id"] == counters[1].pk
    await communicator.disconnect()


async def test_the_counter_group_hears_new_patients_and_calls_live(counters, opd, patients):
    key = await database_sync_to_async(staff_session)(counters[0].held_by)
    communicator, _, _ = await open_socket(f"counter={counters[0].pk}", key)
    await communicator.receive_json_from(timeout=5)  # snapshot

    ticket = await join(patients[0], opd)
    update = await next_update(communicator, "new_patient")
    assert [w["queue_id"] for w in update["waiting"]] == [ticket.queue_id]
    assert update["queue_length"] == 1

    await database_sync_to_async(services.serve_next)(counter=counters[0], by=counters[0].held_by, expected="")
    assert await events_until_quiet(communicator) == ["patient_served", "patient_called"]
    await communicator.disconnect()


async def test_a_break_at_another_counter_sends_its_patients_here_live(counters, opd, patients):
    tickets = [await join(p, opd) for p in patients[:4]]
    moved = [t.queue_id for t in tickets if t.counter_id == counters[0].pk]
    key = await database_sync_to_async(staff_session)(counters[1].held_by)
    communicator, _, _ = await open_socket(f"counter={counters[1].pk}", key)
    await communicator.receive_json_from(timeout=5)  # snapshot

    await database_sync_to_async(services.set_status)(counter=counters[0], status="break", by=None)
    update = await next_update(communicator, "patient_redistributed")
    waiting = [w["queue_id"] for w in update["waiting"]]
    assert set(moved) <= set(waiting) and len(waiting) == 4
    await communicator.disconnect()


async def test_a_taken_over_operators_socket_is_closed_at_its_next_snapshot(counters, staff):
    key = await database_sync_to_async(staff_session)(counters[0].held_by)
    communicator, _, _ = await open_socket(f"counter={counters[0].pk}", key)
    await communicator.receive_json_from(timeout=5)
    await database_sync_to_async(services.hold_counter)(counter=counters[0], staff=staff[2], force=True)
    await next_update(communicator, "counter_status_update")  # the dashboard re-reads on this event
    await communicator.send_json_to({"type": "snapshot"})
    closed = await communicator.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4403}
