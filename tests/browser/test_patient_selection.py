"""Service selection on a phone: nothing moves under the patient's thumb while the page loads, and
"Who is this for?" works with or without JavaScript."""

import time

from playwright.sync_api import expect

from .conftest import PHONE
from .helpers import join_queue, sign_in_patient

# Every layout shift the page makes from its first paint, as Lighthouse counts them (CLS).
LAYOUT_SHIFTS = """
window.__shifts = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) if (!entry.hadRecentInput) window.__shifts.push(entry.value);
}).observe({ type: "layout-shift", buffered: true });
"""


def test_service_cards_do_not_move_while_a_slow_page_loads(site, open_context):
    site.data("setup", services=[{"service_name": "OPD"}, {"service_name": "Test"}])
    context = open_context(PHONE, init_scripts=[LAYOUT_SHIFTS])
    sign_in_patient(context, site, phone="+919876591001", name="Ananya Sharma")
    page = context.new_page()

    def slow(route):  # a slow network: the page is drawn before its script arrives
        time.sleep(0.8)
        route.continue_()

    page.route("**/static/js/patient-selection.js", slow)
    page.goto("/service/selection/", wait_until="load")
    expect(page.get_by_role("button", name="Join the OPD queue")).to_be_visible()
    page.wait_for_timeout(500)
    assert page.evaluate("window.__shifts") == []


def test_who_is_this_for_works_without_javascript(site, open_context):
    made = site.data("setup", services=[{"service_name": "OPD"}, {"service_name": "Test"}])
    context = open_context(PHONE, java_script_enabled=False)
    sign_in_patient(context, site, phone="+919876591002", name="Priya Nair")
    join_queue(context, service_id=made["services"]["OPD"])
    page = context.new_page()
    page.goto("/service/selection/")

    # "Me" is chosen: no name to type, and no second ticket for me where I hold one.
    their_name = page.get_by_label("Their name")
    expect(their_name).to_be_hidden()
    expect(page.get_by_role("button", name="Get a ticket for someone else")).to_be_hidden()
    expect(page.get_by_role("button", name="Join the Test queue")).to_be_visible()

    page.get_by_label("Someone else").check()
    expect(their_name).to_be_visible()
    expect(page.get_by_role("button", name="Get a ticket for someone else")).to_be_visible()
    their_name.fill("Aarav Nair")
    page.get_by_role("button", name="Get a ticket for someone else").click()
    expect(page.locator(".ticket-for").first).to_have_text("For Aarav Nair")
