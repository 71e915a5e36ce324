"""Structured logs: one line per request and per queue transition; no phone number or OTP, ever."""

import io
import json
import logging
import re
import sys
import urllib.request

import pytest
from django.conf import settings
from django.db import DatabaseError, connection

from queue_app import services
from queue_app.logs import JsonFormatter, RedactFilter, mask_phone, redact
from queue_app.models import Ticket
from queue_app.services import otp as otp_service
from queue_app.sms import locmem as sms_locmem

from ..liveserver import clean_env, manage, migrated_sqlite, start_live_server

PHONE = "+919812345678"


def make_record(msg, *args, name="queue.test", exc_info=None, **extra) -> logging.LogRecord:
    record = logging.LogRecord(name, logging.INFO, __file__, 1, msg, args, exc_info)
    record.__dict__.update(extra)
    return record


def redacted(record: logging.LogRecord) -> logging.LogRecord:
    assert RedactFilter().filter(record) is True  # a filter that redacts never drops the line
    return record


def request_lines(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "queue.requests"]


# --- the request line ----------------------------------------------------------------------


@pytest.mark.django_db
def test_every_request_writes_one_line_with_method_path_status_duration_and_client_ip(client, caplog):
    caplog.set_level(logging.INFO, logger="queue.requests")

    client.get("/no-such-page/", REMOTE_ADDR="127.0.0.9")

    (line,) = request_lines(caplog)
    assert (line.method, line.path, line.status, line.client_ip) == ("GET", "/no-such-page/", 404, "127.0.0.9")
    assert isinstance(line.duration_ms, float) and line.duration_ms >= 0
    assert line.getMessage() == f"method=GET path=/no-such-page/ status=404 duration_ms={line.duration_ms} ip=127.0.0.9"


@pytest.mark.django_db
def test_the_request_line_never_carries_the_query_string(client, caplog):
    caplog.set_level(logging.INFO, logger="queue.requests")

    client.get("/check_patient/", {"phone": PHONE})

    (line,) = request_lines(caplog)
    assert line.path == "/check_patient/"
    assert "9812345678" not in caplog.text


@pytest.mark.django_db
def test_the_request_line_escapes_control_characters_in_the_path(client, caplog):
    caplog.set_level(logging.INFO, logger="queue.requests")

    client.get("/a%0Afake%20line/")

    (line,) = request_lines(caplog)
    assert line.path == "/a%0Afake%20line/"
    assert "\n" not in line.getMessage()


@pytest.mark.django_db
def test_the_request_line_takes_the_client_address_from_a_trusted_proxy_only(client, caplog, settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    caplog.set_level(logging.INFO, logger="queue.requests")

    client.get("/no-such-page/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="127.0.0.55")
    client.get("/no-such-page/", REMOTE_ADDR="127.0.0.2", HTTP_X_FORWARDED_FOR="127.0.0.55")

    assert [line.client_ip for line in request_lines(caplog)] == ["127.0.0.55", "127.0.0.2"]


@pytest.mark.django_db
def test_healthy_health_checks_are_logged_at_debug_level_only(client, caplog):
    caplog.set_level(logging.DEBUG, logger="queue.requests")

    client.get("/healthz/")
    client.get("/no-such-page/")

    assert [(r.path, r.levelno) for r in request_lines(caplog)] == [
        ("/healthz/", logging.DEBUG),
        ("/no-such-page/", logging.INFO),
    ]


# --- queue transitions ----------------------------------------------------------------------


def test_each_queue_transition_is_logged_with_its_queue_id_and_counter(
    counters, patient, opd, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.INFO, logger="queue.transitions")
    with django_capture_on_commit_callbacks(execute=True):
        ticket, _ = services.join(patient=patient, service=opd)
    with django_capture_on_commit_callbacks(execute=True):
        services.serve_next(counter=counters[0], by=counters[0].held_by)

    lines = [r.getMessage() for r in caplog.records if r.name == "queue.transitions"]
    assert any(m.startswith(f"joined queue_id={ticket.queue_id} counter=") for m in lines)
    assert any(m.startswith(f"called queue_id={ticket.queue_id} counter={counters[0].pk}") for m in lines)


def test_a_transition_that_rolls_back_is_not_logged(counters, patient, opd, caplog, django_capture_on_commit_callbacks):
    """The line is written at the commit: a join whose database failed after its ticket and
    history rows were written (while its events were being built) changed nothing and must not
    be in the log as joined."""
    caplog.set_level(logging.INFO, logger="queue.transitions")
    written = []

    def fail_after_the_history_row(execute, sql, params, many, context):
        # The next statement fails once; the rollback that follows must still work.
        if len(written) == 1:
            written.append(sql)
            raise DatabaseError("lost connection")
        if not written and sql.startswith("INSERT INTO") and "queue_app_queuehistory" in sql:
            written.append(sql)
        return execute(sql, params, many, context)

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        connection.execute_wrapper(fail_after_the_history_row),
        pytest.raises(DatabaseError),
    ):
        services.join(patient=patient, service=opd)

    assert len(written) == 2  # it failed after the point where the line used to be written
    assert callbacks == []
    assert not [r for r in caplog.records if r.name == "queue.transitions"]
    assert not Ticket.objects.exists()


@pytest.fixture
def raw_logs():
    """What the app's loggers write, as written: captured on the `queue` logger itself, before
    the records reach the handlers (and their redaction filter) on the root logger."""
    messages: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record):
            text = record.getMessage()
            if record.exc_info:
                text += "\n" + logging.Formatter().formatException(record.exc_info)
            messages.append(text)

    logger = logging.getLogger("queue")
    handler, level = Capture(logging.DEBUG), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield messages
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_the_queue_and_otp_flows_never_log_a_phone_number_or_a_code(
    counters, opd, raw_logs, django_capture_on_commit_callbacks
):
    session = {}
    sent = otp_service.send_code(phone=PHONE, name="Asha Rao", ip="127.0.0.1")
    otp_service.remember_code_sent(session=session, sent=sent)
    (sms,) = sms_locmem.outbox
    code = re.search(r"\b\d{6}\b", sms.body).group()
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    with pytest.raises(otp_service.CodeRejected):
        otp_service.verify_code(session=session, phone=PHONE, code=wrong, ip="127.0.0.1")
    patient = otp_service.verify_code(session=session, phone=PHONE, code=code, ip="127.0.0.1").patient

    with django_capture_on_commit_callbacks(execute=True):  # transitions are logged at the commit
        services.join(patient=patient, service=opd)
        services.serve_next(counter=counters[0], by=counters[0].held_by)
        services.skip(counter=counters[0], by=counters[0].held_by)
        services.set_status(counter=counters[1], status="break", by=counters[1].held_by)

    written = "\n".join(raw_logs)
    assert "otp sent" in written and "called queue_id=" in written  # the flows did log
    assert "98123" not in written and "2345678" not in written
    assert code not in written and wrong not in written


# --- the redaction filter --------------------------------------------------------------------


def test_mask_phone_keeps_the_last_four_digits_only():
    assert mask_phone(PHONE) == "***5678"
    assert mask_phone("+91 98123 45678") == "***5678"
    assert mask_phone("") == "-"


@pytest.mark.parametrize(
    "text",
    [
        "OTP sent to +919812345678",
        "OTP sent to +91 98123 45678",
        "OTP sent to +91-98123-45678",
        "GET /check_patient/?phone=%2B919812345678",
    ],
)
def test_the_filter_cuts_e164_phone_numbers_to_their_last_four_digits(text):
    message = redacted(make_record("%s", text)).getMessage()

    assert "***5678" in message
    assert "9812345" not in message and "98123 4" not in message and "98123-4" not in message


def test_the_filter_blanks_six_digit_codes():
    message = redacted(make_record("code %s for ticket %s", "482913", "OPD_001_1234")).getMessage()

    assert message == "code ****** for ticket OPD_001_1234"


def test_the_filter_leaves_queue_ids_times_and_addresses_alone():
    text = "called queue_id=OPD_001_1234 counter=12 at 2026-11-26 10:15:30 ip=127.0.0.1 duration_ms=12.5"

    assert redact(text) == text


def test_the_filter_redacts_tracebacks_and_extra_fields():
    try:
        raise ValueError(f"duplicate phone {PHONE}, code 123456")
    except ValueError:
        record = make_record("it failed", exc_info=sys.exc_info(), path=f"/x/{PHONE}/")

    redacted(record)

    assert "ValueError: duplicate phone ***5678, code ******" in record.exc_text
    assert PHONE not in record.exc_text and "123456" not in record.exc_text
    assert record.path == "/x/***5678/"
    assert PHONE not in logging.Formatter().format(record)


def test_logging_settings_put_the_redaction_filter_on_every_handler():
    handlers = settings.LOGGING["handlers"]
    assert handlers
    for name, handler in handlers.items():
        assert "redact" in handler.get("filters", []), name
    assert settings.LOGGING["filters"]["redact"]["()"] == "queue_app.logs.RedactFilter"


# --- the JSON format ---------------------------------------------------------------------------


def test_the_json_formatter_writes_one_object_per_line_with_the_extra_fields():
    try:
        raise RuntimeError("boom\nsecond line")
    except RuntimeError:
        record = make_record("first\nsecond %s", "x", name="queue.requests", exc_info=sys.exc_info(), status=500)

    line = JsonFormatter().format(record)

    assert "\n" not in line
    data = json.loads(line)
    assert data["message"] == "first\nsecond x"
    assert (data["level"], data["logger"], data["status"]) == ("INFO", "queue.requests", 500)
    assert data["time"].endswith("+00:00")
    assert "RuntimeError: boom" in data["exc"]


SNIPPET = (
    "import logging; "
    "logging.getLogger('queue.transitions').info('called queue_id=OPD_001_1234 counter=3 to %s code %s', "
    f"'{PHONE}', '654321')"
)


def test_log_format_json_makes_the_server_write_one_redacted_json_object_per_line(tmp_path):
    env = clean_env(DEBUG="0", QUEUE_TESTING="1", DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3", LOG_FORMAT="json")

    result = manage("shell", "--no-imports", "-c", SNIPPET, env=env)

    assert result.returncode == 0, result.stderr
    (line,) = result.stderr.splitlines()
    data = json.loads(line)
    assert data["logger"] == "queue.transitions"
    assert data["message"] == "called queue_id=OPD_001_1234 counter=3 to ***5678 code ******"


def test_log_format_text_writes_plain_redacted_lines(tmp_path):
    env = clean_env(DEBUG="0", QUEUE_TESTING="1", DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3", LOG_FORMAT="text")

    result = manage("shell", "--no-imports", "-c", SNIPPET, env=env)

    assert result.returncode == 0, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.endswith(" INFO queue.transitions called queue_id=OPD_001_1234 counter=3 to ***5678 code ******")


def test_a_live_server_logs_each_request_as_one_json_line(request, tmp_path):
    url = migrated_sqlite(tmp_path / "db.sqlite3")
    server = start_live_server(
        request, env=clean_env(DEBUG="0", QUEUE_TESTING="1", DATABASE_URL=url, LOG_FORMAT="json")
    )

    for path in ("/no-such-page/", f"/check_patient/?phone=%2B{PHONE[1:]}"):
        try:
            urllib.request.urlopen(server.url + path, timeout=10)
        except urllib.error.HTTPError:
            pass
    server.stop()

    lines = server.log_text().splitlines()[1:]  # the first line is the helper's own header
    records = [json.loads(line) for line in lines]  # every line the server wrote is JSON
    requests = [r for r in records if r["logger"] == "queue.requests"]
    assert [(r["method"], r["path"], r["status"]) for r in requests] == [
        ("GET", "/no-such-page/", 404),
        ("GET", "/check_patient/", 403),
    ]
    assert all(r["client_ip"] == "127.0.0.1" and r["duration_ms"] >= 0 for r in requests)
    assert "9812345678" not in server.log_text()


TOKEN = "eyJ0IjoxLCJkIjoiMjAyNi0xMS0yNiJ9:1vB5x:AbCdEfGhIjKlMnOp"


def test_daphne_started_by_hand_writes_no_phone_and_no_ticket_link_to_its_access_log(request, tmp_path):
    """`daphne queue_system.asgi:application` with Daphne's default access log on (no --verbosity 0)."""
    url = migrated_sqlite(tmp_path / "db.sqlite3")
    server = start_live_server(
        request, env=clean_env(DEBUG="0", QUEUE_TESTING="1", DATABASE_URL=url), daphne_options=()
    )

    for path in (
        f"/check_patient/?phone=%2B{PHONE[1:]}",
        "/check_patient/?phone=98123%2045678",  # typed without the country code
        f"/t/{TOKEN}/",
        f"/t/{TOKEN}",  # redirected to the slash form: both are logged
        "/display/?code=123456",
    ):
        try:
            urllib.request.urlopen(server.url + path, timeout=10)
        except urllib.error.HTTPError:
            pass
    server.stop()

    written = server.log_text()
    assert '"GET /check_patient/" 403' in written  # Daphne's access log is on, and masked
    assert '"GET /t/%E2%80%A6/"' in written
    for secret in ("9812345678", "98123", "AbCdEfGhIjKlMnOp", "1vB5x", "123456"):
        assert secret not in written


def test_every_line_daphne_logs_gets_the_path_without_its_query_string_or_token():
    from daphne.access import AccessLogGenerator
    from daphne.server import Server

    from queue_system.server import mask_access_log

    mask_access_log()
    stream = io.StringIO()
    server = Server(application=None, endpoints=["tcp:port=0"], action_logger=AccessLogGenerator(stream))

    server.log_action(
        "http", "complete", {"path": f"/t/{TOKEN}/?phone={PHONE}", "status": 200, "method": "GET", "client": "x",
                             "time_taken": 0.1, "size": 10}
    )  # fmt: skip
    server.log_action("websocket", "connected", {"path": f"/ws/queue/updates/?phone={PHONE}", "client": "x"})

    assert [line.split('"')[1] for line in stream.getvalue().splitlines()] == [
        "GET /t/%E2%80%A6/",
        "WSCONNECT /ws/queue/updates/",
    ]


@pytest.mark.django_db
def test_the_request_line_leaves_out_a_signed_ticket_links_token(client, caplog):
    caplog.set_level(logging.INFO, logger="queue.requests")
    client.get(f"/t/{TOKEN}/")
    (line,) = request_lines(caplog)
    assert "path=/t/%E2%80%A6/" in line.getMessage()
    assert "AbCdEfGhIjKlMnOp" not in caplog.text


# --- times with their offset, journald priorities -----------------------------------------------

JOURNAL_SNIPPET = (
    "import logging; log = logging.getLogger('queue.transitions'); "
    "log.info('an info line'); log.warning('a warning line'); "
    "exec('try:\\n    1/0\\nexcept ZeroDivisionError:\\n    log.exception(\"an error line\")')"
)


def run_logging(tmp_path, snippet: str, *, journal: bool, **variables) -> list[str]:
    """`manage.py shell -c snippet` with stderr to a file; `journal`: systemd's JOURNAL_STREAM
    names that file, as it names the journal's socket for a service."""
    import os
    import subprocess

    from ..liveserver import BASE_DIR

    output = tmp_path / "stderr.log"
    with open(output, "wb") as stderr:
        status = os.fstat(stderr.fileno())
        env = clean_env(DEBUG="0", QUEUE_TESTING="1", DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3", **variables)
        if journal:
            env["JOURNAL_STREAM"] = f"{status.st_dev}:{status.st_ino}"
        subprocess.run(
            [sys.executable, "manage.py", "shell", "--no-imports", "-c", snippet],
            cwd=BASE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            timeout=60,
            check=True,
        )
    return output.read_text().splitlines()


def test_log_times_are_iso_8601_with_their_offset(tmp_path):
    (line,) = run_logging(tmp_path, SNIPPET, journal=False, TIME_ZONE="Asia/Kolkata")  # the clinic's

    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+05:30 INFO queue\.transitions called ", line), line


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_under_systemd_every_line_starts_with_its_journald_priority(tmp_path, log_format):
    lines = run_logging(tmp_path, JOURNAL_SNIPPET, journal=True, LOG_FORMAT=log_format)

    assert lines[0].startswith("<6>") and "an info line" in lines[0]
    assert lines[1].startswith("<4>") and "a warning line" in lines[1]
    assert lines[2].startswith("<3>") and "an error line" in lines[2]
    assert all(line.startswith("<3>") for line in lines[2:]), lines  # the traceback's lines too
    if log_format == "json":
        assert json.loads(lines[0][3:])["message"] == "an info line"


def test_outside_systemd_lines_carry_no_priority_prefix(tmp_path):
    lines = run_logging(tmp_path, JOURNAL_SNIPPET, journal=False)

    assert not any(line.startswith("<") for line in lines), lines


# --- WebSocket connections ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_websockets_are_logged_with_their_kind_never_a_ticket_a_phone_or_a_session(counters, opd, patient):
    from channels.db import database_sync_to_async

    from ..patient_helpers import open_ticket_socket_with_cookie
    from ..realtime.test_consumers import open_socket
    from ..security_helpers import patient_session, staff_session

    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = records.append
    logging.getLogger("queue.ws").addHandler(handler)
    ticket, _ = await database_sync_to_async(services.join)(patient=patient, service=opd)
    patient_key = await database_sync_to_async(patient_session)(patient)
    staff_key = await database_sync_to_async(staff_session)(counters[0].held_by)
    display, _, _ = await open_socket("")
    staff_socket, _, _ = await open_socket(f"counter={counters[0].pk}", staff_key)
    phone, _, _ = await open_ticket_socket_with_cookie(patient_key, ticket.pk)
    refused, connected, _ = await open_socket(f"counter={counters[1].pk}", staff_key)
    assert not connected
    for socket in (display, staff_socket, phone):
        await socket.receive_json_from(timeout=5)
        await socket.disconnect()

    logging.getLogger("queue.ws").removeHandler(handler)
    lines = [r.getMessage() for r in records]
    assert "ws open kind=display" in lines
    assert f"ws open kind=counter target={counters[0].pk}" in lines
    assert "ws open kind=ticket" in lines
    assert "ws refused kind=counter code=4403" in lines
    assert sum(line.startswith("ws close kind=") for line in lines) == 3
    text = "\n".join(lines)
    assert all("target=" not in line for line in lines if "kind=ticket" in line)
    for secret in (ticket.queue_id, patient.phone, patient_key, staff_key):
        assert secret not in text


# --- what the documentation tells an operator to type ----------------------------------------------


def test_the_guides_never_use_sudo_which_debian_does_not_install():
    from ..liveserver import BASE_DIR

    for guide in ("docs/deployment.md", "docs/operations.md"):
        commands = [line for line in (BASE_DIR / guide).read_text().splitlines() if re.search(r"\bsudo\s+-", line)]
        assert commands == [], guide


def test_the_wall_display_is_opened_through_nginx_not_port_8000():
    from ..liveserver import BASE_DIR

    operations = (BASE_DIR / "docs/operations.md").read_text()
    section = operations[operations.index("## The wall display") :]
    first_paragraph = section.split("\n\n")[1]
    assert "https://queue.example.org/display/" in first_paragraph
    assert "loopback" in first_paragraph and "make run" in first_paragraph
