"""Structured logs: one line per request and per queue transition, never a phone number or a code.

- `RequestLogMiddleware` writes one `queue.requests` line per HTTP request: method, path (never
  the query string, which may carry a phone), status, duration in ms and the client address.
  Daphne's own access log, when a person starts Daphne without `--verbosity 0`, shows paths the
  same way (`loggable_path`, installed by queue_system.server.mask_access_log).
- `RedactFilter` sits on every handler (settings.LOGGING) as a safety net: whatever a message,
  its arguments, extra fields or a traceback carry, E.164 phone numbers are cut to their last
  four digits and six-digit numbers (OTP codes) are blanked before anything is written.
- `JsonFormatter` writes one JSON object per line (LOG_FORMAT=json), for log shippers;
  `TextFormatter` one readable line (LOG_FORMAT=text, the default). Both write times in ISO 8601
  with their offset, and under systemd (its journal on stderr: JOURNAL_STREAM) start each line
  with the record's syslog priority, `<3>` for errors, `<4>` warnings, `<6>` info, so that
  `journalctl -p warning` finds the warnings.

This module is imported while logging is configured, before the apps are ready: no models here.
"""

import json
import logging
import os
import re
import sys
import time
from datetime import UTC, datetime

from django.utils.encoding import escape_uri_path

from .net import client_ip
from .phones import mask_phone

request_log = logging.getLogger("queue.requests")

# E.164: "+" then up to 15 digits; logs may also carry them spaced ("+91 98123 45678") or
# URL-encoded ("%2B919812345678"). Seven or more digits after the country code's first digit.
PHONE_RE = re.compile(r"(?:\+|%2[bB])\d(?:[ .\-]?\d){6,}")
# An OTP is the only six-digit number in an SMS; any six digits standing alone are blanked.
CODE_RE = re.compile(r"(?<!\d)\d{6}(?!\d)")
CODE_MASK = "******"

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def redact(text: str) -> str:
    """Cut phone numbers to their last four digits and blank six-digit codes."""
    return CODE_RE.sub(CODE_MASK, PHONE_RE.sub(lambda match: mask_phone(match.group()), text))


def extra_fields(record: logging.LogRecord) -> dict:
    return {key: value for key, value in record.__dict__.items() if key not in _RECORD_ATTRS}


class RedactFilter(logging.Filter):
    """Installed on the handlers: nothing reaches a log file or a log shipper unredacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string is the handler's to report
            return True
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            # Format the traceback now so the redacted text is what every formatter prints.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key, value in extra_fields(record).items():
            if isinstance(value, str):
                setattr(record, key, redact(value))
        return True


# The syslog priorities journald reads from "<N>" at the start of a line of a service's output.
JOURNAL_PRIORITIES = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


def writes_to_journal(stream=None) -> bool:
    """Whether `stream` (stderr) is systemd's journal: JOURNAL_STREAM names its device:inode."""
    expected = os.environ.get("JOURNAL_STREAM")
    if not expected:
        return False
    try:
        status = os.fstat((stream or sys.stderr).fileno())
    except (AttributeError, OSError, ValueError):  # not a real file (captured in tests)
        return False
    return expected == f"{status.st_dev}:{status.st_ino}"


class _JournalAware(logging.Formatter):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.journal = writes_to_journal()

    def format(self, record: logging.LogRecord) -> str:
        text = self.format_record(record)
        if not self.journal:
            return text
        # Every line: journald makes an entry of each, a traceback's included.
        prefix = f"<{JOURNAL_PRIORITIES.get(record.levelno, 6 if record.levelno < logging.WARNING else 3)}>"
        return "\n".join(prefix + line for line in text.split("\n"))

    def formatTime(self, record: logging.LogRecord, datefmt=None) -> str:  # noqa: N802 - logging's name
        """ISO 8601 with the offset: 2026-01-31T09:15:02.118+05:30."""
        return datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds")


class TextFormatter(_JournalAware):
    """`<time> <LEVEL> <logger> <message>`, one record a line (a traceback follows it)."""

    def __init__(self, fmt: str = "%(asctime)s %(levelname)s %(name)s %(message)s", **kwargs):
        super().__init__(fmt, **kwargs)

    def format_record(self, record: logging.LogRecord) -> str:
        return logging.Formatter.format(self, record)


class JsonFormatter(_JournalAware):
    """One JSON object per line: time, level, logger, message, any `extra=` fields, exc."""

    def format_record(self, record: logging.LogRecord) -> str:
        data = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in extra_fields(record).items():
            data.setdefault(key, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            data["exc"] = record.exc_text
        if record.stack_info:
            data["stack"] = self.formatStack(record.stack_info)
        # json.dumps escapes newlines, so a traceback stays on the object's one line.
        return json.dumps(data, default=str, ensure_ascii=False)


def _quiet(request, status: int) -> bool:
    # Load balancers and Docker ask /healthz/ every few seconds: a healthy answer is not news.
    return request.path == "/healthz/" and status == 200


SIGNED_LINK = re.compile(r"^/t/[^/?]+")


def loggable_path(path: str) -> str:
    """A path as logs may show it: without the query string (it may carry a phone), without a
    signed ticket link's token (a credential), phones and codes redacted, percent-encoded (a
    crafted path cannot break the line), at most 300 characters. Also used for Daphne's own
    access log (queue_system.server.mask_access_log), which is given the raw request URI."""
    path = path.split("?", 1)[0]
    return escape_uri_path(redact(SIGNED_LINK.sub("/t/…", path)))[:300]


class RequestLogMiddleware:
    """One line per request: `method=GET path=/display/ status=200 duration_ms=3.1 ip=…`.

    First in MIDDLEWARE, so the duration covers every other middleware and the view.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.monotonic()
        response = None
        try:
            response = self.get_response(request)
            return response
        finally:
            status = response.status_code if response is not None else 500
            self.log(request, status, (time.monotonic() - started) * 1000)

    def log(self, request, status: int, duration_ms: float) -> None:
        level = logging.DEBUG if _quiet(request, status) else logging.WARNING if status >= 500 else logging.INFO
        if not request_log.isEnabledFor(level):
            return
        fields = {
            # Percent-encoded, so a crafted path cannot break the line; no query string.
            "method": escape_uri_path(request.method or "-")[:16],
            "path": loggable_path(request.path),
            "status": status,
            "duration_ms": round(duration_ms, 1),
            "client_ip": client_ip(request),
        }
        request_log.log(
            level,
            "method=%s path=%s status=%s duration_ms=%s ip=%s",
            *fields.values(),
            extra=fields,
        )
