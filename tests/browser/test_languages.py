"""Every patient page in each shipped language on a phone (390×844): the page says its language,
Arabic is laid out right to left, nothing is wider than the screen, and the visible words are the
language's own. Screenshots of the Arabic and Hindi pages go to docs/screenshots/ with
`make screenshots`-style runs of this file (SCREENSHOTS_DIR, or naming the file)."""

import pytest
from playwright.sync_api import expect

from .conftest import PHONE
from .helpers import output_dir, sign_in_patient, wait_live

LANGUAGES = {
    "en": {"dir": "ltr", "login": "Send code", "selection": "Choose a service", "dashboard": "You are in the queue"},
    "hi": {"dir": "ltr", "login": "कोड भेजें", "selection": "एक सेवा चुनें", "dashboard": "आप कतार में हैं"},
    "ar": {"dir": "rtl", "login": "أرسل الرمز", "selection": "اختر خدمة", "dashboard": "أنت في الدور"},
    "es": {"dir": "ltr", "login": "Enviar código", "selection": "Elija un servicio", "dashboard": "Está en la cola"},
}
SHOTS = ("ar", "hi")


@pytest.fixture(scope="module")
def clinic(site):
    made = site.data(
        "setup",
        services=[{"service_name": "OPD"}, {"service_name": "Lab"}],
        staff=[{"username": "op1", "first_name": "Meera", "last_name": "Iyer"}],
        counters=[{"counter_name": "Counter 1", "service": "OPD", "held_by": "op1", "assigned_staff": "op1"}],
        joins=[{"phone": "+919876570001", "name": "محمد علي", "service": "OPD"}],
    )
    return made


@pytest.fixture(scope="module")
def folder(request, tmp_path_factory):
    path = output_dir(__file__, request.config, tmp_path_factory)
    path.mkdir(parents=True, exist_ok=True)
    return path


def in_language(open_context, site, code: str):
    context = open_context(PHONE)
    context.add_cookies([{"name": "django_language", "value": code, "url": site.url}])
    return context


def check_page(page, code: str, words: str) -> None:
    expect(page.locator("html")).to_have_attribute("lang", code)
    expect(page.locator("html")).to_have_attribute("dir", LANGUAGES[code]["dir"])
    expect(page.get_by_text(words, exact=False).first).to_be_visible()
    page.evaluate("document.fonts.ready.then(() => true)")
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= PHONE["width"], f"{page.url} is {wide}px wide in {code}"
    if LANGUAGES[code]["dir"] == "rtl":
        # Right to left: the facility name starts at the right edge of the top bar.
        brand = page.locator(".brand").bounding_box()
        assert brand["x"] + brand["width"] > PHONE["width"] / 2


@pytest.mark.parametrize("code", list(LANGUAGES))
def test_the_login_page_in_each_language(open_context, site, clinic, folder, code):
    page = in_language(open_context, site, code).new_page()
    page.goto("/patient/login/")
    check_page(page, code, LANGUAGES[code]["login"])
    if code in SHOTS:
        page.screenshot(path=folder / f"patient-login-{code}-phone.png", animations="disabled")


@pytest.mark.parametrize("code", list(LANGUAGES))
def test_the_service_list_and_ticket_in_each_language(open_context, site, clinic, folder, code):
    context = in_language(open_context, site, code)
    sign_in_patient(context, site, phone=f"+91987657100{list(LANGUAGES).index(code)}", name="Kavya Iyer")
    page = context.new_page()
    page.goto("/service/selection/")
    check_page(page, code, LANGUAGES[code]["selection"])
    if code in SHOTS:
        page.screenshot(path=folder / f"service-selection-{code}-phone.png", animations="disabled")
    page.locator(".service-card").first.locator("button[type=submit]").first.click()
    page.wait_for_url("**/dashboard/**")
    wait_live(page)
    check_page(page, code, LANGUAGES[code]["dashboard"])
    if code in SHOTS:
        page.screenshot(path=folder / f"patient-dashboard-{code}-phone.png", animations="disabled")


def test_the_picker_switches_the_language_and_stays_on_the_page(open_context, site, clinic):
    page = open_context(PHONE).new_page()
    page.goto("/patient/login/")
    page.locator('.lang-option[lang="ar"]').click()
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    assert page.url.endswith("/patient/login/")
    expect(page.locator('.lang-option[lang="ar"]')).to_have_attribute("aria-pressed", "true")
    page.locator('.lang-option[lang="en"]').click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
