"""One screen per waiting area: /display/?service=<id> shows that service's counters and calls
only, from the page's snapshot and from the live events alike; a filter naming nothing shows every
service. With DISPLAY_HIDE_CLOSED, closed counters leave the board."""

import pytest
from playwright.sync_api import expect

from .conftest import TV
from .helpers import SPEECH_STUB, wait_live

SITE_ENV = {"DISPLAY_HIDE_CLOSED": "true"}


@pytest.fixture(scope="module")
def clinic(site):
    return site.data(
        "setup",
        services=[{"service_name": "OPD"}, {"service_name": "Lab"}],
        staff=[{"username": "o1"}, {"username": "l1"}],
        counters=[
            {"counter_name": "OPD 1", "service": "OPD", "held_by": "o1"},
            {"counter_name": "OPD 2", "service": "OPD"},  # nobody works here: closed
            {"counter_name": "Lab 1", "service": "Lab", "held_by": "l1"},
        ],
        joins=[
            {"phone": "+919876591001", "name": "Asha Rao", "service": "OPD"},
            {"phone": "+919876591002", "name": "Ravi Kumar", "service": "Lab"},
        ],
    )


def test_a_screen_for_one_service_shows_and_announces_only_its_calls(site, clinic, open_context):
    page = open_context(TV, init_scripts=[SPEECH_STUB]).new_page()
    page.goto(f"/display/?service={clinic['services']['OPD']}")
    page.get_by_role("button", name="Click to enable sound").click()
    wait_live(page)
    rows = page.locator("#board-rows .d-row")
    expect(rows).to_have_count(2)  # OPD's two counters; Lab's is not on this screen
    expect(page.locator("#board-rows .d-row:visible")).to_have_count(1)  # the closed one is hidden
    expect(rows.first.locator(".d-counter")).to_have_text("OPD 1")

    site.data("serve_next", counter="Lab 1", by="l1")
    opd_call = site.data("serve_next", counter="OPD 1", by="o1")
    expect(page.locator("#call-counter")).to_have_text("OPD 1")
    page.wait_for_function("window.__speech.texts.length >= 3 && !QueueDisplay.speaking")
    assert all("OPD" in text and "Lab" not in text for text in page.evaluate("window.__speech.texts"))
    assert page.evaluate("QueueDisplay.recent") == [opd_call["queue_id"]]


def test_a_filter_that_names_no_service_shows_every_service(clinic, open_context):
    page = open_context(TV).new_page()
    page.goto("/display/?service=nothing")
    wait_live(page)
    expect(page.locator("#board-rows .d-row")).to_have_count(3)
