from django.core.management.base import BaseCommand, CommandError

from queue_app.background import Housekeeper, housekeeping


class Command(BaseCommand):
    help = (
        "Expire tickets still open from earlier service days and release counters whose dashboard "
        "showed no sign of life for COUNTER_IDLE_MINUTES. Each server process already does this "
        "every HOUSEKEEPING_INTERVAL_SECONDS; run this where that is set to 0."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--every",
            type=int,
            metavar="SECONDS",
            help="keep running, a round every SECONDS (for a systemd service or a container)",
        )

    def handle(self, *args, every=None, **options):
        if every is None:
            done = housekeeping()
            self.stdout.write(f"{done.expired} tickets expired, {done.released} counters released.")
            return
        if every <= 0:
            raise CommandError("--every needs a number of seconds above 0")
        housekeeper = Housekeeper(every)
        housekeeper.run_once()  # at once, then every SECONDS; failures are logged, not fatal
        try:
            housekeeper.run()
        except KeyboardInterrupt:
            pass
