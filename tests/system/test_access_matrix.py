"""Who may do what: every URL and WebSocket group against every kind of visitor, as one table.

Columns: anon (no session), patA / patB (two patients, each with a ticket being served), op1 /
op2 (the operators holding counters 1 and 2), admin, recep (a reception clerk: staff, but not at
a counter). Each cell is what that visitor gets:

    200, 201, 400, 403, 404, 409 ...  that status
    P   a redirect to the patient login       S   a redirect to the staff login
    A   a redirect to the admin login         R   a redirect somewhere else (their own page)
    S*  logged out, then sent to the staff login (allowed: it is the logout)

Rows run refused visitors first (each must change nothing), then the allowed ones in column
order, so e.g. the admin's cancel comes before the clerk's (who then meets a cancelled ticket).
Bodies may use {n}, the visitor's column number, where each needs its own phone or username.

Every POST is also sent without a CSRF token and with a wrong one, by every visitor: 403 and
nothing changes (the anonymous OTP endpoints included). WebSocket groups have their own table,
and a foreign Origin is refused whoever asks. Session keys rotate at staff and patient login.
"""

import re

import pytest
from channels.db import database_sync_to_async
from channels.security.websocket import OriginValidator
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.sessions.models import Session
from django.urls import get_resolver

from queue_app.sms import locmem
from queue_system.asgi import application

from ..patient_helpers import PhoneBrowser, last_code
from ..security_helpers import CSRF_TOKEN, Actor, build_cast, state_digest

ACTORS = ["anon", "patA", "patB", "op1", "op2", "admin", "recep"]

# method path                                 body                         anon patA patB op1  op2  admin recep
HTTP_MATRIX = """
GET  /                                        -                            P    P    P    P    P    P    P
GET  /patient/login/                          -                            200  R    R    200  200  200  200
POST /patient/login/                          action=restart               P    P    P    P    P    P    P
POST /patient/logout/                         -                            P    P    P    P    P    P    P
POST /send_otp/                               phone=+91987650000{n}&name=A 200  200  200  200  200  200  200
POST /verify_otp/                             phone=+919876500001&otp=0    400  400  400  400  400  400  400
GET  /check_patient/?phone={phone_a}          -                            403  200  403  403  403  403  403
GET  /service/selection/                      -                            P    200  200  P    P    P    P
POST /service/selection/                      service_id={opd}             P    R    R    P    P    P    P
POST /queue/join/                             service_id={opd}             403  200  200  403  403  403  403
POST /queue/cancel/                           ticket={ta}                  403  200  404  403  403  403  403
POST /queue/notify/                           ticket={ta}&notify=false     403  200  404  403  403  403  403
POST /sms/status/                             MessageSid=SM1&MessageStatus=delivered 403 403 403 403 403 403 403
GET  /dashboard/                              -                            P    200  200  P    P    P    P
GET  /dashboard/?ticket={ta}                  -                            P    200  404  P    P    P    P
POST /dashboard/                              ticket={ta}                  P    R    R    P    P    P    P
GET  /qr/                                     -                            200  200  200  200  200  200  200
GET  /qr.png                                  -                            200  200  200  200  200  200  200
GET  /qr.svg                                  -                            200  200  200  200  200  200  200
GET  /staff/login/                            -                            200  200  200  R    R    R    R
POST /staff/login/                            username=nobody{n}&password=x 200  200  200  200  200  200  200
GET  /staff/dashboard/                        -                            S    S    S    200  200  200  R
GET  /staff/dashboard/?counter={c1}           -                            S    S    S    200  200  200  R
GET  /staff/switch_counter/                   -                            S    S    S    200  200  200  R
POST /staff/switch_counter/                   counter={c1}                 S    S    S    R    409  409  R
POST /staff/serve_next/                       counter={c1}                 403  403  403  200  403  200  403
POST /staff/skip_patient/                     counter={c1}                 403  403  403  200  403  200  403
POST /staff/announce_patient/                 counter={c1}                 403  403  403  200  403  200  403
POST /staff/update_status/                    status=busy&counter={c1}     403  403  403  200  403  200  403
GET  /staff/get_queue_data/?counter={c1}      -                            403  403  403  200  403  200  403
POST /staff/serve_next/                       -                            403  403  403  200  200  403  403
GET  /staff/get_queue_data/                   -                            403  403  403  200  200  403  403
POST /staff/transfer_patient/                 service={lab}&counter={c1}   403  403  403  200  403  409  403
POST /staff/transfer_patient/                 service={lab}                403  403  403  200  200  403  403
POST /staff/back_to_line/                     counter={c1}                 403  403  403  200  403  409  403
POST /staff/back_to_line/                     -                            403  403  403  200  200  403  403
POST /staff/set_priority/                     queue_id={qa}&priority=&counter={c1} 403 403 403 200 403 200 403
POST /staff/set_priority/                     queue_id={qa}&priority=      403  403  403  200  200  403  403
GET  /staff/logout/                           -                            S    S    S    200  200  200  200
POST /staff/logout/                           -                            S    S    S    S*   S*   S*   S*
GET  /display/                                -                            200  200  200  200  200  200  200
GET  /display/screen/data/                    -                            200  200  200  200  200  200  200
GET  /healthz/                                -                            200  200  200  200  200  200  200
POST /i18n/setlang/                           language=hi&next=/           R    R    R    R    R    R    R
GET  /admin/                                  -                            A    A    A    A    A    200  200
GET  /admin/queue_app/ticket/                 -                            A    A    A    A    A    200  200
GET  /admin/queue_app/patient/                -                            A    A    A    A    A    200  403
GET  /admin/queue_app/staff/                  -                            A    A    A    A    A    200  403
GET  /admin/queue_app/otp/                    -                            A    A    A    A    A    200  403
GET  /admin/queue_app/notification/           -                            A    A    A    A    A    200  403
GET  /api/schema/                             -                            200  200  200  200  200  200  200
GET  /api/docs/                               -                            200  200  200  200  200  200  200
GET  /debug/counters/                         -                            404  404  404  404  404  404  404
GET  /debug/session/                          -                            404  404  404  404  404  404  404
GET  /t/{link_a}/                              -                            200  200  200  200  200  200  200
GET  /t/forged-link/                          -                            404  404  404  404  404  404  404
GET  /staff/reception/                        -                            S    S    S    403  403  200  200
GET  /staff/reception/tickets/                -                            403  403  403  403  403  200  200
POST /staff/reception/tickets/                name=Walk-in&service_id={opd} 403 403 403  403  403  201  201
POST /staff/reception/tickets/{ta}/recall/    -                            403  403  403  403  403  409  409
POST /staff/reception/tickets/{tb}/move/      service_id={lab}             403  403  403  403  403  200  400
POST /staff/reception/tickets/{ta}/priority/  priority=                    403  403  403  403  403  200  200
POST /staff/reception/tickets/{ta}/cancel/    -                            403  403  403  403  403  200  409
GET  /staff/reception/tickets/{ta}/slip/      -                            S    S    S    403  403  200  200
GET  /reports/                                -                            S    S    S    403  403  200  403
GET  /reports/overview/                       -                            S    S    S    403  403  200  403
GET  /reports/tickets.csv                     -                            403  403  403  403  403  200  403
GET  /reports/summary.csv                     -                            403  403  403  403  403  200  403
"""

# query (on /ws/queue/updates/)     anon patA patB op1  op2  admin recep      (ok: accepted, no: refused)
WS_MATRIX = """
-                                   ok   ok   ok   ok   ok   ok    ok
counter={c1}                        no   no   no   ok   no   ok    no
counter={c2}                        no   no   no   no   ok   ok    no
ticket={ta}                         no   ok   no   no   no   no    no
ticket={tb}                         no   no   ok   no   no   no    no
"""


def parse(table: str, width: int) -> list[tuple]:
    rows = []
    for line in table.strip().splitlines():
        cells = line.split()
        assert len(cells) == width + len(ACTORS), f"malformed row: {line}"
        rows.append((tuple(cells[:width]), dict(zip(ACTORS, cells[width:], strict=True))))
    return rows


HTTP_ROWS = parse(HTTP_MATRIX, 3)
WS_ROWS = parse(WS_MATRIX, 1)
REDIRECTS = {"P": "/patient/login/", "S": "/staff/login/", "A": "/admin/login/"}


@pytest.fixture
def cast(opd, counters, admin_user):
    return build_cast(opd, counters, admin_user)


def request(actor: Actor, method: str, path: str, body: str, ids: dict, **extra):
    ids = {**ids, "n": ACTORS.index(actor.name)}
    path = path.format(**ids)
    data = {} if body == "-" else dict(pair.split("=", 1) for pair in body.format(**ids).split("&"))
    if method == "GET":
        return actor.get(path, **extra)
    return actor.post(path, data, **extra)


def outcome(response) -> str:
    """The cell a response matches: its status, or P/S/A/R for a redirect."""
    if response.status_code in (301, 302, 303):
        location = response["Location"]
        for cell, prefix in REDIRECTS.items():
            if location.startswith(prefix):
                return cell
        return "R"
    return str(response.status_code)


def test_the_matrix_lists_every_routed_url():
    """A URL added to urls.py without a row here fails this test: nobody forgets to decide who may use it."""
    # Placeholders on both sides become "<>": /t/{link_a}/ in a row is the route /t/<str:token>/.
    listed = {re.sub(r"\{\w+\}", "<>", path.split("?")[0]) for (_method, path, _body), _cells in HTTP_ROWS}
    routed = set()
    for pattern in get_resolver().url_patterns:
        prefix = str(pattern.pattern)
        if prefix.startswith("admin/"):
            continue  # the admin's own URLs: its index and changelists are rows
        for sub in getattr(pattern, "url_patterns", [pattern]):
            route = "/" + (prefix if sub is pattern else prefix + str(sub.pattern))
            routed.add(re.sub(r"<[^>]+>", "<>", route))
    routed -= {"/debug/counters/", "/debug/session/"}  # routed only when DEBUG is on; rows check the 404
    missing = sorted(r for r in routed if r not in listed)
    assert not missing, f"URLs with no row in HTTP_MATRIX: {missing}"


DENIED = {"403", "404", "P", "S", "A"}  # refusals: they must change nothing


def run_row(cast, row, cells, **extra) -> dict[str, str]:
    """Every visitor's outcome of one row. Refused visitors go first and must change nothing, so
    those allowed all meet the state the row was written for."""
    method, path, body = row
    got = {}
    for who in sorted(ACTORS, key=lambda w: cells[w] not in DENIED):
        before = state_digest() if method == "POST" and cells[who] in DENIED else None
        response = request(cast.actors[who], method, path, body, cast.ids, **extra)
        got[who] = outcome(response)
        if got[who] == "403" and response["Content-Type"].startswith("application/json"):
            assert set(response.json()) >= {"error", "code"}, response.content
        if before is not None:
            assert state_digest() == before, f"{who}'s refused {method} {path} changed the state"
    return {who: got[who] for who in ACTORS}


@pytest.mark.django_db
@pytest.mark.parametrize(("row", "cells"), HTTP_ROWS, ids=[f"{m} {p} {b}" for (m, p, b), _ in HTTP_ROWS])
def test_http_access(cast, row, cells):
    assert run_row(cast, row, cells) == {who: cell.rstrip("*") for who, cell in cells.items()}


POST_ROWS = [(row, cells) for row, cells in HTTP_ROWS if row[0] == "POST"]


@pytest.mark.django_db
@pytest.mark.parametrize("token", ["missing", "wrong"])
@pytest.mark.parametrize(("row", "cells"), POST_ROWS, ids=[f"{p} {b}" for (_m, p, b), _ in POST_ROWS])
def test_every_post_refuses_a_missing_or_wrong_csrf_token_and_changes_nothing(cast, row, cells, token):
    _method, path, body = row
    before = state_digest()
    sessions_before = sessions()
    extra = {} if token == "missing" else {"HTTP_X_CSRFTOKEN": CSRF_TOKEN[::-1]}
    got = {}
    for who in ACTORS:
        response = request(cast.actors[who], "POST", path, body, cast.ids, csrf=False, **extra)
        got[who] = response.status_code
    assert got == dict.fromkeys(ACTORS, 403)
    assert state_digest() == before
    assert locmem.outbox == []
    # Logging out is a change too: every session survives a forged logout.
    assert sessions() == sessions_before


def sessions() -> dict:
    # Decoded: every request re-signs the session (SESSION_SAVE_EVERY_REQUEST slides its expiry).
    return {s.session_key: s.get_decoded() for s in Session.objects.all()}


# --- WebSocket groups ------------------------------------------------------------------------------------


@pytest.fixture
def listed_origins(monkeypatch):
    """Test settings allow every host ("*"), which lets any Origin through the validator; a
    production install lists its hosts, so the check runs against a real list here."""
    validator = application.application_mapping["websocket"]
    assert isinstance(validator, OriginValidator)
    monkeypatch.setattr(validator, "allowed_origins", ["testserver"])


async def open_socket(actor: Actor, query: str, origin: bytes | None = b"http://testserver"):
    headers = [(b"origin", origin)] if origin is not None else []
    if actor.session_key:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={actor.session_key}".encode()))
    path = "/ws/queue/updates/" + (f"?{query}" if query else "")
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _code = await communicator.connect(timeout=5)
    if connected:
        message = await communicator.receive_json_from(timeout=5)
        assert message["type"] == "snapshot"
        await communicator.disconnect()
    return connected


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("row", "cells"), WS_ROWS, ids=[q for (q,), _ in WS_ROWS])
async def test_websocket_access(listed_origins, row, cells, opd, counters, admin_user):
    cast = await database_sync_to_async(build_cast)(opd, counters, admin_user)
    (query,) = row
    query = "" if query == "-" else query.format(**cast.ids)
    got = {who: "ok" if await open_socket(cast.actors[who], query) else "no" for who in ACTORS}
    assert got == cells


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("origin", [b"http://evil.example", b"null", b"http://testserver.evil.example", None])
async def test_a_foreign_or_missing_origin_is_refused_whoever_asks(listed_origins, origin, opd, counters, admin_user):
    cast = await database_sync_to_async(build_cast)(opd, counters, admin_user)
    own = {"patA": f"ticket={cast.ticket_a.pk}", "patB": f"ticket={cast.ticket_b.pk}"}
    own |= {"op1": f"counter={cast.counters[0].pk}", "op2": f"counter={cast.counters[1].pk}"}
    # Each visitor asks for a group they are allowed (the display for the others) ...
    assert await open_socket(cast.actors["op1"], own["op1"])
    # ... and is refused as soon as the page asking is not ours.
    got = {who: await open_socket(cast.actors[who], own.get(who, ""), origin=origin) for who in ACTORS}
    assert got == dict.fromkeys(ACTORS, False)


# --- sessions --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_staff_login_rotates_the_key_of_a_patients_session_and_the_old_key_is_dead(cast):
    """views/test_staff.py covers an anonymous session; here the browser held a patient session."""
    browser = cast.actors["patA"]
    old = browser.session_cookie
    response = browser.post("/staff/login/", {"username": "admin", "password": "correct horse battery"})
    assert response.status_code == 302, response.content[:300]
    assert browser.session_cookie not in (None, old)
    assert not Session.objects.filter(session_key=old).exists()
    # The old cookie (say, copied by someone before the login) opens nothing any more.
    stale = Actor("stale", old)
    assert stale.get("/dashboard/").status_code == 302
    assert stale.get("/staff/get_queue_data/").status_code == 403


@pytest.mark.django_db
def test_patient_login_kills_the_pre_login_session_key(cast):
    """test_otp checks the key changes; here the old key must also stop working (fixation)."""
    browser = PhoneBrowser()
    browser.api("/send_otp/", {"phone": cast.patient_a.phone})
    planted = browser.cookies[settings.SESSION_COOKIE_NAME].value  # what a fixation attack would plant
    assert browser.api("/verify_otp/", {"phone": cast.patient_a.phone, "otp": last_code()}).status_code == 200
    assert browser.cookies[settings.SESSION_COOKIE_NAME].value != planted
    assert not Session.objects.filter(session_key=planted).exists()
    attacker = Actor("attacker", planted)
    assert attacker.get("/dashboard/", HTTP_ACCEPT="application/json").status_code == 403
    assert attacker.get(f"/check_patient/?phone={cast.patient_a.phone}").status_code == 403
