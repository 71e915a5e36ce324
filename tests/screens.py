"""Screens as static/js/live.js runs them, in Python, for the fault tests: a WebSocket client that
applies the snapshot and the events it hears, and follows the same rules to notice what it
missed (state versions, DESIGN.md and queue_app/consumers.py):

- the snapshot's `versions` and every applied event's `version` are what the screen has seen;
- a display hears every change: an event whose version jumps by more than one means a lost one;
- the pong to a ping names the versions it should have seen: newer ones that no event brings
  within GRACE seconds mean lost events; either way it asks for a snapshot;
- a ticket's screen counts a position list only when the list agrees with its ticket;
- a closed socket (4013 "try again later" while the channel layer is down) reconnects soon.

    screen = Screen(server, cookie="", query="counter=3", kind="counter").start()
    screen.model        # what it shows now: see `expected_*` for the same read from the database
"""

import json
import threading
import time

from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from queue_app.models import Counter, Ticket

PING_EVERY = 1.0  # the pages ping every 5 s; the tests have no time to wait that long
GRACE = 0.5
RETRY = 0.3


class Screen(threading.Thread):
    def __init__(self, server, *, kind: str, query: str = "", cookie: str = "", target: int | None = None):
        super().__init__(daemon=True, name=f"screen-{kind}")
        self.server, self.kind, self.query, self.cookie, self.target = server, kind, query, cookie, target
        self.model: dict = {}
        self.seen: dict[str, int] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.served = threading.Event()  # a first snapshot arrived
        self.closes: list[int | None] = []  # close codes of the sockets that ended
        self.refusals: list[int] = []  # HTTP statuses of handshakes answered without a socket
        self.snapshots = 0
        self.errors: list[BaseException] = []

    # --- the socket --------------------------------------------------------------------------

    def start(self) -> "Screen":
        super().start()
        assert self.served.wait(10), f"{self.kind}: no snapshot ({self.closes}, {self.refusals}, {self.errors})"
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=5)

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self._session()
            except InvalidStatus as refused:
                self.refusals.append(refused.response.status_code)
            except (OSError, TimeoutError):
                pass
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                self.errors.append(exc)
            self.stopping.wait(RETRY)

    def _session(self) -> None:
        url = self.server.ws_url + "/ws/queue/updates/" + (f"?{self.query}" if self.query else "")
        headers = {"Cookie": self.cookie} if self.cookie else {}
        origin = f"http://{self.server.host}:{self.server.port}"
        with connect(url, origin=origin, additional_headers=headers, open_timeout=3) as ws:
            next_ping, wanted, wanted_at = time.monotonic() + PING_EVERY, None, None
            try:
                while not self.stopping.is_set():
                    now = time.monotonic()
                    if now >= next_ping:
                        ws.send('{"type": "ping"}')
                        next_ping = now + PING_EVERY
                    if wanted is not None and now >= wanted_at:
                        if self._behind(wanted):
                            ws.send('{"type": "snapshot"}')
                        wanted = None
                    try:
                        message = json.loads(ws.recv(timeout=0.05))
                    except TimeoutError:
                        continue
                    if message["type"] == "pong":
                        if self._behind(message["versions"]) and wanted is None:
                            wanted, wanted_at = message["versions"], time.monotonic() + GRACE
                    elif self._apply(message):
                        ws.send('{"type": "snapshot"}')
            except ConnectionClosed as closed:
                self.closes.append(closed.rcvd.code if closed.rcvd else None)

    # --- versions ------------------------------------------------------------------------------

    def _saw(self, service_id, version) -> None:
        if service_id is not None and isinstance(version, int):
            key = str(service_id)
            self.seen[key] = max(self.seen.get(key, version), version)

    def _behind(self, versions: dict) -> bool:
        return any(version > self.seen.get(key, -1) for key, version in versions.items())

    # --- what the screen shows -----------------------------------------------------------------

    def _apply(self, message: dict) -> bool:
        """Apply one message; True when it shows that something was missed (ask for a snapshot)."""
        with self.lock:
            if message["type"] == "snapshot":
                self.snapshots += 1
                for key, version in message["versions"].items():
                    self._saw(key, version)
                self._apply_snapshot(message)
                self.served.set()
                return False
            if message["type"] == "queue_position":
                return self._apply_positions(message)
            key, version = str(message.get("service_id")), message.get("version")
            gap = self.kind == "display" and key in self.seen and isinstance(version, int)
            gap = gap and version > self.seen[key] + 1
            if self.kind != "ticket":
                self._saw(message.get("service_id"), version)
            self._apply_event(message)
            return gap

    def _apply_snapshot(self, message: dict) -> None:
        if self.kind == "display":
            self.model = {
                row["id"]: ((row["serving_patient"] or {}).get("queue_id"), row["queue_length"])
                for row in message["counters"]
            }
        elif self.kind == "counter":
            self.model = {self.target: ((message["serving_patient"] or {}).get("queue_id"), message["queue_length"])}
        else:
            ticket = message["ticket"]
            self.model = {"status": ticket["status"], "counter_id": ticket["counter_id"], "number": ticket["number"]}

    def _apply_event(self, message: dict) -> None:
        if message["type"] == "queue_update":
            counter_id = message["counter_id"]
            if counter_id in self.model:
                serving = (message["serving_patient"] or {}).get("queue_id")
                self.model[counter_id] = (serving, message["queue_length"])
            if self.kind == "display":
                for key, length in message["queue_lengths"].items():
                    if int(key) in self.model:
                        self.model[int(key)] = (self.model[int(key)][0], length)
        elif message["type"] == "ticket_update" and self.kind == "ticket":
            ticket = message["ticket"]
            self.model.update(status=ticket["status"], counter_id=ticket["counter_id"])

    def _apply_positions(self, message: dict) -> bool:
        if self.kind != "ticket" or self.model.get("status") not in ("waiting", "called"):
            return False
        number, found = self.model["number"], None
        for counter_id, row in message["counters"].items():
            if number in row["waiting"]:
                found = (int(counter_id), False)
            elif row["serving"] == number:
                found = (int(counter_id), True)
        if found is None and number in message["unassigned"]:
            found = (None, False)
        if found != (self.model["counter_id"], self.model["status"] == "called"):
            return True  # the list does not show the ticket where the screen has it
        self._saw(message["service_id"], message["version"])
        return False

    def shows(self) -> dict:
        with self.lock:
            return {key: value for key, value in self.model.items() if key != "number"}


# --- the same, read from the database --------------------------------------------------------------


def line_length(counter_id: int) -> int:
    """How many wait in the line the counter calls from: its service's one line, or its own."""
    counter = Counter.objects.select_related("service").get(pk=counter_id)
    waiting = Ticket.objects.of_day().filter(status=Ticket.Status.WAITING)
    if counter.service.per_counter_lines:
        return waiting.filter(counter_id=counter_id).count()
    return waiting.filter(service_id=counter.service_id).count()


def expected_counters(counter_ids) -> dict:
    return {
        counter_id: (
            Ticket.objects.of_day()
            .filter(counter_id=counter_id, status=Ticket.Status.CALLED)
            .values_list("queue_id", flat=True)
            .first(),
            line_length(counter_id),
        )
        for counter_id in counter_ids
    }


def expected_ticket(ticket_id: int) -> dict:
    ticket = Ticket.objects.get(pk=ticket_id)
    return {"status": ticket.status, "counter_id": ticket.counter_id}


def expected(screen: Screen) -> dict:
    if screen.kind == "ticket":
        return expected_ticket(screen.target)
    return expected_counters(screen.model.keys() if screen.kind == "display" else [screen.target])
