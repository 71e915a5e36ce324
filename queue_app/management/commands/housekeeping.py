from queue_app.background import Housekeeper, housekeeping
from queue_app.management.rounds import RoundsCommand


class Command(RoundsCommand):
    help = (
        "Expire tickets still open from earlier service days and release counters whose dashboard "
        "showed no sign of life for COUNTER_IDLE_MINUTES. Each server process already does this "
        "every HOUSEKEEPING_INTERVAL_SECONDS; run this where that is set to 0."
    )

    def one_round(self) -> str:
        done = housekeeping()
        return f"{done.expired} tickets expired, {done.released} counters released."

    def repeat(self, every: int) -> None:
        housekeeper = Housekeeper(every)
        housekeeper.run_once()  # the housekeeper's own loop waits first
        housekeeper.run()
