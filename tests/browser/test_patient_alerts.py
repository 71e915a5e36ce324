"""The open ticket page when its patient is called: a chime (Web Audio, unlocked by the first tap),
a system notification (permission granted to the test browser), a banner, a flashing title; and
the "alert me" button, shown only while the browser may still ask."""

import pytest
from playwright.sync_api import expect

from .conftest import DESKTOP, PHONE
from .helpers import api_post, join_queue, log_in_staff, sign_in_patient, wait_live

# Watches the browser's own sound and notification APIs: how many notes were started and which
# notifications were shown. Both still do what they do; only their use is counted.
ALERT_WATCH = """
(() => {
  const seen = { notes: 0, notifications: [] };
  window.__alerts = seen;
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (Ctx) {
    const start = OscillatorNode.prototype.start;
    OscillatorNode.prototype.start = function () {
      if (this.context.state === "running") seen.notes += 1;
      return start.apply(this, arguments);
    };
  }
  const Real = window.Notification;
  if (Real) {
    function Watched(title, options) {
      seen.notifications.push({ title: title, body: (options || {}).body });
      return new Real(title, options);
    }
    Watched.prototype = Real.prototype;
    Object.defineProperty(Watched, "permission", { get: () => Real.permission });
    Watched.requestPermission = Real.requestPermission.bind(Real);
    window.Notification = Watched;
  }
})();
"""


@pytest.fixture(scope="module")
def clinic(site):
    return site.data(
        "setup",
        services=[{"service_name": "Alerts OPD"}],
        staff=[{"username": "alertnurse"}],
        counters=[{"counter_name": "Room 7", "service": "Alerts OPD", "held_by": "alertnurse"}],
    )


def patient(open_context, site, *, phone, granted):
    context = open_context(PHONE, init_scripts=[ALERT_WATCH])
    if granted:
        context.grant_permissions(["notifications"])
    sign_in_patient(context, site, phone=phone, name="Meera Iyer")
    return context


def test_the_called_page_chimes_notifies_flashes_and_shows_the_banner(site, clinic, open_context):
    context = patient(open_context, site, phone="+919876590001", granted=True)
    ticket = join_queue(context, service_id=clinic["services"]["Alerts OPD"])
    page = context.new_page()
    page.goto(f"/dashboard/?ticket={ticket['id']}")
    wait_live(page)
    expect(page.locator("#alerts")).to_be_hidden()  # already allowed: nothing to ask
    expect(page.locator("#alerts-state")).to_contain_text("Alerts are on")
    page.locator(".ticket-number").click()  # the first tap unlocks sound

    staff = open_context(DESKTOP)
    log_in_staff(staff.new_page(), username="alertnurse", counter_id=clinic["counters"]["Room 7"])
    assert api_post(staff, "/staff/serve_next/").status == 200

    banner = page.locator("#call-alert")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Room 7")
    page.wait_for_function("window.__alerts.notes >= 3")  # the chime's three notes, sound unlocked
    page.wait_for_function("window.__alerts.notifications.length === 1")
    shown = page.evaluate("window.__alerts.notifications[0]")
    assert ticket["queue_id"] in shown["title"] and "Room 7" in shown["body"]
    page.wait_for_function("document.title.startsWith('🔔')")  # the tab's title flashes
    page.get_by_role("button", name="OK, I am going").click()
    expect(banner).to_be_hidden()
    assert not page.title().startswith("🔔")


def test_the_alert_button_asks_once_and_never_on_load(site, clinic, open_context):
    context = patient(open_context, site, phone="+919876590002", granted=False)
    ticket = join_queue(context, service_id=clinic["services"]["Alerts OPD"])
    page = context.new_page()
    page.goto(f"/dashboard/?ticket={ticket['id']}")
    wait_live(page)
    assert page.evaluate("Notification.permission") == "default"  # nothing asked on load
    button = page.get_by_role("button", name="Alert me on this phone when it is my turn")
    expect(button).to_be_visible()
    context.grant_permissions(["notifications"])
    button.click()
    expect(button).to_be_hidden()
    expect(page.locator("#alerts-state")).to_contain_text("Alerts are on")


def test_the_texts_switch_saves_at_once(site, clinic, open_context):
    context = patient(open_context, site, phone="+919876590003", granted=False)
    ticket = join_queue(context, service_id=clinic["services"]["Alerts OPD"])
    page = context.new_page()
    page.goto(f"/dashboard/?ticket={ticket['id']}")
    wait_live(page)
    switch = page.get_by_label("Text me when my turn is near, when I am called, and if my counter changes")
    expect(switch).to_be_checked()
    switch.uncheck()
    expect(switch).to_be_enabled()
    page.reload()
    expect(
        page.get_by_label("Text me when my turn is near, when I am called, and if my counter changes")
    ).not_to_be_checked()


# Lets a test make the page's open sockets go quiet while they stay open (a half-open connection
# after a Wi-Fi roam): their frames are no longer handed to the page. New sockets are not touched.
SILENCER = """
(() => {
  const Outer = window.WebSocket;
  const setter = Object.getOwnPropertyDescriptor(Outer.prototype, "onmessage").set;
  const open = [];
  function Quietable(url, protocols) {
    const socket = protocols === undefined ? new Outer(url) : new Outer(url, protocols);
    Object.defineProperty(socket, "onmessage", {
      set(handler) { setter.call(socket, function (event) { if (!socket.__dead) handler.call(socket, event); }); },
    });
    open.push(socket);
    return socket;
  }
  Quietable.prototype = Outer.prototype;
  for (const name of ["CONNECTING", "OPEN", "CLOSING", "CLOSED"]) Quietable[name] = Outer[name];
  window.WebSocket = Quietable;
  window.__silenceSockets = () => open.forEach((socket) => { socket.__dead = true; });
})();
"""


def test_a_page_whose_socket_went_quiet_notices_and_says_so(site, clinic, open_context):
    context = open_context(PHONE, init_scripts=[SILENCER])
    sign_in_patient(context, site, phone="+919876590004", name="Kiran Das")
    ticket = join_queue(context, service_id=clinic["services"]["Alerts OPD"])
    page = context.new_page()
    page.goto(f"/dashboard/?ticket={ticket['id']}")
    wait_live(page)
    banner = page.locator("#conn-banner")
    expect(banner).to_be_hidden()
    # The network is gone without the socket closing: no pong, no event, and no new socket.
    page.evaluate("window.__sockets.blocked = true; window.__silenceSockets()")
    # Unanswered pings: within live.js's quiet limit and a ping, the page says so.
    expect(banner).to_be_visible(timeout=30_000)
    assert page.locator("#conn-banner").inner_text() in (
        "Reconnecting…",
        "Live updates are slow on this network; checking every few seconds.",
    )
    page.evaluate("window.__sockets.blocked = false")  # the network is back
    expect(banner).to_be_hidden(timeout=40_000)
