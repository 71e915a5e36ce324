"""Demo data: OPD and Test open every day all day, two counters each, four operators, reception, an admin.

Idempotent: a second run changes nothing. Passwords are generated on the first run, stored in
var/demo-logins.txt (readable by the owner only, ignored by git) and printed from there.
"""

import secrets
from datetime import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from queue_app.models import EVERY_DAY, Counter, Service, Staff

SERVICES = [("OPD", "Outpatient Department"), ("Test", "Laboratory Tests")]
COUNTERS = [("Counter 1", "OPD", "operator1"), ("Counter 2", "OPD", "operator2"),
            ("Counter 3", "Test", "operator3"), ("Counter 4", "Test", "operator4")]  # fmt: skip


def logins_file() -> Path:
    return Path(settings.BASE_DIR) / "var" / "demo-logins.txt"


class Command(BaseCommand):
    help = "Create demo services, counters and staff (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--quiet", action="store_true", help="Do not print the logins.")

    @transaction.atomic
    def handle(self, *args, quiet=False, **options):
        stored = self._read_logins()
        created = {}
        services = {}
        for name, description in SERVICES:
            services[name], _ = Service.objects.get_or_create(
                service_name=name, defaults={"description": description, "week_days": EVERY_DAY, "is_active": True}
            )
        people = [(f"operator{i}", Staff.Role.OPERATOR) for i in range(1, 5)]
        people += [("reception", Staff.Role.RECEPTION), ("admin", Staff.Role.ADMIN)]
        for username, role in people:
            if Staff.objects.filter(username=username).exists():
                continue
            password = stored.get(username) or secrets.token_urlsafe(9)
            user = Staff.objects.create(username=username, password=password, role=role, is_active=True)
            if role == Staff.Role.ADMIN:
                user.is_superuser = True
                user.save()
            created[username] = password
        for counter_name, service_name, username in COUNTERS:
            Counter.objects.get_or_create(
                counter_name=counter_name,
                service=services[service_name],
                defaults={
                    "start_time": time(0, 0),
                    "end_time": time(23, 59, 59),
                    "assigned_staff": Staff.objects.get(username=username),
                },
            )
        if created:
            stored.update(created)
            self._write_logins(stored)
        if not quiet:
            self.stdout.write("Demo logins (also in var/demo-logins.txt):")
            for username in sorted(stored):
                if Staff.objects.filter(username=username).exists():
                    self.stdout.write(f"  {username:10s} {stored[username]}")

    def _read_logins(self) -> dict:
        path = logins_file()
        if not path.exists():
            return {}
        return dict(line.split(maxsplit=1) for line in path.read_text().splitlines() if " " in line)

    def _write_logins(self, logins: dict) -> None:
        path = logins_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{u} {p}\n" for u, p in sorted(logins.items())))
        path.chmod(0o600)
