"""Screens that missed an event catch up by themselves (state versions, static/js/live.js).

Changes made by `site.data(...)` run in another process whose channel layer nobody hears: for
the open pages they are exactly what a channel-layer outage makes them, committed changes whose
events never arrive. The pages' pings (every 5 s) are answered with the state versions; a page
that sees a newer version than its own asks for a snapshot and shows the change.
"""

from playwright.sync_api import expect

from .conftest import DESKTOP, PHONE, TV
from .helpers import SPEECH_STUB, join_queue, log_in_staff, open_ticket, sign_in_patient, wait_live

CATCH_UP_MS = 12_000  # a ping every 5 s, 1.5 s of grace for an event on its way, and a loaded CI


def test_the_display_the_counter_and_the_phone_show_a_call_whose_events_were_lost(site, open_context):
    made = site.data(
        "setup",
        services=[{"service_name": "OPD", "description": "Outpatient Department"}],
        staff=[{"username": "nurse1"}],
        counters=[{"counter_name": "Counter 1", "service": "OPD", "held_by": "nurse1"}],
    )
    counter_id = made["counters"]["Counter 1"]
    phone = open_context(PHONE)
    sign_in_patient(phone, site, phone="+919876530011", name="Meera Iyer")
    ticket = join_queue(phone, service_id=made["services"]["OPD"])
    patient_page = open_ticket(phone, ticket)
    desk = open_context(DESKTOP).new_page()
    log_in_staff(desk, username="nurse1", counter_id=counter_id)
    display = open_context(TV, init_scripts=[SPEECH_STUB]).new_page()
    display.goto("/display/")
    wait_live(display)
    expect(desk.locator("#queue-length")).to_have_text("1")

    site.data("serve_next", counter="Counter 1", by="nurse1")  # its events reach nobody

    code = " ".join(ticket["queue_id"].split("_")[:2])
    row = display.locator(f'tr.d-row[data-counter-id="{counter_id}"]')
    expect(row.locator(".d-ticket")).to_have_text(code, timeout=CATCH_UP_MS)
    expect(desk.locator("#serving-ticket")).to_have_text(ticket["queue_id"], timeout=CATCH_UP_MS)
    expect(desk.locator("#queue-length")).to_have_text("0")
    card = patient_page.locator(f'[data-ticket-id="{ticket["id"]}"]')
    expect(card.locator('[data-field="headline"]')).to_contain_text("Counter 1", timeout=CATCH_UP_MS)
    assert display.evaluate("QueueDisplay.snapshots") >= 2  # caught up through a fresh snapshot
