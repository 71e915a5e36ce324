"""The reports page's live overview follows the queue over the existing WebSocket: a counter
calls, and the manager's page shows it without a reload, at desktop and tablet sizes."""

import pytest
from playwright.sync_api import expect

from .conftest import DESKTOP, TABLET
from .helpers import PASSWORD, api_post, log_in_staff, mark_page, still_same_page, wait_live


@pytest.fixture(scope="module")
def clinic(site):
    return site.data(
        "setup",
        services=[{"service_name": "OPD"}],
        staff=[
            {"username": "operator1", "first_name": "Meera", "last_name": "Iyer"},
            {"username": "boss", "first_name": "Leela", "last_name": "Das", "role": "manager"},
        ],
        counters=[
            {"counter_name": "Counter 1", "service": "OPD", "held_by": "operator1", "assigned_staff": "operator1"}
        ],
        joins=[
            {"phone": "+919876590001", "name": "Ananya Sharma", "service": "OPD"},
            {"phone": "+919876590002", "name": "Rahul Verma", "service": "OPD"},
        ],
    )


def open_reports(open_context, viewport):
    page = open_context(viewport).new_page()
    page.goto("/staff/login/")
    page.get_by_label("Username").fill("boss")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/reports/")
    wait_live(page)
    return page


@pytest.mark.parametrize("viewport", [DESKTOP, TABLET], ids=["desktop", "tablet"])
def test_the_overview_shows_a_call_without_reloading(clinic, open_context, viewport):
    reports = open_reports(open_context, viewport)
    service_row = reports.locator("#overview tr[data-service]")
    counter_row = reports.locator("#overview tr[data-counter]")
    waiting_before = int(service_row.locator('[data-field="waiting"]').inner_text())
    mark_page(reports)

    operator = open_context(DESKTOP)
    log_in_staff(operator.new_page(), username="operator1")
    called = api_post(operator, "/staff/serve_next/").json()
    queue_id = called["serving_patient"]["queue_id"]

    expect(counter_row.locator('[data-field="ticket"]')).to_have_text(queue_id)
    expect(service_row.locator('[data-field="waiting"]')).to_have_text(str(waiting_before - 1))
    # Both joined with the counter open, so each ticket keeps an estimate; once one is called, the
    # day's sentence on the estimates follows (on the first page, it said none was called yet).
    expect(reports.locator("#overview-estimates")).to_contain_text("Estimates were within 2 minutes for")
    assert still_same_page(reports)
    # Nothing is wider than the screen: wide tables scroll inside their own box.
    assert reports.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
