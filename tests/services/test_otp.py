"""The OTP rules (OWASP ASVS 5.0 §6.5–6.6), through the real URLs with CSRF enforced."""

import hmac
import logging
import threading
from datetime import datetime, time, timedelta

import pytest
from django.db import connection
from django.test import RequestFactory
from django.utils import timezone

from queue_app import known_phones
from queue_app.models import OTP, Patient
from queue_app.services import otp as otp_service
from queue_app.sms import locmem

from ..conftest import ON_MYSQL
from ..patient_helpers import CODE, Clock, PhoneBrowser, last_code

NEW_PHONE = "+919876543210"

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser():
    return PhoneBrowser()


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)


def send(browser, phone=NEW_PHONE, name="Asha Rao", **extra):
    return browser.api("/send_otp/", {"phone": phone, "name": name}, **extra)


def verify(browser, code, phone=NEW_PHONE, **extra):
    return browser.api("/verify_otp/", {"phone": phone, "otp": code}, **extra)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


# --- the code and its message ------------------------------------------------------------------


def test_code_is_six_digits_and_the_only_six_digit_number_in_the_sms(browser):
    response = send(browser, phone="98765 43210")
    assert response.status_code == 200
    assert response.json() == {"sent": True, "resend_in": 30}
    [message] = locmem.outbox
    assert message.to == NEW_PHONE  # normalised to E.164 with DEFAULT_PHONE_REGION (IN)
    assert len(CODE.findall(message.body)) == 1
    assert "City Health Clinic" in message.body and "5 minutes" in message.body


def test_code_is_stored_only_as_an_hmac(browser):
    send(browser)
    code = last_code(NEW_PHONE)
    row = OTP.objects.get(phone=NEW_PHONE)
    stored = [str(v) for v in OTP.objects.filter(pk=row.pk).values().get().values()]
    assert not any(code in value for value in stored)
    assert len(row.code_hash) == 64 and row.code_hash != code


def test_code_is_checked_in_constant_time(browser, monkeypatch):
    compared = []
    real = hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(otp_service.hmac, "compare_digest", spy)
    send(browser)
    assert verify(browser, last_code(NEW_PHONE)).status_code == 200
    assert len(compared) == 1 and compared[0][1] == OTP.objects.get(phone=NEW_PHONE).code_hash


def test_right_code_verifies_and_registers_a_new_phone_with_its_name(browser):
    send(browser, name="  Asha   Rao ")
    response = verify(browser, last_code(NEW_PHONE))
    assert response.status_code == 200
    assert response.json() == {"verified": True, "redirect": "/service/selection/", "name_required": False}
    assert Patient.objects.get(phone=NEW_PHONE).name == "Asha Rao"


# --- expiry, single use, attempts ----------------------------------------------------------------


def test_code_expires_after_five_minutes(browser, clock):
    send(browser)
    code = last_code(NEW_PHONE)
    clock.advance(minutes=5, seconds=1)
    response = verify(browser, code)
    assert response.status_code == 400
    assert response.json()["code"] == "code_expired"
    assert not Patient.objects.filter(phone=NEW_PHONE).exists()


def test_code_is_still_valid_just_before_five_minutes(browser, clock):
    send(browser)
    clock.advance(minutes=4, seconds=58)
    assert verify(browser, last_code(NEW_PHONE)).status_code == 200


def test_code_works_only_once(browser):
    send(browser)
    code = last_code(NEW_PHONE)
    assert verify(browser, code).status_code == 200
    again = verify(browser, code)
    assert again.status_code == 400
    assert again.json()["code"] == "invalid_code"  # the session asks for no code any more
    assert OTP.objects.get(phone=NEW_PHONE).used_at is not None


def test_five_wrong_attempts_require_a_new_code(browser, settings):
    settings.OTP_RESEND_SECONDS = 0
    send(browser)
    code = last_code(NEW_PHONE)
    answers = [verify(browser, wrong(code)).json() for _ in range(5)]
    assert [a["code"] for a in answers] == ["invalid_code"] * 4 + ["too_many_attempts"]
    assert "4 more tries" in answers[0]["error"]
    refused = verify(browser, code)  # the right code, too late
    assert refused.status_code == 400 and refused.json()["code"] == "too_many_attempts"
    assert OTP.objects.get(phone=NEW_PHONE).attempts == 5

    send(browser)
    assert verify(browser, last_code(NEW_PHONE)).status_code == 200


def test_a_new_code_replaces_the_previous_one(browser, settings):
    settings.OTP_RESEND_SECONDS = 0
    send(browser)
    first = last_code(NEW_PHONE)
    send(browser)
    second = last_code(NEW_PHONE)
    if first != second:
        assert verify(browser, first).json()["code"] == "invalid_code"
    assert verify(browser, second).status_code == 200
    assert OTP.objects.filter(phone=NEW_PHONE).count() == 1


def test_code_without_any_sent_is_refused_like_a_wrong_one(browser):
    response = verify(browser, "123456")
    assert response.status_code == 400 and response.json()["code"] == "invalid_code"


@pytest.mark.parametrize("code", ["12345", "1234567", "12a456", "", "١٢٣٤٥"])
def test_code_must_be_six_digits(browser, code):
    send(browser)
    response = verify(browser, code)
    assert response.status_code == 400
    assert OTP.objects.get(phone=NEW_PHONE).attempts == 0  # not a guess: not counted


def test_code_typed_with_spaces_or_non_latin_digits_is_accepted(browser):
    send(browser)
    code = last_code(NEW_PHONE)
    arabic_indic = "".join(chr(0x0660 + int(d)) for d in code)
    assert verify(browser, arabic_indic[:3] + " " + arabic_indic[3:]).status_code == 200


# --- send limits -----------------------------------------------------------------------------------


def test_resend_waits_for_the_cooldown(browser, clock):
    assert send(browser).json()["resend_in"] == 30
    too_soon = send(browser)
    assert too_soon.status_code == 429
    assert too_soon.json()["code"] == "resend_too_soon"
    assert 1 <= int(too_soon["Retry-After"]) <= 30
    assert len(locmem.outbox) == 1
    clock.advance(seconds=31)
    assert send(browser).status_code == 200
    assert len(locmem.outbox) == 2


def test_at_most_five_codes_per_phone_per_ten_minutes(browser, clock, settings):
    settings.OTP_RESEND_SECONDS = 0
    for _ in range(5):
        assert send(browser).status_code == 200
        clock.advance(seconds=60)
    refused = send(browser)
    assert refused.status_code == 429
    assert refused.json()["code"] == "too_many_codes"
    # The first code went out 5 minutes ago: the window frees up 5 minutes from now.
    assert 290 <= int(refused["Retry-After"]) <= 300
    assert len(locmem.outbox) == 5
    clock.advance(seconds=301)
    assert send(browser).status_code == 200


def test_phone_limit_holds_across_addresses(clock, settings):
    settings.OTP_RESEND_SECONDS = 0
    for i in range(5):
        assert send(PhoneBrowser(REMOTE_ADDR=f"10.0.0.{i}"), REMOTE_ADDR=f"10.0.0.{i}").status_code == 200
    assert send(PhoneBrowser(), REMOTE_ADDR="10.0.0.9").status_code == 429


def test_sends_per_address_are_limited(browser, settings):
    settings.OTP_SENDS_PER_IP = 3
    phones = ["+919876543211", "+919876543212", "+919876543213", "+919876543214"]
    answers = [send(browser, phone=p, REMOTE_ADDR="203.0.113.7").status_code for p in phones]
    assert answers == [200, 200, 200, 429]
    assert len(locmem.outbox) == 3
    assert send(browser, phone=phones[3], REMOTE_ADDR="198.51.100.8").status_code == 200


def test_sends_are_counted_per_ipv4_network_of_256_addresses(browser, settings):
    settings.OTP_SENDS_PER_IP = 3
    addresses = ["203.0.113.1", "203.0.113.77", "203.0.113.254", "203.0.113.9"]
    answers = [
        send(browser, phone=f"+91987654321{n}", REMOTE_ADDR=address).status_code for n, address in enumerate(addresses)
    ]
    assert answers == [200, 200, 200, 429]
    assert send(browser, phone="+919876543219", REMOTE_ADDR="203.0.114.9").status_code == 200


def test_sends_are_counted_per_ipv6_slash_56(browser, settings):
    settings.OTP_SENDS_PER_IP = 3
    # One host's /64 and its neighbours up to the /56 are one network; the next /56 is another.
    addresses = ["2001:db8:0:1::1", "2001:db8:0:1::2", "2001:db8:0:ff:1:2:3:4", "2001:db8:0:42::9"]
    answers = [
        send(browser, phone=f"+91987654321{n}", REMOTE_ADDR=address).status_code for n, address in enumerate(addresses)
    ]
    assert answers == [200, 200, 200, 429]
    assert send(browser, phone="+919876543219", REMOTE_ADDR="2001:db8:0:100::1").status_code == 200


def test_address_limit_uses_the_client_behind_a_trusted_proxy(browser, settings):
    settings.OTP_SENDS_PER_IP = 1
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    first = send(browser, phone="+919876543211", HTTP_X_FORWARDED_FOR="198.51.100.1")
    other_client = send(browser, phone="+919876543212", HTTP_X_FORWARDED_FOR="192.0.2.2")
    same_client = send(browser, phone="+919876543213", HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert [first.status_code, other_client.status_code, same_client.status_code] == [200, 200, 429]


def test_code_checks_per_address_are_limited(browser, settings):
    settings.OTP_CHECKS_PER_IP = 3
    send(browser)
    code = last_code(NEW_PHONE)
    for _ in range(3):
        verify(browser, wrong(code), REMOTE_ADDR="203.0.113.7")
    refused = verify(browser, code, REMOTE_ADDR="203.0.113.8")  # the same network
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert verify(browser, code, REMOTE_ADDR="198.51.100.8").status_code == 200


def test_sms_hourly_cap_stops_sending(browser, settings):
    settings.SMS_HOURLY_CAP = 2
    settings.SMS_HOURLY_RESERVE_PERCENT = 0
    statuses = [send(browser, phone=f"+91987654321{i}").status_code for i in range(3)]
    assert statuses == [200, 200, 429]
    assert len(locmem.outbox) == 2


def _exhaust_the_open_part_of_the_hourly_cap(settings, already_sent: int) -> None:
    """Strangers from many networks send to new phones until only the reserve is left."""
    settings.SMS_HOURLY_CAP = 10  # 20 % reserved: 8 open to anyone
    for n in range(8 - already_sent):
        sent = send(PhoneBrowser(), phone=f"+9198765432{n:02d}", REMOTE_ADDR=f"198.51.{n}.1")
        assert sent.status_code == 200
    refused = send(PhoneBrowser(), phone="+919876543299", REMOTE_ADDR="192.0.2.1")
    assert refused.status_code == 429 and refused.json()["code"] == "sms_cap"


def test_part_of_the_hourly_cap_is_kept_for_a_phone_this_browser_verified_before(patient, settings):
    settings.OTP_RESEND_SECONDS = 0
    returning = PhoneBrowser()
    returning.sign_in(patient.phone)
    returning.form("/patient/logout/")
    _exhaust_the_open_part_of_the_hourly_cap(settings, already_sent=1)

    assert send(returning, phone=patient.phone, name="").status_code == 200
    assert verify(returning, last_code(patient.phone), phone=patient.phone).status_code == 200


def test_the_reserve_tells_a_stranger_nothing_about_which_phones_are_patients(patient, settings):
    settings.OTP_RESEND_SECONDS = 0
    PhoneBrowser().sign_in(patient.phone)  # a patient: their phone has verified before
    _exhaust_the_open_part_of_the_hourly_cap(settings, already_sent=1)

    known = send(PhoneBrowser(), phone=patient.phone, name="", REMOTE_ADDR="192.0.2.7")
    unknown = send(PhoneBrowser(), phone=NEW_PHONE, name="", REMOTE_ADDR="192.0.2.8")

    assert (known.status_code, known.json()) == (unknown.status_code, unknown.json())
    assert known.status_code == 429


def test_the_browsers_memory_of_verified_phones_is_signed_and_holds_no_number(patient):
    browser = PhoneBrowser()
    browser.sign_in(patient.phone)
    cookie = browser.cookies[known_phones.COOKIE_NAME]
    assert "9812345678" not in cookie.value
    assert cookie["httponly"] and cookie["samesite"] == "Lax"

    def knows(value, phone):
        request = RequestFactory().get("/")
        request.COOKIES[known_phones.COOKIE_NAME] = value
        return known_phones.verified_here_before(request, phone)

    assert knows(cookie.value, patient.phone) and not knows(cookie.value, NEW_PHONE)
    assert not knows(cookie.value[:-4] + "AAAA", patient.phone)  # a forged signature


def test_phone_outside_allowed_regions_is_refused(browser):
    response = send(browser, phone="+14155550100")
    assert response.status_code == 400
    assert response.json()["code"] == "region_not_allowed"
    assert "India" in response.json()["error"]
    assert locmem.outbox == [] and not OTP.objects.exists()


def test_allowed_regions_can_be_widened(browser, settings):
    settings.ALLOWED_PHONE_REGIONS = ["IN", "US"]
    assert send(browser, phone="+14155550100").status_code == 200
    assert locmem.outbox[-1].to == "+14155550100"


@pytest.mark.parametrize("phone", ["", "12345", "not a phone", "+91 11 2345 6789", "+911800 123 4567", "9" * 40])
def test_invalid_phone_is_refused_and_nothing_is_stored(browser, phone):
    response = send(browser, phone=phone)
    assert response.status_code == 400
    assert response.json()["code"] in ("invalid_phone", "invalid")
    assert response.json()["error"]
    assert locmem.outbox == [] and not OTP.objects.exists()


@pytest.mark.parametrize("name", ["x" * 101, "bad\x00name", "tab\u200bhidden"])
def test_invalid_name_is_refused_and_nothing_is_sent(browser, name):
    response = send(browser, name=name)
    assert response.status_code == 400
    assert locmem.outbox == [] and not OTP.objects.exists()


# --- no enumeration ----------------------------------------------------------------------------------


def test_send_answers_the_same_for_known_and_unknown_phones(patient):
    known = send(PhoneBrowser(), phone=patient.phone, name="")
    unknown = send(PhoneBrowser(), phone=NEW_PHONE, name="")
    assert (known.status_code, known.json()) == (unknown.status_code, unknown.json())
    assert sorted(known.headers) == sorted(unknown.headers)
    assert [m.to for m in locmem.outbox] == [patient.phone, NEW_PHONE]
    # Limits answer alike too.
    again_known = send(PhoneBrowser(), phone=patient.phone, name="")
    again_unknown = send(PhoneBrowser(), phone=NEW_PHONE, name="")
    assert (again_known.status_code, again_known.json()) == (again_unknown.status_code, again_unknown.json())


PENDING, USED, EXPIRED, EXHAUSTED, UNSEEN = (f"+9198765{n:05d}" for n in range(11, 16))


def test_a_browser_that_never_asked_gets_one_answer_whatever_the_phones_state(clock, settings):
    """Used, pending, expired, out of tries or never seen: a guess from elsewhere cannot tell."""
    settings.OTP_RESEND_SECONDS = 0
    owners = {phone: PhoneBrowser() for phone in (PENDING, USED, EXPIRED, EXHAUSTED)}
    send(owners[EXPIRED], phone=EXPIRED)
    clock.advance(minutes=6)
    for phone in (PENDING, USED, EXHAUSTED):
        send(owners[phone], phone=phone)
    assert verify(owners[USED], last_code(USED), phone=USED).status_code == 200
    for _ in range(5):
        verify(owners[EXHAUSTED], wrong(last_code(EXHAUSTED)), phone=EXHAUSTED)
    stranger = PhoneBrowser()
    send(stranger, phone=NEW_PHONE)  # a session that asked a code, for another phone

    answers = [verify(stranger, "000000", phone=phone) for phone in (PENDING, USED, EXPIRED, EXHAUSTED, UNSEEN)]
    answers += [verify(stranger, last_code(phone), phone=phone) for phone in owners]  # even the right code

    assert len({(a.status_code, a.content) for a in answers}) == 1
    assert answers[0].status_code == 400
    assert answers[0].json() == {
        "error": "That code is not right. Please check the SMS and try again.",
        "code": "invalid_code",
    }
    assert OTP.objects.get(phone=PENDING).attempts == 0


def test_guesses_from_a_browser_that_never_asked_spend_none_of_the_patients_tries(browser):
    send(browser)
    code = last_code(NEW_PHONE)
    stranger = PhoneBrowser()

    for guess in range(20):
        assert verify(stranger, f"{guess:06d}").json()["code"] == "invalid_code"

    assert OTP.objects.get(phone=NEW_PHONE).attempts == 0
    assert verify(browser, code).status_code == 200


def test_the_right_code_works_only_in_the_browser_that_asked(browser):
    send(browser)
    code = last_code(NEW_PHONE)

    elsewhere = verify(PhoneBrowser(), code)

    assert elsewhere.status_code == 400 and elsewhere.json()["code"] == "invalid_code"
    assert OTP.objects.get(phone=NEW_PHONE).used_at is None
    assert not Patient.objects.filter(phone=NEW_PHONE).exists()
    assert verify(browser, code).status_code == 200


def test_a_code_asked_for_elsewhere_replaces_this_browsers_code_which_is_then_reported_expired(browser, settings):
    settings.OTP_RESEND_SECONDS = 0
    send(browser)
    other_browser = PhoneBrowser()
    send(other_browser)
    newer = last_code(NEW_PHONE)

    refused = verify(browser, newer)

    assert refused.status_code == 400 and refused.json()["code"] == "code_expired"
    assert OTP.objects.get(phone=NEW_PHONE).attempts == 0
    assert verify(other_browser, newer).status_code == 200


def test_known_phone_keeps_its_name(patient, browser):
    send(browser, phone=patient.phone, name="Someone Else")
    assert verify(browser, last_code(patient.phone), phone=patient.phone).status_code == 200
    patient.refresh_from_db()
    assert patient.name == "John Doe"


def test_check_patient_answers_only_for_the_phone_verified_in_this_session(patient, browser):
    before = browser.get("/check_patient/", {"phone": patient.phone})
    assert before.status_code == 403 and before.json()["code"] == "verify_first"

    browser.sign_in(patient.phone)
    assert browser.get("/check_patient/", {"phone": "098123 45678"}).json() == {"exists": True}
    other = browser.get("/check_patient/", {"phone": NEW_PHONE})
    assert other.status_code == 403 and other.json()["code"] == "verify_first"
    assert browser.get("/check_patient/", {"phone": "nonsense"}).status_code == 403


def test_check_patient_reads_the_phone_from_the_session_so_none_travels_in_the_query_string(patient, browser):
    refused = browser.get("/check_patient/")
    assert refused.status_code == 403 and refused.json()["code"] == "verify_first"

    browser.sign_in(patient.phone)

    assert browser.get("/check_patient/").json() == {"exists": True}
    assert browser.get("/check_patient/", {"phone": ""}).json() == {"exists": True}


def test_new_phone_without_a_name_is_asked_for_one_after_verifying(browser):
    send(browser, name="")
    response = verify(browser, last_code(NEW_PHONE))
    assert response.json() == {"verified": True, "redirect": "/patient/login/", "name_required": True}
    assert browser.get("/check_patient/", {"phone": NEW_PHONE}).json() == {"exists": False}
    page = browser.get("/patient/login/")
    assert "What is your name?" in page.content.decode()
    assert browser.get("/service/selection/").status_code == 302  # not a patient yet

    named = browser.form("/patient/login/", {"action": "name", "name": "Asha Rao"})
    assert named.status_code == 302 and named["Location"] == "/service/selection/"
    assert browser.get("/check_patient/", {"phone": NEW_PHONE}).json() == {"exists": True}


# --- the session ---------------------------------------------------------------------------------------


def test_verified_session_lasts_until_local_midnight(browser, patient, settings):
    settings.TIME_ZONE = "Asia/Kolkata"
    browser.sign_in(patient.phone)
    session = browser.session
    now = timezone.localtime()
    midnight = datetime.combine(now.date() + timedelta(days=1), time.min, tzinfo=now.tzinfo)
    assert session.get_expiry_date() == midnight
    assert session.get_expire_at_browser_close() is False
    cookie = browser.cookies[settings.SESSION_COOKIE_NAME]
    assert 0 < int(cookie["max-age"]) <= 24 * 3600


def test_session_key_is_rotated_on_verification(browser, patient):
    send(browser, phone=patient.phone)
    before = browser.cookies["queuesystem_staff_session"].value
    verify(browser, last_code(patient.phone), phone=patient.phone)
    after = browser.cookies["queuesystem_staff_session"].value
    assert before and after and before != after


def test_staff_sign_in_survives_a_patient_verifying_in_the_same_browser(browser, patient, counters):
    operator = counters[0].held_by
    browser.force_login(operator)
    browser.get("/patient/login/")
    expiry_before = browser.session.get_expire_at_browser_close()
    browser.sign_in(patient.phone)
    session = browser.session
    assert session["_auth_user_id"] == str(operator.pk)
    assert session.get_expire_at_browser_close() == expiry_before  # staff expiry rules untouched
    assert browser.get("/staff/get_queue_data/").status_code == 200
    assert browser.get("/dashboard/", HTTP_ACCEPT="application/json").status_code == 200

    signed_out = browser.form("/patient/logout/")
    assert signed_out.status_code == 302
    assert browser.get("/staff/get_queue_data/").status_code == 200
    assert browser.get("/dashboard/", HTTP_ACCEPT="application/json").status_code == 403


def test_patient_sign_out_ends_the_session(browser, patient):
    browser.sign_in(patient.phone)
    browser.form("/patient/logout/")
    assert browser.get("/dashboard/", HTTP_ACCEPT="application/json").status_code == 403
    assert browser.get("/check_patient/", {"phone": patient.phone}).status_code == 403


# --- CSRF and logs --------------------------------------------------------------------------------------


def test_anonymous_send_and_verify_require_the_csrf_token(browser):
    no_token = browser.post("/send_otp/", {"phone": NEW_PHONE}, HTTP_ACCEPT="application/json")
    assert no_token.status_code == 403 and no_token.json()["code"] == "permission_denied"
    assert locmem.outbox == []
    send(browser)
    code = last_code(NEW_PHONE)
    no_token = browser.post("/verify_otp/", {"phone": NEW_PHONE, "otp": code}, HTTP_ACCEPT="application/json")
    assert no_token.status_code == 403
    assert not Patient.objects.filter(phone=NEW_PHONE).exists()
    assert OTP.objects.get(phone=NEW_PHONE).used_at is None


def test_the_code_never_reaches_the_logs(browser, caplog, patient, settings):
    settings.OTP_RESEND_SECONDS = 0
    caplog.set_level(logging.DEBUG)
    send(browser)
    code = last_code(NEW_PHONE)
    verify(browser, wrong(code))
    verify(browser, code)
    verify(browser, code)
    send(browser, phone=patient.phone)
    assert verify(browser, last_code(patient.phone), phone=patient.phone).status_code == 200
    assert caplog.records, "the OTP flow logs what happens (without the code)"
    for message in (code, last_code(patient.phone)):
        assert message not in caplog.text
    assert NEW_PHONE not in caplog.text  # phones are masked in logs


# --- concurrency (row locks show only on a server database) ---------------------------------------------


def _at_once(workers):
    barrier = threading.Barrier(len(workers))
    results = []

    def run(fn):
        try:
            barrier.wait()
            results.append(fn())
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(t.is_alive() for t in threads), "a worker hung"
    return results


def _verify_outcome(code, session):
    try:
        otp_service.verify_code(session=session, phone=NEW_PHONE, code=code, ip="198.51.100.1")
    except otp_service.CodeRejected as exc:
        return exc.code
    return "ok"


def _session_that_asked() -> dict:
    """The session data of a browser that asked for NEW_PHONE's code (each thread reads it alike)."""
    session = {}
    sent = otp_service.send_code(phone=NEW_PHONE, name="Asha Rao", ip="198.51.100.1")
    otp_service.remember_code_sent(session=session, sent=sent)
    return session


@pytest.mark.mysql
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not ON_MYSQL, reason="row locking needs MariaDB/MySQL: set DATABASE_URL=mysql://...")
def test_the_same_code_sent_at_once_from_four_tabs_verifies_only_once():
    session = _session_that_asked()
    code = last_code(NEW_PHONE)
    outcomes = _at_once([lambda: _verify_outcome(code, session)] * 4)
    assert sorted(outcomes) == ["code_used"] * 3 + ["ok"]
    assert Patient.objects.filter(phone=NEW_PHONE).count() == 1


@pytest.mark.mysql
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not ON_MYSQL, reason="row locking needs MariaDB/MySQL: set DATABASE_URL=mysql://...")
def test_simultaneous_wrong_guesses_are_all_counted():
    session = _session_that_asked()
    code = last_code(NEW_PHONE)
    outcomes = _at_once([lambda: _verify_outcome(wrong(code), session)] * 8)
    assert outcomes.count("invalid_code") == 4 and outcomes.count("too_many_attempts") == 4
    assert OTP.objects.get(phone=NEW_PHONE).attempts == 5
