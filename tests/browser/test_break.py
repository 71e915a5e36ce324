"""A counter goes on break: its patients see their new counter at once, in the order they joined."""

from playwright.sync_api import expect

from .conftest import DESKTOP, PHONE
from .helpers import join_queue, log_in_staff, mark_page, open_ticket, sign_in_patient, still_same_page

PATIENTS = [
    ("+919876510001", "Ananya Sharma"),
    ("+919876510002", "محمد علي"),
    ("+919876510003", "李伟"),
    ("+919876510004", "Rahul Verma"),
]


def test_break_moves_waiting_patients_to_the_other_counter_in_join_order(site, open_context):
    made = site.data(
        "setup",
        services=[{"service_name": "OPD", "description": "Outpatient Department"}],
        staff=[{"username": "nurse1"}, {"username": "nurse2"}],
        counters=[
            {"counter_name": "Counter 1", "service": "OPD", "assigned_staff": "nurse1"},
            {"counter_name": "Counter 2", "service": "OPD", "assigned_staff": "nurse2"},
        ],
    )
    desk1 = open_context(DESKTOP).new_page()
    log_in_staff(desk1, username="nurse1", counter_id=made["counters"]["Counter 1"])
    desk2 = open_context(DESKTOP).new_page()
    log_in_staff(desk2, username="nurse2", counter_id=made["counters"]["Counter 2"])

    # Four patients join one after the other; the fewest-waiting rule alternates the counters.
    patients = []
    for phone, name in PATIENTS:
        context = open_context(PHONE)
        sign_in_patient(context, site, phone=phone, name=name)
        patients.append((context, join_queue(context, service_id=made["services"]["OPD"])))
    pages = [open_ticket(context, ticket) for context, ticket in patients]
    queue_ids = [ticket["queue_id"] for _, ticket in patients]

    for page, counter in zip(pages, ["Counter 1", "Counter 2", "Counter 1", "Counter 2"], strict=True):
        expect(page.locator('[data-field="counter"]')).to_have_text(counter)
        mark_page(page)
    expect(desk1.locator("#waiting-list .w-ticket")).to_have_text([queue_ids[0], queue_ids[2]])

    desk1.get_by_role("button", name="Break", exact=True).click()
    dialog = desk1.locator("#confirm-status")
    expect(dialog).to_be_visible()
    dialog.locator("#confirm-yes").click()
    expect(desk1.locator("#status-badge")).to_have_text("On break")

    # Everyone now waits at Counter 2, and the line is the join order: 1st, 2nd, 3rd, 4th.
    for place, page in enumerate(pages, start=1):
        expect(page.locator('[data-field="counter"]')).to_have_text("Counter 2")
        expect(page.locator('[data-field="position"]')).to_have_text(str(place))
        expect(page.locator('[data-field="ahead"]')).to_have_text(str(place - 1))
    expect(pages[0].locator('[data-field="headline"]')).to_have_text("You are next")
    expect(desk2.locator("#waiting-list .w-ticket")).to_have_text(queue_ids)
    expect(desk1.locator("#waiting-list li")).to_have_count(0)
    assert all(still_same_page(page) for page in pages), "a patient's page reloaded instead of updating live"
