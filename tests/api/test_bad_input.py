"""Bad input, as an attacker or a confused person sends it: always a clear 4xx, never a 5xx, and
nothing changes. Oversized bodies and fields, wrong content types, broken or bottomless JSON,
unknown and absurd ids, phones that are not mobile numbers, odd characters in names — against
every API POST endpoint, with the visitor allowed to use it (so the input, not the access rule,
is what is refused). The OTP abuse cases tests/services/test_otp.py does not already cover are at the end.
"""

import json

import pytest
from django.conf import settings
from django.core import signing

from queue_app import access
from queue_app.errors import InvalidInput
from queue_app.models import OTP, Patient
from queue_app.names import clean_name
from queue_app.sms import locmem

from ..patient_helpers import PhoneBrowser, last_code
from ..security_helpers import CSRF_TOKEN, build_cast, state_digest

pytestmark = pytest.mark.django_db

# Every API POST endpoint with a visitor allowed to use it and a valid body.
ENDPOINTS = {
    "send_otp": ("anon", "/send_otp/", {"phone": "+919876543210", "name": "Asha Rao"}),
    "verify_otp": ("anon", "/verify_otp/", {"phone": "+919876543210", "otp": "123456"}),
    "join": ("patA", "/queue/join/", {"service_id": "{opd}"}),
    "cancel": ("patA", "/queue/cancel/", {"ticket": "{ta}"}),
    "serve_next": ("op1", "/staff/serve_next/", {"expected_queue_id": ""}),
    "skip": ("op1", "/staff/skip_patient/", {}),
    "announce": ("op1", "/staff/announce_patient/", {}),
    "status": ("op1", "/staff/update_status/", {"status": "busy"}),
    "walk_in": ("recep", "/staff/reception/tickets/", {"name": "Ravi", "service_id": "{opd}"}),
    "recall": ("recep", "/staff/reception/tickets/{ta}/recall/", {}),
    "move": ("recep", "/staff/reception/tickets/{tb}/move/", {"service_id": "{lab}"}),
    "reception_cancel": ("recep", "/staff/reception/tickets/{ta}/cancel/", {}),
}


@pytest.fixture
def cast(opd, counters, admin_user):
    cast = build_cast(opd, counters, admin_user)
    for actor in cast.actors.values():
        actor.client.raise_request_exception = False  # a crash is a 500 to look at, not an exception
    return cast


def send(cast, endpoint, body: bytes | str, content_type: str):
    who, path, _fields = ENDPOINTS[endpoint]
    client = cast.actors[who].client
    return client.generic(
        "POST",
        path.format(**cast.ids),
        body,
        content_type=content_type,
        headers={"X-CSRFToken": CSRF_TOKEN, "Accept": "application/json"},
    )


def assert_refused(response, *statuses):
    assert response.status_code in statuses, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json"), response.content[:300]
    body = response.json()
    assert {"error", "code"} <= set(body) and body["error"], body


BIG = 70 * 1024  # past DATA_UPLOAD_MAX_MEMORY_SIZE (64 KiB)


def test_the_upload_limit_is_what_these_tests_exceed():
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE < BIG


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    ("label", "body", "content_type"),
    [
        ("huge json", json.dumps({"name": "x" * BIG, "phone": "1"}), "application/json"),
        ("huge form", "name=" + "x" * BIG, "application/x-www-form-urlencoded"),
        ("huge multipart", "--b\r\nContent-Disposition: form-data; name=name\r\n\r\n" + "x" * BIG + "\r\n--b--\r\n",
         "multipart/form-data; boundary=b"),
    ],
)  # fmt: skip
def test_an_oversized_body_is_413_and_changes_nothing(cast, endpoint, label, body, content_type):
    before = state_digest()
    assert_refused(send(cast, endpoint, body, content_type), 413, 400)
    assert state_digest() == before and locmem.outbox == []


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    ("label", "body", "content_type"),
    [
        ("plain text", "phone=+919876543210", "text/plain"),
        ("xml", "<phone>+919876543210</phone>", "application/xml"),
        ("octet stream", b"\x00\x01\x02", "application/octet-stream"),
        ("no content type", b"phone=1", ""),
        ("multipart without boundary", "phone=1", "multipart/form-data"),
        ("broken json", '{"phone": ', "application/json"),
        ("json list", "[1, 2, 3]", "application/json"),
        ("json string", '"hello"', "application/json"),
        ("json null", "null", "application/json"),
        ("bottomless json", "[" * 30000 + "]" * 30000, "application/json"),
        ("bottomless object", '{"a":' * 5000 + "1" + "}" * 5000, "application/json"),
        ("json with a bogus charset", '{"phone": 1}', "application/json; charset=bogus"),
        ("invalid utf-8 json", b'{"name": "\xff\xfe"}', "application/json"),
        ("too many fields", "&".join(f"f{i}=1" for i in range(1500)), "application/x-www-form-urlencoded"),
    ],
)
def test_a_body_of_the_wrong_kind_is_a_clear_4xx_and_changes_nothing(cast, endpoint, label, body, content_type):
    before = state_digest()
    response = send(cast, endpoint, body, content_type)
    if response.status_code < 300:
        # Endpoints without required fields (skip, announce, recall, cancel) may rightly ignore
        # a body they do not need; all that matters then is that it did not crash.
        assert ENDPOINTS[endpoint][2] == {} or endpoint in ("serve_next",), (label, response.content[:200])
        return
    assert_refused(response, 400, 403, 404, 409, 415)
    assert state_digest() == before and locmem.outbox == []


OVERSIZED_FIELDS = [
    ("send_otp", {"phone": "9" * 33}),
    ("send_otp", {"phone": "+919876543210", "name": "x" * 101}),
    ("send_otp", {"phone": "+919876543210", "name": "x" * 10_000}),
    ("verify_otp", {"phone": "+919876543210", "otp": "1" * 17}),
    ("verify_otp", {"phone": "+919876543210", "otp": "123456", "name": "y" * 101}),
    ("join", {"service_id": "{opd}", "name": "z" * 101}),
    ("join", {"service_id": "9" * 40}),
    ("cancel", {"ticket": "9" * 40}),
    ("serve_next", {"expected_queue_id": "Q" * 41}),
    ("serve_next", {"counter": "9" * 40}),
    ("status", {"status": "b" * 1000}),
    ("walk_in", {"name": "n" * 101, "service_id": "{opd}"}),
    ("walk_in", {"name": "Ravi", "phone": "9" * 33, "service_id": "{opd}"}),
    ("move", {"service_id": "9" * 40}),
]


@pytest.mark.parametrize(
    ("endpoint", "fields"), OVERSIZED_FIELDS, ids=[f"{e}-{sorted(f)}" for e, f in OVERSIZED_FIELDS]
)
@pytest.mark.parametrize("encoding", ["form", "json"])
def test_an_oversized_field_is_400_and_changes_nothing(cast, endpoint, fields, encoding):
    before = state_digest()
    data = {k: v.format(**cast.ids) for k, v in fields.items()}
    if encoding == "json":
        response = send(cast, endpoint, json.dumps(data), "application/json")
    else:
        who, path, _ = ENDPOINTS[endpoint]
        response = cast.actors[who].post(path.format(**cast.ids), data, HTTP_ACCEPT="application/json")
    assert_refused(response, 400, 404)
    assert state_digest() == before and locmem.outbox == []


UNKNOWN_IDS = [
    "0",
    "-1",
    "999999",
    "9223372036854775808",
    "99999999999999999999999",
    "1e3",
    "abc",
    "1; DROP TABLE x",
    "",
]


@pytest.mark.parametrize("value", UNKNOWN_IDS)
@pytest.mark.parametrize(
    ("endpoint", "field"),
    [
        ("join", "service_id"),
        ("cancel", "ticket"),
        ("serve_next", "counter"),
        ("walk_in", "service_id"),
        ("move", "service_id"),
    ],
)
def test_an_unknown_or_absurd_id_is_a_clear_4xx_and_changes_nothing(cast, endpoint, field, value):
    who, path, fields = ENDPOINTS[endpoint]
    data = {**{k: v.format(**cast.ids) for k, v in fields.items()}, field: value}
    before = state_digest()
    response = cast.actors[who].post(path.format(**cast.ids), data, HTTP_ACCEPT="application/json")
    if field == "counter" and value == "":
        assert response.status_code in (200, 409)  # no counter named: the operator's own (documented)
        return
    assert_refused(response, 400, 403, 404)
    assert state_digest() == before


@pytest.mark.parametrize("value", ["0", "999999", "9223372036854775808", "99999999999999999999999"])
@pytest.mark.parametrize("action", ["recall", "move", "cancel"])
def test_an_unknown_ticket_in_a_reception_path_is_404(cast, action, value):
    response = cast.actors["recep"].post(f"/staff/reception/tickets/{value}/{action}/", {"service_id": cast.opd.pk})
    assert_refused(response, 404)


@pytest.mark.parametrize(
    ("who", "path"),
    [
        ("recep", "/staff/reception/tickets/99999999999999999999999/slip/"),
        ("patA", "/dashboard/?ticket=99999999999999999999999"),
        ("patA", "/dashboard/?ticket=abc"),
        ("patA", "/dashboard/?ticket=-1"),
        ("admin", "/staff/dashboard/?counter=99999999999999999999999"),
        ("admin", "/staff/get_queue_data/?counter=99999999999999999999999"),
        ("admin", "/staff/get_queue_data/?counter=abc"),
        ("anon", "/t/not-a-signed-link/"),
        ("anon", "/t/" + "A" * 5000 + "/"),
        ("anon", "/check_patient/?phone=" + "9" * 5000),
        ("recep", "/staff/reception/tickets/?q=" + "%00" * 200),
        ("admin", "/admin/queue_app/ticket/99999999999999999999999/change/"),
    ],
)
def test_absurd_ids_in_urls_are_answered_without_a_crash(cast, who, path):
    response = cast.actors[who].get(path)
    assert 200 <= response.status_code < 500, (path, response.status_code)


def test_a_tampered_or_foreign_ticket_link_is_refused(cast):
    token = access.ticket_link_token(cast.ticket_a)
    payload, signature = token.rsplit(":", 1)
    other = {"t": cast.ticket_b.pk, "d": cast.ticket_b.service_date.isoformat()}
    forgeries = [
        token[:-1] + ("A" if token[-1] != "A" else "B"),  # a changed signature
        signing.b64_encode(json.dumps(other, separators=(",", ":")).encode()).decode()
        + ":"
        + signature,  # B's id, A's signature
        signing.dumps(other, salt="some.other.purpose"),  # our key, another purpose
        signing.dumps(other, key="not-our-secret-key", salt=access.TICKET_LINK_SALT),
        payload,  # no signature at all
    ]
    for forged in forgeries:
        response = cast.actors["anon"].get(f"/t/{forged}/")
        assert response.status_code == 404, forged
    assert cast.actors["anon"].get(f"/t/{token}/").status_code == 200


WRONG_METHODS = [
    (endpoint, method)
    for endpoint in ("send_otp", "verify_otp", "join", "cancel", "serve_next", "status", "walk_in", "move")
    for method in ("PUT", "PATCH", "DELETE", "GET")
    if (endpoint, method) != ("walk_in", "GET")  # GET /staff/reception/tickets/ is the list
]


@pytest.mark.parametrize(("endpoint", "method"), WRONG_METHODS)
def test_a_wrong_method_is_405(cast, endpoint, method):
    who, path, _ = ENDPOINTS[endpoint]
    response = cast.actors[who].client.generic(method, path.format(**cast.ids), headers={"X-CSRFToken": CSRF_TOKEN})
    assert_refused(response, 405)


# --- phones that are not mobile numbers ----------------------------------------------------------

NOT_MOBILE = [
    "12345",  # too short
    "0000000000",
    "+91 140 123 4567",  # an Indian landline: cannot receive the SMS
    "+91 98765 4321O",  # a letter O for a zero
    "+91 98765 43210 98765",
    "phone",
    "+",
    "1-800-FLOWERS",
    "+91 1900 123 456",  # premium rate
    "\u202e01234 56789 19+",  # right-to-left override
]


@pytest.mark.parametrize("phone", NOT_MOBILE)
def test_a_phone_that_is_not_an_allowed_mobile_is_400_and_nothing_is_sent_or_stored(cast, phone):
    anon = cast.actors["anon"]
    response = anon.post("/send_otp/", {"phone": phone, "name": "Asha"}, HTTP_ACCEPT="application/json")
    assert_refused(response, 400)
    assert response.json()["code"] in ("invalid_phone", "region_not_allowed")
    assert_refused(anon.post("/verify_otp/", {"phone": phone, "otp": "123456"}, HTTP_ACCEPT="application/json"), 400)
    assert anon.get("/check_patient/", {"phone": phone}).status_code == 403
    walk_in = {"name": "Ravi", "phone": phone, "service_id": cast.opd.pk}
    assert_refused(cast.actors["recep"].post("/staff/reception/tickets/", walk_in), 400)
    assert locmem.outbox == [] and not OTP.objects.exists()
    assert not Patient.objects.filter(name="Ravi").exists()


@pytest.mark.parametrize("phone", ["+1 415 555 0100", "+44 7911 123456", "+971 50 123 4567"])
def test_codes_go_only_to_the_regions_this_clinic_serves(cast, phone):
    """SMS pumping: a mobile of another region gets no code (a walk-in with it needs no SMS)."""
    response = cast.actors["anon"].post("/send_otp/", {"phone": phone}, HTTP_ACCEPT="application/json")
    assert_refused(response, 400)
    assert response.json()["code"] == "region_not_allowed"
    assert locmem.outbox == [] and not OTP.objects.exists()


# --- names: any script, no tricks ------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "അഞ്\u200dജലി",  # Malayalam with a zero-width joiner (chillu)
        "श्\u200dरी",  # Devanagari half form: ZWJ
        "क्\u200cष",  # Devanagari: ZWNJ keeps the letters apart
        "👩\u200d⚕️ Asha",  # an emoji sequence joined by ZWJ
        "Zoë O'Brien-Núñez",
        "李小龍",
        "محمد",
    ],
)
def test_names_in_any_script_are_accepted(name):
    assert clean_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "Asha\u202eoaR",  # right-to-left override: would show reversed on staff screens
        "Asha\u2066Rao\u2069",  # bidi isolate
        "Asha\u200bRao",  # zero-width space: hides in plain sight
        "Asha\u00adRao",  # soft hyphen
        "Asha\x1bRao",
        "Asha\ud800",  # a lone surrogate
        "\ufeffAsha",  # byte order mark
    ],
)
def test_names_with_invisible_or_reordering_characters_are_refused(name):
    with pytest.raises(InvalidInput):
        clean_name(name)


# --- where Django itself would answer 500 -------------------------------------------------------


@pytest.mark.parametrize("path", ["/patient/login/", "/staff/login/"])
def test_a_page_form_in_a_non_utf8_charset_is_400_not_500(cast, path):
    response = cast.actors["anon"].client.generic(
        "POST",
        path,
        b"action=send&phone=1&username=a&password=b",
        content_type="application/x-www-form-urlencoded; charset=utf-16",
        headers={"X-CSRFToken": CSRF_TOKEN},
    )
    assert response.status_code == 400


@pytest.mark.parametrize("changelist", ["ticket", "patient", "queuehistory"])
def test_an_absurd_admin_date_filter_is_not_a_500(cast, changelist):
    field = {"ticket": "service_date", "patient": "created_at", "queuehistory": "at"}[changelist]
    response = cast.actors["admin"].get(f"/admin/queue_app/{changelist}/?{field}__year=99999999999")
    assert response.status_code < 500


# --- OTP abuse: what tests/services/test_otp.py does not already cover -----------------------------
# Covered there: five wrong tries end a code (test_five_wrong_attempts_require_a_new_code), sends
# limited per phone and per address (test_at_most_five_codes_per_phone_per_ten_minutes,
# test_sends_per_address_are_limited), checks per address, expiry (test_code_expires_after_five_minutes),
# single use (test_code_works_only_once), CSRF on the anonymous endpoints.

OTHER = "+919876500002"


def test_a_code_cannot_be_used_for_another_phone(db):
    asha, bilal = PhoneBrowser(), PhoneBrowser()
    asha.api("/send_otp/", {"phone": "+919876500001", "name": "Asha"})
    bilal.api("/send_otp/", {"phone": OTHER, "name": "Bilal"})
    code = last_code("+919876500001")
    if code == last_code(OTHER):
        pytest.skip("both phones drew the same code (one in a million)")
    refused = bilal.api("/verify_otp/", {"phone": OTHER, "otp": code})
    assert refused.status_code == 400 and refused.json()["code"] == "invalid_code"
    assert not Patient.objects.filter(phone__in=["+919876500001", OTHER]).exists()
    assert "patient_id" not in bilal.session
    # The attempt counted against the phone it was tried on, not the one the code belongs to.
    assert OTP.objects.get(phone=OTHER).attempts == 1
    assert OTP.objects.get(phone="+919876500001").attempts == 0
    assert asha.api("/verify_otp/", {"phone": "+919876500001", "otp": code}).status_code == 200


def test_guessing_through_the_plain_html_form_also_stops_after_five_tries(db):
    """The page's no-JavaScript form is a second door to the same check: it counts the same."""
    browser = PhoneBrowser()
    assert browser.form("/patient/login/", {"action": "send", "phone": OTHER, "name": "Bilal"}).status_code == 302
    code = last_code(OTHER)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(5):
        assert browser.form("/patient/login/", {"action": "verify", "phone": OTHER, "otp": wrong}).status_code == 400
    late = browser.form("/patient/login/", {"action": "verify", "phone": OTHER, "otp": code})
    assert late.status_code == 400
    assert OTP.objects.get(phone=OTHER).attempts == 5
    assert not Patient.objects.filter(phone=OTHER).exists()


def test_guessing_codes_for_many_phones_from_one_address_is_limited(settings):
    """Spreading guesses over many phones (5 each) still meets the per-address check limit."""
    settings.OTP_CHECKS_PER_IP = 12
    browser = PhoneBrowser()
    statuses = [
        browser.api(
            "/verify_otp/", {"phone": f"+9198765000{n:02d}", "otp": "000000"}, REMOTE_ADDR="203.0.113.9"
        ).status_code
        for n in range(10, 25)
    ]
    assert statuses[:12] == [400] * 12 and set(statuses[12:]) == {429}


# --- text that is not text, ids that are not ids, bodies that do not parse -----------------------


@pytest.mark.parametrize(
    ("endpoint", "fields"),
    [
        ("send_otp", {"phone": 919876543210}),
        ("send_otp", {"phone": "+919876543210", "name": 0}),
        ("verify_otp", {"phone": "+919876543210", "otp": 123456}),
        ("join", {"service_id": "{opd}", "name": 0}),
        ("join", {"service_id": "{opd}", "name": True}),
        ("walk_in", {"name": 0, "service_id": "{opd}"}),
        ("serve_next", {"expected_queue_id": 1.5}),
    ],
)
def test_a_number_where_text_belongs_is_refused_not_turned_into_text(cast, endpoint, fields):
    fields = {key: value.format(**cast.ids) if isinstance(value, str) else value for key, value in fields.items()}
    before = state_digest()

    response = send(cast, endpoint, json.dumps(fields), "application/json")

    assert_refused(response, 400)
    assert response.json()["fields"] and "Not a valid string." in response.json()["error"]
    assert state_digest() == before and locmem.outbox == []


@pytest.mark.parametrize("action", ["recall", "move", "cancel"])
@pytest.mark.parametrize("accept", ["application/json", "*/*"])
def test_a_ticket_id_that_is_not_a_number_is_the_apis_json_404(cast, action, accept):
    response = cast.actors["recep"].client.post(
        f"/staff/reception/tickets/abc/{action}/", {"service_id": cast.ids["lab"]}, headers={
            "X-CSRFToken": CSRF_TOKEN, "Accept": accept}
    )  # fmt: skip

    assert_refused(response, 404)
    assert response.json() == {"error": "There is no such ticket.", "code": "not_found"}


@pytest.mark.parametrize("path", ["/staff/reception/tickets/1/nonsense/", "/queue/join/extra/", "/no-such-api/"])
def test_a_path_no_route_matches_answers_json_to_a_script(cast, path):
    response = cast.actors["recep"].client.get(path, headers={"Accept": "application/json"})

    assert_refused(response, 404)
    assert response.json() == {"error": "Not found.", "code": "not_found"}


@pytest.mark.parametrize("path", ["/staff/login/", "/patient/login/", "/dashboard/"])
@pytest.mark.parametrize(
    ("body", "content_type"),
    [(b"", "multipart/form-data"), (b"x", "multipart/form-data"), (b"a", 'multipart/form-data; boundary=""')],
)
def test_a_multipart_body_that_cannot_be_parsed_is_the_error_shape_to_a_script(cast, path, body, content_type):
    # CONTENT_TYPE as a server passes it even for an empty body (the test client would leave it out).
    response = cast.actors["patA"].client.generic(
        "POST", path, body, content_type=content_type, CONTENT_TYPE=content_type,
        headers={"X-CSRFToken": CSRF_TOKEN, "Accept": "application/json"},
    )  # fmt: skip

    assert_refused(response, 400)
    assert response.json() == {"error": "The request is malformed.", "code": "parse_error"}
