"""Languages over HTTP: the picker's POST /i18n/setlang/, <html lang dir>, a patient's language
kept for their messages, and unknown codes answered with the default language (and a log line)."""

import logging

from django.test import Client

from queue_app import languages
from queue_app.models import Patient

from ..patient_helpers import PhoneBrowser, page


def test_every_page_says_its_language_and_direction(client, db):
    assert '<html lang="en" dir="ltr">' in page(client.get("/patient/login/"))
    assert '<html lang="ar" dir="rtl">' in page(client.get("/patient/login/", HTTP_ACCEPT_LANGUAGE="ar"))
    assert '<html lang="hi" dir="ltr">' in page(client.get("/staff/login/", HTTP_ACCEPT_LANGUAGE="hi-IN,hi;q=0.9"))


def test_every_answer_names_its_language_and_varies_with_the_browsers(client, db):
    # Caches (and the browser's back button) must not hand a Spanish page to an Arabic phone.
    for path in ("/patient/login/", "/healthz/"):
        response = client.get(path, HTTP_ACCEPT_LANGUAGE="es-MX,es;q=0.9")
        assert response["Content-Language"] == "es"
        assert "Accept-Language" in response["Vary"]
    client.cookies["django_language"] = "hi"  # the picker's choice outranks the browser's
    assert client.get("/patient/login/", HTTP_ACCEPT_LANGUAGE="ar")["Content-Language"] == "hi"


def test_the_browsers_language_is_the_default_and_the_page_is_translated(client, db):
    html = page(client.get("/patient/login/", HTTP_ACCEPT_LANGUAGE="es-MX,es;q=0.9"))
    assert '<html lang="es"' in html
    assert "Enviar código" in html


def test_the_picker_posts_to_set_language_with_the_current_page_as_next(client, db):
    html = page(client.get("/patient/login/"))
    assert 'action="/i18n/setlang/"' in html
    assert 'name="next" value="/patient/login/"' in html
    assert 'name="csrfmiddlewaretoken"' in html
    for code in ("en", "hi", "ar", "es"):
        assert f'name="language" value="{code}" lang="{code}"' in html


def test_choosing_a_language_switches_the_pages_and_goes_back(db):
    browser = PhoneBrowser()
    response = browser.form("/i18n/setlang/", {"language": "ar", "next": "/patient/login/"})
    assert response.status_code == 302 and response["Location"] == "/patient/login/"
    assert '<html lang="ar" dir="rtl">' in page(browser.get("/patient/login/"))


def test_a_signed_in_patients_choice_is_kept_on_the_patient(signed_in_phone, patient):
    signed_in_phone.form("/i18n/setlang/", {"language": "hi", "next": "/dashboard/"})
    patient.refresh_from_db()
    assert patient.language == "hi"
    assert languages.for_patient(patient) == "hi"


def test_verifying_a_phone_keeps_the_language_of_the_page(patient):
    browser = PhoneBrowser(HTTP_ACCEPT_LANGUAGE="es")
    browser.sign_in(patient.phone)
    assert Patient.objects.get(pk=patient.pk).language == "es"


def test_a_patients_messages_are_written_in_their_language(patient):
    from django.utils.translation import gettext as _

    patient.language = "ar"
    with languages.patient_language(patient):
        assert _("You are next") == "أنت التالي"
    patient.language = "xx"  # a code no longer shipped: the default, not an error
    with languages.patient_language(patient):
        assert _("You are next") == "You are next"


def test_an_unknown_language_code_gives_the_default_language_and_is_logged(db, caplog):
    browser = PhoneBrowser(HTTP_ACCEPT_LANGUAGE="ar")
    with caplog.at_level(logging.WARNING, logger="queue_app.languages"):
        response = browser.form("/i18n/setlang/", {"language": "klingon", "next": "/patient/login/"})
    assert response.status_code == 302
    assert '<html lang="en" dir="ltr">' in page(browser.get("/patient/login/"))
    assert "language refused code='klingon'" in caplog.text


def test_an_unknown_code_from_a_signed_in_patient_keeps_the_default_for_their_texts(signed_in_phone, patient, caplog):
    patient.language = "hi"
    patient.save()
    with caplog.at_level(logging.WARNING, logger="queue_app.languages"):
        response = signed_in_phone.form("/i18n/setlang/", {"language": "x" * 500, "next": "/dashboard/"})
    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.language == "en" and languages.for_patient(patient) == "en"
    assert "language refused" in caplog.text and "where=picker" in caplog.text


def test_the_picker_answers_a_get_with_405_not_an_error_page(client, db):
    assert client.get("/i18n/setlang/", {"language": "hi"}).status_code == 405


def test_a_garbled_accept_language_header_gives_the_default_language(db):
    browser = PhoneBrowser(HTTP_ACCEPT_LANGUAGE="zz-ZZ;q=abc, ;q=, tlh")
    response = browser.get("/patient/login/")
    assert response.status_code == 200
    assert '<html lang="en" dir="ltr">' in page(response)


def test_a_language_post_without_a_code_or_a_safe_next_is_not_an_error(db):
    browser = PhoneBrowser()
    response = browser.form("/i18n/setlang/", {"next": "https://evil.example/"})
    assert response.status_code == 302 and not response["Location"].startswith("https://evil")


def test_the_picker_checks_csrf(db):
    response = Client(enforce_csrf_checks=True).post("/i18n/setlang/", {"language": "hi"})
    assert response.status_code == 403


def test_an_unknown_language_cookie_is_ignored(client, db):
    client.cookies["django_language"] = "zz"
    assert '<html lang="en" dir="ltr">' in page(client.get("/patient/login/"))


def test_every_template_that_opens_a_page_says_its_direction():
    from pathlib import Path

    from django.conf import settings

    for path in Path(settings.BASE_DIR, "templates").rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        if "<html" in text:
            assert 'dir="{% if LANGUAGE_BIDI %}rtl{% else %}ltr{% endif %}"' in text, path
