"""Sockets lose their rights with the session or the counter they were opened for.

A counter's staff socket carries patients' full names. When its operator logs out, or another
operator takes the counter over, the socket opened before must close (4403) at once, before the
news of the change that took its rights away, not at its next snapshot. Across processes the
revocation travels through the channel layer: tests/system/test_revocation_across_processes.py.
"""

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.test import Client

from queue_app import services

from ..factories import CounterFactory
from ..security_helpers import patient_session, staff_session
from .test_consumers import join, open_socket

pytestmark = pytest.mark.django_db(transaction=True)

CLOSED = {"type": "websocket.close", "code": 4403}


async def opened(query: str, session_key: str):
    communicator, connected, code = await open_socket(query, session_key)
    assert connected, code
    snapshot = await communicator.receive_json_from(timeout=5)
    assert snapshot["type"] == "snapshot"
    return communicator


async def closed_within(communicator, seconds: float = 1.0) -> list[dict]:
    """The frames that came before the close, asserting the close (4403) came within `seconds`."""
    before = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        try:
            output = await communicator.receive_output(timeout=left)
        except TimeoutError:
            break
        if output["type"] == "websocket.close":
            assert output == CLOSED
            return before
        before.append(output)
    raise AssertionError(f"the socket was not closed within {seconds}s (got {before})")


def logged_in(user) -> tuple[Client, str]:
    client = Client()
    client.force_login(user)
    return client, client.cookies[settings.SESSION_COOKIE_NAME].value


@database_sync_to_async
def log_out(client: Client) -> int:
    return client.post("/staff/logout/").status_code


async def test_logging_out_closes_the_counter_socket_of_the_session_at_once(counters):
    client, key = await database_sync_to_async(logged_in)(counters[0].held_by)
    communicator = await opened(f"counter={counters[0].pk}", key)

    assert await log_out(client) == 302

    await closed_within(communicator)


async def test_after_logout_the_socket_hears_no_more_patient_names(counters, opd, patients):
    client, key = await database_sync_to_async(logged_in)(counters[0].held_by)
    communicator = await opened(f"counter={counters[0].pk}", key)
    await log_out(client)
    await closed_within(communicator)

    await join(patients[0], opd)

    assert await communicator.receive_nothing(timeout=0.3)


async def test_an_admin_logging_out_closes_the_admins_counter_sockets(counters, admin_user):
    """An admin may watch any counter: only the session's end takes that right away."""
    client, key = await database_sync_to_async(logged_in)(admin_user)
    first = await opened(f"counter={counters[0].pk}", key)
    second = await opened(f"counter={counters[1].pk}", key)

    await database_sync_to_async(client.post)("/admin/logout/")

    await closed_within(first)
    await closed_within(second)


async def test_logging_out_leaves_other_sessions_sockets_open(counters, admin_user):
    client, key = await database_sync_to_async(logged_in)(counters[0].held_by)
    mine = await opened(f"counter={counters[0].pk}", key)
    admins = await opened(f"counter={counters[0].pk}", await database_sync_to_async(staff_session)(admin_user))

    await log_out(client)

    await closed_within(mine)
    update = await admins.receive_json_from(timeout=2)  # the admin sees the counter close
    assert update["event"] == "counter_status_update" and update["current_status"] == "closed"
    await admins.disconnect()


async def test_a_take_over_closes_the_previous_operators_socket_before_the_news(counters, staff):
    key = await database_sync_to_async(staff_session)(counters[0].held_by)
    communicator = await opened(f"counter={counters[0].pk}", key)

    await database_sync_to_async(services.hold_counter)(counter=counters[0], staff=staff[2], force=True)

    assert await closed_within(communicator) == []  # not even the take-over's own update


async def test_after_a_take_over_the_new_operator_and_admins_keep_their_sockets(counters, staff, admin_user, opd):
    admins = await opened(f"counter={counters[0].pk}", await database_sync_to_async(staff_session)(admin_user))
    await database_sync_to_async(services.hold_counter)(counter=counters[0], staff=staff[2], force=True)
    new_operator = await opened(f"counter={counters[0].pk}", await database_sync_to_async(staff_session)(staff[2]))
    assert (await admins.receive_json_from(timeout=2))["event"] == "counter_status_update"

    await database_sync_to_async(services.release_counter)(staff=staff[2])

    await closed_within(new_operator)
    assert (await admins.receive_json_from(timeout=2))["current_status"] == "closed"
    await admins.disconnect()


async def test_switching_to_another_counter_closes_the_socket_on_the_one_left(counters, opd):
    key = await database_sync_to_async(staff_session)(counters[0].held_by)
    communicator = await opened(f"counter={counters[0].pk}", key)
    other = await database_sync_to_async(CounterFactory)(counter_name="Counter 9", service=opd)

    await database_sync_to_async(services.hold_counter)(counter=other, staff=counters[0].held_by)

    await closed_within(communicator)


async def test_an_idle_counter_released_by_housekeeping_closes_its_socket(counters):
    from datetime import timedelta

    from django.utils import timezone

    key = await database_sync_to_async(staff_session)(counters[0].held_by)
    communicator = await opened(f"counter={counters[0].pk}", key)

    later = timezone.now() + timedelta(minutes=settings.COUNTER_IDLE_MINUTES + 1)
    assert await database_sync_to_async(services.release_idle_counters)(now=later) == 2

    await closed_within(communicator)


async def test_a_patients_ticket_socket_is_not_closed_by_a_counter_changing_hands(counters, staff, opd, patient):
    from ..patient_helpers import open_ticket_socket_with_cookie

    ticket = await join(patient, opd)
    socket, connected, _ = await open_ticket_socket_with_cookie(
        await database_sync_to_async(patient_session)(patient), ticket.pk
    )
    assert connected
    assert (await socket.receive_json_from(timeout=5))["type"] == "snapshot"

    await database_sync_to_async(services.hold_counter)(counter=counters[0], staff=staff[2], force=True)

    outputs = []
    while not await socket.receive_nothing(timeout=0.5):
        outputs.append(await socket.receive_output())
    assert all(output["type"] == "websocket.send" for output in outputs), outputs
    await socket.disconnect()
