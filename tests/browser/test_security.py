"""Security as people meet it: patients never reach the counter pages; logged-out staff go to login."""

import re

from playwright.sync_api import expect

from .conftest import DESKTOP, PHONE
from .helpers import api_post, join_queue, log_in_staff, sign_in_patient

LOGIN_URL = re.compile(r"/staff/login/(\?next=(/|%2F)staff(/|%2F)dashboard(/|%2F))?$")


def setup_counter(site, *, service, counter, username):
    return site.data(
        "setup",
        services=[{"service_name": service}],
        staff=[{"username": username}],
        counters=[{"counter_name": counter, "service": service, "assigned_staff": username}],
    )


def test_a_signed_in_patient_cannot_open_the_staff_dashboard(site, open_context):
    made = setup_counter(site, service="OPD", counter="Counter 1", username="nurse1")
    context = open_context(PHONE)
    sign_in_patient(context, site, phone="+919876540001", name="Ananya Sharma")
    join_queue(context, service_id=made["services"]["OPD"])
    page = context.new_page()
    page.goto("/dashboard/")
    expect(page.locator(".ticket-number")).to_have_text(re.compile(r"^OPD_001_\d{4}$"))

    page.goto("/staff/dashboard/")
    expect(page).to_have_url(LOGIN_URL)
    expect(page.get_by_role("heading", name="Staff login")).to_be_visible()
    expect(page.get_by_role("button", name="Serve next")).to_have_count(0)

    # Nor can the phone's session call the counter's actions directly.
    answer = api_post(context, "/staff/serve_next/", {"counter": made["counters"]["Counter 1"]})
    assert answer.status == 403, answer.text()


def test_logged_out_staff_are_sent_to_login(site, open_context):
    made = setup_counter(site, service="Test", counter="Counter 3", username="nurse3")
    context = open_context(DESKTOP)
    page = context.new_page()
    page.goto("/staff/dashboard/")
    expect(page).to_have_url(LOGIN_URL)

    log_in_staff(page, username="nurse3", counter_id=made["counters"]["Counter 3"])
    expect(page.get_by_role("heading", name=re.compile("^Counter 3"))).to_be_visible()
    page.get_by_role("link", name="Log out").click()
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(LOGIN_URL)

    page.goto("/staff/dashboard/")
    expect(page).to_have_url(LOGIN_URL)
    expect(page.get_by_role("button", name="Serve next")).to_have_count(0)


def test_a_dashboard_left_open_goes_to_login_when_its_staff_logs_out_in_another_tab(site, open_context):
    made = setup_counter(site, service="Lab", counter="Counter 5", username="nurse5")
    context = open_context(DESKTOP)
    dashboard = context.new_page()
    log_in_staff(dashboard, username="nurse5", counter_id=made["counters"]["Counter 5"])

    other_tab = context.new_page()  # same browser, same session
    other_tab.goto("/staff/logout/")
    other_tab.get_by_role("button", name="Log out").click()
    expect(other_tab).to_have_url(LOGIN_URL)

    # The counter closed and the session ended: the open dashboard must not go on looking usable.
    expect(dashboard).to_have_url(LOGIN_URL)
    expect(dashboard.get_by_role("heading", name="Staff login")).to_be_visible()
