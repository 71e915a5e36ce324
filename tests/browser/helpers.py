"""What the browser journeys do over and over: sign a patient in, log staff in, wait for live pages."""

import os
from pathlib import Path

import phonenumbers

PASSWORD = "correct horse battery"  # tests/factories.py StaffFactory's

# Stands in for the TV's speech engine: records every speak() and fires `end` after a short
# while, as a real voice would; keeps the start/end order so overlapping speech shows.
SPEECH_STUB = """
(() => {
  const record = { texts: [], events: [], active: 0, maxActive: 0 };
  const synth = {
    speaking: false, pending: false, paused: false, onvoiceschanged: null,
    speak(utterance) {
      record.texts.push(utterance.text);
      record.events.push(["start", utterance.text]);
      record.active += 1;
      record.maxActive = Math.max(record.maxActive, record.active);
      this.speaking = true;
      setTimeout(() => {
        record.active -= 1;
        record.events.push(["end", utterance.text]);
        this.speaking = record.active > 0;
        utterance.dispatchEvent(new Event("end"));
      }, 150);
    },
    cancel() {}, pause() {}, resume() {},
    getVoices() { return []; },
    addEventListener() {}, removeEventListener() {},
  };
  Object.defineProperty(window, "speechSynthesis", { value: synth, configurable: true });
  window.__speech = record;
})();
"""


def local_number(e164: str) -> str:
    """+919876500001 -> "98765 00001", the number as a patient types it."""
    digits = phonenumbers.national_significant_number(phonenumbers.parse(e164, None))
    return f"{digits[:5]} {digits[5:]}"


def csrf_token(context) -> str:
    for cookie in context.cookies():
        if cookie["name"] == "csrftoken":
            return cookie["value"]
    raise AssertionError("no csrftoken cookie: open a page first")


def api_post(context, path: str, data: dict | None = None):
    """POST like the pages' scripts do (form-encoded, X-CSRFToken), with the context's cookies."""
    return context.request.post(
        path, form=data or {}, headers={"X-CSRFToken": csrf_token(context), "Accept": "application/json"}
    )


def sign_in_patient(context, site, *, phone: str, name: str) -> None:
    """The SMS-code sign-in through the same endpoints the login page calls."""
    context.request.get("/patient/login/")  # the csrftoken cookie, as opening the page sets it
    before = len(site.messages_to(phone))
    sent = api_post(context, "/send_otp/", {"phone": phone, "name": name})
    assert sent.status == 200, sent.text()
    verified = api_post(context, "/verify_otp/", {"phone": phone, "otp": site.next_code(phone, after=before)})
    assert verified.status == 200, verified.text()


def join_queue(context, *, service_id: int) -> dict:
    joined = api_post(context, "/queue/join/", {"service_id": service_id})
    assert joined.status in (200, 201), joined.text()
    return joined.json()["ticket"]


def open_ticket(context, ticket: dict):
    page = context.new_page()
    page.goto(f"/dashboard/?ticket={ticket['id']}")
    wait_live(page)
    return page


def log_in_staff(page, *, username: str, counter_id: int | None = None, password: str = PASSWORD) -> None:
    """The staff login form: username, password, counter; lands on the live dashboard."""
    page.goto("/staff/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    if counter_id is not None:
        page.locator("#id_counter").select_option(str(counter_id))
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/staff/dashboard/")
    wait_live(page)


def two_desks_and_four_phones(site, open_context, patients, *, desktop, phone):
    """OPD with Counter 1 and Counter 2 staffed and logged in (nurse1, nurse2), and four patients
    who signed in and joined one after the other, each with their live ticket page open.
    Returns (made, the two desks' pages, the tickets, the ticket pages)."""
    made = site.data(
        "setup",
        services=[{"service_name": "OPD", "description": "Outpatient Department"}],
        staff=[{"username": "nurse1"}, {"username": "nurse2"}],
        counters=[
            {"counter_name": "Counter 1", "service": "OPD", "assigned_staff": "nurse1"},
            {"counter_name": "Counter 2", "service": "OPD", "assigned_staff": "nurse2"},
        ],
    )
    desks = []
    for username, counter in (("nurse1", "Counter 1"), ("nurse2", "Counter 2")):
        desk = open_context(desktop).new_page()
        log_in_staff(desk, username=username, counter_id=made["counters"][counter])
        desks.append(desk)
    tickets, pages = [], []
    for number, name in patients:
        context = open_context(phone)
        sign_in_patient(context, site, phone=number, name=name)
        ticket = join_queue(context, service_id=made["services"]["OPD"])
        tickets.append(ticket)
        pages.append(open_ticket(context, ticket))
    return made, desks, tickets, pages


def wait_live(page) -> None:
    """Until the page's WebSocket has delivered its first snapshot (conftest.SOCKET_WATCH)."""
    page.wait_for_function("window.__sockets && window.__sockets.snapshots > 0")


def mark_page(page) -> None:
    """Tag the document: `still_same_page` then tells a live update from a reload."""
    page.evaluate("window.__notReloaded = true")


def still_same_page(page) -> bool:
    return page.evaluate("window.__notReloaded === true")


DOCS_DIR = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def output_dir(test_file: str, config, tmp_path_factory) -> Path:
    """Where a module's screenshots go: docs/screenshots/ when that test file was named on the
    command line (`make screenshots`) or SCREENSHOTS_DIR is set, else a temporary folder, so a
    plain `make test` never rewrites the committed images."""
    if os.environ.get("SCREENSHOTS_DIR"):
        return Path(os.environ["SCREENSHOTS_DIR"]).resolve()
    named = {Path(config.invocation_params.dir, arg.split("::")[0]).resolve() for arg in config.args}
    return DOCS_DIR if Path(test_file).resolve() in named else tmp_path_factory.mktemp("screenshots")
