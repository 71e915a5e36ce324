"""A patient scans the poster, signs in with the SMS code, takes an OPD ticket, and is called."""

import re

from playwright.sync_api import expect

from queue_app.bidi import FSI, PDI

from .conftest import DESKTOP, PHONE
from .helpers import local_number, log_in_staff, mark_page, still_same_page, wait_live

PHONE_NUMBER = "+919876500001"


def test_patient_gets_a_ticket_and_is_called_to_the_counter_without_reloading(site, open_context):
    made = site.data(
        "setup",
        services=[{"service_name": "OPD", "description": "Outpatient Department"}],
        staff=[{"username": "nurse1", "first_name": "Meera", "last_name": "Iyer"}],
        counters=[{"counter_name": "Counter 1", "service": "OPD", "assigned_staff": "nurse1"}],
    )

    # The poster on the wall says where to go (the QR code encodes the same address).
    poster = open_context(DESKTOP).new_page()
    poster.goto("/qr/")
    entry_url = poster.locator(".poster-url strong").inner_text().strip()
    assert entry_url == f"{site.url}/patient/login/"
    expect(poster.locator("img.poster-qr")).to_have_attribute("src", "/qr.svg")

    phone = open_context(PHONE).new_page()
    phone.goto(entry_url)
    phone.get_by_role("textbox", name="Mobile number").fill(local_number(PHONE_NUMBER))
    phone.get_by_role("textbox", name="Your name").fill("Ananya Sharma")
    before = len(site.messages_to(PHONE_NUMBER))
    phone.get_by_role("button", name="Send code").click()

    expect(phone.locator("#step-code")).to_be_visible()
    expect(phone.locator("#sent-to")).to_contain_text(local_number(PHONE_NUMBER))
    code = site.next_code(PHONE_NUMBER, after=before)
    # Typed digit by digit into the six boxes; the sixth digit submits by itself.
    phone.locator(".otp-box").first.press_sequentially(code)

    phone.wait_for_url("**/service/selection/")
    expect(phone.get_by_role("heading", name="Choose a service")).to_be_visible()
    phone.get_by_role("button", name="Join the OPD queue").click()

    phone.wait_for_url(re.compile(r"/dashboard/\?ticket=\d+$"))
    ticket = phone.locator(".ticket-number")
    expect(ticket).to_have_text(re.compile(r"^OPD_001_\d{4}$"))
    # Nobody works at a counter yet: the ticket waits in the service's pool.
    expect(phone.locator('[data-field="headline"]')).to_have_text("Waiting for a counter to open")
    wait_live(phone)
    mark_page(phone)

    staff = open_context(DESKTOP).new_page()
    log_in_staff(staff, username="nurse1", counter_id=made["counters"]["Counter 1"])
    expect(phone.locator('[data-field="headline"]')).to_have_text("You are next")
    expect(phone.locator('[data-field="counter"]')).to_have_text(f"{FSI}Counter 1{PDI} (expected)")
    expect(phone.locator('[data-field="detail"]')).to_have_text(
        "Please stay close: the first counter to be free will call you."
    )

    staff.get_by_role("button", name="Serve next").click()
    expect(staff.locator("#serving-ticket")).to_have_text(ticket.inner_text())
    expect(staff.locator("#serving-name")).to_have_text("Ananya Sharma")

    expect(phone.locator('[data-field="headline"]')).to_have_text(f"Please go to {FSI}Counter 1{PDI} now")
    expect(phone.locator('[data-field="counter"]')).to_have_text("Counter 1")  # where to go, no longer expected
    expect(phone.locator("article.ticket")).to_have_class(re.compile(r"\bis-called\b"))
    assert still_same_page(phone), "the patient's page reloaded instead of updating live"
