from django.core.management.base import BaseCommand

from queue_app import services


class Command(BaseCommand):
    help = "Mark tickets still open from earlier service days as expired (idempotent; run after midnight)."

    def handle(self, *args, **options):
        count = services.expire_previous_days()
        self.stdout.write(f"{count} tickets expired.")
