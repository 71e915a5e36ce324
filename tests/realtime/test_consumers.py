"""/ws/queue/updates/ through the full ASGI application (origin check, sessions, routing): the wall
display's socket, a counter's staff socket (?counter=<id>) and a patient's ticket socket (?ticket=<id>).

Changes are made through the real services in the database, and the messages are read as the
wall display (or a staff page, or a patient's phone) receives them: snapshot first, then the
events of DESIGN.md's table in its order and shape.
"""

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.security.websocket import OriginValidator
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client

from queue_app import consumers, services
from queue_app.bidi import FSI, PDI
from queue_system.asgi import application

from ..factories import CounterFactory, PatientFactory
from ..patient_helpers import PhoneBrowser, next_message, open_ticket_socket_with_cookie

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/ws/queue/updates/"
ORIGIN = (b"origin", b"http://testserver")
EVENT_KEYS = {"type", "event", "counter_id", "counter_name", "serving_patient", "queue_length", "queue_lengths"}


@pytest.fixture(autouse=True)
def listed_hosts(monkeypatch):
    """The origin validator as a production install has it: the test settings allow every host
    ("*"), which lets any origin through, so here it checks against a real host list."""
    validator = application.application_mapping["websocket"]
    assert isinstance(validator, OriginValidator)
    monkeypatch.setattr(validator, "allowed_origins", ["testserver", "localhost"])


@pytest.fixture
async def sockets():
    """Open sockets on the full ASGI app; every one is closed at the end of the test."""
    opened = []

    async def open_socket(query="", headers=(ORIGIN,), expect_snapshot=True):
        communicator = WebsocketCommunicator(application, URL + (f"?{query}" if query else ""), headers=list(headers))
        connected, code = await communicator.connect()
        if not connected:
            return communicator, code
        opened.append(communicator)
        snapshot = await communicator.receive_json_from() if expect_snapshot else None
        return communicator, snapshot

    yield open_socket
    for communicator in opened:
        try:
            await communicator.disconnect()
        except (Exception, asyncio.CancelledError):  # the app already ended (a failed test timed out)
            pass


def run(function, **kwargs):
    return database_sync_to_async(function)(**kwargs)


async def messages(communicator, count):
    return [json.loads(await communicator.receive_from(timeout=2)) for _ in range(count)]


async def assert_no_more(communicator):
    assert await communicator.receive_nothing(timeout=0.3), "an unexpected extra message arrived"


@pytest.fixture
def three_counters(opd, counters, staff):
    third = services.hold_counter(counter=CounterFactory(counter_name="Counter 3", service=opd), staff=staff[2])
    return [*counters, third]


# --- snapshot -------------------------------------------------------------------------------


async def test_display_gets_the_full_snapshot_on_connect(sockets, counters, patient, opd):
    ticket, _ = await run(services.join, patient=patient, service=opd)
    await run(services.serve_next, counter=counters[0], by=counters[0].held_by)

    _, snapshot = await sockets()

    assert snapshot["type"] == "snapshot"
    rows = {row["id"]: row for row in snapshot["counters"]}
    assert set(rows) == {c.pk for c in counters}
    assert set(rows[counters[0].pk]) >= {"counter_name", "service", "current_status", "serving_patient", "queue_length"}
    assert rows[counters[0].pk]["serving_patient"] == {"queue_id": ticket.queue_id, "patient_name": "John D."}
    assert rows[counters[1].pk]["serving_patient"] is None
    assert [call["queue_id"] for call in snapshot["recent_calls"]] == [ticket.queue_id]


async def test_snapshot_frame_from_the_client_sends_a_fresh_snapshot(sockets, counters, patient, opd):
    communicator, first = await sockets()
    await run(services.join, patient=patient, service=opd)
    await messages(communicator, 1)

    await communicator.send_json_to({"type": "snapshot"})
    again = await communicator.receive_json_from()

    assert again["type"] == "snapshot"
    assert [row["queue_length"] for row in first["counters"]] == [0, 0]
    assert [row["queue_length"] for row in again["counters"]] == [1, 1]  # both counters call from OPD's one line


# --- events and their order -----------------------------------------------------------------


async def test_join_sends_new_patient_for_the_assigned_counter(sockets, counters, patient, opd):
    communicator, _ = await sockets()

    ticket, _ = await run(services.join, patient=patient, service=opd)

    [message] = await messages(communicator, 1)
    await assert_no_more(communicator)
    assert set(message) >= EVENT_KEYS
    assert message["type"] == "queue_update"
    assert message["event"] == "new_patient"
    assert message["counter_id"] == ticket.counter_id == counters[0].pk
    assert message["serving_patient"] is None
    assert message["queue_length"] == 1
    assert message["queue_lengths"] == {str(counters[0].pk): 1, str(counters[1].pk): 1}  # one line for both


async def test_join_with_no_counter_open_sends_new_patient_with_a_null_counter(sockets, opd, patient):
    await database_sync_to_async(CounterFactory)(counter_name="Counter 1", service=opd)  # nobody works there
    communicator, _ = await sockets()

    ticket, _ = await run(services.join, patient=patient, service=opd)

    [message] = await messages(communicator, 1)
    await assert_no_more(communicator)
    assert ticket.counter_id is None
    assert (message["event"], message["counter_id"], message["serving_patient"]) == ("new_patient", None, None)
    assert message["queue_length"] == 1  # the unassigned pool


async def test_serve_next_sends_patient_served_then_patient_called(sockets, counters, patients, opd):
    first, _ = await run(services.join, patient=patients[0], service=opd)
    await run(services.join, patient=patients[1], service=opd)
    await run(services.join, patient=patients[2], service=opd)  # three in OPD's one line
    communicator, _ = await sockets()

    await run(services.serve_next, counter=counters[0], by=counters[0].held_by)

    served, called = await messages(communicator, 2)
    await assert_no_more(communicator)
    for message in (served, called):
        assert set(message) >= EVENT_KEYS
        assert message["counter_id"] == counters[0].pk
        assert message["serving_patient"]["queue_id"] == first.queue_id
        assert message["queue_length"] == 2
    assert (served["event"], called["event"]) == ("patient_served", "patient_called")


async def test_serve_next_with_nobody_left_sends_patient_served_with_no_serving_patient(
    sockets, counters, patient, opd
):
    await run(services.join, patient=patient, service=opd)
    await run(services.serve_next, counter=counters[0], by=counters[0].held_by)
    communicator, _ = await sockets()

    await run(services.serve_next, counter=counters[0], by=counters[0].held_by)

    [served] = await messages(communicator, 1)
    await assert_no_more(communicator)
    assert (served["event"], served["serving_patient"], served["queue_length"]) == ("patient_served", None, 0)


async def test_skip_sends_patient_served_then_patient_called(sockets, counters, patients, opd):
    await run(services.join, patient=patients[0], service=opd)
    second, _ = await run(services.join, patient=patients[1], service=opd)  # next in the line, expected at Counter 2
    await run(services.join, patient=patients[2], service=opd)
    await run(services.serve_next, counter=counters[0], by=counters[0].held_by)
    communicator, _ = await sockets()

    await run(services.skip, counter=counters[0], by=counters[0].held_by)

    served, called = await messages(communicator, 2)
    await assert_no_more(communicator)
    assert [served["event"], called["event"]] == ["patient_served", "patient_called"]
    assert served["serving_patient"]["queue_id"] == called["serving_patient"]["queue_id"] == second.queue_id


async def test_announce_sends_patient_called_for_the_current_ticket(sockets, counters, patient, opd):
    ticket, _ = await run(services.join, patient=patient, service=opd)
    await run(services.serve_next, counter=counters[0], by=counters[0].held_by)
    communicator, _ = await sockets()

    await run(services.announce, counter=counters[0], by=counters[0].held_by)

    [called] = await messages(communicator, 1)
    await assert_no_more(communicator)
    assert called["event"] == "patient_called"
    assert called["counter_id"] == counters[0].pk
    assert called["counter_name"] == "Counter 1"
    assert called["serving_patient"] == {"queue_id": ticket.queue_id, "patient_name": "John D."}
    assert called["queue_length"] == 0


@pytest.mark.parametrize("lines", ["one line", "per counter"])
async def test_break_sends_counter_status_update_then_one_patient_redistributed_per_receiving_counter(
    sockets, three_counters, patients, opd, lines
):
    if lines == "per counter":
        opd.per_counter_lines = True  # as the `per_counter_lines` fixture does
        await run(opd.save, update_fields=["per_counter_lines"])
    for patient in patients[:6]:  # two expected at each counter
        await run(services.join, patient=patient, service=opd)
    first, second, third = three_counters
    communicator, _ = await sockets()

    await run(services.set_status, counter=first, status="break", by=first.held_by)

    update, *moved = await messages(communicator, 3)
    await assert_no_more(communicator)
    assert (update["event"], update["counter_id"], update["current_status"]) == (
        "counter_status_update",
        first.pk,
        "break",
    )
    # One line: the six stay in OPD's line, which every counter calls from. Per counter: its own.
    assert update["queue_length"] == (6 if lines == "one line" else 0)
    assert [m["event"] for m in moved] == ["patient_redistributed", "patient_redistributed"]
    assert [m["counter_id"] for m in moved] == [second.pk, third.pk]
    assert [m["queue_length"] for m in moved] == ([6, 6] if lines == "one line" else [3, 3])


async def test_break_with_no_other_counter_open_sends_only_counter_status_update(sockets, counters, patients, opd):
    await run(services.set_status, counter=counters[1], status="break", by=counters[1].held_by)
    await run(services.join, patient=patients[0], service=opd)
    communicator, _ = await sockets()

    await run(services.set_status, counter=counters[0], status="break", by=counters[0].held_by)

    [update] = await messages(communicator, 1)
    await assert_no_more(communicator)
    assert (update["event"], update["counter_id"], update["queue_length"]) == (
        "counter_status_update",
        counters[0].pk,
        1,  # OPD's one line: the patient waits in it, unassigned
    )


async def test_cancel_sends_counter_status_update_with_the_new_queue_length(sockets, counters, patients, opd):
    ticket, _ = await run(services.join, patient=patients[0], service=opd)
    await run(services.join, patient=patients[1], service=opd)
    await run(services.join, patient=patients[2], service=opd)  # three in OPD's one line
    communicator, _ = await sockets()

    await run(services.cancel, ticket=ticket, patient=patients[0])

    [update] = await messages(communicator, 1)
    await assert_no_more(communicator)
    assert (update["event"], update["counter_id"], update["queue_length"]) == (
        "counter_status_update",
        counters[0].pk,
        2,
    )
    assert update["serving_patient"] is None


# --- names and phones on the public socket ---------------------------------------------------


async def _called_name(sockets, counters, patient, opd) -> tuple[dict, dict]:
    await run(services.join, patient=patient, service=opd)
    communicator, _ = await sockets()
    await run(services.serve_next, counter=counters[0], by=counters[0].held_by)
    _, called = await messages(communicator, 2)
    _, snapshot = await sockets()
    return called, snapshot


async def test_display_masks_names_by_default(sockets, counters, patient, opd):
    called, snapshot = await _called_name(sockets, counters, patient, opd)

    assert called["serving_patient"]["patient_name"] == "John D."
    assert snapshot["counters"][0]["serving_patient"]["patient_name"] == "John D."
    assert snapshot["recent_calls"][0]["patient_name"] == "John D."


async def test_display_shows_full_names_when_name_mode_is_full(sockets, counters, patient, opd, settings):
    settings.DISPLAY_NAME_MODE = "full"

    called, snapshot = await _called_name(sockets, counters, patient, opd)

    assert called["serving_patient"]["patient_name"] == "John Doe"
    assert snapshot["recent_calls"][0]["patient_name"] == "John Doe"


async def test_display_shows_tickets_only_when_name_mode_is_none(sockets, counters, patient, opd, settings):
    settings.DISPLAY_NAME_MODE = "none"

    called, snapshot = await _called_name(sockets, counters, patient, opd)

    assert called["serving_patient"]["patient_name"] == ""
    assert snapshot["counters"][0]["serving_patient"]["patient_name"] == ""
    assert snapshot["recent_calls"][0]["patient_name"] == ""
    assert "John" not in json.dumps(called) + json.dumps(snapshot)


async def test_no_public_message_contains_a_phone_number(sockets, three_counters, patient, opd, settings):
    settings.DISPLAY_NAME_MODE = "full"
    communicator, snapshot = await sockets()
    texts = [json.dumps(snapshot)]
    first = three_counters[0]

    ticket, _ = await run(services.join, patient=patient, service=opd)
    await run(services.serve_next, counter=first, by=first.held_by)
    await run(services.announce, counter=first, by=first.held_by)
    await run(services.set_status, counter=first, status="break", by=first.held_by)
    await run(services.skip, counter=first, by=first.held_by)
    someone = await database_sync_to_async(PatientFactory)(phone="+919800000042", name="Asha Rao")
    other, _ = await run(services.join, patient=someone, service=opd)
    await run(services.cancel, ticket=other)
    while not await communicator.receive_nothing(timeout=0.3):
        texts.append(await communicator.receive_from())
    await communicator.send_json_to({"type": "snapshot"})
    texts.append(await communicator.receive_from())

    assert len(texts) >= 8
    assert any(ticket.queue_id in text for text in texts)
    for text in texts:
        for digits in ("+919812345678", "919812345678", "9812345678", "+919800000042", "9800000042"):
            assert digits not in text


# --- origin ---------------------------------------------------------------------------------


async def test_a_foreign_origin_is_refused(sockets):
    _, code = await sockets(headers=[(b"origin", b"http://evil.example")])

    assert code is not None  # not connected: refused with a close code


async def test_a_connection_without_an_origin_is_refused(sockets):
    _, code = await sockets(headers=[])

    assert code is not None


async def test_a_listed_origin_is_accepted(sockets):
    _, snapshot = await sockets(headers=[(b"origin", b"http://localhost")])

    assert snapshot["type"] == "snapshot"


# --- bad input from clients -------------------------------------------------------------------


async def test_garbage_frames_get_error_frames_and_the_socket_keeps_working(sockets, counters, patient, opd):
    communicator, _ = await sockets()
    garbage = [
        ({"text_data": "not json"}, "bad_json"),
        ({"text_data": "[" * 3000}, "bad_json"),  # nested past Python's recursion limit
        ({"text_data": "x" * (consumers.MAX_FRAME + 1)}, "bad_frame"),
        ({"bytes_data": b"\x00\xff" * 10}, "bad_frame"),
        ({"text_data": '"a string"'}, "unknown_type"),
        ({"text_data": '{"type": ["ping"]}'}, "unknown_type"),
        ({"text_data": '{"type": "serve_next"}'}, "unknown_type"),
    ]
    for frame, code in garbage:
        await communicator.send_to(**frame)
        answer = await communicator.receive_json_from()
        assert (answer["type"], answer["code"]) == ("error", code)
        assert answer["error"]

    await communicator.send_json_to({"type": "ping"})
    assert (await communicator.receive_json_from())["type"] == "pong"
    await run(services.join, patient=patient, service=opd)
    [message] = await messages(communicator, 1)
    assert message["event"] == "new_patient"


async def test_a_deeply_nested_frame_does_not_crash_the_consumer(sockets):
    communicator, _ = await sockets()

    await communicator.send_to(text_data="[" * 4000)

    answer = await communicator.receive_json_from()
    assert answer["code"] == "bad_json"
    await communicator.send_json_to({"type": "ping"})
    assert (await communicator.receive_json_from())["type"] == "pong"


async def test_garbage_from_one_client_does_not_affect_another(sockets, counters, patient, opd):
    noisy, _ = await sockets()
    quiet, _ = await sockets()

    for _ in range(40):
        await noisy.send_to(text_data="{{{{ garbage")
    await run(services.join, patient=patient, service=opd)

    [message] = await messages(quiet, 1)
    await assert_no_more(quiet)
    assert message["event"] == "new_patient"


async def test_a_flood_of_frames_is_throttled_with_one_error_frame(sockets):
    communicator, _ = await sockets()

    for _ in range(consumers.FRAME_BURST + 20):
        await communicator.send_json_to({"type": "snapshot"})
    answers = []
    while not await communicator.receive_nothing(timeout=0.3):
        answers.append(await communicator.receive_json_from())

    assert [a["type"] for a in answers].count("snapshot") == consumers.FRAME_BURST
    assert [a.get("code") for a in answers if a["type"] == "error"] == ["rate_limited"]
    await asyncio.sleep(1.1 / consumers.FRAMES_PER_SECOND)  # the allowance refills
    await communicator.send_json_to({"type": "ping"})
    assert (await communicator.receive_json_from())["type"] == "pong"


# --- staff and patient sockets share the consumer and its access rules ------------------------


def staff_session(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def patient_session(patient) -> str:
    session = SessionStore()
    session["patient_id"] = patient.pk
    session.create()
    return session.session_key


def session_cookie(session_key: str) -> tuple[bytes, bytes]:
    return (b"cookie", f"{settings.SESSION_COOKIE_NAME}={session_key}".encode())


def _staff_cookie(user) -> tuple[bytes, bytes]:
    return session_cookie(staff_session(user))


def _patient_cookie(patient) -> tuple[bytes, bytes]:
    return session_cookie(patient_session(patient))


async def test_counter_socket_is_refused_without_a_staff_session(sockets, counters):
    _, code = await sockets(query=f"counter={counters[0].pk}")

    assert code == 4403


async def test_counter_socket_gives_its_staff_full_names_and_the_waiting_list(sockets, counters, patient, opd):
    cookie = await database_sync_to_async(_staff_cookie)(counters[0].held_by)
    communicator, snapshot = await sockets(query=f"counter={counters[0].pk}", headers=[ORIGIN, cookie])

    await run(services.join, patient=patient, service=opd)

    [message] = await messages(communicator, 1)
    assert snapshot["counter"]["id"] == counters[0].pk
    assert message["event"] == "new_patient"
    assert [w["patient_name"] for w in message["waiting"]] == ["John Doe"]
    assert "9812345678" not in json.dumps(message)


async def test_counter_socket_is_refused_to_staff_holding_another_counter(sockets, counters):
    cookie = await database_sync_to_async(_staff_cookie)(counters[1].held_by)

    _, code = await sockets(query=f"counter={counters[0].pk}", headers=[ORIGIN, cookie])

    assert code == 4403


async def test_ticket_socket_is_only_for_the_tickets_own_patient(sockets, counters, patient, patients, opd):
    ticket, _ = await run(services.join, patient=patient, service=opd)
    own = await database_sync_to_async(_patient_cookie)(patient)
    other = await database_sync_to_async(_patient_cookie)(patients[0])

    _, refused = await sockets(query=f"ticket={ticket.pk}", headers=[ORIGIN, other])
    communicator, snapshot = await sockets(query=f"ticket={ticket.pk}", headers=[ORIGIN, own])

    assert refused == 4403
    assert snapshot["ticket"]["queue_id"] == ticket.queue_id
    assert snapshot["positions"]["type"] == "queue_position"


async def test_a_skipped_tickets_socket_hears_its_recall_but_not_the_queues_positions(
    sockets, counters, patient, patients, opd
):
    ticket, _ = await run(services.join, patient=patient, service=opd)
    nurse = counters[0].held_by
    await run(services.serve_next, counter=counters[0], by=nurse)
    await run(services.skip, counter=counters[0], by=nurse)
    own = await database_sync_to_async(_patient_cookie)(patient)
    communicator, snapshot = await sockets(query=f"ticket={ticket.pk}", headers=[ORIGIN, own])
    assert snapshot["ticket"]["status"] == "skipped" and snapshot["ticket"]["may_come_back"] is True

    await run(services.join, patient=patients[0], service=opd)  # the queue moves: not this phone's news
    await assert_no_more(communicator)

    await run(services.recall, ticket=ticket, by=nurse)
    news = await next_message(communicator, type_="ticket_update", event="recalled")
    assert news["ticket"]["status"] == "waiting" and news["ticket"]["may_come_back"] is False


async def test_a_counter_or_ticket_named_in_percent_encoding_still_gets_its_session(sockets, counters, patient, opd):
    """The sockets that need no session (displays) skip it: what decides that reads the query
    string exactly as the consumer does, so an encoded name is still a counter or a ticket."""
    ticket, _ = await run(services.join, patient=patient, service=opd)
    staff = await database_sync_to_async(_staff_cookie)(counters[0].held_by)
    own = await database_sync_to_async(_patient_cookie)(patient)

    _, counter_snapshot = await sockets(query=f"%63ounter={counters[0].pk}", headers=[ORIGIN, staff])
    _, ticket_snapshot = await sockets(query=f"%74icket={ticket.pk}", headers=[ORIGIN, own])
    _, refused = await sockets(query=f"%63ounter={counters[0].pk}")

    assert counter_snapshot["counter"]["id"] == counters[0].pk
    assert ticket_snapshot["ticket"]["queue_id"] == ticket.queue_id
    assert refused == 4403


async def test_malformed_query_strings_are_refused_not_crashed(sockets):
    for query in ("counter=abc", "counter=", "ticket=-1", "ticket=99999999999999999999999", "counter=1&counter=x"):
        _, code = await sockets(query=query)
        assert code == 4403, query


async def test_a_layer_message_carries_its_frames_in_order_and_the_older_one_frame_form_still_arrives(sockets):
    """events.py sends one layer message per group and change with its frames (`texts`); a
    process of the previous release, on the same Redis during a rolling update, sends `text`."""
    display, _ = await sockets()
    layer = get_channel_layer()
    await layer.group_send("display", {"type": "broadcast", "texts": ['{"n": 1}', '{"n": 2}']})
    await layer.group_send("display", {"type": "broadcast", "text": '{"n": 3}'})
    assert [m["n"] for m in await messages(display, 3)] == [1, 2, 3]
    await assert_no_more(display)


# --- the counter's socket: its operator (or an admin) hears its queue live -----------------------


async def open_socket(query: str, session_key: str | None = None):
    headers = [ORIGIN]
    if session_key:
        headers.append(session_cookie(session_key))
    communicator = WebsocketCommunicator(application, f"{URL}?{query}", headers=headers)
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


async def test_a_patient_socket_cannot_join_a_counter_group(counters, patient, opd):
    await join(patient, opd)  # even with a ticket at that very counter
    key = await database_sync_to_async(patient_session)(patient)
    _, connected, code = await open_socket(f"counter={counters[0].pk}", key)
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


# --- the ticket's socket: a phone signed in by SMS code follows its ticket ----------------------


def _signed_in_cookie(patient) -> str:
    browser = PhoneBrowser()
    browser.sign_in(patient.phone)
    return browser.cookies[settings.SESSION_COOKIE_NAME].value


async def open_ticket_socket(patient_or_cookie, ticket_id):
    cookie = (
        patient_or_cookie
        if isinstance(patient_or_cookie, str)
        else await database_sync_to_async(_signed_in_cookie)(patient_or_cookie)
    )
    return await open_ticket_socket_with_cookie(cookie, ticket_id)


async def test_ticket_socket_starts_with_a_snapshot_of_the_ticket_and_its_queue(opd, counters, patient):
    ticket, _ = await run(services.join, patient=patient, service=opd)
    socket, connected, _code = await open_ticket_socket(patient, ticket.pk)
    assert connected
    snapshot = await next_message(socket, type_="snapshot")
    assert snapshot["ticket"]["queue_id"] == ticket.queue_id
    assert snapshot["ticket"]["counter"] == "Counter 1"
    assert snapshot["positions"]["counters"][str(counters[0].pk)]["waiting"] == [ticket.number]
    await socket.disconnect()


async def test_ticket_socket_hears_called_then_served(opd, counters, patient):
    ticket, _ = await run(services.join, patient=patient, service=opd)
    socket, connected, _code = await open_ticket_socket(patient, ticket.pk)
    assert connected
    await next_message(socket, type_="snapshot")

    await run(services.serve_next, counter=counters[0], by=counters[0].held_by)
    called = await next_message(socket, type_="ticket_update", event="called")
    assert called["ticket"]["status"] == "called"
    assert called["ticket"]["counter"] == "Counter 1"

    await run(services.serve_next, counter=counters[0], by=counters[0].held_by)
    served = await next_message(socket, type_="ticket_update", event="served")
    assert served["ticket"]["status"] == "served"
    await socket.disconnect()


async def test_ticket_socket_is_told_when_its_counter_goes_on_break(opd, counters, patient, patients):
    await run(services.join, patient=patients[0], service=opd)  # Counter 1
    await run(services.join, patient=patients[1], service=opd)  # Counter 2
    ticket, _ = await run(services.join, patient=patient, service=opd)  # Counter 1 again (tie: lowest id)
    assert ticket.counter_id == counters[0].pk
    socket, connected, _code = await open_ticket_socket(patient, ticket.pk)
    assert connected
    await next_message(socket, type_="snapshot")

    await run(services.set_status, counter=counters[0], status="break", by=counters[0].held_by)
    moved = await next_message(socket, type_="ticket_update", event="moved")
    assert moved["ticket"]["counter"] == "Counter 2"
    # Each counter's name isolated (FSI…PDI): a name in the other direction keeps the sentence's order.
    assert (
        moved["message"]
        == f"{FSI}Counter 1{PDI} is not available; you are now at {FSI}Counter 2{PDI} and kept your place."
    )
    await socket.disconnect()


async def test_ticket_socket_hears_the_new_place_in_line(opd, counters, patient, patients):
    first, _ = await run(services.join, patient=patients[0], service=opd)
    second, _ = await run(services.join, patient=patients[1], service=opd)
    ticket, _ = await run(services.join, patient=patient, service=opd)
    socket, connected, _code = await open_ticket_socket(patient, ticket.pk)
    assert connected
    snapshot = await next_message(socket, type_="snapshot")
    assert snapshot["ticket"]["people_ahead"] == 2  # OPD's one line

    await run(services.serve_next, counter=counters[0], by=counters[0].held_by)  # calls `first`
    update = await next_message(socket, type_="queue_position")
    mine = update["counters"][str(counters[0].pk)]
    assert mine["serving"] == first.number
    assert update["line"] == [second.number, ticket.number]  # one ahead now
    await socket.disconnect()


async def test_ticket_socket_is_told_when_no_counter_is_left(opd, counters, patient, patients):
    await run(services.release_counter, staff=counters[1].held_by)  # only Counter 1 stays open
    await run(services.join, patient=patients[0], service=opd)
    ticket, _ = await run(services.join, patient=patient, service=opd)
    socket, connected, _code = await open_ticket_socket(patient, ticket.pk)
    assert connected
    await next_message(socket, type_="snapshot")

    await run(services.set_status, counter=counters[0], status="break", by=counters[0].held_by)
    pool = await next_message(socket, type_="ticket_update", event="pool")
    assert pool["ticket"]["counter_id"] is None
    assert pool["message"]
    await socket.disconnect()


async def test_a_ticket_socket_without_a_verified_phone_is_refused(opd, patient):
    ticket, _ = await run(services.join, patient=patient, service=opd)
    socket, connected, code = await open_ticket_socket("no-such-session", ticket.pk)
    assert not connected and code == 4403
