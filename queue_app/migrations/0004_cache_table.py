"""The database cache's table (the rate limits' shared store when REDIS_URL is not set), so that
`migrate` alone leaves a working install."""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    # Creates the table of every DatabaseCache in CACHES, and nothing when the cache is Redis.
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("queue_app", "0003_ticket_service_counts")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
