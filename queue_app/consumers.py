"""The one WebSocket endpoint, /ws/queue/updates/.

What a connection follows is chosen by its query string and allowed from its session:
- nothing (the wall display, or any public client): the `display` group;
- `?counter=<id>`: that counter's staff group (staff holding it, admins);
- `?ticket=<id>`: that ticket's own group and, while it is active, its service's position group
  (its patient only).
Every connection first gets `{"type": "snapshot", ...}`, so a reconnect loses nothing; after that
the consumer only forwards pre-serialised text from the channel layer (no query per message).
The groups many sockets share (the displays', a service's queue) reach it through the process's
relay (queue_app.relays), the private ones through its own channel.

A private socket also joins its session's group: logging out, or its counter changing hands,
sends a `revoke` message there and the socket closes with 4403 (events.revoke_*). A ping is
answered with the state versions the socket should have seen (read at most once a second per
process), so a page that missed events during a channel-layer outage notices and asks for a
snapshot (static/js/live.js).
"""

import json
import logging
import time
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.translation import gettext as _

from . import access, events, payloads, relays, selectors, services
from .models import Counter, Ticket, parse_id
from .names import public_name

log = logging.getLogger("queue.ws")

MAX_FRAME = 4096  # clients only ever send small control frames
# Control frames a client may send in a burst, and how fast the allowance refills. A snapshot
# costs database queries, so a client looping on {"type": "snapshot"} must not load the server.
FRAME_BURST = 10
FRAMES_PER_SECOND = 1.0


class FrameAllowance:
    """A token bucket for one connection's frames. `take()`: True to handle the frame, False to
    refuse it with an error frame, None to drop it silently (told once per flood: answering
    every dropped frame would amplify the flood)."""

    def __init__(self, burst: float = FRAME_BURST, per_second: float = FRAMES_PER_SECOND):
        self.burst, self.per_second = burst, per_second
        self.tokens, self.at, self.throttled = float(burst), time.monotonic(), False

    def take(self) -> bool | None:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.per_second)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            self.throttled = False
            return True
        if self.throttled:
            return None
        self.throttled = True
        return False


class QueueUpdatesConsumer(AsyncWebsocketConsumer):
    groups_joined: list[str]

    async def connect(self):
        self.groups_joined, self.relayed = [], []
        self.held: list[str] | None = []  # shared frames waiting for the snapshot (send_snapshot)
        self.revoked = False
        self.opened_at = time.monotonic()
        self.allowance = FrameAllowance()
        self.kind, self.target = "display", None
        shared: list[str] = []
        query = socket_query(self.scope)
        counter_id = parse_id(query.get("counter", [None])[0])
        ticket_id = parse_id(query.get("ticket", [None])[0])
        if "counter" in query:
            service_id = await self._allowed_counter(counter_id) if counter_id is not None else None
            if service_id is None:
                await self._refuse("counter")
                return
            self.kind, self.target, self.service_id = "counter", counter_id, service_id
            groups = [events.counter_group(counter_id)]
        elif "ticket" in query:
            ticket = await self._allowed_ticket(ticket_id) if ticket_id is not None else None
            if ticket is None:
                await self._refuse("ticket")
                return
            self.kind, self.target, self.service_id = "ticket", ticket_id, ticket.service_id
            groups = [events.ticket_group(ticket_id)]
            # The place in line matters only while the ticket is active. A finished one that may
            # come back hears its own news (recalled, moved) and its page then reconnects.
            if ticket.is_active:
                shared = [events.queue_group(ticket.service_id)]
        else:
            groups, shared = [], [events.DISPLAY_GROUP]
        session_key = self._session_key()
        if self.kind != "display" and session_key:
            # Logging out closes the session's sockets (events.revoke_session).
            groups.append(events.session_group(session_key))
        # Groups first, then the snapshot, which checks the rights again: a revocation sent
        # between the first check and joining is not missed.
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
            self.groups_joined.append(group)
        for group in shared:
            await relays.join(self.channel_layer, group, self)
            self.relayed.append(group)
        await self.accept()
        log.info("ws open kind=%s%s", self.kind, self._target_label())
        await self.send_snapshot()

    async def disconnect(self, code):
        await self._leave_groups()
        if hasattr(self, "opened_at") and self.kind is not None:
            log.info(
                "ws close kind=%s%s code=%s duration_s=%d",
                self.kind,
                self._target_label(),
                code,
                time.monotonic() - self.opened_at,
            )

    async def _leave_groups(self):
        self._leave_relays()
        joined, self.groups_joined = getattr(self, "groups_joined", []), []
        for group in joined:
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except Exception:  # noqa: BLE001 - a layer that is down must not break the close
                log.debug("group_discard failed for %s", group, exc_info=True)

    def _leave_relays(self):
        relayed, self.relayed = getattr(self, "relayed", []), []
        for group in relayed:
            relays.leave(self.channel_layer, group, self)

    async def _refuse(self, kind: str):
        self.kind = None  # never opened: its close is not logged again
        log.info("ws refused kind=%s code=4403", kind)
        await self.close(code=4403)

    def _target_label(self) -> str:
        # A counter's id is no secret; a ticket's is personal: logs say only that it was one.
        return f" target={self.target}" if self.kind == "counter" else ""

    def _session_key(self) -> str | None:
        return getattr(self.scope.get("session"), "session_key", None)

    async def revoke(self, event):
        """Rights withdrawn somewhere (events.revoke_*): a logout closes every socket of its
        session; a counter changing hands closes those of its sockets no longer allowed on it."""
        if self.revoked:
            return
        if "counter_id" in event and self.kind == "counter" and await self._allowed_counter(self.target):
            return  # an admin, or whoever holds the counter now
        await self._withdraw()

    async def _withdraw(self):
        if self.revoked:
            return  # a logout that also released the counter: one close is enough
        self.revoked = True
        await self._leave_groups()  # not one more frame for this socket
        log.info("ws revoked kind=%s%s", self.kind, self._target_label())
        await self.close(code=4403)

    async def receive(self, text_data=None, bytes_data=None):
        """Clients may send {"type": "ping"} or {"type": "snapshot"}; anything else gets an error frame."""
        allowed = self.allowance.take()
        if allowed is None:
            return
        if not allowed:
            await self._error(_("Too many messages; slow down."), code="rate_limited")
            return
        if bytes_data is not None or text_data is None or len(text_data) > MAX_FRAME:
            await self._error(_("Only small JSON text frames are accepted."), code="bad_frame")
            return
        try:
            message = json.loads(text_data)
        except (ValueError, RecursionError):  # RecursionError: "[[[[…" nested past Python's limit
            await self._error(_("Frames must be JSON."), code="bad_json")
            return
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "ping":
            # The versions of what this socket follows: a screen whose own is older missed a
            # message (a channel-layer outage) and asks for a snapshot.
            await self.send(text_data=json.dumps({"type": "pong", "versions": await self._versions()}))
            if self.kind == "counter":
                await self._heartbeat()
        elif kind == "snapshot":
            await self.send_snapshot()
        else:
            await self._error(_("Unknown message type; send ping or snapshot."), code="unknown_type")

    async def dispatch(self, message):
        # Channels runs close_old_connections() in a worker thread before every message: a thread
        # hop per delivered frame, most of the cost of a fan-out to thousands of phones. A
        # broadcast only forwards pre-serialised text and touches no database.
        if message.get("type") == "broadcast":
            await self.broadcast(message)
            return
        await super().dispatch(message)

    async def broadcast(self, event):
        # A change's frames for a private group, in order; "text": one frame, as the previous
        # release sent it (processes of both may share Redis during a rolling update).
        await self.forward(event.get("texts") or (event["text"],))

    async def forward(self, texts):
        """A change's frames, in order (from a private group, or from a shared group's relay)."""
        if self.revoked:
            return
        if self.held is not None:
            self.held.extend(texts)
            return
        for text in texts:
            await self.send(text_data=text)

    async def send_snapshot(self):
        # A shared group's frames that arrive meanwhile wait for the snapshot: sent before it, a
        # change newer than the snapshot would be undone on the screen by it. (A private
        # group's wait anyway: the consumer handles its messages one at a time.)
        if self.held is None:
            self.held = []
        try:
            data = await self._snapshot()
        except BaseException:
            self._leave_relays()  # the consumer is going down with this error
            raise
        if data is None:  # the ticket or counter went away, or access was withdrawn
            await self._withdraw()
            return
        await self.send(text_data=json.dumps({"type": "snapshot", **data}, cls=DjangoJSONEncoder))
        while self.held:
            await self.send(text_data=self.held.pop(0))
        self.held = None

    async def _error(self, message: str, *, code: str):
        await self.send(text_data=json.dumps({"type": "error", "error": message, "code": code}))

    async def _heartbeat(self):
        """The staff dashboard is open: its counter is not idle (written at most once a minute)."""
        now = time.monotonic()
        if now - getattr(self, "_last_heartbeat", 0.0) >= services.HEARTBEAT_SECONDS:
            self._last_heartbeat = now
            await self._touch_counter()

    async def _versions(self) -> dict:
        versions = selectors.remembered_versions() or await database_sync_to_async(selectors.state_versions)()
        if self.kind == "display":
            return payloads.versions(versions.services.items())
        if self.kind == "counter":
            # What this counter's socket was last sent (it hears only its own counter's changes).
            return payloads.versions([(self.service_id, versions.counters.get(self.target, 0))])
        return payloads.versions([(self.service_id, versions.services.get(self.service_id, 0))])

    @database_sync_to_async
    def _touch_counter(self):
        services.counter_heartbeat(counter_id=self.target, staff=self.scope.get("user"))

    @database_sync_to_async
    def _allowed_counter(self, counter_id: int) -> int | None:
        """The counter's service, if this socket's user may watch the counter."""
        if not access.can_watch_counter(self.scope.get("user"), counter_id):
            return None
        return Counter.objects.filter(pk=counter_id).values_list("service_id", flat=True).first()

    @database_sync_to_async
    def _allowed_ticket(self, ticket_id: int) -> Ticket | None:
        return access.can_watch_ticket(self.scope.get("session"), ticket_id)

    @database_sync_to_async
    def _snapshot(self) -> dict | None:
        if self.kind != "display" and not self._session_alive():
            return None  # logged out since the socket opened
        if self.kind == "counter":
            counter = Counter.objects.filter(pk=self.target).first()
            if counter is None or not access.can_watch_counter(self.scope.get("user"), self.target):
                return None
            return selectors.counter_state(counter, with_waiting=True)
        if self.kind == "ticket":
            # The version first: the ticket and its queue, read next, are at least as new.
            version = selectors.service_version(self.service_id)
            ticket = access.can_watch_ticket(self.scope.get("session"), self.target)
            if ticket is None:
                return None
            data = selectors.ticket_dict(ticket)
            session = self.scope.get("session")
            if session is None or session.get(access.PATIENT_SESSION_KEY) != ticket.patient_id:
                # Followed through a slip's signed link: whoever holds the slip sees the masked name.
                data["patient_name"] = public_name(ticket.patient_name, "masked")
            return {
                "versions": payloads.versions([(self.service_id, version)]),
                "ticket": data,
                "positions": selectors.positions_now(ticket.service_id),
            }
        return selectors.display_snapshot()

    def _session_alive(self) -> bool:
        session, key = self.scope.get("session"), self._session_key()
        return bool(key) and session.exists(key)


def socket_query(scope) -> dict[str, list[str]]:
    return parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)


def is_private(query: dict) -> bool:
    """Whether the connection asks for a counter's or a ticket's news, which its session and
    user must allow; otherwise it follows the public display group (no session needed)."""
    return "counter" in query or "ticket" in query
