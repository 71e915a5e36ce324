"""Every page passes axe-core's WCAG 2.2 A/AA rules with no serious or critical violation, at phone
(390×844) and desktop (1366×768) sizes, and the wall display at TV size (1920×1080) too.

The data is a clinic in mid-morning, so each page shows its states: services that are open, have no
counter open, or are closed today; counters available, busy, on break and closed; patients waiting,
next, called, served and skipped; a walk-in's slip and its signed link.
"""

import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from queue_app.bidi import FSI, PDI

from .axe import assert_no_serious_violations
from .conftest import DESKTOP, PHONE, TABLET, TV
from .helpers import PASSWORD, SPEECH_STUB, api_post, local_number, sign_in_patient, wait_live

SIZES = {"phone": PHONE, "desktop": DESKTOP}

# Every visit opens a context of its own (cookies, viewport). A Content-Security-Policy the app may
# send one day must not stop axe's inline script.
CONTEXT = {"bypass_csp": True}

STAFF = [
    {"username": "operator1", "first_name": "Meera", "last_name": "Iyer"},
    {"username": "operator2", "first_name": "Arjun", "last_name": "Menon"},
    {"username": "operator3", "first_name": "Sunita", "last_name": "Rao"},
    {"username": "operator4", "first_name": "David", "last_name": "Thomas"},
    {"username": "desk1", "first_name": "Rita", "last_name": "Fernandes", "role": "reception"},
    {"username": "admin", "first_name": "Clinic", "last_name": "Admin", "role": "admin", "is_superuser": True},
    {"username": "boss", "first_name": "Leela", "last_name": "Das", "role": "manager"},
]
COUNTERS = [
    {"counter_name": "Counter 1", "service": "OPD", "held_by": "operator1", "assigned_staff": "operator1"},
    {"counter_name": "Counter 2", "service": "OPD", "held_by": "operator2", "assigned_staff": "operator2"},
    {"counter_name": "Counter 3", "service": "Test", "held_by": "operator3", "assigned_staff": "operator3"},
    {"counter_name": "Counter 4", "service": "Test"},  # nobody at it: closed
]
PATIENTS = {  # in join order; OPD is one line (expected counters alternate Counter 1 / Counter 2)
    "served": ("+919876580001", "Ananya Sharma", "OPD"),  # called at Counter 1, then served
    "skipped": ("+919876580002", "محمد علي", "OPD"),  # called at Counter 2, then skipped
    "called": ("+919876580003", "Rahul Verma", "OPD"),  # called at Counter 1
    "called-2": ("+919876580004", "Priya Nair", "OPD"),  # called at Counter 2 by the skip
    "next": ("+919876580005", "José García", "OPD"),  # first in the OPD line
    "next-2": ("+919876580006", "李伟", "OPD"),  # second
    "waiting": ("+919876580007", "Fatima Khan", "OPD"),  # third
    "pool": ("+919876580008", "Arjun Reddy", "Test"),  # Counter 3 goes on break: waits for a counter
}
NEWCOMER = ("+919876580020", "Kavya Iyer")  # signed in, no ticket yet


@pytest.fixture(scope="module")
def clinic(site, browser):
    """The morning's data, then the staff's day so far through the server's API (their sessions kept)."""
    today = datetime.now(UTC).weekday()  # the server runs in UTC
    made = site.data(
        "setup",
        services=[
            {"service_name": "OPD", "description": "Outpatient Department"},
            {"service_name": "Test", "description": "Laboratory Tests"},
            {"service_name": "X-ray", "description": "Radiology"},  # no counter: "no counter open"
            {"service_name": "Dental", "description": "Dental clinic", "week_days": 127 & ~(1 << today)},
        ],
        staff=STAFF,
        counters=COUNTERS,
        joins=[{"phone": phone, "name": name, "service": service} for phone, name, service in PATIENTS.values()],
    )
    day = [  # who presses what, in order: OPD's two counters call from its one line
        ("operator1", "/staff/serve_next/", {}),  # calls Ananya
        ("operator2", "/staff/serve_next/", {}),  # calls محمد علي
        ("operator1", "/staff/serve_next/", {}),  # Ananya served; calls Rahul
        ("operator2", "/staff/skip_patient/", {}),  # محمد علي skipped; calls Priya
        ("operator2", "/staff/update_status/", {"status": "busy"}),
        ("operator3", "/staff/update_status/", {"status": "break"}),
        ("desk1", "/staff/reception/tickets/", {"name": "Omar Farouk", "service_id": made["services"]["OPD"]}),
    ]
    contexts, answers = {}, {}
    try:
        for who, path, data in day:
            if who not in contexts:
                contexts[who] = browser.new_context(base_url=site.url)
                log_in(contexts[who].new_page(), who)
            answer = api_post(contexts[who], path, data)
            assert answer.status in (200, 201), f"{who} {path}: {answer.text()}"
            answers[path] = answer.json()
        sessions = {who: context.storage_state() for who, context in contexts.items()}
    finally:
        for context in contexts.values():
            context.close()
    return {"made": made, "sessions": sessions, "walk_in": answers["/staff/reception/tickets/"]}


@pytest.fixture(scope="module")
def states(clinic, browser, site):
    """Signed-in cookies, made once and reused at every screen size."""
    cache = dict(clinic["sessions"])

    def state(who: str) -> dict:
        if who not in cache:
            context = browser.new_context(base_url=site.url)
            try:
                if who in PATIENTS:
                    phone, name, _service = PATIENTS[who]
                    sign_in_patient(context, site, phone=phone, name=name)
                elif who == "newcomer":
                    sign_in_patient(context, site, phone=NEWCOMER[0], name=NEWCOMER[1])
                else:
                    log_in(context.new_page(), who)
                cache[who] = context.storage_state()
            finally:
                context.close()
        return cache[who]

    return state


def log_in(page, who: str) -> None:
    """The staff login (the admin's for the admin): operators land at their assigned counter."""
    page.goto("/admin/login/" if who == "admin" else "/staff/login/")
    page.get_by_label("Username").fill(who)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/(admin|staff/dashboard|staff/reception|reports)/$"))


@pytest.fixture(params=list(SIZES))
def size(request):
    return request.param


@pytest.fixture
def visit(open_context, states, size):
    """visit(path, as_=None) -> the page at `path` at this test's size, signed in as `as_`."""

    def visit_(path: str, *, as_: str | None = None):
        signed_in = {"storage_state": states(as_)} if as_ else {}
        page = open_context(SIZES[size], **CONTEXT, **signed_in).new_page()
        page.goto(path)
        return page

    return visit_


def check(page, what: str, size: str) -> None:
    page.evaluate("document.fonts.ready.then(() => true)")
    assert_no_serious_violations(page, context=f"{what} at {size} size ({page.url})")


# --- patient pages ---------------------------------------------------------------------------


def test_patient_login_steps(site, clinic, visit, size):
    page = visit("/patient/login/")
    expect(page.locator("#step-phone")).to_be_visible()
    check(page, "the login's phone step", size)

    page.get_by_role("textbox", name="Mobile number").fill("12")
    page.get_by_role("button", name="Send code").click()
    expect(page.locator("#phone-error")).not_to_be_empty()
    check(page, "the login's phone step with an error", size)

    # A number never seen before, no name: the code, then the name step.
    phone = {"phone": "+919876580031", "desktop": "+919876580032"}[size]
    before = len(site.messages_to(phone))
    page.get_by_role("textbox", name="Mobile number").fill(local_number(phone))
    page.get_by_role("button", name="Send code").click()
    expect(page.locator("#step-code")).to_be_visible()
    check(page, "the login's code step", size)

    code = site.next_code(phone, after=before)
    page.locator(".otp-box").first.press_sequentially(code)
    expect(page.locator("#step-name")).to_be_visible()
    check(page, "the login's name step", size)


def test_service_selection(clinic, visit, size):
    page = visit("/service/selection/", as_="newcomer")
    expect(page.locator(".service-card")).to_have_count(4)
    expect(page.locator(".badge-available").first).to_have_text("Open")
    check(page, "service selection", size)

    page.get_by_label("Someone else").check()
    expect(page.get_by_label("Their name")).to_be_visible()
    check(page, "service selection for someone else", size)


@pytest.mark.parametrize(
    "who, headline",
    [
        ("waiting", "You are in the queue"),
        ("next", "You are next"),
        ("called", f"Please go to {FSI}Counter 1{PDI} now"),
        ("pool", "Waiting for a counter to open"),
        ("served", "You have been seen"),
        ("skipped", "You missed your turn"),
    ],
)
def test_patient_dashboard(clinic, visit, size, who, headline):
    page = visit("/dashboard/", as_=who)
    expect(page.locator('[data-field="headline"]').first).to_have_text(headline)
    check(page, f"the dashboard of a ticket that is {who}", size)

    if who == "waiting":
        page.get_by_text("Leave the queue", exact=True).click()
        expect(page.get_by_role("button", name="Yes, leave the queue")).to_be_visible()
        check(page, "the dashboard asking to leave the queue", size)


def test_ticket_link_page(clinic, visit, size):
    page = visit(clinic["walk_in"]["link"])
    wait_live(page)
    expect(page.locator('[data-field="queue_id"]')).to_have_text(clinic["walk_in"]["ticket"]["queue_id"])
    check(page, "a walk-in's ticket link", size)


def test_ticket_link_refused(clinic, visit, size):
    page = visit("/t/eyJ0IjoxLCJkIjoiMjAwMC0wMS0wMSJ9:1abcde:forgedforgedforgedforgedforgedforgedfo/")
    expect(page.get_by_role("heading", name="This link is not valid")).to_be_visible()
    check(page, "a forged ticket link", size)


def test_qr_poster(clinic, visit, size):
    page = visit("/qr/")
    page.locator("img.poster-qr").evaluate("img => img.decode()")
    check(page, "the QR poster", size)


# --- staff pages -----------------------------------------------------------------------------


def test_staff_login(clinic, visit, size):
    page = visit("/staff/login/")
    expect(page.get_by_role("heading", name="Staff login")).to_be_visible()
    check(page, "the staff login", size)

    page.get_by_label("Username").fill("operator1")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    check(page, "the staff login with an error", size)


def test_staff_lockout(site, clinic, visit, size):
    page = visit("/staff/login/")
    blocked = page.get_by_role("heading", name="Login blocked for now")
    try:
        for _ in range(12):  # AXES_FAILURE_LIMIT is 10
            page.get_by_label("Username").fill(f"locked-{size}")
            page.get_by_label("Password").fill("wrong")
            with page.expect_navigation():
                page.get_by_role("button", name="Log in").click()
            if blocked.count():
                break
        expect(blocked).to_be_visible()
        check(page, "the staff lockout", size)
    finally:
        # The failures also count against this address (every test browser's): the other tests log in.
        site.data("reset_lockouts")


def test_counter_picker(clinic, visit, size):
    page = visit("/staff/dashboard/", as_="admin")  # an administrator works at no counter
    expect(page.get_by_role("heading", name="Choose a counter")).to_be_visible()
    for status in ("Available", "Busy", "On break", "Closed"):
        expect(page.locator(".picker .badge", has_text=status).first).to_be_visible()
    check(page, "the counter picker", size)

    page.goto(f"/staff/switch_counter/?counter={clinic['made']['counters']['Counter 1']}")
    expect(page.get_by_role("heading", name="Take over Counter 1?")).to_be_visible()
    check(page, "the counter picker asking to take over", size)


def test_counter_picker_of_someone_at_a_counter(clinic, visit, size):
    page = visit("/staff/switch_counter/", as_="operator1")
    expect(page.get_by_text("is still being served at your counter")).to_be_visible()
    check(page, "the counter picker of someone serving a patient", size)


def test_staff_dashboard(clinic, visit, size):
    page = visit("/staff/dashboard/", as_="operator1")
    wait_live(page)
    expect(page.locator("#serving-name")).to_have_text("Rahul Verma")
    expect(page.locator("#waiting-list li")).not_to_have_count(0)
    check(page, "the staff dashboard", size)

    page.locator("#send-on summary").click()
    expect(page.locator("#send-on")).to_have_attribute("open", "")
    expect(page.get_by_label("Send to service")).to_be_visible()
    expect(page.get_by_label("Priority", exact=True)).to_be_visible()
    check(page, "the staff dashboard with its send-on panel open", size)


def test_staff_logout_page(clinic, visit, size):
    page = visit("/staff/logout/", as_="operator3")
    expect(page.get_by_role("button", name=re.compile("Log out"))).to_be_visible()
    check(page, "the staff logout page", size)


def test_reception_desk(clinic, visit, size):
    page = visit("/staff/reception/", as_="desk1")
    wait_live(page)
    expect(page.locator("#ticket-rows tr")).not_to_have_count(0)
    check(page, "the reception desk", size)

    page.locator("#ticket-rows tr", has_text="Omar Farouk").get_by_role("button", name=re.compile("^Move")).click()
    expect(page.get_by_role("dialog")).to_be_visible()
    check(page, "the reception desk's move dialog", size)

    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)
    page.locator("#ticket-rows tr", has_text="Omar Farouk").get_by_role("button", name="Priority…").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    expect(page.get_by_role("dialog").get_by_role("button", name="No priority")).to_be_visible()
    check(page, "the reception desk's priority dialog", size)


def test_reception_forbidden_to_an_operator(clinic, visit, size):
    page = visit("/staff/reception/", as_="operator1")
    expect(page.get_by_role("heading")).not_to_have_count(0)
    check(page, "the reception desk refusing an operator", size)


def test_reception_slip(clinic, visit, size):
    ticket_id = clinic["walk_in"]["ticket"]["id"]
    page = visit(f"/staff/reception/tickets/{ticket_id}/slip/", as_="desk1")
    expect(page.locator(".slip-number")).to_have_text(clinic["walk_in"]["ticket"]["queue_id"])
    for paper in ("80", "58", "a6"):
        page.locator("#slip-size").select_option(paper)
        expect(page.locator("body")).to_have_class(re.compile(rf"\bslip-{paper}\b"))
        check(page, f"the slip on {paper} paper", size)


# --- reports ---------------------------------------------------------------------------------


@pytest.mark.parametrize("screen", ["phone", "tablet", "desktop"])
def test_reports_page(clinic, open_context, states, screen):
    viewport = {"phone": PHONE, "tablet": TABLET, "desktop": DESKTOP}[screen]
    page = open_context(viewport, storage_state=states("boss"), **CONTEXT).new_page()
    page.goto("/reports/")
    wait_live(page)
    expect(page.locator("#overview tbody tr")).not_to_have_count(0)
    expect(page.get_by_role("heading", name="History")).to_be_visible()
    check(page, "the reports page", screen)


def test_reports_refused_to_an_operator(clinic, visit, size):
    page = visit("/reports/", as_="operator1")
    expect(page.get_by_role("heading")).not_to_have_count(0)
    check(page, "the reports page refusing an operator", size)


# --- the wall display ------------------------------------------------------------------------


@pytest.mark.parametrize("screen", ["phone", "desktop", "tv"])
def test_display(clinic, open_context, screen):
    viewport = {"phone": PHONE, "desktop": DESKTOP, "tv": TV}[screen]
    page = open_context(viewport, init_scripts=[SPEECH_STUB], **CONTEXT).new_page()
    page.goto("/display/")
    wait_live(page)
    expect(page.locator("#board-rows tr")).to_have_count(4)
    expect(page.locator('#board-rows [data-status="break"]')).to_have_count(1)
    expect(page.locator('#board-rows [data-status="closed"]')).to_have_count(1)
    check(page, "the display asking for sound", screen)

    page.get_by_role("button", name="Click to enable sound").click()
    expect(page.locator("#sound-gate")).to_be_hidden()
    check(page, "the display", screen)


# --- the admin -------------------------------------------------------------------------------


def test_admin_login(clinic, visit, size):
    page = visit("/admin/login/")
    expect(page.get_by_label("Username")).to_be_visible()
    check(page, "the admin login", size)


@pytest.mark.parametrize(
    "what, path",
    [
        ("the admin index", "/admin/"),
        ("the tickets", "/admin/queue_app/ticket/"),
        ("a ticket", "/admin/queue_app/ticket/{ticket}/change/"),
        ("the counters", "/admin/queue_app/counter/"),
        ("a counter", "/admin/queue_app/counter/{counter}/change/"),
        ("a new counter", "/admin/queue_app/counter/add/"),
        ("the patient texts", "/admin/queue_app/notification/"),
        ("a service, its days and closed dates", "/admin/queue_app/service/{service}/change/"),
        ("a new service", "/admin/queue_app/service/add/"),
    ],
)
def test_admin_pages(clinic, visit, size, what, path):
    made = clinic["made"]
    path = path.format(
        ticket=clinic["walk_in"]["ticket"]["id"], counter=made["counters"]["Counter 1"], service=made["services"]["OPD"]
    )
    page = visit(path, as_="admin")
    expect(page.locator("#content")).to_be_visible()
    check(page, what, size)
