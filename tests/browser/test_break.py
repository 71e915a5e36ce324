"""A counter goes on break: its patients see their new expected counter at once and keep their
place in the service's one line."""

from playwright.sync_api import expect

from queue_app.bidi import FSI, PDI

from .conftest import DESKTOP, PHONE
from .helpers import mark_page, still_same_page, two_desks_and_four_phones

PATIENTS = [
    ("+919876510001", "Ananya Sharma"),
    ("+919876510002", "محمد علي"),
    ("+919876510003", "李伟"),
    ("+919876510004", "Rahul Verma"),
]


def test_break_moves_waiting_patients_to_the_other_counter_in_join_order(site, open_context):
    # Four patients join one after the other; the fewest-waiting rule alternates the counters.
    _, (desk1, desk2), tickets, pages = two_desks_and_four_phones(
        site, open_context, PATIENTS, desktop=DESKTOP, phone=PHONE
    )
    queue_ids = [ticket["queue_id"] for ticket in tickets]

    for page, counter in zip(pages, ["Counter 1", "Counter 2", "Counter 1", "Counter 2"], strict=True):
        expect(page.locator('[data-field="counter"]')).to_have_text(f"{FSI}{counter}{PDI} (expected)")
        mark_page(page)
    # One line for the service: both desks list everyone, in the order they came.
    expect(desk1.locator("#waiting-list .w-ticket")).to_have_text(queue_ids)

    desk1.get_by_role("button", name="Break", exact=True).click()
    dialog = desk1.locator("#confirm-status")
    expect(dialog).to_be_visible()
    dialog.locator("#confirm-yes").click()
    expect(desk1.locator("#status-badge")).to_have_text("On break")

    # Everyone is now expected at Counter 2, and keeps their place: 1st, 2nd, 3rd, 4th.
    for place, page in enumerate(pages, start=1):
        expect(page.locator('[data-field="counter"]')).to_have_text(f"{FSI}Counter 2{PDI} (expected)")
        expect(page.locator('[data-field="position"]')).to_have_text(str(place))
        expect(page.locator('[data-field="ahead"]')).to_have_text(str(place - 1))
    expect(pages[0].locator('[data-field="headline"]')).to_have_text("You are next")
    expect(desk2.locator("#waiting-list .w-ticket")).to_have_text(queue_ids)
    expect(desk2.locator("#waiting-list .w-where")).to_have_count(0)  # all expected at Counter 2 now
    assert all(still_same_page(page) for page in pages), "a patient's page reloaded instead of updating live"
