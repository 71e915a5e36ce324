from queue_app.background import NotificationSender, send_all_due
from queue_app.management.rounds import RoundsCommand


class Command(RoundsCommand):
    help = (
        "Send the patient texts still due in the outbox: retries with backoff, messages a sender "
        "claimed and never finished, and drops what is no longer useful or over the caps. Server "
        "processes send new texts themselves; run this beside them (systemd, docker-compose)."
    )

    def one_round(self) -> str:
        done = send_all_due()
        return f"{done.sent} sent, {done.failed} failed, {done.dropped} dropped."

    def repeat(self, every: int) -> None:
        NotificationSender(every).run()  # its loop starts with a round
