"""System checks of what the documented install must leave working."""

from django.conf import settings
from django.core import checks
from django.core.cache import caches
from django.core.cache.backends.db import BaseDatabaseCache
from django.db import connections, router
from django.db.migrations.recorder import MigrationRecorder

CACHE_TABLE_MIGRATION = ("queue_app", "0004_cache_table")


@checks.register(checks.Tags.database, checks.Tags.caches)
def check_cache_table(app_configs=None, databases=None, **kwargs):
    """A database cache without its table fails every rate-limited request (OTP codes) with 503
    "busy". Run by `migrate` and `check --database default`: it needs the database."""
    errors = []
    for alias in settings.CACHES:
        cache = caches[alias]
        if not isinstance(cache, BaseDatabaseCache):
            continue
        table = settings.CACHES[alias]["LOCATION"]
        for database in databases or ():
            if not router.allow_migrate_model(database, cache.cache_model_class):
                continue
            connection = connections[database]
            # Before its migration is applied the table is migrate's to create: nothing to say.
            if CACHE_TABLE_MIGRATION not in MigrationRecorder(connection).applied_migrations():
                continue
            if table not in connection.introspection.table_names():
                errors.append(
                    checks.Error(
                        f"The cache table {table!r} is missing from the {database!r} database: rate limits "
                        f"(OTP codes, SMS) answer 503 'busy' until it exists.",
                        hint="Run `python manage.py createcachetable` (`migrate` creates it on a new database).",
                        id="queue_app.E001",
                    )
                )
    return errors
