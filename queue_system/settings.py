"""Settings for the queue management system: one file, everything from the environment.

Each variable is read through a small typed helper that stops start-up with one line naming
the variable when its value is wrong (healthchecks style). A `.env` file beside manage.py is
read first if present; real environment variables win over it.
"""

import os
import sys
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

try:
    from dotenv import load_dotenv
except ImportError:  # pragma: no cover - python-dotenv is in requirements.txt
    load_dotenv = None
if load_dotenv and os.environ.get("QUEUE_IGNORE_DOTENV") != "1":
    load_dotenv(BASE_DIR / ".env", override=False)


def envstr(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def envbool(name: str, default: str) -> bool:
    value = os.environ.get(name, default).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ImproperlyConfigured(f"{name} must be one of 1/0/true/false/yes/no/on/off, got {value!r}")


def envint(name: str, default: str, *, minimum: int = 0) -> int:
    value = os.environ.get(name, default).strip()
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, got {value!r}") from None
    if number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {number}")
    return number


def envlist(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def envchoice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.environ.get(name, default).strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def database_from_url(url: str) -> dict:
    """Turn DATABASE_URL (sqlite:///path or mysql://user:pass@host:port/name) into a Django DB."""
    parsed = urlparse(url)
    scheme = parsed.scheme.lower()
    if scheme == "sqlite":
        # sqlite:///relative.db and sqlite:////absolute/path.db, as dj-database-url reads them.
        path = unquote(parsed.path[1:] if parsed.path.startswith("/") else parsed.path)
        if not path:
            raise ImproperlyConfigured("DATABASE_URL for SQLite needs a file: sqlite:///db.sqlite3")
        name = path if os.path.isabs(path) else str(BASE_DIR / path)
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": name,
            "OPTIONS": {
                # IMMEDIATE: a writer takes the lock at BEGIN, so two serve_next calls queue
                # up instead of both reading and then one failing with "database is locked".
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            "TEST": {"NAME": os.environ.get("SQLITE_TEST_NAME") or None},
        }
    if scheme in ("mysql", "mariadb"):
        if not parsed.path.strip("/"):
            raise ImproperlyConfigured("DATABASE_URL for MySQL needs a database name: mysql://user:pass@host:3306/name")
        options = {
            "charset": "utf8mb4",
            "init_command": "SET sql_mode='STRICT_TRANS_TABLES'",
            "isolation_level": "read committed",
            # An unreachable database answers in seconds (health check 503), never hangs.
            "connect_timeout": 5,
        }
        query = parse_qs(parsed.query)
        if "ssl_ca" in query:
            options["ssl"] = {"ca": query["ssl_ca"][0]}
        return {
            "ENGINE": "django.db.backends.mysql",
            "NAME": unquote(parsed.path.strip("/")),
            "USER": unquote(parsed.username or ""),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": parsed.hostname or "127.0.0.1",
            "PORT": str(parsed.port or 3306),
            "OPTIONS": options,
            # Persistent only under gunicorn (DB_CONN_MAX_AGE, below): under Daphne each request
            # has a new thread and would leave its connection behind.
            "CONN_MAX_AGE": 0,
            "TEST": {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"},
        }
    raise ImproperlyConfigured(
        f"DATABASE_URL must start with sqlite:/// or mysql://, got scheme {scheme or '(none)'!r}"
    )


DEBUG = envbool("DEBUG", "0")
# The test suite (pytest, or a live server a test starts with QUEUE_TESTING=1) gets development
# defaults without DEBUG: Django's test runner turns DEBUG off anyway.
TESTING = envbool("QUEUE_TESTING", "0") or "pytest" in sys.modules
DEV_DEFAULTS = DEBUG or TESTING

SECRET_KEY = envstr("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG and not TESTING:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off (generate one with "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))')"
        )
    SECRET_KEY = "dev-only-insecure-key-never-use-in-production-0123456789abcdef"

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "*" if DEV_DEFAULTS else "")
if not DEBUG and not TESTING and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must list the host names this server answers to when DEBUG is off")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")
for origin in CSRF_TRUSTED_ORIGINS:
    if not origin.startswith(("http://", "https://")):
        raise ImproperlyConfigured(f"CSRF_TRUSTED_ORIGINS entries must start with http:// or https://, got {origin!r}")

INSTALLED_APPS = [
    "daphne",  # first: `runserver` then serves ASGI (HTTP and WebSocket on one port)
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "channels",
    "axes",
    "queue_app",
]

MIDDLEWARE = [
    "queue_app.logs.RequestLogMiddleware",  # first: its duration covers everything below
    "queue_app.middleware.ForwardedProtoMiddleware",  # before anything asks request.is_secure()
    "queue_app.middleware.QueuedTooLongMiddleware",  # before any work: a late request gets a quick 503
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before anything that reads or changes the body (Django's advice); below WhiteNoise, which
    # serves the .gz files collectstatic wrote. Not for staff answers: BREACH (see there).
    "queue_app.middleware.CompressionMiddleware",
    "queue_app.middleware.FormCharsetMiddleware",  # before anything reads request.POST
    "queue_app.middleware.SessionMiddleware",  # Django's, with a 503 when the database is lost
    "queue_app.middleware.LocaleMiddleware",  # Django's, without URL language prefixes
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "queue_app.staff_devices.StaffDeviceMiddleware",  # trusts the browser a staff member logged in on
    "queue_app.middleware.SlidingSessionMiddleware",
    "queue_app.middleware.MessageMiddleware",  # Django's, with the store built on first use
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "queue_app.middleware.BusyMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "queue_system.urls"
WSGI_APPLICATION = "queue_system.wsgi.application"
ASGI_APPLICATION = "queue_system.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # static/ last, for {% include "css/app.css" %}: the patient pages inline the shared base
        # stylesheet, so a phone waits for one stylesheet, not two. Static files hold no template
        # syntax, so an included one is its text as it is.
        "DIRS": [BASE_DIR / "templates", BASE_DIR / "static"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "queue_app.context_processors.facility",
            ],
        },
    },
]

DATABASES = {"default": database_from_url(envstr("DATABASE_URL", "sqlite:///db.sqlite3"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "queue_app.Staff"

REDIS_URL = envstr("REDIS_URL")


def default_redis_prefix(database: dict) -> str:
    """`queue.<database name>`: two installs sharing one Redis stay apart without a setting. The
    /N of REDIS_URL would not do it: it separates keys, but pub/sub channels span every number."""
    name = database["NAME"]
    if database["ENGINE"].endswith("sqlite3"):
        name = Path(name).stem
    return "queue." + "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "-" for c in str(name))[:40]


REDIS_PREFIX = envstr("REDIS_PREFIX") or default_redis_prefix(DATABASES["default"])
if REDIS_URL:
    if not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured(f"REDIS_URL must start with redis://, rediss:// or unix://, got {REDIS_URL!r}")
    # The pub/sub layer sends a group message once to Redis, not once per member, so a display
    # group of thousands of phones costs one PUBLISH and nothing is dropped by per-channel caps.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": REDIS_PREFIX},
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": REDIS_PREFIX,
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    # Rate-limit counters must be shared by every server process: the database is.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "queue_cache",
        }
    }

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/staff/login/"

# Session settings from the seed (staff): 1 hour, sliding, ended at browser close.
# A patient's session is given an expiry at the end of the service day when they verify.
SESSION_COOKIE_NAME = "queuesystem_staff_session"
SESSION_COOKIE_AGE = 3600
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
# The seed sets SESSION_SAVE_EVERY_REQUEST = True for the sliding hour; that is one database
# write per request. queue_app.middleware.SlidingSessionMiddleware slides staff sessions the
# same way, refreshing them at most once a minute.
SESSION_SAVE_EVERY_REQUEST = False
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# The browser's Accept-Language picks among these (LocaleMiddleware); each is named in its own
# language in the picker. Catalogues are in locale/ (compiled .mo files are committed).
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("hi", "हिन्दी"), ("ar", "العربية"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = envstr("TIME_ZONE", "UTC")
try:
    import zoneinfo

    zoneinfo.ZoneInfo(TIME_ZONE)
except (zoneinfo.ZoneInfoNotFoundError, ValueError):
    raise ImproperlyConfigured(f"TIME_ZONE must be an IANA zone name like Asia/Kolkata, got {TIME_ZONE!r}") from None
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEV_DEFAULTS
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Development and tests serve static files straight from static/ (no collectstatic needed).
WHITENOISE_USE_FINDERS = DEV_DEFAULTS
WHITENOISE_AUTOREFRESH = DEV_DEFAULTS

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "queue_app.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Queue Management System API",
    "DESCRIPTION": "Patient, staff and display endpoints. Errors are {error, code} with a 4xx status. Besides "
    "the answers each operation lists, any request may get 413 (a body over 64 KiB), 415 (a body that is "
    "not JSON, a form or multipart) or 503 (busy or briefly unavailable: try again after Retry-After).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "ENUM_NAME_OVERRIDES": {
        "CounterStatusEnum": "queue_app.models.Counter.Status",
        "TicketStatusEnum": "queue_app.models.Ticket.Status",
    },
    # queue_app.urls.AnyIdConverter: ids are integers; other segments are answered 404 by the view.
    "PATH_CONVERTER_OVERRIDES": {"id": int},
}
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024  # no endpoint takes more than a few fields

# django-axes: failed staff logins are counted per account across every address (and per address
# across accounts, against password spraying), and lock out browsers that never logged in to that
# account; a browser that did (queue_app.staff_devices) is not locked by them. Keyed on username +
# address instead, anyone behind the clinic's NAT could lock a colleague out, and guesses spread
# over many addresses were never stopped.
AXES_FAILURE_LIMIT = envint("AXES_FAILURE_LIMIT", "10", minimum=1)
AXES_COOLOFF_TIME = envint("AXES_COOLOFF_MINUTES", "15", minimum=1) / 60  # hours
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_WHITELIST_CALLABLE = "queue_app.staff_devices.axes_whitelist"
# A success does not wipe the failures: the person who logs in is not the one who failed.
AXES_RESET_ON_SUCCESS = False
# Failed logins a trusted browser may make before it is treated like any other, and how long a
# browser stays trusted after its last login to an account.
STAFF_DEVICE_FAILURE_LIMIT = envint("STAFF_DEVICE_FAILURE_LIMIT", "5", minimum=1)
STAFF_DEVICE_TRUST_DAYS = envint("STAFF_DEVICE_TRUST_DAYS", "90", minimum=1)
AXES_ENABLE_ACCESS_FAILURE_LOG = False
AXES_CLIENT_IP_CALLABLE = "queue_app.net.axes_client_ip"
AXES_LOCKOUT_CALLABLE = "queue_app.views.staff.lockout_response"
AXES_VERBOSE = False

# --- The product's own settings -------------------------------------------------------------
FACILITY_NAME = envstr("FACILITY_NAME", "City Health Clinic")
PUBLIC_BASE_URL = envstr("PUBLIC_BASE_URL").rstrip("/")
if PUBLIC_BASE_URL and not PUBLIC_BASE_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured(f"PUBLIC_BASE_URL must start with http:// or https://, got {PUBLIC_BASE_URL!r}")
DISPLAY_NAME_MODE = envchoice("DISPLAY_NAME_MODE", "masked", ("masked", "full", "none"))
DISPLAY_VOICE_LANG = envstr("DISPLAY_VOICE_LANG", "en-US")
DISPLAY_ANNOUNCE_TEMPLATE = envstr("DISPLAY_ANNOUNCE_TEMPLATE", "Ticket {ticket}, {name}, please go to {counter}")
DISPLAY_ANNOUNCE_REPEAT = envint("DISPLAY_ANNOUNCE_REPEAT", "3", minimum=1)
# The display speaks each call in these languages, one after the other. Codes that are not
# shipped languages are dropped, with a log line, by queue_app.languages.announce_languages().
# Unset: the language of DISPLAY_VOICE_LANG (en-US: en), so a clinic that chose a voice keeps it.
ANNOUNCE_LANGUAGES = envlist("ANNOUNCE_LANGUAGES", DISPLAY_VOICE_LANG.split("-")[0].lower() or "en")
# Counters that are closed (or on break) keep a row on the wall display, dimmed, or are left out.
DISPLAY_HIDE_CLOSED = envbool("DISPLAY_HIDE_CLOSED", "false")
TRUSTED_PROXIES = envlist("TRUSTED_PROXIES")
DEFAULT_PHONE_REGION = envstr("DEFAULT_PHONE_REGION", "IN").upper()
ALLOWED_PHONE_REGIONS = [r.upper() for r in envlist("ALLOWED_PHONE_REGIONS", DEFAULT_PHONE_REGION)]
DEFAULT_SERVICE_MINUTES = envint("DEFAULT_SERVICE_MINUTES", "5", minimum=1)
# Reports: the longest range the page shows, and the longest one the CSV exports stream.
REPORTS_MAX_DAYS = envint("REPORTS_MAX_DAYS", "92", minimum=1)
REPORTS_EXPORT_MAX_DAYS = envint("REPORTS_EXPORT_MAX_DAYS", "400", minimum=1)
# A counter whose dashboard has shown no sign of life (socket pings every 25 s, any action) for
# this long is released as at logout, so patients are not sent to a counter nobody staffs.
COUNTER_IDLE_MINUTES = envint("COUNTER_IDLE_MINUTES", "10", minimum=1)
# Each server process expires earlier days' tickets and releases idle counters this often, so a
# single process needs no cron (queue_app.background). 0: off, e.g. where a separate
# `manage.py housekeeping --every 60` does it; off in tests, which start it themselves.
HOUSEKEEPING_INTERVAL_SECONDS = envint("HOUSEKEEPING_INTERVAL_SECONDS", "0" if TESTING else "60")
# The staff dashboard lists this many waiting patients per counter (and counts all of them), so a
# queue thousands long costs every change and every screen no more than a short one.
WAITING_LIST_LIMIT = envint("WAITING_LIST_LIMIT", "50", minimum=1)
# Phones follow their place in line through the queue.<service> position list. Inside a server it
# is sent at most once per this many milliseconds per service and process (the latest state,
# read after the commit, outside the queue lock); personal news (called, moved) is never delayed.
QUEUE_POSITION_INTERVAL_MS = envint("QUEUE_POSITION_INTERVAL_MS", "500")
# At SIGTERM a Daphne process finishes the HTTP requests in progress (`make run`), and sends
# their events, for at most this long; new queue changes are refused meanwhile (503, try again).
# gunicorn's graceful_timeout (deploy/gunicorn.conf.py) is the same. Keep it below the service
# manager's stop timeout (TimeoutStopSec=20, Docker's 10 s default).
SHUTDOWN_GRACE_SECONDS = envint("SHUTDOWN_GRACE_SECONDS", "8", minimum=1)
# Past capacity: a request nginx stamped (X-Request-Start) more than this many seconds ago is
# answered 503 "busy, try again" before any work (middleware.QueuedTooLongMiddleware); 0: never.
HTTP_QUEUE_SECONDS = envint("HTTP_QUEUE_SECONDS", "10")
# Seconds a MariaDB connection is kept between requests (pinged before reuse). gunicorn
# (deploy/gunicorn.conf.py) sets 300: a worker's threads live as long as the worker. 0 for
# Daphne, which runs each HTTP request on a new thread: a kept connection would be left behind.
DB_CONN_MAX_AGE = envint("DB_CONN_MAX_AGE", "0")
if DB_CONN_MAX_AGE and DATABASES["default"]["ENGINE"] == "django.db.backends.mysql":
    DATABASES["default"].update(CONN_MAX_AGE=DB_CONN_MAX_AGE, CONN_HEALTH_CHECKS=True)

# OTP limits (OWASP ASVS 6.5/6.6, Twilio Verify defaults).
OTP_TTL_SECONDS = envint("OTP_TTL_SECONDS", "300", minimum=30)
OTP_MAX_ATTEMPTS = envint("OTP_MAX_ATTEMPTS", "5", minimum=1)
OTP_RESEND_SECONDS = envint("OTP_RESEND_SECONDS", "30", minimum=0)
OTP_SENDS_PER_PHONE = envint("OTP_SENDS_PER_PHONE", "5", minimum=1)  # per 10 minutes
# Per 10 minutes and client network (IPv4 /24, IPv6 /56: queue_app.net); clinics share Wi-Fi.
OTP_SENDS_PER_IP = envint("OTP_SENDS_PER_IP", "60", minimum=1)
OTP_CHECKS_PER_IP = envint("OTP_CHECKS_PER_IP", "120", minimum=1)
SMS_HOURLY_CAP = envint("SMS_HOURLY_CAP", "1000", minimum=1)
# The part of SMS_HOURLY_CAP only browsers sending to a phone they verified before may use, so
# anonymous senders who exhaust the rest (SMS pumping, or an attack on the clinic) do not lock
# returning patients out.
SMS_HOURLY_RESERVE_PERCENT = envint("SMS_HOURLY_RESERVE_PERCENT", "20", minimum=0)
if SMS_HOURLY_RESERVE_PERCENT > 100:
    raise ImproperlyConfigured(f"SMS_HOURLY_RESERVE_PERCENT must be at most 100, got {SMS_HOURLY_RESERVE_PERCENT}")
# Active tickets of today one phone may hold across services (itself and family members) when
# joining from the phone; reception may give more, the staff member vouching for them.
MAX_ACTIVE_TICKETS_PER_PHONE = envint("MAX_ACTIVE_TICKETS_PER_PHONE", "5", minimum=1)

# Patient texts (turn near, called, moved: queue_app/outbox.py). Sent by a thread of every server
# process right after the change commits; `manage.py send_notifications` retries what is left.
NOTIFY_SENDER_THREAD = envbool("NOTIFY_SENDER_THREAD", "0" if TESTING else "1")
NOTIFY_SWEEP_SECONDS = envint("NOTIFY_SWEEP_SECONDS", "30", minimum=1)  # the thread's own retry round
NOTIFY_CLAIM_SECONDS = envint("NOTIFY_CLAIM_SECONDS", "60", minimum=20)  # a sender's hold on a message
NOTIFY_RETRY_SECONDS = envint("NOTIFY_RETRY_SECONDS", "15", minimum=1)  # first retry; doubles after
NOTIFY_MAX_ATTEMPTS = envint("NOTIFY_MAX_ATTEMPTS", "5", minimum=1)
NOTIFY_GIVE_UP_MINUTES = envint("NOTIFY_GIVE_UP_MINUTES", "15", minimum=1)  # later, a text misleads
NOTIFY_SMS_PER_HOUR = envint("NOTIFY_SMS_PER_HOUR", "500", minimum=0)  # cost guard, apart from OTP caps
NOTIFY_SMS_PER_DAY = envint("NOTIFY_SMS_PER_DAY", "3000", minimum=0)

SMS_BACKENDS = {
    "console": "queue_app.sms.console.SmsBackend",
    "file": "queue_app.sms.file.SmsBackend",
    "locmem": "queue_app.sms.locmem.SmsBackend",
    "twilio": "queue_app.sms.twilio.SmsBackend",
}
SMS_BACKEND = envstr("SMS_BACKEND", "locmem" if TESTING else "console" if DEBUG else "twilio").strip()
if SMS_BACKEND in SMS_BACKENDS:
    SMS_BACKEND = SMS_BACKENDS[SMS_BACKEND]
elif "." not in SMS_BACKEND:
    raise ImproperlyConfigured(
        f"SMS_BACKEND must be console, file, locmem, twilio or a dotted path, got {SMS_BACKEND!r}"
    )
SMS_FILE_PATH = envstr("SMS_FILE_PATH", str(BASE_DIR / "var" / "sms"))
TWILIO_ACCOUNT_SID = envstr("TWILIO_ACCOUNT_SID")
TWILIO_AUTH_TOKEN = envstr("TWILIO_AUTH_TOKEN")
TWILIO_PHONE_NUMBER = envstr("TWILIO_PHONE_NUMBER")
TWILIO_TIMEOUT_SECONDS = envint("TWILIO_TIMEOUT_SECONDS", "10", minimum=1)
if NOTIFY_CLAIM_SECONDS <= TWILIO_TIMEOUT_SECONDS:
    # A claim running out while Twilio still answers would let a second sender send it again.
    raise ImproperlyConfigured("NOTIFY_CLAIM_SECONDS must be longer than TWILIO_TIMEOUT_SECONDS")
if SMS_BACKEND == SMS_BACKENDS["twilio"] and not DEBUG and not TESTING:
    missing = [n for n in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_PHONE_NUMBER") if not os.environ.get(n)]
    if missing:
        raise ImproperlyConfigured(
            f"SMS_BACKEND is twilio but {', '.join(missing)} not set (or set SMS_BACKEND=console/file)"
        )

# --- HTTPS: secure by default when DEBUG is off, each overridable (e.g. a plain-HTTP LAN) ----
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", "0" if DEV_DEFAULTS else "1")
SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE", "0" if DEV_DEFAULTS else "1")
CSRF_COOKIE_SECURE = envbool("CSRF_COOKIE_SECURE", "0" if DEV_DEFAULTS else "1")
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", "0" if DEV_DEFAULTS else "31536000")
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", "0" if DEV_DEFAULTS else "1")
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", "0")
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXIES else None
SECURE_REDIRECT_EXEMPT = [r"^healthz/$"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_COOKIE_HTTPONLY = False  # the pages' JavaScript reads it to send X-CSRFToken

LOG_LEVEL = envchoice("LOG_LEVEL", "info", ("debug", "info", "warning", "error")).upper()
# text: one readable line per record; json: one JSON object per line, for log shippers.
LOG_FORMAT = envchoice("LOG_FORMAT", "text", ("text", "json"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # On the handler, so every record is redacted (phones to the last 4 digits, 6-digit codes
    # blanked) whichever logger it came from, the libraries' included.
    "filters": {"redact": {"()": "queue_app.logs.RedactFilter"}},
    "formatters": {
        "text": {"()": "queue_app.logs.TextFormatter"},
        "json": {"()": "queue_app.logs.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["redact"]}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        # queue.requests (one line per request), queue.transitions (one per ticket change), ...
        "queue": {"level": LOG_LEVEL, "propagate": True},
        # 4xx are already in the request line; 5xx keep Django's traceback.
        "django.request": {"level": "ERROR", "propagate": True},
        # Host-header scans are answered 400 and logged by the request line, without a traceback.
        "django.security.DisallowedHost": {"level": "CRITICAL", "propagate": True},
        "daphne": {"level": "INFO", "propagate": True},  # start-up and listening lines
    },
}

if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
