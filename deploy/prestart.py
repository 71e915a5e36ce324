#!/usr/bin/env python
"""Run before the servers start: migrate (the cache table included), optionally collect static files.

Several servers often start at once (`docker compose up --scale web=3`, or several systemd
`queue-http`, `queue-ws@` instances): two of them running the same migration together would fail half-way.
So the work runs under a lock every starter shares: GET_LOCK on the MariaDB/MySQL server, or an
flock beside the SQLite file. The second starter waits, then finds nothing left to do.

    python deploy/prestart.py [--collectstatic] [--wait SECONDS]
"""

import argparse
import contextlib
import fcntl
import os
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
LOCK_TIMEOUT_SECONDS = 600


@contextlib.contextmanager
def exclusive(connection):
    """Hold a lock that every prestart on the same database shares, for the `with` body."""
    if connection.vendor == "mysql":
        # Named after the database, so two installs sharing one server do not wait on each other.
        name = f"prestart.{connection.settings_dict['NAME']}"[:64]
        with connection.cursor() as cursor:
            cursor.execute("SELECT GET_LOCK(%s, %s)", [name, LOCK_TIMEOUT_SECONDS])
            (acquired,) = cursor.fetchone()
        if acquired != 1:
            sys.exit(f"prestart: another server kept the migration lock for {LOCK_TIMEOUT_SECONDS}s; giving up")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT RELEASE_LOCK(%s)", [name])
    elif connection.vendor == "sqlite":
        with open(f"{connection.settings_dict['NAME']}.prestart.lock", "w") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            yield
    else:
        yield


def wait_for_database(connection, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            connection.ensure_connection()
            return
        except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
            if time.monotonic() > deadline:
                sys.exit(f"prestart: the database did not answer within {seconds:g}s: {exc}")
            time.sleep(1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collectstatic", action="store_true", help="also refresh STATIC_ROOT")
    parser.add_argument("--wait", type=float, default=60, help="seconds to wait for the database")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "queue_system.settings")
    import django
    from django.core.exceptions import ImproperlyConfigured

    try:
        django.setup()
    except ImproperlyConfigured as exc:
        sys.exit(f"Configuration error: {exc}")
    from django.core.management import call_command
    from django.db import connection

    wait_for_database(connection, args.wait)
    with exclusive(connection):
        call_command("migrate", interactive=False, verbosity=1)
        if args.collectstatic:
            call_command("collectstatic", interactive=False, verbosity=0)
    connection.close()


if __name__ == "__main__":
    main()
