"""The patient's ticket page in Chromium, beyond the first call: a ticket that comes back (recalled
by reception, sent on to another service), several tickets at once, leaving the queue on a bad
network, guidance that goes away when it no longer applies, and a session that ends."""

import re
from dataclasses import dataclass

import pytest
from playwright.sync_api import expect

from queue_app.bidi import FSI, PDI

from .conftest import DESKTOP, PHONE
from .helpers import (
    PASSWORD,
    api_post,
    join_queue,
    log_in_staff,
    mark_page,
    sign_in_patient,
    still_same_page,
    wait_live,
)

# Keeps every WebSocket the page opens, so a test can cut them as a network drop would (the
# page's own code then reconnects, as it does on a phone).
SOCKET_CUTTER = """
(() => {
  const Watched = window.WebSocket;
  const open = [];
  function Kept(url, protocols) {
    const socket = protocols === undefined ? new Watched(url) : new Watched(url, protocols);
    open.push(socket);
    return socket;
  }
  Kept.prototype = Watched.prototype;
  for (const name of ["CONNECTING", "OPEN", "CLOSING", "CLOSED"]) Kept[name] = Watched[name];
  window.WebSocket = Kept;
  window.__cutSockets = () => open.forEach((socket) => socket.close());
})();
"""


@pytest.fixture(scope="module")
def desk(site):
    site.data(
        "setup", staff=[{"username": "desk1", "first_name": "Rita", "last_name": "Fernandes", "role": "reception"}]
    )


@dataclass
class Clinic:
    """Two services of one test's own, OPD <tag> and Test <tag>, each with a counter held by its
    staff member: what one test does to a queue cannot change what another test sees."""

    tag: str
    ids: dict

    @property
    def opd(self) -> int:
        return self.ids["services"][f"OPD {self.tag}"]

    @property
    def lab(self) -> int:
        return self.ids["services"][f"Test {self.tag}"]

    def staff(self, open_context, which: str):
        """A staff member's browser, logged in at their counter ("opd" or "lab")."""
        username, counter = {"opd": ("nurse", "Counter"), "lab": ("labtech", "Lab")}[which]
        context = open_context(DESKTOP)
        page = context.new_page()
        log_in_staff(page, username=f"{username}{self.tag}", counter_id=self.ids["counters"][f"{counter} {self.tag}"])
        return context


_tags = iter("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


@pytest.fixture
def clinic(site, desk):
    tag = next(_tags)
    ids = site.data(
        "setup",
        services=[{"service_name": f"OPD {tag}"}, {"service_name": f"Test {tag}"}],
        staff=[{"username": f"nurse{tag}"}, {"username": f"labtech{tag}"}],
        counters=[
            {"counter_name": f"Counter {tag}", "service": f"OPD {tag}", "held_by": f"nurse{tag}"},
            {"counter_name": f"Lab {tag}", "service": f"Test {tag}", "held_by": f"labtech{tag}"},
        ],
    )
    return Clinic(tag, ids)


def reception_context(open_context):
    context = open_context(DESKTOP)
    page = context.new_page()
    page.goto("/staff/login/")
    page.get_by_label("Username").fill("desk1")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/staff/reception/")
    return context


def staff_action(context, action: str) -> dict:
    answer = api_post(context, f"/staff/{action}/")
    assert answer.status == 200, answer.text()
    return answer.json()


def patient_page(open_context, site, *, phone: str, name: str, init_scripts=()):
    context = open_context(PHONE, init_scripts=init_scripts)
    sign_in_patient(context, site, phone=phone, name=name)
    return context


def card(page, service: str):
    return page.locator("article.ticket", has=page.locator('[data-field="service"]', has_text=service))


def test_a_skipped_patient_recalled_by_reception_sees_their_place_again_without_reloading(site, clinic, open_context):
    context = patient_page(open_context, site, phone="+919876580001", name="Ananya Sharma")
    ticket = join_queue(context, service_id=clinic.opd)
    nurse = clinic.staff(open_context, "opd")
    staff_action(nurse, "serve_next")  # called...
    staff_action(nurse, "skip_patient")  # ...and not there: skipped

    # The phone opens (or reloads) its page after the skip: the ticket is no longer active.
    phone = context.new_page()
    phone.goto("/dashboard/")
    expect(phone.locator('[data-field="headline"]')).to_have_text("You missed your turn")
    expect(phone.get_by_role("link", name="Get a new ticket")).to_be_visible()
    wait_live(phone)  # a ticket that can come back stays live
    mark_page(phone)

    recalled = api_post(reception_context(open_context), f"/staff/reception/tickets/{ticket['id']}/recall/")
    assert recalled.status == 200, recalled.text()

    expect(phone.locator('[data-field="headline"]')).to_have_text("You are next")
    expect(phone.locator('[data-field="counter"]')).to_have_text(f"{FSI}Counter {clinic.tag}{PDI} (expected)")
    expect(phone.get_by_role("link", name="Get a new ticket")).to_be_hidden()
    expect(phone.locator("summary", has_text="Leave the queue")).to_be_visible()
    expect(phone.locator(".keep-open")).to_be_visible()
    assert still_same_page(phone), "the page reloaded instead of updating live"


def test_a_patient_seen_and_sent_on_to_the_lab_follows_the_new_ticket_without_reloading(site, clinic, open_context):
    context = patient_page(open_context, site, phone="+919876580002", name="Rahul Verma")
    ticket = join_queue(context, service_id=clinic.opd)
    nurse = clinic.staff(open_context, "opd")
    staff_action(nurse, "serve_next")
    staff_action(nurse, "serve_next")  # seen: served

    phone = context.new_page()
    phone.goto("/dashboard/")
    expect(phone.locator('[data-field="headline"]')).to_have_text("You have been seen")
    wait_live(phone)
    mark_page(phone)

    # The doctor sends them for a blood test: reception moves the served ticket to the lab.
    moved = api_post(
        reception_context(open_context), f"/staff/reception/tickets/{ticket['id']}/move/", {"service_id": clinic.lab}
    )
    assert moved.status == 200, moved.text()

    expect(phone.locator('[data-field="queue_id"]')).to_have_text(re.compile(rf"^TEST{clinic.tag}_\d{{3}}_\d{{4}}$"))
    expect(phone.locator('[data-field="note"]')).to_contain_text(f"You have been sent to {FSI}Test {clinic.tag}{PDI}")
    expect(phone.locator('[data-field="headline"]')).to_have_text("You are next")
    expect(phone.locator('[data-field="counter"]')).to_have_text(f"{FSI}Lab {clinic.tag}{PDI} (expected)")
    expect(phone.locator(".keep-open")).to_be_visible()
    assert still_same_page(phone)


def test_joining_a_second_service_shows_both_tickets_each_live(site, clinic, open_context):
    opd, lab = f"OPD {clinic.tag}", f"Test {clinic.tag}"
    context = patient_page(open_context, site, phone="+919876580003", name="Priya Nair")
    phone = context.new_page()
    phone.goto("/service/selection/")
    phone.get_by_role("button", name=f"Join the {opd} queue").click()
    phone.wait_for_url(re.compile(r"/dashboard/\?ticket=\d+$"))
    phone.get_by_role("link", name="Join another service").click()
    phone.get_by_role("button", name=f"Join the {lab} queue").click()
    phone.wait_for_url(re.compile(r"/dashboard/\?ticket=\d+$"))

    expect(phone.locator("article.ticket")).to_have_count(2)
    expect(card(phone, lab).locator('[data-field="queue_id"]')).to_have_text(re.compile(rf"^TEST{clinic.tag}_"))
    expect(card(phone, opd).locator('[data-field="queue_id"]')).to_have_text(re.compile(rf"^OPD{clinic.tag}_"))
    phone.wait_for_function("window.__sockets.snapshots >= 2")  # one live connection per ticket
    mark_page(phone)

    lab_staff = clinic.staff(open_context, "lab")
    staff_action(lab_staff, "serve_next")
    expect(card(phone, lab).locator('[data-field="headline"]')).to_have_text(
        f"Please go to {FSI}Lab {clinic.tag}{PDI} now"
    )
    expect(card(phone, opd).locator('[data-field="headline"]')).to_have_text("You are next")
    staff_action(lab_staff, "serve_next")  # ...and seen; the OPD ticket still waits
    expect(card(phone, lab).locator('[data-field="headline"]')).to_have_text("You have been seen")
    expect(phone.locator(".keep-open")).to_be_visible()
    assert still_same_page(phone)


@pytest.mark.parametrize("ending", ["seen", "left"])
def test_keep_this_page_open_goes_away_once_the_patient_is_seen_or_leaves(site, clinic, open_context, ending):
    number = {"seen": "+919876580004", "left": "+919876580005"}[ending]
    context = patient_page(open_context, site, phone=number, name="Kavya Menon")
    join_queue(context, service_id=clinic.lab)
    phone = context.new_page()
    phone.goto("/dashboard/")
    wait_live(phone)
    keep_open = phone.locator(".keep-open")
    expect(keep_open).to_contain_text("Keep this page open")

    if ending == "seen":
        lab_staff = clinic.staff(open_context, "lab")
        staff_action(lab_staff, "serve_next")
        staff_action(lab_staff, "serve_next")
        expect(phone.locator('[data-field="headline"]')).to_have_text("You have been seen")
    else:
        phone.locator("summary", has_text="Leave the queue").click()
        phone.get_by_role("button", name="Yes, leave the queue").click()
        expect(phone.locator('[data-field="headline"]')).to_have_text("You left the queue")
    expect(keep_open).to_be_hidden()


def test_leave_the_queue_comes_back_after_a_network_error(site, clinic, open_context):
    context = patient_page(open_context, site, phone="+919876580006", name="Omar Farouk")
    join_queue(context, service_id=clinic.opd)
    phone = context.new_page()
    phone.goto("/dashboard/")
    wait_live(phone)

    phone.route("**/queue/cancel/", lambda route: route.abort("internetdisconnected"))
    phone.locator("summary", has_text="Leave the queue").click()
    phone.get_by_role("button", name="Yes, leave the queue").click()
    button = phone.locator(".leave-form button")
    expect(button).to_have_text("Yes, leave the queue")
    expect(button).to_be_enabled()
    expect(phone.locator('[data-field="note"]')).to_have_text(
        "No connection: nothing was changed. Check the network and try again."
    )

    phone.unroute("**/queue/cancel/")
    button.click()
    expect(phone.locator('[data-field="headline"]')).to_have_text("You left the queue")


@pytest.mark.parametrize("transport", ["socket", "polling"])
def test_a_page_whose_session_has_ended_asks_the_patient_to_sign_in_again(site, clinic, open_context, transport):
    number = {"socket": "+919876580007", "polling": "+919876580008"}[transport]
    context = patient_page(open_context, site, phone=number, name="Sunita Rao", init_scripts=[SOCKET_CUTTER])
    join_queue(context, service_id=clinic.opd)
    phone = context.new_page()
    phone.goto("/dashboard/")
    wait_live(phone)
    ticket_at = phone.locator("article.ticket").bounding_box()

    context.clear_cookies()  # the session is gone (the day ended, or signed out elsewhere)
    if transport == "polling":
        phone.evaluate("window.__sockets.blocked = true")  # WebSockets fail: the page polls instead
    phone.evaluate("window.__cutSockets()")

    sign_in = phone.get_by_role("link", name="Sign in again")
    expect(sign_in).to_be_visible()
    expect(sign_in).to_have_attribute("href", "/patient/login/")
    assert phone.locator("article.ticket").bounding_box() == ticket_at, "the message moved the ticket"
    phone.wait_for_timeout(3000)  # long past the banner's delay: "Reconnecting…" must not come
    expect(phone.locator("#conn-banner")).to_be_hidden()
    expect(sign_in).to_be_visible()


def test_the_called_pulse_animates_only_transform_and_opacity(site, clinic, open_context):
    """Animating box-shadow repaints the card every frame: seconds of main-thread work on a cheap
    phone, just as the patient is called. Transform and opacity run on the compositor."""
    context = patient_page(open_context, site, phone="+919876580009", name="Farah Khan")
    join_queue(context, service_id=clinic.lab)
    staff_action(clinic.staff(open_context, "lab"), "serve_next")
    phone = context.new_page()
    phone.goto("/dashboard/")
    expect(phone.locator("article.ticket")).to_have_class(re.compile(r"\bis-called\b"))
    animated = phone.evaluate(
        """() => document.getAnimations().flatMap((a) => a.effect.getKeyframes().flatMap((k) => Object.keys(k)))
             .filter((key) => !["offset", "computedOffset", "easing", "composite"].includes(key))"""
    )
    assert animated, "the called state no longer draws the eye"
    assert set(animated) <= {"transform", "opacity"}, animated
