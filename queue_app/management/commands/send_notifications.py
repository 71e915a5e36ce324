from django.core.management.base import BaseCommand, CommandError

from queue_app.background import NotificationSender, send_all_due


class Command(BaseCommand):
    help = (
        "Send the patient texts still due in the outbox: retries with backoff, messages a sender "
        "claimed and never finished, and drops what is no longer useful or over the caps. Server "
        "processes send new texts themselves; run this beside them (systemd, docker-compose)."
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
            done = send_all_due()
            self.stdout.write(f"{done.sent} sent, {done.failed} failed, {done.dropped} dropped.")
            return
        if every <= 0:
            raise CommandError("--every needs a number of seconds above 0")
        sweeper = NotificationSender(every)
        try:
            sweeper.run()  # a round at once, then every SECONDS; failures are logged, not fatal
        except KeyboardInterrupt:
            pass
