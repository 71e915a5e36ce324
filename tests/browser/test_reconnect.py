"""The display loses its connection: it says so, reconnects, and shows the calls it missed."""

from playwright.sync_api import expect

from .conftest import DESKTOP, TV
from .helpers import SPEECH_STUB, log_in_staff, wait_live


def test_display_shows_the_banner_while_down_then_reconnects_with_the_calls_it_missed(site, open_context):
    made = site.data(
        "setup",
        services=[{"service_name": "OPD", "description": "Outpatient Department"}],
        staff=[{"username": "nurse1"}],
        counters=[{"counter_name": "Counter 1", "service": "OPD", "held_by": "nurse1"}],
        joins=[{"phone": "+919876530001", "name": "Ananya Sharma", "service": "OPD"}],
    )
    called = made["tickets"][0]["queue_id"]
    desk = open_context(DESKTOP).new_page()
    log_in_staff(desk, username="nurse1", counter_id=made["counters"]["Counter 1"])

    display = open_context(TV, init_scripts=[SPEECH_STUB]).new_page()
    display.goto("/display/")
    display.get_by_role("button", name="Click to enable sound").click()
    wait_live(display)
    banner = display.locator("#conn-banner")
    expect(banner).to_be_hidden()
    row = display.locator(f'tr.d-row[data-counter-id="{made["counters"]["Counter 1"]}"]')
    expect(row.locator(".d-nobody")).to_be_visible()

    # The network goes: the page's socket closes and new ones fail until it comes back.
    display.evaluate("window.__sockets.blocked = true; QueueDisplay.live.drop()")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Connection lost — reconnecting")

    desk.get_by_role("button", name="Serve next").click()  # a call the display cannot hear
    expect(desk.locator("#serving-ticket")).to_have_text(called)

    display.evaluate("window.__sockets.blocked = false")
    expect(banner).to_be_hidden()
    assert display.evaluate("window.__sockets.opened") >= 2, "the display never opened a new socket"
    code = " ".join(called.split("_")[:2])
    expect(row.locator(".d-ticket")).to_have_text(code)
    expect(display.locator("#call-ticket")).to_have_text(code)
    expect(display.locator("#call-counter")).to_have_text("Counter 1")
    # A call missed only moments ago is still announced once the screen is back.
    display.wait_for_function("window.__speech.texts.length > 0 && !QueueDisplay.speaking")
    texts = display.evaluate("window.__speech.texts")
    assert len(texts) == 3 and "OPD zero zero one" in texts[0], texts
