"""Server plumbing around the Django application: Daphne's graceful stop and its WebSockets
(asgi.py composes these with the app's routing), and the event loop a WSGI worker publishes on
(wsgi.py)."""

import asyncio
import logging
import os
import sys
import threading
import time

from asgiref.sync import SyncToAsync
from channels.auth import AuthMiddlewareStack

from queue_app import events, services
from queue_app.consumers import is_private, socket_query
from queue_app.logs import loggable_path

server_log = logging.getLogger("queue.server")  # start and stop of the process
ws_log = logging.getLogger("queue.ws")


class FinishRequestsOnShutdown:
    """A graceful stop (SIGTERM from systemd or Docker): the requests in progress finish, their
    answers and their events go out, and new queue changes are refused (503, try again), for at
    most `grace` seconds; then Daphne stops.

    Left alone, Daphne cancels every application at SIGTERM and stops its event loop at once:
    a request thread inside a queue change (waiting for a service's lock) commits later and then
    waits for ever to publish its events on the stopped loop; the process never exits and is
    killed, with a change committed but never announced. Here a Twisted "before shutdown"
    trigger (Daphne's own hook) keeps the loop running until the requests in progress are done.
    """

    def __init__(self, app, grace: float):
        self.app, self.grace = app, grace
        self.requests: set[asyncio.Task] = set()
        self.stopping = False
        self.hooked = False

    async def __call__(self, scope, receive, send):
        if not self.hooked:
            self._hook_shutdown()
        task = asyncio.ensure_future(self.app(scope, receive, send))
        self.requests.add(task)
        task.add_done_callback(self.requests.discard)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            # Daphne cancels at shutdown (the trigger below has run by now) and when a client
            # left long ago: only the first may finish its work.
            if self.stopping and not task.done():
                await asyncio.wait({task}, timeout=self.grace)
            task.cancel()
            raise

    def _hook_shutdown(self) -> None:
        self.hooked = True
        reactor = sys.modules.get("twisted.internet.reactor")  # imported by Daphne, never by us
        if reactor is not None and getattr(reactor, "running", False):
            reactor.addSystemEventTrigger("before", "shutdown", self._on_shutdown)

    def _on_shutdown(self):
        from twisted.internet.defer import Deferred

        self.stopping = True
        services.stop_accepting_changes()
        if _housekeeper_of_this_process() is not None:
            _housekeeper_of_this_process().stop()
        server_log.info(
            "shutting down: finishing %d requests in progress (at most %s s)", len(self.requests), self.grace
        )
        return Deferred.fromFuture(asyncio.ensure_future(self._drain()))

    async def _drain(self) -> None:
        deadline = time.monotonic() + self.grace
        pending = {task for task in self.requests if not task.done()}
        if pending:
            await asyncio.wait(pending, timeout=self.grace)
        # The events of the last changes, and the position lists they scheduled.
        finished = await events.deliveries_finished(timeout=max(0.1, deadline - time.monotonic()))
        unfinished = sum(not task.done() for task in self.requests)
        if unfinished or not finished:
            server_log.warning("shutting down with %d requests and some events still in progress", unfinished)
        else:
            server_log.info("shut down cleanly: every request answered, every event sent")


def _housekeeper_of_this_process():
    from queue_app import background

    return background._housekeeper


class SessionOnlyWhereNeeded:
    """WebSockets: only a connection naming a counter or a ticket gets a session and a user, to
    decide what it may follow; public ones (wall displays) skip wrappers that cost on every frame."""

    def __init__(self, inner):
        self.public = inner
        self.private = AuthMiddlewareStack(inner)

    async def __call__(self, scope, receive, send):
        # Read as the consumer reads it: the same names choose the same kind of connection.
        app = self.private if is_private(socket_query(scope)) else self.public
        return await app(scope, receive, send)


class TryAgainLater:
    """WebSockets: a handshake that fails before it is answered (the channel layer or the
    database unreachable) is accepted and closed at once with 4013 "try again later", which the
    pages' script retries soon, instead of Daphne's HTTP 500, which looks like a bug.

    4013, not the standard 1013: Daphne (autobahn) lets an application close only with 1000 or
    a code of 3000-4999."""

    TRY_AGAIN_LATER = 4013

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        state = {"connect_read": False, "answered": False}

        async def receive_tracked():
            message = await receive()
            if message["type"] == "websocket.connect":
                state["connect_read"] = True
            return message

        async def send_tracked(message):
            if message["type"] in ("websocket.accept", "websocket.close", "websocket.http.response.start"):
                state["answered"] = True
            await send(message)

        try:
            return await self.app(scope, receive_tracked, send_tracked)
        except Exception as exc:
            if state["answered"]:
                raise
            # One line each: during an outage every screen retries, and the cause is the same.
            ws_log.warning("ws refused code=%s (try again later): %s: %s", self.TRY_AGAIN_LATER,
                        type(exc).__name__, exc)  # fmt: skip
        if not state["connect_read"]:
            await receive()  # the websocket.connect the consumer never read
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": self.TRY_AGAIN_LATER})
        return None


class EventLoopThread:
    """WSGI: one event loop per worker process, on a thread of its own, that the requests'
    events are published on.

    Under Daphne a request's sync code is called from the server's loop, and queue_app.events
    publishes there: the channel layer keeps its Redis connections and a service's position
    list is sent at most once per QUEUE_POSITION_INTERVAL_MS. A WSGI worker has no loop: each
    change would open a loop and a Redis connection of its own, and read and send its
    position list at once, under every change. Requests passed through `serving` see this loop
    as the one they were called from (asgiref's record of it, which events.py and
    async_to_sync read), so they publish as under Daphne.
    """

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="events-loop", daemon=True)
        self.thread.start()

    def serving(self, app):
        """Wrap a WSGI app so that its requests publish on this loop."""
        loop = self.loop

        def app_on_loop(environ, start_response):
            SyncToAsync.threadlocal.main_event_loop = loop
            SyncToAsync.threadlocal.main_event_loop_pid = os.getpid()
            return app(environ, start_response)

        return app_on_loop

    def finish(self, timeout: float) -> bool:
        """At the worker's exit: wait for the events and position lists still on their way."""
        if not self.loop.is_running():
            return True
        future = asyncio.run_coroutine_threadsafe(events.deliveries_finished(timeout=timeout), self.loop)
        try:
            finished = future.result(timeout + 1)
        except TimeoutError:
            finished = False
        if not finished:
            server_log.warning("worker exiting with some events still on their way")
        return finished


def mask_access_log() -> None:
    """Daphne's own access log shows paths as the app's request line does: no query string (a
    phone in `/check_patient/?phone=`), no signed ticket link token, phones and codes redacted.

    Daphne writes that log itself, to stdout unless started with `--verbosity 0` (the shipped
    units and images pass it; a person starting Daphne by hand may not), and `runserver` sends it
    to the `django.channels.server` logger. Both receive each line's details from
    `Server.log_action`, which is wrapped here, so the safe form is the only form. Daphne is
    imported by Django's setup already ("daphne" is first in INSTALLED_APPS).
    """
    from daphne.server import Server

    if getattr(Server.log_action, "masks_paths", False):
        return
    log_action = Server.log_action

    def masked_log_action(self, protocol, action, details):
        if isinstance(details, dict) and isinstance(details.get("path"), str):
            details = {**details, "path": loggable_path(details["path"])}
        return log_action(self, protocol, action, details)

    masked_log_action.masks_paths = True
    Server.log_action = masked_log_action
