"""The patient's live ticket: the socket a phone opens with ?ticket=<id>, signed in by SMS code."""

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings

from queue_app import services

from ..factories import PatientFactory
from ..patient_helpers import PhoneBrowser, next_message, open_ticket_socket_with_cookie

pytestmark = pytest.mark.django_db(transaction=True)


def _signed_in_cookie(patient) -> str:
    browser = PhoneBrowser()
    browser.sign_in(patient.phone)
    return browser.cookies[settings.SESSION_COOKIE_NAME].value


async def open_ticket_socket(patient_or_cookie, ticket_id):
    cookie = (
        patient_or_cookie
        if isinstance(patient_or_cookie, str)
        else await sync_to_async(_signed_in_cookie)(patient_or_cookie)
    )
    return await open_ticket_socket_with_cookie(cookie, ticket_id)


def act(fn, **kwargs):
    return sync_to_async(fn)(**kwargs)


async def test_ticket_socket_starts_with_a_snapshot_of_the_ticket_and_its_queue(opd, counters, patient):
    ticket, _ = await act(services.join, patient=patient, service=opd)
    socket, connected, _code = await open_ticket_socket(patient, ticket.pk)
    assert connected
    snapshot = await next_message(socket, type_="snapshot")
    assert snapshot["ticket"]["queue_id"] == ticket.queue_id
    assert snapshot["ticket"]["counter"] == "Counter 1"
    assert snapshot["positions"]["counters"][str(counters[0].pk)]["waiting"] == [ticket.number]
    await socket.disconnect()


async def test_ticket_socket_hears_called_then_served(opd, counters, patient):
    ticket, _ = await act(services.join, patient=patient, service=opd)
    socket, connected, _code = await open_ticket_socket(patient, ticket.pk)
    assert connected
    await next_message(socket, type_="snapshot")

    await act(services.serve_next, counter=counters[0], by=counters[0].held_by)
    called = await next_message(socket, type_="ticket_update", event="called")
    assert called["ticket"]["status"] == "called"
    assert called["ticket"]["counter"] == "Counter 1"

    await act(services.serve_next, counter=counters[0], by=counters[0].held_by)
    served = await next_message(socket, type_="ticket_update", event="served")
    assert served["ticket"]["status"] == "served"
    await socket.disconnect()


async def test_ticket_socket_is_told_when_its_counter_goes_on_break(opd, counters, patient, patients):
    await act(services.join, patient=patients[0], service=opd)  # Counter 1
    await act(services.join, patient=patients[1], service=opd)  # Counter 2
    ticket, _ = await act(services.join, patient=patient, service=opd)  # Counter 1 again (tie: lowest id)
    assert ticket.counter_id == counters[0].pk
    socket, connected, _code = await open_ticket_socket(patient, ticket.pk)
    assert connected
    await next_message(socket, type_="snapshot")

    await act(services.set_status, counter=counters[0], status="break", by=counters[0].held_by)
    moved = await next_message(socket, type_="ticket_update", event="moved")
    assert moved["ticket"]["counter"] == "Counter 2"
    assert "Counter 1" in moved["message"] and "Counter 2" in moved["message"]
    assert "kept your place" in moved["message"]
    await socket.disconnect()


async def test_ticket_socket_hears_the_new_place_in_line(opd, counters, patient, patients):
    first, _ = await act(services.join, patient=patients[0], service=opd)
    await act(services.join, patient=patients[1], service=opd)
    ticket, _ = await act(services.join, patient=patient, service=opd)
    socket, connected, _code = await open_ticket_socket(patient, ticket.pk)
    assert connected
    snapshot = await next_message(socket, type_="snapshot")
    assert snapshot["ticket"]["people_ahead"] == 1

    await act(services.serve_next, counter=counters[0], by=counters[0].held_by)  # calls `first`
    update = await next_message(socket, type_="queue_position")
    mine = update["counters"][str(counters[0].pk)]
    assert mine["serving"] == first.number
    assert mine["waiting"].index(ticket.number) == 0  # nobody ahead: "You are next"
    await socket.disconnect()


async def test_ticket_socket_is_told_when_no_counter_is_left(opd, counters, patient, patients):
    await act(services.release_counter, staff=counters[1].held_by)  # only Counter 1 stays open
    await act(services.join, patient=patients[0], service=opd)
    ticket, _ = await act(services.join, patient=patient, service=opd)
    socket, connected, _code = await open_ticket_socket(patient, ticket.pk)
    assert connected
    await next_message(socket, type_="snapshot")

    await act(services.set_status, counter=counters[0], status="break", by=counters[0].held_by)
    pool = await next_message(socket, type_="ticket_update", event="pool")
    assert pool["ticket"]["counter_id"] is None
    assert pool["message"]
    await socket.disconnect()


async def test_another_patients_ticket_socket_is_refused(opd, counters, patient):
    other = await sync_to_async(PatientFactory)()
    theirs, _ = await act(services.join, patient=other, service=opd)
    socket, connected, code = await open_ticket_socket(patient, theirs.pk)
    assert not connected
    assert code == 4403


async def test_a_ticket_socket_without_a_verified_phone_is_refused(opd, patient):
    ticket, _ = await act(services.join, patient=patient, service=opd)
    socket, connected, code = await open_ticket_socket("no-such-session", ticket.pk)
    assert not connected and code == 4403
