"""Server plumbing around the Django application: how HTTP requests queue and which threads run
them, and which WebSockets get a session. asgi.py composes these with the app's routing."""

import asyncio
import collections
import logging
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext
from channels.auth import AuthMiddlewareStack
from django.db import connections
from django.http import HttpRequest

from queue_app.consumers import is_private, socket_query
from queue_app.http import busy_response, wants_json
from queue_app.logs import loggable_path

log = logging.getLogger("queue.requests")


class LimitHttpConcurrency:
    """At most `limit` requests per process and kind (reads, changes) run inside Django; the others
    wait here at most `wait_seconds`, then get a quick 503. Unbounded, an overload would give each
    request a thread and a database connection until the database refuses more."""

    # Reads have their own allowance: a burst of changes, taking turns on a queue's lock, must not
    # keep the wall displays, the phones' polls and the staff screens from reading.
    READS = frozenset({"GET", "HEAD", "OPTIONS"})

    def __init__(self, app, limit: int, wait_seconds: float | None = None):
        self.app, self.limit, self.wait_seconds, self.semaphores = app, limit, wait_seconds, None

    async def __call__(self, scope, receive, send):
        if self.semaphores is None:  # created inside the server's running event loop
            self.semaphores = {True: asyncio.Semaphore(self.limit), False: asyncio.Semaphore(self.limit)}
        semaphore = self.semaphores[scope.get("method", "GET") in self.READS]
        try:
            await asyncio.wait_for(semaphore.acquire(), self.wait_seconds)
        except TimeoutError:
            log.warning("busy: %s %s waited %s s for a place, answered 503", scope.get("method"), scope.get("path"),
                        self.wait_seconds)  # fmt: skip
            # Answered without entering Django: an overload is spent on clients who still wait.
            await _busy(scope, send)
            return None
        try:
            return await self.app(scope, receive, send)
        finally:
            semaphore.release()


class ReuseRequestThreads:
    """Run each request's sync code on a thread kept from earlier requests, so its database
    connection is reused as under a threaded WSGI server (Django's ASGI handler would give every
    request a new thread, and so a new connection). A burst's extra threads close theirs and end."""

    def __init__(self, app, keep: int):
        self.app, self.keep = app, keep
        self.idle: collections.deque[ThreadPoolExecutor] = collections.deque()

    async def __call__(self, scope, receive, send):
        if self.keep <= 0:
            return await self.app(scope, receive, send)
        try:
            executor = self.idle.pop()
        except IndexError:
            executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="request")
        try:
            async with ThreadSensitiveContext(executor=executor):
                return await self.app(scope, receive, send)
        finally:
            # asgiref waits for a cancelled request's sync code to return, so the thread is free.
            self._give_back(executor)

    def _give_back(self, executor: ThreadPoolExecutor) -> None:
        if len(self.idle) < self.keep:
            self.idle.append(executor)
            return
        executor.submit(connections.close_all)
        executor.shutdown(wait=False)


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


async def _busy(scope, send) -> None:
    """The same 503 "busy, try again" the pages and the API give, before Django has a request."""
    request = HttpRequest()
    accept = dict(scope.get("headers") or ()).get(b"accept")
    if accept is not None:
        request.META["HTTP_ACCEPT"] = accept.decode("latin-1")
    response = busy_response(json=wants_json(request))
    headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in response.items()]
    headers.append((b"content-length", str(len(response.content)).encode()))
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": response.content})


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
