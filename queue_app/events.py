"""Builds every real-time payload and sends it to channel-layer groups after the commit.

Groups: `display` (public, names per DISPLAY_NAME_MODE, never phones),
`counter.<id>` (staff, full names and the waiting list), `queue.<service_id>` (ticket numbers
only, the latest state) and `ticket.<id>` (one patient's personal news).
Payloads are built inside the transaction, from the state it is about to commit, and sent with
`transaction.on_commit`, so a rolled-back change sends nothing. Each payload is serialised once
and consumers forward the text as is.

Every message of a change carries the service's state version after it (services.changes.
publish_change); `revoke` messages close the sockets of an ended session or of a counter that
changed hands (consumers.py).

The position list is the one payload whose size grows with the queue, and it goes to every phone
of the service. It is therefore not built under the queue lock: after the commit the service is
marked for a refresh, and inside a server the refresh is coalesced (`refresh_positions`).
"""

import asyncio
import json
import logging
import time
import weakref

from asgiref.sync import SyncToAsync, async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import close_old_connections, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from . import payloads, selectors
from .models import Counter

log = logging.getLogger("queue.events")

DISPLAY_GROUP = "display"


def counter_group(counter_id) -> str:
    return f"counter.{counter_id}"


def queue_group(service_id) -> str:
    return f"queue.{service_id}"


def ticket_group(ticket_id) -> str:
    return f"ticket.{ticket_id}"


def session_group(session_key: str) -> str:
    """Every private socket (a counter's, a ticket's) opened with this session: closed when the
    session ends. Named by a digest: a session key is a credential and group names reach Redis."""
    return f"session.{salted_hmac('queue_app.events.session_group', session_key).hexdigest()[:32]}"


def queue_messages(
    *,
    service_id: int,
    version: int | None = None,
    counter_events=(),
    ticket_events=(),
    notes: dict | None = None,
    waiting_changed=(),
    counters: list[Counter] | None = None,
    state: selectors.QueueState | None = None,
    lines=None,
) -> list[tuple[str, dict]]:
    """All messages for one change of a service's queue, in the order the WebSocket contract gives, but the
    position list (see `publish_on_commit`).

    `version`: the service's state version after the change (services.changes.publish_change),
    carried by every message. `counter_events`: (event, counter or None for the pool) in order; `ticket_events`: (news,
    ticket) for the ticket.<id> groups, with `notes` {ticket id: message}; `waiting_changed`: ids
    of counters whose waiting list changed without an event of their own (a ticket taken from
    them). `counters` (the service's, with their service) and `state` (its queue after the
    change): what the rule has just read, if it has; otherwise they are read here. Queries do not
    grow with the queue's length."""
    if counters is None:
        counters = selectors.counters_with_service(service_id)
    counters = {c.pk: c for c in counters}
    told = {c.pk for _, c in counter_events if c is not None}
    if any(not c.service.per_counter_lines for c in counters.values()):
        # One line for the service: every staffed counter's list shows it, so each hears the change.
        waiting_changed = [*waiting_changed, *(pk for pk, c in counters.items() if c.held_by_id and pk not in told)]
        waiting_changed = list(dict.fromkeys(waiting_changed))
    if state is None:
        listed = {c.pk for _, c in counter_events if c is not None} | set(waiting_changed)
        service = next(iter(counters.values())).service if counters else None
        state = selectors.queue_state(service_ids=[service_id], rows_for=listed, service=service, lines=lines)
    now = timezone.now()
    lengths = {str(cid): state.line_length(counter) for cid, counter in counters.items()}
    display_mode = settings.DISPLAY_NAME_MODE

    def update(event, counter, mode):
        return payloads.queue_update(
            event, counter, state, service_id=service_id, version=version, lengths=lengths, now=now, mode=mode
        )

    messages: list[tuple[str, dict]] = []
    for event, counter in counter_events:
        counter = counters.get(counter.pk) if counter is not None else None
        messages.append((DISPLAY_GROUP, update(event, counter, display_mode)))
        if counter:
            messages.append((counter_group(counter.pk), update(event, counter, "staff")))
    for counter_id in waiting_changed:
        messages.append((counter_group(counter_id), update("waiting_changed", counters[counter_id], "staff")))
    notes = notes or {}
    for event, ticket in ticket_events:
        counter = counters.get(ticket.counter_id)
        messages.append(
            (
                ticket_group(ticket.pk),
                payloads.ticket_update(event, ticket, counter=counter, note=notes.get(ticket.pk, ""), version=version),
            )
        )
    return messages


def publish_changes(*, service_id: int, **changes) -> None:
    """Announce one change of a service's queue after the commit: `queue_messages`, then the
    service's position list."""
    publish_on_commit(queue_messages(service_id=service_id, **changes), positions_of=[service_id])


def publish_ticket_news(ticket_events) -> None:
    """Tell each ticket's patient, after the commit (e.g. expired), with no queue change to show."""
    publish_on_commit(
        [(ticket_group(t.pk), payloads.ticket_update(event, t, counter=t.counter)) for event, t in ticket_events]
    )


def publish_on_commit(messages: list[tuple[str, dict]], *, positions_of=()) -> None:
    """Send the messages once the surrounding transaction commits (at once outside one), then
    refresh the position lists of the services `positions_of`."""
    if messages or positions_of:
        transaction.on_commit(lambda: send(messages, positions_of=positions_of))


# --- rights withdrawn: sockets that must close ---------------------------------------------------

REVOKE = "revoke"  # the layer message's type: the consumer's `revoke` handler


def revoke_counter_on_commit(counter_id: int) -> None:
    """The counter changes hands: after the commit, its staff sockets check their rights again
    and those no longer allowed (the operator who left or was taken over) close with 4403.

    Call it before the change's own events: a socket that lost its rights must not hear them."""
    transaction.on_commit(lambda: _revoke(counter_group(counter_id), {"counter_id": counter_id}))


def revoke_session(session_key: str | None) -> None:
    """The session ended (logout): every private socket opened with it closes with 4403, in this
    process and every other one."""
    if session_key:
        transaction.on_commit(lambda: _revoke(session_group(session_key), {"session": True}))


def revoke_logged_out_session(sender, request, user, **kwargs) -> None:
    """django.contrib.auth's user_logged_out signal: staff logout and admin logout alike."""
    session = getattr(request, "session", None)
    revoke_session(session.session_key if session is not None else None)


def _revoke(group: str, details: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        _run(_send_revoke, layer, group, {"type": REVOKE, **details})
    except Exception:  # noqa: BLE001 - logged; the socket's next snapshot re-checks its rights too
        log.warning("revocation for %s could not be sent", group.split(".")[0], exc_info=True)


async def _send_revoke(layer, group: str, message: dict) -> None:
    await layer.group_send(group, message)


# --- delivery ---------------------------------------------------------------------------------------


def send(messages: list[tuple[str, dict]], *, positions_of=()) -> None:
    """Best-effort delivery: a channel layer that is down is logged, never fails the request."""
    layer = get_channel_layer()
    if layer is None:
        return
    if messages:
        _deliver(layer, messages)
    for service_id in positions_of:
        refresh_positions(service_id)


def _text(payload: dict, sent_at: float) -> str:
    """A payload serialised once, stamped with when it left (consumers forward the text as is)."""
    return json.dumps({**payload, "sent_at": sent_at}, cls=DjangoJSONEncoder)


def _deliver(layer, messages: list[tuple[str, dict]]) -> None:
    sent_at = time.time() * 1000
    texts = [(group, _text(payload, sent_at)) for group, payload in messages]
    try:
        _run(_send_all, layer, texts)
    except Exception:  # noqa: BLE001 - any layer failure must not undo a committed change
        log.warning("event delivery failed for %d messages", len(texts), exc_info=True)


# A committed change's request waits at most this long for its events to leave.
DELIVERY_SECONDS = 5.0

_in_flight: set = set()  # deliveries under way (strong references; the shutdown drain waits for them)


def _run(function, *args) -> None:
    """Run an async delivery to its end from sync code.

    Inside a server: on the server's event loop, where the channel layer's connections live, as
    a task of its own, so a request cancelled after its change committed (the client went away)
    still announces it. The thread waits at most DELIVERY_SECONDS: a loop that stopped (the
    process shutting down) must never hold a request thread for ever. Outside a server (commands,
    tests, a loop that already stopped): on a loop of its own.
    """
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    if loop is not None and loop.is_running():
        future = asyncio.run_coroutine_threadsafe(_tracked(function(*args)), loop)
        try:
            future.result(timeout=DELIVERY_SECONDS)
        except TimeoutError:
            log.warning("event delivery still running after %s s; the request goes on", DELIVERY_SECONDS)
        return
    async_to_sync(function, force_new_loop=True)(*args)


async def _tracked(coroutine) -> None:
    task = asyncio.current_task()
    _in_flight.add(task)
    try:
        await coroutine
    finally:
        _in_flight.discard(task)


async def _send_all(layer, texts) -> None:
    # One layer message per group and change, its frames in the order they were built (a call is
    # two frames for the display and for the counter: served, then called): every member wakes
    # once, not once per frame, and Redis publishes once. Groups one after another, in order.
    batches: dict[str, list[str]] = {}
    for group, text in texts:
        batches.setdefault(group, []).append(text)
    for group, batch in batches.items():
        await layer.group_send(group, {"type": "broadcast", "texts": batch})


async def deliveries_finished(timeout: float) -> bool:
    """Wait (on the server's loop) until the deliveries under way have ended; False on timeout."""
    pending = {task for task in _in_flight if not task.done()}
    if not pending:
        return True
    _done, still = await asyncio.wait(pending, timeout=timeout)
    return not still


# --- the position list: the latest state, at most one message per service per interval -------


def refresh_positions(service_id: int) -> None:
    """Send the service's queue_position message, read after the change committed.

    Inside a server (sync code run from its event loop) the refresh is coalesced: the first
    change sends at once, and changes within QUEUE_POSITION_INTERVAL_MS of the last send wait for
    one message with the state at the end of the interval. A busy queue then costs each phone
    two messages a second from each server process that changed it (each gunicorn worker keeps
    its own interval), not one per change, and the read happens outside the queue lock.
    Outside a server (commands, tests, shell) it is sent at once.
    """
    interval = settings.QUEUE_POSITION_INTERVAL_MS / 1000
    loop = _server_loop()
    if interval <= 0 or loop is None:
        try:
            payload = selectors.positions_now(service_id)
        except Exception:  # noqa: BLE001 - the change is committed; phones resync on the next one
            log.warning("position refresh failed for service %s", service_id, exc_info=True)
            return
        _deliver(get_channel_layer(), [(queue_group(service_id), payload)])
        return
    loop.call_soon_threadsafe(_schedule_positions, loop, service_id, interval)


def _server_loop():
    """The event loop this sync code was called from (asgiref records it), if still running."""
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    return loop if loop is not None and loop.is_running() else None


class _PositionFeed:
    """Per event loop: the services with a refresh pending, and when each was last sent."""

    def __init__(self):
        self.pending: dict[int, asyncio.Task] = {}
        self.last_sent: dict[int, float] = {}


_feeds: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _schedule_positions(loop, service_id: int, interval: float) -> None:
    feed = _feeds.setdefault(loop, _PositionFeed())
    if service_id in feed.pending:
        return  # a refresh not yet read will include this change
    delay = max(0.0, feed.last_sent.get(service_id, float("-inf")) + interval - loop.time())
    task = loop.create_task(_send_positions(feed, loop, service_id, delay))
    feed.pending[service_id] = task
    _in_flight.add(task)
    task.add_done_callback(_in_flight.discard)


async def _send_positions(feed: _PositionFeed, loop, service_id: int, delay: float) -> None:
    if delay:
        await asyncio.sleep(delay)
    # Unmark before reading: a change committed from here on schedules the next refresh.
    del feed.pending[service_id]
    feed.last_sent[service_id] = loop.time()
    try:
        payload = await _positions_now(service_id)
        text = _text(payload, time.time() * 1000)
        await get_channel_layer().group_send(queue_group(service_id), {"type": "broadcast", "texts": [text]})
    except Exception:  # noqa: BLE001 - the next change sends the state again; phones also resync
        log.warning("position refresh failed for service %s", service_id, exc_info=True)


async def _positions_now(service_id: int) -> dict:
    # Any worker thread (not the one shared thread-sensitive code queues for), with a database
    # connection of its own that is closed as after a request.
    return await sync_to_async(_read_positions, thread_sensitive=False)(service_id)


def _read_positions(service_id: int) -> dict:
    close_old_connections()
    try:
        return selectors.positions_now(service_id)
    finally:
        close_old_connections()
