"""Nothing is cut off or broken apart at the sizes people use: the clinic's name on the staff page
of a phone, the admin's ticket list on a 1366 px screen, a long counter name on a patient's phone.

Measured in Chromium: an element whose content is wider than its box (scrollWidth > clientWidth)
is cut or scrolls; a word whose letters sit on two lines was broken apart."""

from playwright.sync_api import expect

from queue_app.bidi import FSI, PDI

from .conftest import DESKTOP, PHONE
from .helpers import PASSWORD, join_queue, log_in_staff, open_ticket, sign_in_patient

LONG_NAMES = [
    "Subramanian Venkataraghavan Iyer",
    "محمد عبد الرحمن الشامي",
    "राजेंद्र प्रसाद श्रीवास्तव",
    "Maria Fernanda González-Rodríguez",
]

# The words of an element's text that the browser laid out over more than one line.
BROKEN_WORDS = """
(element) => {
  const text = element.firstChild;
  const value = text.textContent;
  const broken = [];
  for (const match of value.matchAll(/\\S+/g)) {
    const range = document.createRange();
    range.setStart(text, match.index);
    range.setEnd(text, match.index + match[0].length);
    const lines = new Set(Array.from(range.getClientRects(), (r) => Math.round(r.top)));
    if (lines.size > 1) broken.push(match[0]);
  }
  return broken;
}
"""

OVERFLOW = "(element) => element.scrollWidth - element.clientWidth"


def assert_whole_brand(page):
    brand = page.locator(".topbar .brand-name")
    expect(brand).to_have_text("City Health Clinic")
    assert brand.evaluate(OVERFLOW) <= 0, "the clinic's name is cut"
    assert brand.evaluate(BROKEN_WORDS) == []
    assert page.locator(".topbar").evaluate(OVERFLOW) <= 0
    expect(page.get_by_role("link", name="Log out")).to_be_in_viewport()


def test_the_staff_pages_show_the_clinics_whole_name_on_a_phone(site, open_context):
    made = site.data(
        "setup",
        services=[{"service_name": "OPD", "description": "Outpatient Department"}],
        staff=[
            {"username": "nurse1", "first_name": "Meera", "last_name": "Iyer"},
            {"username": "desk1", "role": "reception"},
        ],
        counters=[{"counter_name": "Counter 1", "service": "OPD"}],
    )
    phone = open_context(PHONE).new_page()
    log_in_staff(phone, username="nurse1", counter_id=made["counters"]["Counter 1"])
    assert_whole_brand(phone)
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.goto("/staff/switch_counter/")  # the counter picker
    assert_whole_brand(phone)

    reception = open_context(PHONE).new_page()
    reception.goto("/staff/login/")
    reception.get_by_label("Username").fill("desk1")
    reception.get_by_label("Password").fill(PASSWORD)
    reception.get_by_role("button", name="Log in").click()
    reception.wait_for_url("**/staff/reception/")
    assert_whole_brand(reception)

    # On a counter PC the name and the links still share one row.
    desk = open_context(DESKTOP).new_page()
    desk.goto("/staff/dashboard/")
    brand_box = desk.locator(".topbar .brand").bounding_box()
    links_box = desk.locator(".topbar-extra").bounding_box()
    assert abs(brand_box["y"] + brand_box["height"] / 2 - (links_box["y"] + links_box["height"] / 2)) < 4


def test_the_admins_ticket_list_fits_a_1366_pixel_screen(site, open_context):
    site.data(
        "setup",
        services=[{"service_name": "Physiotherapy", "description": "Physiotherapy"}],
        staff=[
            {"username": "physio1"},
            {"username": "boss", "role": "admin", "is_superuser": True},
        ],
        counters=[
            {
                "counter_name": "Physiotherapy and Rehabilitation Room 12",
                "service": "Physiotherapy",
                "held_by": "physio1",
            }
        ],
        joins=[
            {"phone": f"+91987658{i:04d}", "name": LONG_NAMES[i % 4], "service": "Physiotherapy"} for i in range(12)
        ],
    )
    page = open_context(DESKTOP).new_page()
    page.goto("/admin/login/")
    page.get_by_label("Username").fill("boss")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/admin/")
    page.goto("/admin/queue_app/ticket/?q=PHYSIOTHERAPY")
    expect(page.locator("#result_list tbody tr")).to_have_count(12)
    results = page.locator("#changelist .results")
    assert results.evaluate(OVERFLOW) <= 0, "the ticket table scrolls sideways"
    right_edge = results.bounding_box()["x"] + results.bounding_box()["width"]
    for header in page.locator("#result_list thead th").all():
        box = header.bounding_box()
        assert box["x"] + box["width"] <= right_edge + 0.5, f"{header.inner_text()!r} is out of sight"
    expect(page.locator("#result_list thead")).to_contain_text("Called")
    assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"]


def test_a_long_counter_name_wraps_between_words_in_the_phones_facts(site, open_context):
    made = site.data(
        "setup",
        services=[{"service_name": "ENT", "description": "Ear, nose and throat"}],
        staff=[{"username": "ent1"}],
        counters=[{"counter_name": "Otorhinolaryngology (ENT) Room 2", "service": "ENT", "held_by": "ent1"}],
    )
    context = open_context(PHONE)
    sign_in_patient(context, site, phone="+919876590001", name="Asha Rao")
    page = open_ticket(context, join_queue(context, service_id=made["services"]["ENT"]))
    counter = page.locator('[data-field="counter"]')
    # One line for the service: while waiting, the counter is the one expected.
    expect(counter).to_have_text(f"{FSI}Otorhinolaryngology (ENT) Room 2{PDI} (expected)")
    assert counter.evaluate(BROKEN_WORDS) == [], "a word of the counter's name is split over two lines"
    assert counter.evaluate(OVERFLOW) <= 0
    for fact in page.locator(".ticket-facts dd").all():
        assert fact.evaluate(OVERFLOW) <= 0


def test_the_serving_code_and_a_long_counter_name_never_break_inside_a_word_at_1366(site, open_context):
    site.data(
        "setup",
        services=[{"service_name": "OPD", "description": "Outpatient Department"}],
        staff=[{"username": "opd9"}],
        counters=[
            {
                "counter_name": "Otorhinolaryngology Consultation Room 12",
                "service": "OPD",
                "held_by": "opd9",
                "assigned_staff": "opd9",
            }
        ],
        joins=[{"phone": "+919876590011", "name": "Asha Rao", "service": "OPD"}],
    )
    called = site.data("serve_next", counter="Otorhinolaryngology Consultation Room 12", by="opd9")
    page = open_context(DESKTOP).new_page()
    log_in_staff(page, username="opd9")
    code = page.locator("#serving-ticket")
    expect(code).to_have_text(called["queue_id"])
    # One line: the code's box is no taller than one line of its type, and nothing is cut.
    one_line = code.evaluate(
        "(el) => el.getClientRects().length === 1 && el.getBoundingClientRect().height"
        " < 1.6 * parseFloat(getComputedStyle(el).fontSize)"
    )
    assert one_line, "the serving code wraps"
    assert code.evaluate(OVERFLOW) <= 0
    assert code.evaluate(BROKEN_WORDS) == []
    title = page.locator("#counter-title bdi")
    assert title.evaluate(BROKEN_WORDS) == [], "a word of the counter's name is split over two lines"
    assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"]
