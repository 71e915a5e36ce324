"""What the counter page tells the clerk: what each key did and what to do next, and why their
counter is no longer theirs."""

import re

from playwright.sync_api import expect

from queue_app.bidi import FSI, PDI

from .conftest import DESKTOP
from .helpers import PASSWORD, log_in_staff

PATIENTS = [
    ("+919876530001", "Ananya Sharma"),
    ("+919876530002", "محمد علي"),
    ("+919876530003", "राहुल वर्मा"),
    ("+919876530004", "Li Wei"),
    ("+919876530005", "Fatima Khan"),
]


def test_each_key_says_what_it_did_and_what_to_do_next_even_on_break(site, open_context):
    made = site.data(
        "setup",
        services=[{"service_name": "OPD", "description": "Outpatient Department"}],
        staff=[{"username": "nurse1"}, {"username": "nurse2"}],
        counters=[
            {"counter_name": "Counter 1", "service": "OPD", "held_by": "nurse1"},
            {"counter_name": "Counter 2", "service": "OPD", "held_by": "nurse2"},
        ],
        joins=[{"phone": phone, "name": name, "service": "OPD"} for phone, name in PATIENTS],
    )
    ids = [t["queue_id"] for t in made["tickets"]]  # one OPD line, in join order
    desk = open_context(DESKTOP).new_page()
    log_in_staff(desk, username="nurse1", counter_id=made["counters"]["Counter 1"])
    notice = desk.locator("#notice")

    # Nobody at the counter: S and A say so and what to press, instead of doing nothing.
    desk.keyboard.press("s")
    expect(notice).to_have_text(
        "Nobody is at the counter, so there is nobody to skip. Press Serve next to call the next patient."
    )
    desk.keyboard.press("a")
    expect(notice).to_have_text(
        "Nobody is at the counter, so there is nobody to announce. Press Serve next to call the next patient."
    )

    desk.keyboard.press("n")
    expect(notice).to_have_text(f"Called {FSI}{ids[0]}{PDI}.")
    # Skip calls the next patient too, and its button says so before it is pressed.
    expect(desk.locator("#btn-skip")).to_contain_text("and call the next patient")
    desk.keyboard.press("s")
    expect(notice).to_have_text(
        f"{FSI}{ids[0]}{PDI} marked as a no-show. Called {FSI}{ids[1]}{PDI}."
    )  # the next in line
    expect(desk.locator("#serving-ticket")).to_have_text(ids[1])

    desk.get_by_role("button", name="Break", exact=True).click()
    desk.locator("#confirm-yes").click()  # those expected here are now expected at counter 2
    expect(notice).to_contain_text("Status: On break.")  # the answer is in: no request in flight
    desk.keyboard.press("n")  # finishes the patient at the counter, calls nobody: the others wait
    expect(notice).to_have_text(
        f"Finished {FSI}{ids[1]}{PDI}. You are on break, so nobody new was called. "
        "3 patients are waiting for the other counters. Choose Available to call patients again."
    )
    expect(desk.locator("#serving-ticket")).to_have_text("No patient at the counter")
    desk.keyboard.press("n")
    expect(notice).to_have_text(re.compile(r"^You are on break: no new patients are sent here\. Choose Available"))


def test_a_clerk_whose_counter_is_taken_over_is_told_who_took_it_and_when_and_may_pick_another(site, open_context):
    made = site.data(
        "setup",
        services=[{"service_name": "Dental", "description": "Dental clinic"}],
        staff=[
            {"username": "dentist1", "first_name": "Asha", "last_name": "Menon"},
            {"username": "dentist2", "first_name": "Vikram", "last_name": "Das"},
        ],
        counters=[
            {"counter_name": "Room 1", "service": "Dental"},
            {"counter_name": "Room 2", "service": "Dental"},
        ],
    )
    room1 = made["counters"]["Room 1"]
    mine = open_context(DESKTOP).new_page()
    log_in_staff(mine, username="dentist1", counter_id=room1)

    # A colleague logs in at the same room and confirms the take-over.
    theirs = open_context(DESKTOP).new_page()
    theirs.goto("/staff/login/")
    theirs.get_by_label("Username").fill("dentist2")
    theirs.get_by_label("Password").fill(PASSWORD)
    theirs.locator("#id_counter").select_option(str(room1))
    theirs.get_by_role("button", name="Log in").click()
    theirs.get_by_role("button", name="Yes, take over Room 1").click()
    theirs.wait_for_url("**/staff/dashboard/")

    # The first clerk's page says who took the room and when, and offers the counters.
    notice = mine.locator("#taken-over")
    expect(notice).to_contain_text(re.compile(r"Vikram Das took over Room 1 at \d\d:\d\d\."))
    expect(notice).to_contain_text("Pick a counter below to go on calling patients.")
    mine.get_by_role("row", name=re.compile("Room 2")).get_by_role("button", name="Work here").click()
    mine.wait_for_url("**/staff/dashboard/")
    expect(mine.locator("#counter-title")).to_contain_text("Room 2")
