"""Settings helpers: good values parse, bad ones stop start-up with a message naming the variable."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from queue_system import settings as s


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("On", True), ("0", False), ("no", False)])
def test_envbool_reads_common_spellings(monkeypatch, value, expected):
    monkeypatch.setenv("X_FLAG", value)
    assert s.envbool("X_FLAG", "0") is expected


def test_envbool_refuses_maybe_naming_the_variable(monkeypatch):
    monkeypatch.setenv("DEBUG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="DEBUG must be one of"):
        s.envbool("DEBUG", "0")


def test_envint_refuses_words_and_small_numbers(monkeypatch):
    monkeypatch.setenv("OTP_TTL_SECONDS", "five")
    with pytest.raises(ImproperlyConfigured, match="OTP_TTL_SECONDS must be a whole number"):
        s.envint("OTP_TTL_SECONDS", "300")
    monkeypatch.setenv("OTP_TTL_SECONDS", "3")
    with pytest.raises(ImproperlyConfigured, match="at least 30"):
        s.envint("OTP_TTL_SECONDS", "300", minimum=30)


def test_envchoice_lists_the_choices(monkeypatch):
    monkeypatch.setenv("DISPLAY_NAME_MODE", "initials")
    with pytest.raises(ImproperlyConfigured, match="DISPLAY_NAME_MODE must be one of masked, full, none"):
        s.envchoice("DISPLAY_NAME_MODE", "masked", ("masked", "full", "none"))


def test_sqlite_url_gives_immediate_transactions_and_a_busy_timeout():
    db = s.database_from_url("sqlite:///var/app.sqlite3")
    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert db["NAME"].endswith("var/app.sqlite3")
    assert db["OPTIONS"]["transaction_mode"] == "IMMEDIATE" and db["OPTIONS"]["timeout"] >= 5


def test_absolute_sqlite_path_is_kept():
    assert s.database_from_url("sqlite:////srv/queue/db.sqlite3")["NAME"] == "/srv/queue/db.sqlite3"


def test_mysql_url_selects_mysqlclient_with_strict_mode_and_utf8mb4():
    db = s.database_from_url("mysql://queue:p%40ss@db.local:3307/queue_system")
    assert db["ENGINE"] == "django.db.backends.mysql"
    assert (db["USER"], db["PASSWORD"], db["HOST"], db["PORT"], db["NAME"]) == (
        "queue",
        "p@ss",
        "db.local",
        "3307",
        "queue_system",
    )
    assert db["OPTIONS"]["charset"] == "utf8mb4"
    assert "STRICT_TRANS_TABLES" in db["OPTIONS"]["init_command"]
    assert db["CONN_MAX_AGE"] == 0  # one connection per ASGI request thread would leak otherwise


@pytest.mark.parametrize("url", ["postgres://u@h/db", "mysql://u@h:3306/", "sqlite://", "nonsense"])
def test_unknown_or_incomplete_database_urls_are_refused(url):
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL"):
        s.database_from_url(url)
