"""The SMS-code login in Chromium: what the page says about asking for a new code agrees with
what its buttons do, and a patient who has a code can always type it."""

import re

from playwright.sync_api import expect

from .conftest import PHONE
from .helpers import local_number

# One wrong try per code: the page reaches "ask for a new code" in one step.
SITE_ENV = {"OTP_MAX_ATTEMPTS": "1"}


def ask_for_a_code(page, number: str) -> None:
    page.goto("/patient/login/")
    page.get_by_role("textbox", name="Mobile number").fill(local_number(number))
    page.get_by_role("textbox", name="Your name").fill("Ananya Sharma")
    page.get_by_role("button", name="Send code").click()
    expect(page.locator("#step-code")).to_be_visible()


def test_a_refused_code_never_offers_a_new_code_the_server_would_refuse(site, open_context):
    number = "+919876590001"
    page = open_context(PHONE).new_page()
    before = len(site.messages_to(number))
    ask_for_a_code(page, number)
    code = site.next_code(number, after=before)
    page.locator(".otp-box").first.press_sequentially("000000" if code != "000000" else "111111")
    expect(page.locator("#code-form")).to_contain_text("and that was the last try. Please ask for a new code.")

    # Within the resend wait: the button waits too, and the text says for how long.
    resend = page.get_by_role("button", name="Send a new code")
    expect(resend).to_be_disabled()
    expect(page.locator("#resend-status")).to_have_text(re.compile(r"^You can ask for a new code in 0:[0-2]\d\.$"))


def test_the_resend_countdown_keeps_time_while_the_phone_sleeps(site, open_context):
    """A phone in a pocket runs a page's timers late or not at all; the countdown must say the
    real time left when the patient comes back, not where it stopped."""
    page = open_context(PHONE).new_page()
    page.clock.install()
    ask_for_a_code(page, "+919876590002")
    resend = page.get_by_role("button", name="Send a new code")
    expect(resend).to_be_disabled()
    page.clock.fast_forward("00:45")  # timers due meanwhile fire once, as after a sleep
    expect(page.locator("#resend-status")).to_have_text("Did not get it? You can ask for a new code.")
    expect(resend).to_be_enabled()


def test_a_patient_asking_again_from_another_browser_can_type_the_code_they_have(site, open_context):
    number = "+919876590003"
    first = open_context(PHONE).new_page()
    before = len(site.messages_to(number))
    ask_for_a_code(first, number)
    code = site.next_code(number, after=before)

    # The same patient, another browser (the SMS link opened in another app), within 30 s.
    second = open_context(PHONE).new_page()
    ask_for_a_code(second, number)
    expect(second.locator("#code-notice")).to_have_text(
        "A code was sent to this number recently. Type it below, or ask for a new one when the wait is over."
    )
    expect(second.get_by_role("button", name="Send a new code")).to_be_disabled()
    expect(second.locator("#resend-status")).to_have_text(re.compile(r"^You can ask for a new code in 0:[0-2]\d\.$"))
    assert len(site.messages_to(number)) == before + 1, "no second SMS was sent"

    second.locator(".otp-box").first.press_sequentially(code)
    second.wait_for_url("**/service/selection/")
