"""A queue longer than the staff list shows: the dashboard lists the first few and counts everyone."""

from playwright.sync_api import expect

from .conftest import DESKTOP
from .helpers import join_queue, log_in_staff, sign_in_patient

# The server lists only the first WAITING_LIST_LIMIT waiting patients of a counter; a low limit
# makes a twelve-patient queue a long one.
SITE_ENV = {"WAITING_LIST_LIMIT": "5"}

WAITING = [(f"+9198765700{n:02d}", f"Patient {n}") for n in range(1, 13)]
LATECOMER = ("+919876570099", "Kavya Iyer")


def test_a_capped_waiting_list_counts_everyone_waiting_and_says_how_many_more(site, open_context):
    made = site.data(
        "setup",
        services=[{"service_name": "OPD", "description": "Outpatient Department"}],
        staff=[{"username": "nurse1"}],
        counters=[{"counter_name": "Counter 1", "service": "OPD", "assigned_staff": "nurse1", "held_by": "nurse1"}],
        joins=[{"phone": phone, "name": name, "service": "OPD"} for phone, name in WAITING],
    )
    queue_ids = [ticket["queue_id"] for ticket in made["tickets"]]
    desk = open_context(DESKTOP).new_page()
    log_in_staff(desk, username="nurse1", counter_id=made["counters"]["Counter 1"])

    # The page as the server wrote it, before any script ran, says the same.
    first_paint = desk.context.request.get("/staff/dashboard/").text()
    assert 'id="queue-length">12<' in first_paint
    assert "…and 7 more waiting" in first_paint

    count, rows, more = desk.locator("#queue-length"), desk.locator("#waiting-list li"), desk.locator("#waiting-more")
    expect(count).to_have_text("12")
    expect(rows.locator(".w-ticket")).to_have_text(queue_ids[:5])
    expect(more).to_be_visible()
    expect(more).to_have_text("…and 7 more waiting")

    # Live: a patient joins at the end of the line; the list stays the first five.
    latecomer = open_context(DESKTOP)
    sign_in_patient(latecomer, site, phone=LATECOMER[0], name=LATECOMER[1])
    join_queue(latecomer, service_id=made["services"]["OPD"])
    expect(count).to_have_text("13")
    expect(more).to_have_text("…and 8 more waiting")
    expect(rows).to_have_count(5)

    # The first is called: the sixth moves up into the list, one fewer is left over.
    desk.get_by_role("button", name="Serve next").click()
    expect(desk.locator("#serving-ticket")).to_have_text(queue_ids[0])
    expect(count).to_have_text("12")
    expect(rows.locator(".w-ticket")).to_have_text(queue_ids[1:6])
    expect(more).to_have_text("…and 7 more waiting")

    # Going on break warns about everyone who will move, not just those listed.
    desk.get_by_role("button", name="Break", exact=True).click()
    dialog = desk.locator("#confirm-status")
    expect(dialog.locator("#confirm-body")).to_contain_text("12 waiting patients will be moved")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
