"""Screenshots of every page at phone (390×844), desktop (1366×768) and TV (1920×1080) sizes.

`make screenshots` (this file named on the command line) writes them to docs/screenshots/ as
<page>-<size>.png, for the README. Run as part of `make test`, the same pages are opened and
shot into a temporary folder instead, so the suite checks they render without touching the
committed images. SCREENSHOTS_DIR=<folder> picks the folder explicitly; SCREENSHOTS_FULL_PAGE=1
shoots whole pages rather than what fits on the screen (handy to review a page's far end).

The data is a realistic morning: two services, four counters (one on break), a dozen patients
with names in several scripts, three of them called, the texts they are owed sent; and, for the
reports' history, the two weeks before it (Sundays closed).
"""

import os
import subprocess
import warnings

import pytest
from playwright.sync_api import expect

from queue_app.bidi import FSI, PDI

from .axe import assert_no_serious_violations
from .conftest import DESKTOP, PHONE, TV
from .helpers import DOCS_DIR, PASSWORD, SPEECH_STUB, output_dir, sign_in_patient, wait_live

SIZES = {"phone": PHONE, "desktop": DESKTOP, "tv": TV}

# The address a clinic prints on its poster, rather than this test server's loopback port.
SITE_ENV = {"PUBLIC_BASE_URL": "https://queue.cityhealth.example"}

STAFF = [
    {"username": "operator1", "first_name": "Meera", "last_name": "Iyer"},
    {"username": "operator2", "first_name": "Arjun", "last_name": "Menon"},
    {"username": "operator3", "first_name": "Sunita", "last_name": "Rao"},
    {"username": "operator4", "first_name": "David", "last_name": "Thomas"},
    {"username": "admin", "first_name": "Clinic", "last_name": "Admin", "role": "admin", "is_superuser": True},
]
COUNTERS = [
    {"counter_name": "Counter 1", "service": "OPD", "held_by": "operator1", "assigned_staff": "operator1"},
    {"counter_name": "Counter 2", "service": "OPD", "held_by": "operator2", "assigned_staff": "operator2"},
    {"counter_name": "Counter 3", "service": "Test", "held_by": "operator3", "assigned_staff": "operator3"},
    {"counter_name": "Counter 4", "service": "Test", "held_by": "operator4", "assigned_staff": "operator4"},
]
PATIENTS = [  # in join order; OPD alternates Counter 1 / Counter 2, Test Counter 3 / Counter 4
    ("+919876560001", "Ananya Sharma", "OPD"),
    ("+919876560002", "محمد علي", "OPD"),
    ("+919876560003", "Rahul Verma", "OPD"),
    ("+919876560004", "Priya Nair", "OPD"),
    ("+919876560005", "José García", "OPD"),
    ("+919876560006", "李伟", "OPD"),
    ("+919876560007", "Fatima Khan", "OPD"),
    ("+919876560008", "Arjun Reddy", "Test"),
    ("+919876560009", "Lakshmi Pillai", "Test"),
    ("+919876560010", "王芳", "Test"),
    ("+919876560011", "Sara Thomas", "Test"),
    ("+919876560012", "Omar Farouk", "Test"),
]
CALLED = ("+919876560001", "Ananya Sharma")  # called to Counter 1
WAITING = ("+919876560006", "李伟")  # waiting at Counter 2, one person ahead
NEWCOMER = ("+919876560020", "Kavya Iyer")  # signed in, no ticket yet
HISTORY_DAYS = 13  # the reports' history: these past days and today
CODE_STEP_PHONES = {"phone": "98765 60031", "desktop": "98765 60032", "tv": "98765 60033"}


def cjk_font_installed() -> bool:
    try:
        found = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        return False
    return bool(found.stdout.strip())


@pytest.fixture(scope="module")
def scene(site, request, tmp_path_factory):
    """The morning's data, made once for the module; the folder the screenshots go to."""
    made = site.data(
        "setup",
        services=[
            {"service_name": "OPD", "description": "Outpatient Department"},
            {"service_name": "Test", "description": "Laboratory Tests"},
        ],
        staff=STAFF,
        counters=COUNTERS,
        joins=[{"phone": phone, "name": name, "service": service} for phone, name, service in PATIENTS],
    )
    for counter, by in (("Counter 1", "operator1"), ("Counter 2", "operator2"), ("Counter 3", "operator3")):
        site.data("serve_next", counter=counter, by=by)
    site.data("set_status", counter="Counter 4", status="break", by="operator4")
    site.data("send_texts")
    history = site.data("past_days", days=HISTORY_DAYS)
    folder = output_dir(__file__, request.config, tmp_path_factory)
    if folder == DOCS_DIR and not cjk_font_installed():
        pytest.fail("no CJK font: 李伟 would show as empty boxes in the README (apt-get install fonts-noto-cjk)")
    folder.mkdir(parents=True, exist_ok=True)
    return {"made": made, "dir": folder, "history": history}


@pytest.fixture(scope="module")
def states(scene, browser, site):
    """Signed-in browser states (cookies), made once and reused at every screen size."""
    cache = {}

    def state(who: str) -> dict:
        if who not in cache:
            context = browser.new_context(base_url=site.url)
            try:
                if who in ("called", "waiting", "newcomer"):
                    phone, name = {"called": CALLED, "waiting": WAITING, "newcomer": NEWCOMER}[who]
                    sign_in_patient(context, site, phone=phone, name=name)
                else:
                    log_in(context.new_page(), who)
                cache[who] = context.storage_state()
            finally:
                context.close()
        return cache[who]

    return state


def log_in(page, who: str) -> None:
    if who == "admin":
        page.goto("/admin/login/")
        page.get_by_label("Username").fill("admin")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/admin/")
    else:
        page.goto("/staff/login/")
        page.get_by_label("Username").fill(who)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/staff/dashboard/")


def shoot(page, scene, name: str, size: str) -> None:
    page.evaluate("document.fonts.ready.then(() => true)")
    # Not a failure (the look is reviewed by a person), but said loudly: a page wider than the
    # screen scrolls sideways and cuts text off.
    # (The screen's own width: a phone browser widens its layout viewport to fit wide content.)
    wide, screen = page.evaluate("document.documentElement.scrollWidth"), page.viewport_size["width"]
    if wide > screen:
        warnings.warn(f"{name}-{size}: the page is {wide}px wide on a {screen}px screen", stacklevel=2)
    path = scene["dir"] / f"{name}-{size}.png"
    full_page = os.environ.get("SCREENSHOTS_FULL_PAGE") == "1"
    page.screenshot(path=path, animations="disabled", caret="hide", full_page=full_page)
    assert path.stat().st_size > 0


@pytest.fixture(params=list(SIZES))
def size(request):
    return request.param


def test_patient_login_phone_step(scene, open_context, size):
    page = open_context(SIZES[size]).new_page()
    page.goto("/patient/login/")
    expect(page.locator("#step-phone")).to_be_visible()
    shoot(page, scene, "patient-login", size)


def test_patient_login_code_step(scene, open_context, size):
    page = open_context(SIZES[size]).new_page()
    page.goto("/patient/login/")
    page.get_by_role("textbox", name="Mobile number").fill(CODE_STEP_PHONES[size])
    page.get_by_role("textbox", name="Your name").fill("Kavya Iyer")
    page.get_by_role("button", name="Send code").click()
    expect(page.locator("#step-code")).to_be_visible()
    page.locator(".otp-box").first.press_sequentially("48")  # a patient halfway through typing
    shoot(page, scene, "patient-login-code", size)


def test_service_selection(scene, states, open_context, size):
    page = open_context(SIZES[size], storage_state=states("newcomer")).new_page()
    page.goto("/service/selection/")
    expect(page.get_by_role("heading", name="Choose a service")).to_be_visible()
    expect(page.locator(".service-card")).to_have_count(2)
    shoot(page, scene, "service-selection", size)


def test_patient_dashboard_waiting(scene, states, open_context, size):
    page = open_context(SIZES[size], storage_state=states("waiting")).new_page()
    page.goto("/dashboard/")
    wait_live(page)
    expect(page.locator('[data-field="headline"]')).to_have_text("You are in the queue")
    expect(page.locator('[data-field="counter"]')).to_have_text(f"{FSI}Counter 2{PDI} (expected)")
    shoot(page, scene, "patient-dashboard-waiting", size)


def test_patient_dashboard_called(scene, states, open_context, size):
    page = open_context(SIZES[size], storage_state=states("called")).new_page()
    page.goto("/dashboard/")
    wait_live(page)
    expect(page.locator('[data-field="headline"]')).to_have_text(f"Please go to {FSI}Counter 1{PDI} now")
    shoot(page, scene, "patient-dashboard-called", size)


def test_qr_poster(scene, open_context, size):
    page = open_context(SIZES[size]).new_page()
    page.goto("/qr/")
    expect(page.locator(".poster-url")).to_contain_text("https://queue.cityhealth.example/patient/login/")
    page.locator("img.poster-qr").evaluate("img => img.decode()")
    shoot(page, scene, "qr-poster", size)


def test_staff_login(scene, open_context, size):
    page = open_context(SIZES[size]).new_page()
    page.goto("/staff/login/")
    expect(page.get_by_role("heading", name="Staff login")).to_be_visible()
    shoot(page, scene, "staff-login", size)


def test_staff_dashboard(scene, states, open_context, size):
    page = open_context(SIZES[size], storage_state=states("operator1")).new_page()
    page.goto("/staff/dashboard/")
    wait_live(page)
    expect(page.locator("#serving-name")).to_have_text("Ananya Sharma")
    expect(page.locator("#waiting-list li")).to_have_count(5)  # the service's one line
    shoot(page, scene, "staff-dashboard", size)


def test_display(scene, open_context, size):
    page = open_context(SIZES[size], init_scripts=[SPEECH_STUB]).new_page()
    page.goto("/display/")
    page.get_by_role("button", name="Click to enable sound").click()
    expect(page.locator("#sound-gate")).to_be_hidden()
    wait_live(page)
    expect(page.locator("#board-rows tr")).to_have_count(4)
    expect(page.locator("#call-ticket")).to_have_text("TEST 001")
    expect(page.locator("#recent-list li")).to_have_count(2)
    shoot(page, scene, "display", size)


def test_admin_index(scene, states, open_context, size):
    page = open_context(SIZES[size], storage_state=states("admin")).new_page()
    page.goto("/admin/")
    expect(page.locator("#site-name")).to_be_visible()
    shoot(page, scene, "admin-index", size)


def test_reports_today(scene, states, open_context, size):
    page = open_context(SIZES[size], storage_state=states("admin"), bypass_csp=True).new_page()
    page.goto("/reports/")
    wait_live(page)
    expect(page.locator("#overview tr[data-service]")).to_have_count(2)
    expect(page.locator("#overview tr[data-counter]")).to_have_count(4)
    shoot(page, scene, "reports", size)
    assert_no_serious_violations(page, context=f"the reports page, today ({size})")


def test_reports_history(scene, states, open_context, size):
    """The history of the last two weeks, chosen on the page's form as a manager would."""
    page = open_context(SIZES[size], storage_state=states("admin"), bypass_csp=True).new_page()
    page.goto("/reports/")
    dates = scene["history"]
    page.locator("#f-from").fill(dates["date_from"])
    page.locator("#f-to").fill(dates["date_to"])
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(f"**/reports/?date_from={dates['date_from']}&date_to={dates['date_to']}*")
    wait_live(page)
    expect(page.locator("#history-estimates")).to_contain_text("Estimates were within 2 minutes for")
    page.locator("#history-title").evaluate("heading => heading.closest('section').scrollIntoView()")
    shoot(page, scene, "reports-history", size)
    assert_no_serious_violations(page, context=f"the reports page, history ({size})")


def test_admin_patient_texts(scene, states, open_context, size):
    page = open_context(SIZES[size], storage_state=states("admin"), bypass_csp=True).new_page()
    page.goto("/admin/queue_app/notification/")
    expect(page.locator("#result_list")).to_contain_text("Turn near")
    expect(page.locator("#result_list")).to_contain_text("Called")
    shoot(page, scene, "admin-patient-texts", size)
    assert_no_serious_violations(page, context=f"the patient texts in admin ({size})")
