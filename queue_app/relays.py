"""One channel-layer member per process for the groups many sockets share.

Every wall display follows the `display` group and every phone in line its service's `queue.<id>`
group, and they all get the same pre-serialised text. Joined one by one, the layer would hand
each socket's consumer its own copy of every message: one queue, one task wake-up and one
dispatch per socket and message, which was about half of the server's CPU of a fan-out to 2,000
displays. Here the process joins such a group once, through a `Relay`, which forwards each
message's frames to its members in order (members are consumers: `forward(texts)`).

The private groups (a counter's, a ticket's, a session's) keep one member per socket: each has
one or two members, and their messages carry rights checks of their own.
"""

import asyncio
import logging
import weakref

log = logging.getLogger("queue.ws")

# The in-memory layer (make run) forgets a group's member after a day (its group_expiry); a wall
# display stays open for weeks, so the relay joins again well before that.
REJOIN_SECONDS = 3600.0

# Members served before the relay lets the loop write their frames out. Sent all at once, the
# first socket's frames would leave only after the last one's were made, and the phones and TVs
# would start reading only then (measured in bench/README.md, "One relay per process").
FLUSH_EVERY = 16

# Per event loop (tests run each on a loop of its own), per layer and group.
_relays: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict]" = weakref.WeakKeyDictionary()


class Relay:
    def __init__(self, layer, group: str):
        self.layer, self.group = layer, group
        # consumer -> None. Weak: a consumer that crashed never says goodbye.
        self.members: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.channel: str | None = None
        self._opening: asyncio.Future | None = None
        self._tasks: list[asyncio.Task] = []  # held: the loop keeps only weak references to tasks

    async def opened(self) -> None:
        """Joined the group, and its messages are being forwarded. Sockets that connect at the
        same moment wait for the same join; a join that failed (the layer down) is retried by the
        next socket."""
        if self._opening is None:
            self._opening = asyncio.ensure_future(self._open())
        try:
            await asyncio.shield(self._opening)
        except Exception:
            self._opening = None
            raise

    async def _open(self) -> None:
        channel = await self.layer.new_channel("relay.")
        await self.layer.group_add(self.group, channel)
        self.channel = channel
        self._tasks = [asyncio.ensure_future(self._forward()), asyncio.ensure_future(self._rejoin())]

    async def _forward(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the layer's own reconnects; never stop forwarding
                log.warning("relay of %s: receive failed", self.group, exc_info=True)
                await asyncio.sleep(1.0)
                continue
            if message.get("type") != "broadcast":
                continue
            # "text": one frame, as an earlier release sent it (processes of both may share Redis).
            texts = message.get("texts") or (message["text"],)
            for i, member in enumerate(list(self.members)):
                if i and i % FLUSH_EVERY == 0:
                    await asyncio.sleep(0)  # the next message waits: every socket keeps the order
                try:
                    await member.forward(texts)
                except Exception:  # noqa: BLE001 - one closing socket must not cost the others
                    log.debug("relay of %s: a member failed", self.group, exc_info=True)

    async def _rejoin(self) -> None:
        while True:
            await asyncio.sleep(REJOIN_SECONDS)
            try:
                await self.layer.group_add(self.group, self.channel)
            except Exception:  # noqa: BLE001 - tried again at the next round
                log.warning("relay of %s: joining again failed", self.group, exc_info=True)


def _relay(layer, group: str) -> Relay:
    relays = _relays.setdefault(asyncio.get_running_loop(), {})
    relay = relays.get((layer, group))
    if relay is None:
        relay = relays[(layer, group)] = Relay(layer, group)
    return relay


async def join(layer, group: str, member) -> None:
    """`member` gets the group's frames from now on (once this returns, nothing is missed)."""
    relay = _relay(layer, group)
    await relay.opened()
    relay.members[member] = None


def leave(layer, group: str, member) -> None:
    """Not one more frame for `member`. The relay stays: the groups are few (the displays', one
    per service) and the next socket would join them again."""
    relays = _relays.get(asyncio.get_running_loop(), {})
    relay = relays.get((layer, group))
    if relay is not None:
        relay.members.pop(member, None)
