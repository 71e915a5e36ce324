"""Housekeeping that must not wait for a request: earlier days' open tickets expire, and counters
whose clerk left without logging out are released. Every server process runs it on a thread
(HOUSEKEEPING_INTERVAL_SECONDS), so a single Daphne needs no cron; `manage.py housekeeping` runs
the same rounds on its own."""

import asyncio
import logging
import threading
from typing import NamedTuple

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError, connections

from . import services
from .services import sending

log = logging.getLogger("queue.housekeeping")


class Housekeeping(NamedTuple):
    expired: int  # tickets still open from earlier service days
    released: int  # counters whose dashboard went quiet for COUNTER_IDLE_MINUTES


def housekeeping() -> Housekeeping:
    """One round: expire earlier days' open tickets, release idle counters. Idempotent."""
    return Housekeeping(expired=services.expire_previous_days(), released=services.release_idle_counters())


class Housekeeper(threading.Thread):
    """Runs a round every `interval` seconds until stopped; a failed round is logged and the next
    one tries again."""

    def __init__(self, interval: float):
        super().__init__(name="housekeeper", daemon=True)
        self.interval = interval
        self.stopped = threading.Event()
        self.server_loop: asyncio.AbstractEventLoop | None = None  # set by serving()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            self.run_once()

    def stop(self) -> None:
        self.stopped.set()

    def run_once(self) -> Housekeeping | None:
        loop = self.server_loop
        if loop is not None and loop.is_running():
            # On a worker of the server's event loop, as a request's sync code runs: the events a
            # round sends (a counter released, its patients moved) then reach this process's
            # sockets through the in-memory channel layer at once, not from a foreign thread.
            round_on_loop = sync_to_async(self._round_on_own_connection, thread_sensitive=False)()
            return asyncio.run_coroutine_threadsafe(round_on_loop, loop).result()
        if threading.current_thread() is self:
            return self._round_on_own_connection()
        return self._round()  # called by someone else (a command, a test): their connection stays

    def _round_on_own_connection(self) -> Housekeeping | None:
        try:
            return self._round()
        finally:
            # Rounds are a minute apart: no connection is held open between them.
            connections.close_all()

    def _round(self) -> Housekeeping | None:
        try:
            return housekeeping()
        except DatabaseError:
            log.warning("housekeeping skipped: database unavailable", exc_info=True)
        except services.Busy:
            log.warning("housekeeping skipped: no turn for a queue change (overload)")
        except Exception:
            log.exception("housekeeping failed")  # a bug must not end housekeeping for good
        return None

    def serving(self, app):
        """Wrap an ASGI app so that the housekeeper learns the server's event loop."""

        async def app_on_loop(scope, receive, send):
            self.server_loop = asyncio.get_running_loop()
            return await app(scope, receive, send)

        return app_on_loop


_housekeeper: Housekeeper | None = None
_starting = threading.Lock()


def start_housekeeping(*, every: float, loop: asyncio.AbstractEventLoop | None = None) -> Housekeeper | None:
    """Start this process's housekeeper (once; `every` 0: none). `loop`: the one this process's
    requests publish on (a WSGI worker's, queue_system.server.EventLoopThread), for its rounds."""
    global _housekeeper
    if every <= 0:
        return None
    with _starting:
        if _housekeeper is None:
            _housekeeper = Housekeeper(every)
            _housekeeper.server_loop = loop
            _housekeeper.start()
    return _housekeeper


def with_housekeeping(app, *, every: float):
    """ASGI: start this process's housekeeper (once; `every` 0: none) and return `app` serving it."""
    housekeeper = start_housekeeping(every=every)
    return app if housekeeper is None else housekeeper.serving(app)


class NotificationSender(threading.Thread):
    """Sends the notification outbox: at once when a change that wrote to it commits (`wake`),
    and every `every` seconds for what failed before (retries); `send_notifications` does the
    same from its own process."""

    # After a wake, the changes of the next moment are gathered into the same round: under load
    # one claim serves many changes instead of one each, competing with them for the database.
    GATHER_SECONDS = 1.0
    HOLD_CONNECTION_SECONDS = 5

    def __init__(self, every: float):
        super().__init__(name="notification-sender", daemon=True)
        self.every = every
        self.woken = threading.Event()
        self.stopped = threading.Event()

    def wake(self) -> None:
        self.woken.set()

    def stop(self) -> None:
        self.stopped.set()
        self.woken.set()

    def run(self) -> None:
        while not self.stopped.is_set():
            # Cleared before the round: a wake during it means another round at once.
            self.woken.clear()
            self.run_once()
            if self.woken.wait(self.every):
                self.stopped.wait(self.GATHER_SECONDS)

    def run_once(self) -> sending.Round | None:
        done = None
        try:
            done = send_all_due()
        except DatabaseError:
            log.warning("notifications not sent: database unavailable", exc_info=True)
        except Exception:
            log.exception("notification round failed")  # a bug must not end sending for good
        finally:
            quiet = done is not None and not (done.claimed or done.dropped)
            # Quiet: the connection is not held until the next text, unless the rounds come
            # every second or so (production's sender process), when reconnecting costs more.
            if done is None or (quiet and self.every > self.HOLD_CONNECTION_SECONDS):
                connections.close_all()
        return done


def send_all_due(*, batch: int = 50) -> sending.Round:
    """Send rounds until the backlog is empty (or only rows another sender holds are left)."""
    total = sending.Round()
    while True:
        done = sending.send_due(limit=batch)
        total.sent, total.failed, total.dropped = (
            total.sent + done.sent,
            total.failed + done.failed,
            total.dropped + done.dropped,
        )
        if done.claimed + done.dropped < batch:
            return total


_sender: NotificationSender | None = None


def notification_sender() -> NotificationSender:
    """This process's sender, started on first use."""
    global _sender
    with _starting:
        if _sender is None:
            _sender = NotificationSender(settings.NOTIFY_SWEEP_SECONDS)
            _sender.start()
    return _sender
