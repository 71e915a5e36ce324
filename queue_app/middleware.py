import logging
import time

from django.conf import settings
from django.contrib.messages.middleware import MessageMiddleware as DjangoMessageMiddleware
from django.contrib.messages.storage import default_storage
from django.contrib.sessions.exceptions import SessionInterrupted
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.db import DatabaseError
from django.http import JsonResponse
from django.middleware.gzip import GZipMiddleware
from django.utils import timezone, translation
from django.utils.cache import patch_vary_headers
from django.utils.functional import SimpleLazyObject, empty
from django.utils.translation import gettext as _

from .access import is_staff_user
from .errors import Busy
from .http import busy_response, wants_json
from .net import is_trusted_proxy

log = logging.getLogger("queue.middleware")


class BusyMiddleware:
    """A page whose queue change got no turn in time (services.Busy) and that does not handle it
    itself (login, logout) answers the same quick 503 "busy, try again" as the API, not a 500."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, Busy):
            return _unavailable(request)
        return None


def _unavailable(request, response=None):
    """503 "busy, try again" in the shape the client expects: JSON for the API, else plain text."""
    answered_json = response is not None and response.get("Content-Type", "").startswith("application/json")
    return busy_response(json=answered_json or wants_json(request))


def _lost_database(exc: BaseException) -> bool:
    """A connection-level database error somewhere in the chain (not Django's own plain
    DatabaseError for "the session row was deleted meanwhile", which stays a 400)."""
    while exc is not None:
        if isinstance(exc, DatabaseError) and type(exc) is not DatabaseError:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


class SessionMiddleware(DjangoSessionMiddleware):
    """Django's, except that a database lost while saving the session after the view answered
    is a clear 503 (the change itself was committed whole; a retry is safe), not a 400 page
    about a session deleted meanwhile or a bare 500."""

    def process_response(self, request, response):
        try:
            return super().process_response(request, response)
        except (DatabaseError, SessionInterrupted) as exc:
            if not _lost_database(exc):
                raise
            log.warning("session not saved: database unavailable", exc_info=True)
            return _unavailable(request, response)


class ForwardedProtoMiddleware:
    """Only a trusted proxy may say the client used HTTPS.

    SECURE_PROXY_SSL_HEADER makes Django believe `X-Forwarded-Proto: https` from whoever sends
    it. Anyone who can reach Daphne directly (a LAN port, a second listener, a misrouted proxy)
    could then pass as HTTPS: no redirect to HTTPS, and Secure cookies and CSRF origin checks
    judged as for a secure request. The header is dropped unless the socket's peer is in
    TRUSTED_PROXIES. Placed before SecurityMiddleware, the first reader of request.is_secure().
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "HTTP_X_FORWARDED_PROTO" in request.META and not is_trusted_proxy(request.META.get("REMOTE_ADDR", "")):
            del request.META["HTTP_X_FORWARDED_PROTO"]
        return self.get_response(request)


class QueuedTooLongMiddleware:
    """A request that waited longer than HTTP_QUEUE_SECONDS for a free worker is answered the
    quick 503 "busy, try again" before any work, not served late.

    Past capacity, gunicorn's workers take requests from the listen queue in turn, however long
    they waited there; the phone has long given up (or nginx has, at 60 s, with a 504) and the
    work is wasted on answers nobody reads, which makes the queue longer still. nginx stamps
    when it passed the request on (`X-Request-Start: t=<seconds since the epoch>`), believed
    from TRUSTED_PROXIES only. Without the stamp (`make run`, Daphne alone) nothing changes."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        waited = queued_seconds(request)
        limit = settings.HTTP_QUEUE_SECONDS
        if limit and waited is not None and waited > limit:
            log.warning("answered 503: the request waited %.1f s for a worker (HTTP_QUEUE_SECONDS=%s)", waited, limit)
            return _unavailable(request)
        return self.get_response(request)


# A stamp further off than this (either way) is a clock that jumped, not a wait: ignored.
CLOCK_SANITY_SECONDS = 3600


def queued_seconds(request) -> float | None:
    """How long ago the proxy passed the request on, from its X-Request-Start stamp, if trusted."""
    stamp = request.META.get("HTTP_X_REQUEST_START", "")
    if not stamp or not is_trusted_proxy(request.META.get("REMOTE_ADDR", "")):
        return None
    try:
        started = float(stamp.removeprefix("t="))
    except ValueError:
        return None
    waited = time.time() - started
    return waited if -CLOCK_SANITY_SECONDS < waited < CLOCK_SANITY_SECONDS else None


class LocaleMiddleware:
    """Django's LocaleMiddleware for a site without a language in its URLs (no i18n_patterns):
    the language cookie, else the browser's Accept-Language, else LANGUAGE_CODE.

    Django's also looks for a language prefix in every path, twice a request, and asks whether
    the URLconf has language patterns: work this site never needs, on every request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        translation.activate(translation.get_language_from_request(request))
        request.LANGUAGE_CODE = translation.get_language()
        response = self.get_response(request)
        patch_vary_headers(response, ("Accept-Language",))
        # What the view answered in: it may have switched to the patient's own language.
        response.headers.setdefault("Content-Language", translation.get_language())
        return response


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
TEXT_CHARSETS = ("utf-8", "utf8", "us-ascii", "ascii")


class FormCharsetMiddleware:
    """Refuse form bodies declared in a charset other than UTF-8 with a plain 400.

    Otherwise Django's CSRF check decodes request.POST and raises, and so do its CSRF-decorated
    default error views: the request would end as a bare 500. Browsers always send UTF-8 here.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        content_type = request.META.get("CONTENT_TYPE", "").lower()
        if content_type.startswith(FORM_TYPES) and "charset=" in content_type:
            charset = content_type.split("charset=", 1)[1].split(";", 1)[0].strip().strip('"')
            if charset not in TEXT_CHARSETS:
                return JsonResponse({"error": _("Send forms in UTF-8."), "code": "unsupported_charset"}, status=400)
        return self.get_response(request)


class SlidingSessionMiddleware:
    """Staff sessions slide (an hour from the last activity, as the seed's settings intend)
    without writing the session row on every request: it is refreshed at most once a minute.
    Patients' sessions end at a fixed time (the end of the service day) and need no refresh."""

    REFRESH_SECONDS = 60

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        # Only what the staff member really did slides it: not a refused or forged request (and
        # nothing is read again after a failure, when the database may be gone).
        if response.status_code >= 400 or not hasattr(request, "user"):
            return response
        if getattr(request, "session", None) is None or request.session.session_key is None:
            return response  # no session cookie, so nobody is logged in: the user is not loaded
        try:
            if request.user.is_authenticated:
                now = int(timezone.now().timestamp())
                if now - request.session.get("_seen", 0) >= self.REFRESH_SECONDS:
                    request.session["_seen"] = now  # modified: saved by SessionMiddleware, expiry renewed
        except DatabaseError:
            log.warning("session not refreshed: database unavailable", exc_info=True)
        return response


COMPRESSIBLE_TYPES = ("text/", "application/json", "application/javascript", "image/svg+xml")


class CompressionMiddleware(GZipMiddleware):
    """Django's gzip, with its Heal-the-BREACH padding, for text answers to anyone but staff.

    BREACH reads a secret out of compressed sizes when a response also echoes input an attacker
    chose. Patient and public answers have no such pair: the CSRF token is masked anew in every
    response, and nothing a third party can put in a request is echoed next to a patient's data.
    Staff answers do: the desk's and the admin's searches echo the term next to other people's
    names and phones, the desk hands out tickets' signed links. They stay uncompressed; they go
    to counter PCs on the clinic's own network, where size matters least. Images are compressed
    already; static files are WhiteNoise's (the .gz files collectstatic wrote), never seen here.
    """

    def process_response(self, request, response):
        if not response.get("Content-Type", "").startswith(COMPRESSIBLE_TYPES):
            return response
        if not response.streaming and len(response.content) < 200:
            return response  # too short to gain, as Django's own first check says: no user to load
        try:
            staff = is_staff_user(getattr(request, "user", None))
        except DatabaseError:  # the session could not be read (database lost): as it is, then
            return response
        if staff:
            return response
        return super().process_response(request, response)


class MessageMiddleware(DjangoMessageMiddleware):
    """Django's, with the message store built when a view or page first uses it. Most answers
    (the API, the display's and the phones' reads) never do, and building the cookie and
    session stores, with their signer, was a fixed cost on every request."""

    def process_request(self, request):
        request._messages = SimpleLazyObject(lambda: default_storage(request))

    def process_response(self, request, response):
        messages = getattr(request, "_messages", None)
        if isinstance(messages, SimpleLazyObject) and messages._wrapped is empty:
            return response  # never read nor added to: nothing to store, as Django's update() finds
        return super().process_response(request, response)
