from django.core.management.base import BaseCommand

from queue_app import services


class Command(BaseCommand):
    help = "Release counters whose staff dashboard showed no sign of life for COUNTER_IDLE_MINUTES."

    def handle(self, *args, **options):
        self.stdout.write(f"{services.release_idle_counters()} counters released.")
