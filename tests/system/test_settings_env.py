"""Configuration from the environment: production refuses to start half-configured, says why in
one line, and is HTTPS-secure by default. Each case runs Django in a fresh process with a clean
environment (no QUEUE_TESTING, no pytest in sys.modules, no .env file)."""

import json
import subprocess
import sys

import pytest
from django.urls import Resolver404, resolve

from queue_system.settings import database_from_url

from ..liveserver import BASE_DIR, clean_env, manage
from ..liveserver import documented_production_env as production_env


def settings_in(env: dict[str, str], *names: str) -> dict:
    """The values of settings `names` as a fresh process with `env` sees them."""
    code = (
        "import json; from django.conf import settings as s; "
        f"print(json.dumps({{n: getattr(s, n) for n in {list(names)!r}}}, default=str))"
    )
    result = manage("shell", "--no-imports", "-c", code, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def assert_one_line_naming(result, variable: str) -> None:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("Configuration error: ")
    assert variable in lines[0]


# --- production refuses to start half-configured ---------------------------------------------


def test_check_deploy_passes_with_the_documented_production_environment():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_passes_with_the_console_sms_backend_instead_of_twilio():
    env = production_env(SMS_BACKEND="console", TWILIO_ACCOUNT_SID=None, TWILIO_AUTH_TOKEN=None)
    assert "TWILIO_AUTH_TOKEN" not in env

    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    assert result.returncode == 0, result.stdout + result.stderr


def test_check_deploy_fails_when_https_is_turned_off_in_production():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env(SESSION_COOKIE_SECURE="0"))

    assert result.returncode != 0
    # W010 (sessions app) rather than W012 (sessions middleware): Django looks for its own class
    # path in MIDDLEWARE and ours is a subclass (queue_app.middleware.SessionMiddleware).
    assert "security.W010" in result.stderr or "security.W012" in result.stderr


def test_debug_off_refuses_a_missing_secret_key():
    env = production_env()
    del env["SECRET_KEY"]

    assert_one_line_naming(manage("check", env=env), "SECRET_KEY")


def test_debug_off_refuses_missing_allowed_hosts():
    env = production_env()
    del env["ALLOWED_HOSTS"]

    assert_one_line_naming(manage("check", env=env), "ALLOWED_HOSTS")


def test_twilio_without_its_credentials_is_refused_in_production():
    env = production_env()
    del env["TWILIO_AUTH_TOKEN"]

    assert_one_line_naming(manage("check", env=env), "TWILIO_AUTH_TOKEN")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DEBUG", "maybe"),
        ("DATABASE_URL", "postgres://queue:secret@127.0.0.1:5432/queue"),
        ("TIME_ZONE", "Mars/Olympus_Mons"),
        ("DISPLAY_NAME_MODE", "x"),
        ("LOG_FORMAT", "xml"),
        ("REDIS_URL", "http://127.0.0.1:6379"),
        ("CSRF_TRUSTED_ORIGINS", "queue.example.org"),
        ("SECURE_HSTS_SECONDS", "a year"),
        ("SMS_BACKEND", "pigeon"),
    ],
)
def test_a_misconfiguration_stops_with_one_line_naming_the_variable(variable, value):
    assert_one_line_naming(manage("check", env=production_env(**{variable: value})), variable)


def test_daphne_stops_with_one_line_naming_the_variable(tmp_path):
    """The server the Dockerfile and systemd start fails the same way, before listening."""
    daphne_on_uvloop = [sys.executable, "-m", "queue_system.asgi_server"]
    result = subprocess.run(
        [*daphne_on_uvloop, "--verbosity", "0", "--port", "0", "queue_system.asgi:application"],
        cwd=BASE_DIR,
        env=production_env(TIME_ZONE="Mars/Olympus_Mons"),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert_one_line_naming(result, "TIME_ZONE")


# --- HTTPS settings ----------------------------------------------------------------------------


def test_production_is_https_secure_by_default():
    env = production_env()
    for name in (
        "SECURE_SSL_REDIRECT",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    ):
        env.pop(name)  # the defaults, not the documented values, are under test

    values = settings_in(
        env,
        "SECURE_SSL_REDIRECT",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_PROXY_SSL_HEADER",
        "CSRF_TRUSTED_ORIGINS",
        "SESSION_COOKIE_HTTPONLY",
    )

    assert values == {
        "SECURE_SSL_REDIRECT": True,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "CSRF_TRUSTED_ORIGINS": ["https://queue.example.org"],
        "SESSION_COOKIE_HTTPONLY": True,
    }


def test_a_plain_http_lan_install_can_turn_the_https_settings_off():
    env = production_env(
        SECURE_SSL_REDIRECT="0", SESSION_COOKIE_SECURE="0", CSRF_COOKIE_SECURE="0", SECURE_HSTS_SECONDS="0"
    )
    del env["TRUSTED_PROXIES"]

    values = settings_in(
        env, "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS"
    )

    assert values == {
        "SECURE_SSL_REDIRECT": False,
        "SESSION_COOKIE_SECURE": False,
        "CSRF_COOKIE_SECURE": False,
        "SECURE_HSTS_SECONDS": 0,
    }
    assert settings_in(env, "SECURE_PROXY_SSL_HEADER") == {"SECURE_PROXY_SSL_HEADER": None}


def test_production_serves_static_files_through_whitenoise_with_hashed_names():
    values = settings_in(production_env(), "MIDDLEWARE", "STORAGES")

    middleware = values["MIDDLEWARE"]
    assert middleware.index("whitenoise.middleware.WhiteNoiseMiddleware") == (
        middleware.index("django.middleware.security.SecurityMiddleware") + 1
    )
    assert values["STORAGES"]["staticfiles"]["BACKEND"] == "whitenoise.storage.CompressedManifestStaticFilesStorage"


def test_mysql_connections_persist_only_where_gunicorn_asks_for_it():
    """PERF-NOTES: CONN_MAX_AGE > 0 under Daphne's HTTP leaks one connection per request (a new
    thread each); gunicorn's workers keep their threads, and deploy/gunicorn.conf.py asks for 300 s."""
    assert database_from_url("mysql://queue:pw@127.0.0.1:3306/queue")["CONN_MAX_AGE"] == 0
    daphne = settings_in(production_env(), "DATABASES")
    assert daphne["DATABASES"]["default"]["CONN_MAX_AGE"] == 0
    gunicorn = settings_in(production_env(DB_CONN_MAX_AGE="300"), "DATABASES")
    assert gunicorn["DATABASES"]["default"]["CONN_MAX_AGE"] == 300
    assert gunicorn["DATABASES"]["default"]["CONN_HEALTH_CHECKS"] is True  # a restarted MariaDB is noticed
    config = (BASE_DIR / "deploy/gunicorn.conf.py").read_text()
    assert 'os.environ.setdefault("DB_CONN_MAX_AGE", "300")' in config


# --- debug URLs -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_debug_urls_answer_404_when_debug_is_off(client, settings):
    assert settings.DEBUG is False
    for path in ("/debug/counters/", "/debug/session/"):
        with pytest.raises(Resolver404):
            resolve(path)
        assert client.get(path).status_code == 404


@pytest.mark.parametrize(("debug", "routed"), [("1", True), ("0", False)])
def test_debug_urls_exist_only_when_debug_is_on(debug, routed):
    code = (
        "from django.urls import resolve, Resolver404\n"
        "for path in ('/debug/counters/', '/debug/session/'):\n"
        "    try:\n"
        "        resolve(path); print(path, 'routed')\n"
        "    except Resolver404:\n"
        "        print(path, 'missing')\n"
    )
    env = production_env(DEBUG=debug)

    result = manage("shell", "--no-imports", "-c", code, env=env)

    assert result.returncode == 0, result.stderr
    expected = "routed" if routed else "missing"
    assert result.stdout.split() == ["/debug/counters/", expected, "/debug/session/", expected]


def test_two_installs_sharing_one_redis_get_their_own_prefix_by_default():
    """The /N of REDIS_URL numbers key spaces; pub/sub channels are shared by all of them, so
    two installs on one Redis would hear each other's events without a prefix of their own."""
    prefixes = [
        settings_in(
            clean_env(
                DEBUG="1",
                DATABASE_URL=f"mysql://queue:x@127.0.0.1:3306/{name}",
                REDIS_URL=f"redis://127.0.0.1:6379/{number}",
            ),
            "CHANNEL_LAYERS",
            "CACHES",
        )
        for number, name in enumerate(("clinic_north", "clinic_south"))
    ]

    layers = [p["CHANNEL_LAYERS"]["default"]["CONFIG"]["prefix"] for p in prefixes]
    assert layers == ["queue.clinic_north", "queue.clinic_south"]
    assert [p["CACHES"]["default"]["KEY_PREFIX"] for p in prefixes] == layers
