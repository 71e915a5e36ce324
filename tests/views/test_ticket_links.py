"""A ticket's own signed link (/t/<token>/, the slip's QR code): follow one ticket without SMS.

It opens that ticket's live page and lets the browser's WebSocket follow it; a forged or altered
link is refused, and a link of another service day has expired."""

import json
import re
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.core import signing
from django.test import Client
from django.urls import reverse

from queue_app import access, services
from queue_app.bidi import FSI, PDI
from queue_app.models import service_day
from queue_system.asgi import application

from ..factories import CounterFactory, StaffFactory
from ..patient_helpers import Clock, next_message, open_ticket_socket_with_cookie, page

pytestmark = pytest.mark.django_db


def link_for(ticket) -> str:
    return reverse("ticket_link", args=[access.ticket_link_token(ticket)])


def forged(payload) -> str:
    """A token signed with another key: what someone without SECRET_KEY could make."""
    token = signing.Signer(key="not-the-secret-key", salt=access.TICKET_LINK_SALT).sign_object(payload)
    return reverse("ticket_link", args=[token])


@pytest.fixture
def desk(db):
    return StaffFactory(username="reception1", role="reception")


@pytest.fixture
def walk_in(opd, counters, desk):
    ticket, _ = services.issue_walk_in(name="Asha Rao", service=opd, by=desk)
    return ticket


# --- the page ------------------------------------------------------------------------------------


def test_the_link_opens_the_live_page_of_that_ticket_only(walk_in, desk, opd):
    other, _ = services.issue_walk_in(name="Someone Else", service=opd, by=desk)
    browser = Client()
    url = link_for(walk_in)
    response = browser.get(url)
    html = page(response)
    assert response.status_code == 200
    assert walk_in.queue_id in html and "You are next" in html and "Counter 1" in html
    assert "For <bdi>Asha R.</bdi>" in html and "Asha Rao" not in html  # the name as the slip prints it
    assert other.queue_id not in html and "Someone Else" not in html
    assert "leave-form" not in html and "ask at reception" in html  # no patient session: no leaving
    data = json.loads(re.search(r'id="dashboard-data" type="application/json">(.*?)</script>', html, re.S).group(1))
    assert [t["id"] for t in data["tickets"]] == [walk_in.pk] and data["pollUrl"] == url
    assert data["cancelUrl"] is None
    assert browser.session[access.TICKET_LINKS_KEY] == [walk_in.pk]


def test_the_link_answers_json_for_the_polling_fallback(walk_in):
    response = Client().get(link_for(walk_in) + "?ticket=1", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert [t["queue_id"] for t in response.json()["tickets"]] == [walk_in.queue_id]


def test_the_link_follows_the_ticket_when_it_moves_to_another_service(walk_in, lab, desk):
    url = link_for(walk_in)
    moved = services.move_to_service(ticket=walk_in, service=lab, by=desk)
    html = page(Client().get(url))
    assert moved.queue_id in html and "Test" in html and walk_in.queue_id not in html


def test_the_links_session_lasts_the_service_day(walk_in):
    from queue_app.models import end_of_service_day

    browser = Client()
    browser.get(link_for(walk_in))
    assert browser.session.get_expiry_date() == end_of_service_day()
    assert not browser.session.get_expire_at_browser_close()


def test_a_staff_session_keeps_its_own_expiry_when_opening_a_link(walk_in, desk):
    browser = Client()
    browser.force_login(desk)
    browser.get(link_for(walk_in))
    assert browser.session.get_expire_at_browser_close()  # the seed's staff policy, untouched
    assert browser.session[access.TICKET_LINKS_KEY] == [walk_in.pk]


def test_several_links_are_remembered_up_to_a_limit(opd, counters, desk):
    browser = Client()
    tickets = [services.issue_walk_in(name=f"Child {i}", service=opd, by=desk)[0] for i in range(22)]
    for ticket in tickets:
        browser.get(link_for(ticket))
    browser.get(link_for(tickets[3]))
    remembered = browser.session[access.TICKET_LINKS_KEY]
    assert len(remembered) == access.MAX_TICKET_LINKS and remembered[-1] == tickets[3].pk
    assert tickets[0].pk not in remembered


# --- refusals -----------------------------------------------------------------------------------------


def test_a_forged_link_is_refused_and_grants_nothing(walk_in):
    browser = Client()
    for url in (
        forged({"t": walk_in.pk, "d": walk_in.service_date.isoformat()}),
        link_for(walk_in)[:-6] + "AAAAA/",  # the signature altered
        "/t/not-a-token/",
        "/t/" + "A" * 300 + "/",
    ):
        response = browser.get(url)
        assert response.status_code == 404, url
        assert "This link is not valid" in page(response) and walk_in.queue_id not in page(response)
    assert access.TICKET_LINKS_KEY not in browser.session


def test_a_link_cannot_be_edited_to_name_another_ticket(walk_in, desk, opd):
    other, _ = services.issue_walk_in(name="Someone Else", service=opd, by=desk)
    token = access.ticket_link_token(walk_in)
    payload, rest = token.split(":", 1)
    swapped = signing.b64_encode(json.dumps({"t": other.pk, "d": walk_in.service_date.isoformat()}).encode())
    response = Client().get(reverse("ticket_link", args=[f"{swapped.decode()}:{rest}"]))
    assert response.status_code == 404 and "Someone Else" not in page(response)


def test_a_link_signed_for_another_purpose_is_refused(walk_in):
    token = signing.Signer(salt="another.salt").sign_object({"t": walk_in.pk, "d": walk_in.service_date.isoformat()})
    assert Client().get(reverse("ticket_link", args=[token])).status_code == 404


@pytest.mark.parametrize("payload", [{"t": "1", "d": "2020-01-01"}, {"t": True, "d": "x"}, ["t"], {"d": "2020-01-01"}])
def test_a_signed_but_malformed_link_is_refused(payload):
    token = signing.Signer(salt=access.TICKET_LINK_SALT).sign_object(payload)
    assert Client().get(reverse("ticket_link", args=[token])).status_code == 404


def test_a_link_from_another_day_has_expired(walk_in, monkeypatch):
    url = link_for(walk_in)
    Clock(monkeypatch).advance(days=1)
    browser = Client()
    response = browser.get(url)
    assert response.status_code == 410
    assert "This ticket is from another day" in page(response) and walk_in.queue_id not in page(response)
    assert access.TICKET_LINKS_KEY not in browser.session
    as_json = browser.get(url, HTTP_ACCEPT="application/json")
    assert as_json.status_code == 410 and as_json.json()["code"] == "expired"


def test_a_validly_signed_link_for_yesterday_has_expired(walk_in):
    yesterday = (service_day() - timedelta(days=1)).isoformat()
    token = signing.Signer(salt=access.TICKET_LINK_SALT).sign_object({"t": walk_in.pk, "d": yesterday})
    assert Client().get(reverse("ticket_link", args=[token])).status_code == 410


def test_a_link_to_a_ticket_that_does_not_exist_is_404():
    token = signing.Signer(salt=access.TICKET_LINK_SALT).sign_object({"t": 999999, "d": service_day().isoformat()})
    assert Client().get(reverse("ticket_link", args=[token])).status_code == 404


def test_the_link_is_only_read_never_posted(walk_in):
    assert Client().post(link_for(walk_in)).status_code == 405


# --- the WebSocket: the link is what lets the socket follow the ticket -------------------------------


def _link_cookie(ticket) -> str:
    browser = Client()
    browser.get(link_for(ticket))
    return browser.cookies[settings.SESSION_COOKIE_NAME].value


@pytest.mark.django_db(transaction=True)
async def test_a_link_lets_the_socket_follow_the_ticket_through_a_move(opd, lab, counters, staff):
    desk = await sync_to_async(StaffFactory)(username="reception1", role="reception")
    await sync_to_async(services.hold_counter)(
        counter=await sync_to_async(CounterFactory)(counter_name="Lab 1", service=lab), staff=staff[2]
    )
    ticket, _ = await sync_to_async(services.issue_walk_in)(name="Asha Rao", service=opd, by=desk)
    cookie = await sync_to_async(_link_cookie)(ticket)

    socket, connected, _ = await open_ticket_socket_with_cookie(cookie, ticket.pk)
    assert connected
    snapshot = await next_message(socket, type_="snapshot")
    assert snapshot["ticket"]["queue_id"] == ticket.queue_id and snapshot["positions"]["service_id"] == opd.pk

    moved = await sync_to_async(services.move_to_service)(ticket=ticket, service=lab, by=desk)
    update = await next_message(socket, type_="ticket_update", event="moved_service")
    assert update["ticket"]["queue_id"] == moved.queue_id and update["ticket"]["service_id"] == lab.pk
    assert f"You have been sent to {FSI}Test{PDI}" in update["message"]
    await socket.disconnect()

    # The page reconnects: the new socket follows the new service's positions.
    again, connected, _ = await open_ticket_socket_with_cookie(cookie, ticket.pk)
    assert connected
    snapshot = await next_message(again, type_="snapshot")
    assert snapshot["ticket"]["service"] == "Test" and snapshot["positions"]["service_id"] == lab.pk
    await again.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_link_grants_the_socket_that_ticket_and_no_other(opd, counters):
    desk = await sync_to_async(StaffFactory)(username="reception1", role="reception")
    mine, _ = await sync_to_async(services.issue_walk_in)(name="Asha Rao", service=opd, by=desk)
    other, _ = await sync_to_async(services.issue_walk_in)(name="Someone Else", service=opd, by=desk)
    cookie = await sync_to_async(_link_cookie)(mine)
    socket, connected, code = await open_ticket_socket_with_cookie(cookie, other.pk)
    assert not connected and code == 4403
    socket, connected, code = await open_ticket_socket_with_cookie("no-such-session", mine.pk)
    assert not connected and code == 4403


@pytest.mark.django_db(transaction=True)
async def test_a_link_holder_sees_only_the_masked_name_on_the_socket(opd, counters):
    desk = await sync_to_async(StaffFactory)(username="desk9", role="reception")
    ticket, _ = await sync_to_async(services.issue_walk_in)(name="Lakshmi Prasad Rao", service=opd, by=desk)
    client = Client()
    await sync_to_async(client.get)(link_for(ticket))
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    communicator = WebsocketCommunicator(
        application,
        f"/ws/queue/updates/?ticket={ticket.pk}",
        headers=[(b"origin", b"http://testserver"), (b"cookie", cookie.encode())],
    )
    connected, _ = await communicator.connect()
    assert connected
    snapshot = await communicator.receive_json_from(timeout=5)
    assert snapshot["ticket"]["patient_name"] == "Lakshmi P. R."
    await communicator.disconnect()
