"""WebSocket clients that only listen: displays, patients' phones, counter PCs (or the bare floor).

Each frame is stamped on arrival (`time.time()`, the clock the server's `sent_at` uses) before it
is parsed, and kept as a small tuple: what it was, which counter/ticket/service, and the server's
`sent_at`. The orchestrator matches them against each other and the database afterwards.
"""

import asyncio
import json
import time

import aiohttp

from .stats import summarize
from .worker import Worker

# Frame tuple fields
T_RECV, SENT_AT, TYPE, EVENT, COUNTER, QUEUE_ID, TICKET, SERVICE, SEQ = range(9)


def parse_frame(received_ms: float, text: str) -> tuple:
    data = json.loads(text)
    kind = data.get("type")
    event = data.get("event")
    counter = queue_id = ticket = service = seq = None
    if kind == "queue_update":
        counter = data.get("counter_id")
        serving = data.get("serving_patient")
        queue_id = serving.get("queue_id") if isinstance(serving, dict) else None
        service = data.get("service_id")
        seq = data.get("seq")
    elif kind == "queue_position":
        service = data.get("service_id")
        seq = data.get("as_of")  # when the server read the state it sends
    elif kind == "ticket_update":
        info = data.get("ticket") or {}
        ticket, queue_id, counter = info.get("id"), info.get("queue_id"), info.get("counter_id")
    return (received_ms, data.get("sent_at"), kind, event, counter, queue_id, ticket, service, seq)


class Socket:
    __slots__ = (
        "spec",
        "ws",
        "frames",
        "connected_at",
        "closed_at",
        "close_code",
        "error",
        "task",
        "connect_ms",
        "ours",
    )

    def __init__(self, spec: dict):
        self.spec = spec
        self.ws = None
        self.frames: list[tuple] = []
        self.connected_at = self.closed_at = None
        self.close_code = self.error = None
        self.task = None
        self.connect_ms = None
        self.ours = False  # closed by the bench (not by the server)


class Sink(Worker):
    async def setup(self) -> None:
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, force_close=True),
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        self.sockets: list[Socket] = []
        self.last_frame = time.monotonic()

    async def teardown(self) -> None:
        await self._close([s for s in self.sockets if s.closed_at is None])
        await self.session.close()

    async def _run(self, socket: Socket, ready: asyncio.Event) -> None:
        spec = socket.spec
        headers = {"Origin": f"http://127.0.0.1:{spec['port']}"}
        if spec.get("cookie"):
            headers["Cookie"] = spec["cookie"]
        started = time.perf_counter()
        try:
            socket.ws = await self.session.ws_connect(
                f"ws://127.0.0.1:{spec['port']}{spec['path']}",
                headers=headers,
                timeout=aiohttp.ClientWSTimeout(ws_close=5),
                autoping=True,
                max_msg_size=0,
            )
            async for message in socket.ws:
                if message.type == aiohttp.WSMsgType.TEXT:
                    received = time.time() * 1000
                    self.last_frame = time.monotonic()
                    frame = parse_frame(received, message.data)
                    if socket.connected_at is None and frame[TYPE] == "snapshot":
                        socket.connected_at = received
                        socket.connect_ms = (time.perf_counter() - started) * 1000
                        ready.set()
                        continue
                    socket.frames.append(frame)
                elif message.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSED):
                    break
            socket.close_code = socket.ws.close_code
        except Exception as exc:
            socket.error = type(exc).__name__
        finally:
            if socket.closed_at is None:
                socket.closed_at = time.time() * 1000
            ready.set()

    async def cmd_connect(self, specs: list[dict], concurrency: int = 50, timeout: float = 60) -> dict:
        """Open the sockets (at most `concurrency` handshakes at a time); each is ready at its snapshot."""
        semaphore = asyncio.Semaphore(concurrency)
        fresh = [Socket(spec) for spec in specs]
        self.sockets += fresh

        async def open_one(socket):
            async with semaphore:
                ready = asyncio.Event()
                socket.task = asyncio.create_task(self._run(socket, ready))
                try:
                    await asyncio.wait_for(ready.wait(), timeout)
                except TimeoutError:
                    socket.error = socket.error or "snapshot_timeout"

        started = time.monotonic()
        await asyncio.gather(*(open_one(s) for s in fresh))
        ok = [s for s in fresh if s.connected_at is not None and s.closed_at is None]
        errors = {}
        for s in fresh:
            if s not in ok:
                key = s.error or f"closed_{s.close_code}"
                errors[key] = errors.get(key, 0) + 1
        return {
            "requested": len(fresh),
            "connected": len(ok),
            "errors": errors,
            "seconds": round(time.monotonic() - started, 2),
            "connect_ms": summarize([s.connect_ms for s in ok]),
        }

    async def cmd_quiet(self, idle: float = 1.5, limit: float = 30.0) -> dict:
        """Wait until no frame has arrived for `idle` seconds (at most `limit`): the fan-out drained."""
        started = time.monotonic()
        while time.monotonic() - started < limit:
            if time.monotonic() - self.last_frame >= idle:
                break
            await asyncio.sleep(0.05)
        return {"waited_s": round(time.monotonic() - started, 2), "drained": time.monotonic() - self.last_frame >= idle}

    async def _close(self, sockets: list[Socket]) -> None:
        for socket in sockets:
            socket.closed_at = time.time() * 1000
            socket.ours = True
        await asyncio.gather(*(s.ws.close() for s in sockets if s.ws is not None and not s.ws.closed))
        await asyncio.gather(*(s.task for s in sockets if s.task is not None), return_exceptions=True)

    async def cmd_close(self, kinds: list[str]) -> dict:
        chosen = [s for s in self.sockets if s.spec["kind"] in kinds and s.closed_at is None]
        await self._close(chosen)
        return {"closed": len(chosen)}

    async def cmd_collect(self, clear: bool = True) -> list[dict]:
        """Every socket's frames and life times; `clear` forgets the sockets already closed."""
        out = [
            {
                "spec": s.spec,
                "connected_at": s.connected_at,
                "closed_at": s.closed_at,
                "close_code": s.close_code,
                "closed_by_bench": s.ours,
                "error": s.error,
                "frames": s.frames,
            }
            for s in self.sockets
        ]
        if clear:
            self.sockets = [s for s in self.sockets if s.closed_at is None]
        return out

    async def cmd_calls_seen(self, since: float) -> int | None:
        """The fewest `patient_called` messages (sent since `since`) any open display has received."""
        counts = [
            len({f[QUEUE_ID] for f in s.frames if f[EVENT] == "patient_called" and (f[SENT_AT] or 0) >= since})
            for s in self.sockets
            if s.spec["kind"] == "display" and s.connected_at is not None and s.closed_at is None
        ]
        return min(counts) if counts else None

    async def cmd_open_count(self) -> dict:
        alive = [s for s in self.sockets if s.closed_at is None and s.ws is not None and not s.ws.closed]
        return {"open": len(alive)}
