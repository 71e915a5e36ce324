"""Reception desk in Chromium: a walk-in gets a ticket from the keyboard, the slip prints (58/80 mm,
A6), the slip's QR link follows the ticket live when reception moves it to another service, and a
parent takes a ticket for a child on their phone.

The slip, as printed on an 80 mm roll, and the desk are shot to docs/screenshots/
(reception-slip-80mm.png, reception-desk-desktop.png) when this file is named on the command line,
as test_screenshots.py does for the other pages; else to a temporary folder.
"""

import re

import pytest
from playwright.sync_api import expect

from queue_app.bidi import FSI, PDI

from .conftest import DESKTOP, PHONE
from .helpers import (
    PASSWORD,
    api_post,
    log_in_staff,
    mark_page,
    output_dir,
    sign_in_patient,
    still_same_page,
    wait_live,
)

MM = 96 / 25.4  # CSS pixels per millimetre

# window.print() opens a dialog a headless browser cannot answer: record the calls instead, in
# whichever frame prints (the desk prints the slip from a hidden frame of its own).
PRINT_STUB = """
window.print = function () {
  const top = window.top;
  (top.__prints = top.__prints || []).push(location.pathname + location.search);
};
"""


@pytest.fixture(scope="module")
def made(site):
    return site.data(
        "setup",
        services=[
            {"service_name": "OPD", "description": "Outpatient Department"},
            {"service_name": "Test", "description": "Laboratory Tests"},
        ],
        staff=[
            {"username": "desk1", "first_name": "Rita", "last_name": "Fernandes", "role": "reception"},
            {"username": "nurse1", "first_name": "Meera", "last_name": "Iyer"},
            {"username": "labtech1", "first_name": "Sunil", "last_name": "Rao"},
        ],
        counters=[
            {"counter_name": "Counter 1", "service": "OPD", "held_by": "nurse1"},
            {"counter_name": "Lab 1", "service": "Test", "held_by": "labtech1"},
        ],
        joins=[
            {"phone": "+919876570001", "name": "Ananya Sharma", "service": "OPD"},
            {"phone": "+919876570002", "name": "Rahul Verma", "service": "Test"},
        ],
    )


def open_desk(open_context):
    context = open_context(DESKTOP, init_scripts=[PRINT_STUB])
    page = context.new_page()
    page.goto("/staff/login/")
    page.get_by_label("Username").fill("desk1")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()  # no counter: reception works at the desk
    page.wait_for_url("**/staff/reception/")
    wait_live(page)
    return context, page


def test_a_walk_in_gets_a_ticket_from_the_keyboard_and_its_slip_prints(
    site, made, open_context, request, tmp_path_factory
):
    context, desk = open_desk(open_context)
    name = desk.locator("#walk-in-name")
    expect(name).to_be_focused()  # autofocus: type at once
    name.press_sequentially("Lakshmi Pillai")
    desk.keyboard.press("Tab")
    desk.keyboard.type("98765 70003")
    desk.keyboard.press("Enter")

    expect(desk.locator("#result-ticket")).to_have_text(re.compile(r"^OPD_002_\d{4}$"))
    queue_id = desk.locator("#result-ticket").inner_text()
    expect(desk.locator("#result-label")).to_have_text("New ticket · Lakshmi Pillai")
    expect(desk.locator("#result-where")).to_have_text("OPD · Counter 1")
    first_row = desk.locator("#ticket-rows tr").first
    expect(first_row.locator(".rc-ticket")).to_have_text(queue_id)
    expect(first_row.locator(".badge")).to_have_text("Waiting")
    expect(name).to_be_focused()  # ready for the next walk-in
    expect(name).to_have_value("")
    # "Print the slip at once": the slip printed from the hidden frame, on the chosen paper.
    desk.wait_for_function("(window.__prints || []).length === 1")
    printed = desk.evaluate("window.__prints[0]")
    assert re.fullmatch(r"/staff/reception/tickets/\d+/slip/\?size=80&print=1&at=\d+", printed), printed
    folder = output_dir(__file__, request.config, tmp_path_factory)
    folder.mkdir(parents=True, exist_ok=True)
    desk.screenshot(path=str(folder / "reception-desk-desktop.png"))

    # "/" from the empty name field searches; Esc comes back to the name.
    desk.keyboard.press("/")
    expect(desk.locator("#search")).to_be_focused()
    desk.keyboard.type("rahul")
    expect(desk.locator("#ticket-rows tr")).to_have_count(1)
    expect(desk.locator("#ticket-rows .rc-name")).to_have_text("Rahul Verma")
    desk.keyboard.press("Escape")
    expect(desk.locator("#ticket-rows tr")).to_have_count(3)
    desk.keyboard.press("Escape")
    expect(name).to_be_focused()

    # The slip on an 80 mm roll, as the print dialog lays it out.
    slip = context.new_page()
    slip.set_viewport_size({"width": round(80 * MM), "height": 700})
    slip.goto(first_row.locator('[data-action="slip"]').get_attribute("href"))
    expect(slip.locator(".slip-number")).to_have_text(queue_id)
    expect(slip.locator(".slip-service")).to_have_text("OPD")
    expect(slip.locator(".slip-where")).to_contain_text("Counter 1")
    expect(slip.locator(".slip-name")).to_have_text("Lakshmi P.")
    assert slip.evaluate("document.querySelector('.slip-qr').naturalWidth") > 0
    assert re.fullmatch(r"@page \{ size: 80mm \d+mm; margin: 0; \}", slip.locator("#page-size").text_content())
    slip.emulate_media(media="print")
    expect(slip.locator(".slip-toolbar")).to_be_hidden()
    box = slip.locator("#slip").bounding_box()
    assert box["x"] == 0 and abs(box["width"] - 80 * MM) < 2  # the slip is the paper's width
    slip.locator("#slip").screenshot(path=str(folder / "reception-slip-80mm.png"))

    # The other papers: 58 mm rolls and A6 sheets.
    slip.emulate_media(media="screen")
    slip.locator("#slip-size").select_option("58")
    expect(slip.locator("body")).to_have_class(re.compile(r"\bslip-58\b"))
    assert slip.locator("#page-size").text_content().startswith("@page { size: 58mm ")
    slip.locator("#slip-size").select_option("a6")
    assert slip.locator("#page-size").text_content() == "@page { size: 105mm 148mm; margin: 0; }"
    slip.get_by_role("button", name="Print").click()
    assert slip.evaluate("window.__prints.length") == 1


def test_the_slips_link_follows_the_ticket_when_reception_moves_it(site, made, open_context):
    context, desk = open_desk(open_context)
    created = api_post(
        context, "/staff/reception/tickets/", {"name": "Omar Farouk", "service_id": made["services"]["OPD"]}
    )
    assert created.status == 201, created.text()
    ticket = created.json()["ticket"]

    # A walk-in's own phone: no sign-in, only the slip's QR code (its signed link).
    phone = open_context(PHONE).new_page()
    phone.goto(created.json()["link"])
    expect(phone.locator('[data-field="queue_id"]')).to_have_text(ticket["queue_id"])
    expect(phone.locator('[data-field="counter"]')).to_have_text(f"{FSI}Counter 1{PDI} (expected)")
    wait_live(phone)
    mark_page(phone)

    # The doctor sends them to the lab: reception moves the ticket to Test.
    desk.locator("#search").fill("omar")
    row = desk.locator("#ticket-rows tr", has_text="Omar Farouk")
    expect(row).to_have_count(1)
    row.get_by_role("button", name=re.compile("^Move")).click()
    desk.get_by_role("button", name=f"Move to {FSI}Test{PDI}").click()
    expect(desk.locator("#notice")).to_contain_text(
        f"{FSI}{ticket['queue_id']}{PDI} moved to {FSI}Test{PDI} as {FSI}TEST_"
    )
    expect(row.locator(".rc-ticket")).to_have_text(re.compile(r"^TEST_\d{3}_\d{4}$"))
    new_id = row.locator(".rc-ticket").inner_text()

    # The phone follows without a reload: the message, the new number, the lab's counter.
    expect(phone.locator('[data-field="note"]')).to_contain_text(f"You have been sent to {FSI}Test{PDI}")
    expect(phone.locator('[data-field="queue_id"]')).to_have_text(new_id)
    expect(phone.locator('[data-field="service"]')).to_have_text("Test")
    expect(phone.locator('[data-field="counter"]')).to_have_text(f"{FSI}Lab 1{PDI} (expected)")
    assert still_same_page(phone)

    # It now hears the lab's queue: when the lab calls Rahul (ahead of it), it moves up.
    expect(phone.locator('[data-field="ahead"]')).to_have_text("1")
    lab = open_context(DESKTOP).new_page()
    log_in_staff(lab, username="labtech1", counter_id=made["counters"]["Lab 1"])
    lab.get_by_role("button", name="Serve next").click()
    expect(phone.locator('[data-field="headline"]')).to_have_text("You are next")
    expect(phone.locator('[data-field="ahead"]')).to_have_text("0")
    assert still_same_page(phone)


def test_a_forged_slip_link_is_refused_in_the_browser(site, made, open_context):
    phone = open_context(PHONE).new_page()
    response = phone.goto("/t/eyJ0IjoxLCJkIjoiMjAwMC0wMS0wMSJ9:1abcde:forgedforgedforgedforgedforgedforgedfo/")
    assert response.status == 404
    expect(phone.get_by_role("heading", name="This link is not valid")).to_be_visible()


def test_a_parent_takes_a_ticket_for_a_child_on_their_phone(site, made, open_context):
    context = open_context(PHONE)
    sign_in_patient(context, site, phone="+919876570010", name="Priya Nair")
    phone = context.new_page()
    phone.goto("/service/selection/")
    expect(phone.get_by_role("group", name="Who is this for?")).to_be_visible()
    expect(phone.get_by_label("Their name")).to_be_hidden()  # "Me" is chosen
    phone.get_by_role("button", name="Join the OPD queue").click()
    phone.wait_for_url(re.compile(r"/dashboard/\?ticket=\d+$"))

    phone.goto("/service/selection/")
    expect(phone.get_by_role("button", name="Get a ticket for someone else")).to_be_hidden()
    phone.get_by_label("Someone else").check()
    expect(phone.get_by_label("Their name")).to_be_focused()
    phone.get_by_label("Their name").fill("Aarav Nair")
    phone.get_by_role("button", name="Get a ticket for someone else").click()
    phone.wait_for_url(re.compile(r"/dashboard/\?ticket=\d+$"))
    expect(phone.locator(".ticket-for")).to_have_text("For Aarav Nair")

    phone.goto("/dashboard/")
    expect(phone.locator("article.ticket")).to_have_count(2)

    # The same child again: the ticket already held, and the page says so.
    phone.goto("/service/selection/")
    phone.get_by_label("Someone else").check()
    phone.get_by_label("Their name").fill("aarav  NAIR")
    phone.get_by_role("button", name="Get a ticket for someone else").click()
    expect(phone.locator(".join-error").first).to_contain_text(f"{FSI}Aarav Nair{PDI} already holds ticket")
