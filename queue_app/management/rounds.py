from django.core.management.base import BaseCommand, CommandError


class RoundsCommand(BaseCommand):
    """A command that does one round, or with `--every SECONDS` keeps doing rounds (for a systemd
    service or a container). A subclass says what a round is and what keeps repeating it."""

    def add_arguments(self, parser):
        parser.add_argument(
            "--every",
            type=int,
            metavar="SECONDS",
            help="keep running, a round every SECONDS (for a systemd service or a container)",
        )

    def one_round(self) -> str:
        """Do a round; return the line to print."""
        raise NotImplementedError

    def repeat(self, every: int) -> None:
        """Do a round at once, then every `every` seconds until interrupted; a failed round is
        logged, not fatal."""
        raise NotImplementedError

    def handle(self, *args, every=None, **options):
        if every is None:
            self.stdout.write(self.one_round())
            return
        if every <= 0:
            raise CommandError("--every needs a number of seconds above 0")
        try:
            self.repeat(every)
        except KeyboardInterrupt:
            pass
