"""The rate limits' database cache (no REDIS_URL) works after `migrate` alone, and a missing
table is named by a system check instead of every OTP send answering 503 "busy"."""

import importlib
import sqlite3

import pytest
from django.apps import apps
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection

from queue_app.checks import check_cache_table

from ..conftest import ON_REDIS
from ..liveserver import clean_env, manage

pytestmark = pytest.mark.skipif(ON_REDIS, reason="with REDIS_URL the cache is Redis, which has no table")

create_cache_table = importlib.import_module("queue_app.migrations.0004_cache_table").create_cache_table


@pytest.mark.django_db
def test_the_rate_limit_cache_works_in_a_migrated_database():
    cache.set("otp-sends", 3, 60)
    assert cache.get("otp-sends") == 3
    assert check_cache_table(databases=["default"]) == []


@pytest.mark.django_db(transaction=True)
def test_a_dropped_cache_table_is_reported_and_the_migration_creates_it_again():
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {connection.ops.quote_name('queue_cache')}")
    try:
        (error,) = check_cache_table(databases=["default"])
        assert error.id == "queue_app.E001" and "createcachetable" in error.hint
        with connection.schema_editor() as editor:
            create_cache_table(apps, editor)
        assert check_cache_table(databases=["default"]) == []
    finally:
        call_command("createcachetable")  # whatever failed above, later tests need the table


def test_the_check_looks_at_no_database_unless_asked():
    # `manage.py check --deploy` on a machine with no database must still pass.
    assert check_cache_table(databases=None) == []


def test_migrate_alone_creates_the_cache_table_and_check_names_it_when_missing(tmp_path):
    path = tmp_path / "fresh.sqlite3"
    env = clean_env(DEBUG="0", QUEUE_TESTING="1", DATABASE_URL=f"sqlite:///{path}")

    migrated = manage("migrate", "--noinput", "-v0", env=env, timeout=300)
    assert migrated.returncode == 0, migrated.stderr
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT name FROM sqlite_master WHERE name = 'queue_cache'").fetchone()
        db.execute("DROP TABLE queue_cache")
    db.close()

    checked = manage("check", "--database", "default", env=env)
    assert checked.returncode == 1
    assert "queue_app.E001" in checked.stderr and "manage.py createcachetable" in checked.stderr
