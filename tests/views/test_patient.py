"""The patient pages with JavaScript off: plain forms post to the page views, which call the same
services and re-render with form errors. Also what the pages show, escaped and labelled."""

import re

import pytest
from django.conf import settings
from django.test import Client

from queue_app import services
from queue_app.bidi import FSI, PDI
from queue_app.models import EVERY_DAY, OTP, Patient, Ticket, service_day

from ..factories import CounterFactory, PatientFactory, ServiceFactory
from ..patient_helpers import PhoneBrowser, json_script, last_code, page

pytestmark = pytest.mark.django_db

PHONE = "+919876543210"
APP_CSS = (settings.BASE_DIR / "static" / "css" / "app.css").read_text()


@pytest.fixture
def signed_in(patient):
    browser = PhoneBrowser()
    browser.sign_in(patient.phone)
    return browser


# --- login without JavaScript --------------------------------------------------------------------------


def test_root_leads_to_the_patient_login():
    response = Client().get("/")
    assert response.status_code == 302 and response["Location"] == "/patient/login/"


def test_login_page_has_labelled_phone_and_name_fields_and_a_code_field_for_autofill():
    html = page(PhoneBrowser().get("/patient/login/"))
    assert '<label for="id_phone">' in html and 'id="id_phone"' in html and 'type="tel"' in html
    assert '<label for="id_name">' in html and "only needed the first time" in html
    assert 'autocomplete="one-time-code"' in html and '<label for="id_otp"' in html
    assert 'name="csrfmiddlewaretoken"' in html


def test_whole_login_works_with_plain_forms():
    browser = PhoneBrowser()
    sent = browser.form("/patient/login/", {"action": "send", "phone": "98765 43210", "name": "Asha Rao"})
    assert sent.status_code == 302
    code_step = browser.get("/patient/login/")
    assert "Enter the code" in page(code_step) and "+91 98765 43210" in page(code_step)

    wrong = browser.form("/patient/login/", {"action": "verify", "phone": PHONE, "otp": "000000"})
    if last_code(PHONE) != "000000":
        assert wrong.status_code == 400
        assert "That code is not right" in page(wrong)
        assert 'aria-invalid="true"' in page(wrong)

    verified = browser.form("/patient/login/", {"action": "verify", "phone": PHONE, "otp": last_code(PHONE)})
    assert verified.status_code == 302 and verified["Location"] == "/service/selection/"
    assert Patient.objects.get(phone=PHONE).name == "Asha Rao"
    assert browser.get("/patient/login/")["Location"] == "/service/selection/"  # already signed in


def test_invalid_phone_re_renders_the_form_with_the_error_and_the_typed_values():
    response = PhoneBrowser().form("/patient/login/", {"action": "send", "phone": "12345", "name": "Asha"})
    assert response.status_code == 400
    html = page(response)
    assert "valid mobile number" in html
    assert 'value="12345"' in html and 'value="Asha"' in html
    assert 'aria-invalid="true"' in html
    assert not OTP.objects.exists()


def test_oversized_name_is_a_form_error():
    response = PhoneBrowser().form("/patient/login/", {"action": "send", "phone": PHONE, "name": "n" * 101})
    assert response.status_code == 400
    assert "at most 100 characters" in page(response)
    assert not OTP.objects.exists()


def test_too_early_resend_stays_on_the_code_step_with_the_reason():
    browser = PhoneBrowser()
    browser.form("/patient/login/", {"action": "send", "phone": PHONE})
    response = browser.form("/patient/login/", {"action": "resend"})
    assert response.status_code == 429
    assert "Please wait" in page(response) and "Enter the code" in page(response)


def test_sms_failure_on_the_page_says_to_try_again(settings, monkeypatch):
    from queue_app.sms import SmsDeliveryError, locmem

    def refuse(self, *, to, body):
        raise SmsDeliveryError("provider down", provider_code=30008)

    monkeypatch.setattr(locmem.SmsBackend, "send", refuse)
    response = PhoneBrowser().form("/patient/login/", {"action": "send", "phone": PHONE})
    assert response.status_code == 502
    assert "We could not send the code, please try again" in page(response)


def test_use_another_number_goes_back_to_the_first_step():
    browser = PhoneBrowser()
    browser.form("/patient/login/", {"action": "send", "phone": PHONE})
    browser.form("/patient/login/", {"action": "restart"})
    html = page(browser.get("/patient/login/"))
    assert re.search(r'id="step-code"[^>]*hidden', html)
    assert not re.search(r'id="step-phone"[^>]*hidden', html)


def test_login_forms_without_the_csrf_token_are_refused():
    browser = PhoneBrowser()
    response = browser.post("/patient/login/", {"action": "send", "phone": PHONE})
    assert response.status_code == 403
    assert not OTP.objects.exists()


def test_new_number_without_a_name_gets_the_name_step():
    browser = PhoneBrowser()
    browser.form("/patient/login/", {"action": "send", "phone": PHONE})
    verified = browser.form("/patient/login/", {"action": "verify", "phone": PHONE, "otp": last_code(PHONE)})
    assert verified["Location"] == "/patient/login/"
    empty = browser.form("/patient/login/", {"action": "name", "name": "   "})
    assert empty.status_code == 400 and not Patient.objects.exists()
    named = browser.form("/patient/login/", {"action": "name", "name": "Ravi"})
    assert named["Location"] == "/service/selection/"


def test_name_step_without_a_verified_phone_is_refused():
    response = PhoneBrowser().form("/patient/login/", {"action": "name", "name": "Ravi"})
    assert response.status_code == 403
    assert not Patient.objects.exists()


# --- service selection ---------------------------------------------------------------------------------


def test_selection_needs_a_verified_phone():
    response = Client().get("/service/selection/")
    assert response.status_code == 302 and response["Location"] == "/patient/login/"


def test_selection_shows_waiting_wait_and_why_a_service_is_closed(signed_in, opd, lab, counters, patients, settings):
    settings.DEFAULT_SERVICE_MINUTES = 5
    for other in patients[:4]:
        services.join(patient=other, service=opd)
    ServiceFactory(service_name="Dental", week_days=EVERY_DAY & ~(1 << service_day().weekday()))
    html = page(signed_in.get("/service/selection/"))
    opd_card = html[html.index(f'id="service-{opd.pk}-name"') :]
    assert "4 people" in opd_card[:2000] and "about 12 min" in opd_card[:2000]  # (4 + 0.65) x 5 / 2
    assert "No counter open" in html and "You can still join" in html  # Test: no counter open
    assert "Not offered today. Open on:" in html  # Dental
    assert html.count('name="service_id"') == 2  # Dental cannot be joined


def test_joining_with_a_plain_form_shows_the_ticket_at_once(signed_in, opd, counters):
    response = signed_in.form("/service/selection/", {"service_id": opd.pk})
    ticket = Ticket.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/dashboard/?ticket={ticket.pk}"
    html = page(signed_in.get(response["Location"]))
    assert ticket.queue_id in html and "You are next" in html and "Counter 1" in html


def test_joining_an_unknown_service_on_the_page_is_a_clear_error(signed_in, opd):
    response = signed_in.form("/service/selection/", {"service_id": "999999"})
    assert response.status_code == 404 and "no such service" in page(response)
    assert not Ticket.objects.exists()


def test_held_ticket_is_shown_instead_of_a_join_button(signed_in, opd, patient):
    ticket, _ = services.join(patient=patient, service=opd)
    html = page(signed_in.get("/service/selection/"))
    assert f"View my ticket <bdi>{ticket.queue_id}</bdi>" in html


# --- the ticket page ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setup", "headline"),
    [
        ("pool", "Waiting for a counter to open"),
        ("next", "You are next"),
        ("behind", "1 person is ahead of you."),
        ("called", f"Please go to {FSI}Counter 1{PDI} now"),
        ("served", "You have been seen"),
        ("skipped", "Please see reception"),
    ],
)
def test_ticket_page_says_in_plain_words_what_to_do(signed_in, patient, opd, staff, setup, headline):
    counter = None
    if setup != "pool":
        counter = services.hold_counter(counter=CounterFactory(counter_name="Counter 1", service=opd), staff=staff[0])
    if setup == "behind":
        services.join(patient=PatientFactory(), service=opd)
    services.join(patient=patient, service=opd)
    if setup in ("called", "served", "skipped"):
        services.serve_next(counter=counter, by=staff[0])
    if setup == "served":
        services.serve_next(counter=counter, by=staff[0])
    if setup == "skipped":
        services.skip(counter=counter, by=staff[0])
    html = page(signed_in.get("/dashboard/"))
    assert headline in html
    assert 'role="status" aria-live="polite"' in html


def test_ticket_page_gives_the_script_its_ticket_and_translated_words(signed_in, patient, opd, counters):
    ticket, _ = services.join(patient=patient, service=opd)
    data = json_script(signed_in.get("/dashboard/"), "dashboard-data")
    assert [t["queue_id"] for t in data["tickets"]] == [ticket.queue_id]
    assert data["strings"]["called"] == "Please go to %(counter)s now"
    assert data["cancelUrl"] == "/queue/cancel/" and data["pollUrl"] == "/dashboard/"


def test_leaving_the_queue_with_a_plain_form(signed_in, patient, opd, counters):
    ticket, _ = services.join(patient=patient, service=opd)
    response = signed_in.form("/dashboard/", {"action": "cancel", "ticket": ticket.pk})
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.status == "cancelled"


def test_another_patients_ticket_page_is_answered_as_if_it_did_not_exist(signed_in, opd):
    theirs, _ = services.join(patient=PatientFactory(name="Secret Person"), service=opd)
    missing = theirs.pk + 1000

    response = signed_in.get(f"/dashboard/?ticket={theirs.pk}")

    assert response.status_code == 404
    assert response.content == signed_in.get(f"/dashboard/?ticket={missing}").content
    assert "Secret Person" not in page(response) and theirs.queue_id not in page(response)
    leave = signed_in.form("/dashboard/", {"action": "cancel", "ticket": theirs.pk}, follow=True)
    leave_missing = signed_in.form("/dashboard/", {"action": "cancel", "ticket": missing}, follow=True)
    assert leave.redirect_chain == leave_missing.redirect_chain == [("/dashboard/", 302)]
    assert "There is no such ticket." in page(leave)
    theirs.refresh_from_db()
    assert theirs.status == "waiting"


def test_names_are_escaped_on_every_patient_page(opd, counters):
    patient = PatientFactory(name='<img src=x onerror=alert(1)>"</script>')
    browser = PhoneBrowser()
    browser.sign_in(patient.phone)
    services.join(patient=patient, service=opd)
    for path in ("/service/selection/", "/dashboard/"):
        html = page(browser.get(path))
        assert "<img src=x" not in html and '"</script>' not in html
        assert "&lt;img src=x onerror=alert(1)&gt;" in html
    data = json_script(browser.get("/dashboard/"), "dashboard-data")
    assert data["tickets"][0]["patient_name"] == patient.name


def test_pages_fit_a_phone_and_are_not_cached(signed_in, patient, opd):
    services.join(patient=patient, service=opd)
    for path in ("/patient/login/", "/service/selection/", "/dashboard/"):
        response = signed_in.get(path, follow=True)
        assert 'name="viewport" content="width=device-width, initial-scale=1"' in page(response)
        assert "no-cache" in response["Cache-Control"] or "no-store" in response["Cache-Control"]
        assert "css/patient.css" in page(response)


def test_asking_again_too_soon_with_a_plain_form_shows_the_code_step_for_the_code_already_sent():
    PhoneBrowser().form("/patient/login/", {"action": "send", "phone": PHONE, "name": "Asha Rao"})
    code = last_code(PHONE)
    other = PhoneBrowser()

    response = other.form("/patient/login/", {"action": "send", "phone": PHONE}, follow=True)

    assert 'data-step="code"' in page(response)
    assert "A code was sent to this number recently. Type it below" in page(response)
    assert other.form("/patient/login/", {"action": "verify", "phone": PHONE, "otp": code}).status_code == 302
    assert other.get("/service/selection/").status_code == 200


def test_patient_pages_make_a_phone_wait_for_one_stylesheet(signed_in, patient, opd):
    """Each stylesheet in <head> holds the first paint until it has arrived: the shared base is
    inlined, so a slow network costs one round trip, not two."""
    services.join(patient=patient, service=opd)
    for path in ("/patient/login/", "/service/selection/", "/dashboard/"):
        html = page(signed_in.get(path, follow=True))
        assert re.findall(r'<link rel="stylesheet" href="([^"]+)"', html) == ["/static/css/patient.css"], path
        assert f"<style>{APP_CSS}</style>" in html, path  # the shared base, inlined as it is


def test_the_page_a_join_lands_on_shows_every_ticket_of_the_phone(signed_in, patient, opd, lab, counters):
    first, _ = services.join(patient=patient, service=opd)
    second, _ = services.join(patient=patient, service=lab)

    response = signed_in.get(f"/dashboard/?ticket={second.pk}")

    data = json_script(response, "dashboard-data")
    assert [t["queue_id"] for t in data["tickets"]] == [second.queue_id, first.queue_id]  # the new one first
    assert page(response).count('class="ticket card') == 2


def test_a_ticket_reception_may_bring_back_keeps_its_live_card(signed_in, patient, opd, staff):
    counter = services.hold_counter(counter=CounterFactory(counter_name="Counter 1", service=opd), staff=staff[0])
    ticket, _ = services.join(patient=patient, service=opd)
    services.join(patient=patient, service=ServiceFactory(service_name="Test"))
    services.serve_next(counter=counter, by=staff[0])
    services.skip(counter=counter, by=staff[0])

    data = json_script(signed_in.get("/dashboard/"), "dashboard-data")

    skipped = [t for t in data["tickets"] if t["id"] == ticket.pk]
    assert skipped and skipped[0]["status"] == "skipped" and skipped[0]["may_come_back"] is True
