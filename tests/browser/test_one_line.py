"""One line per service: the counter that is free first calls whoever came first, and each phone
is told at the moment of the call which counter to go to."""

from playwright.sync_api import expect

from queue_app.bidi import FSI, PDI

from .conftest import DESKTOP, PHONE, TIMEOUT_MS
from .helpers import mark_page, still_same_page, two_desks_and_four_phones

PATIENTS = [
    ("+919876520001", "Asha Verma"),
    ("+919876520002", "Ravi Kumar"),
    ("+919876520003", "Meera Nair"),
    ("+919876520004", "John Doe"),
]


def test_the_faster_counter_calls_in_arrival_order_and_each_phone_shows_where_to_go(site, open_context):
    _, (slow, fast), tickets, pages = two_desks_and_four_phones(
        site, open_context, PATIENTS, desktop=DESKTOP, phone=PHONE
    )
    queue_ids = [t["queue_id"] for t in tickets]

    # Expected at alternate counters, but one line: both desks list all four in arrival order,
    # and each phone shows its place in that line.
    for desk in (slow, fast):
        expect(desk.locator("#waiting-list .w-ticket")).to_have_text(queue_ids)
    for place, page in enumerate(pages, start=1):
        expect(page.locator('[data-field="position"]')).to_have_text(str(place))
        mark_page(page)

    # The slow counter calls the first patient and keeps them; the fast one calls the other
    # three, one after the other, in the order they came, whichever counter they were expected at.
    slow.locator("#btn-serve_next").click()
    expect(slow.locator("#serving-ticket")).to_have_text(queue_ids[0])
    expect(pages[0].locator('[data-field="headline"]')).to_have_text(f"Please go to {FSI}Counter 1{PDI} now")
    for i in (1, 2, 3):
        fast.locator("#btn-serve_next").click()
        expect(fast.locator("#serving-ticket")).to_have_text(queue_ids[i], timeout=TIMEOUT_MS)
        expect(pages[i].locator('[data-field="headline"]')).to_have_text(f"Please go to {FSI}Counter 2{PDI} now")
        for later in range(i + 1, 4):
            expect(pages[later].locator('[data-field="position"]')).to_have_text(str(later - i))
    expect(slow.locator("#waiting-list li")).to_have_count(0)
    expect(pages[0].locator('[data-field="headline"]')).to_have_text(f"Please go to {FSI}Counter 1{PDI} now")
    assert all(still_same_page(page) for page in pages), "a patient's page reloaded instead of updating live"
