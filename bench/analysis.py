"""What the clients received, checked against each other and against the database.

- Duplicates: a client that got the same message twice (same event, counter or ticket, sent_at).
- Lost, for groups with many members (the display group, each service's positions group): every
  message that any member received during the window must have reached every member; and every
  call in the database's history must have reached the displays as a `patient_called`.
- Position lists are the latest state, at most one per service per interval and server process:
  after every change of the service (as the displays saw it) each of its patients must receive a
  list read after that change (`as_of` not earlier than the change was sent) -- a stale place in
  line counts as lost. Changes in the last interval + 1 s of a patient's window are not counted.
- Lost, for groups of one (a patient's ticket, a counter's staff group): each ticket's history
  rows in the window are its expected personal events; each counter's staff group must get
  every display message about that counter.
- Latency: receipt time minus the payload's `sent_at`, per phase and client kind.
"""

from collections import Counter as Multiset
from collections import defaultdict

from .sink import COUNTER, EVENT, QUEUE_ID, SENT_AT, SEQ, SERVICE, T_RECV, TICKET, TYPE
from .stats import summarize

# QueueHistory.action -> the ticket.<id> event the services send with it.
ACTION_TO_TICKET_EVENT = {
    "called": "called",
    "served": "served",
    "skipped": "skipped",
    "redistributed": "moved",
    "assigned": "assigned",
    "returned_to_pool": "pool",
    "cancelled": "cancelled",
    "expired": "expired",
}


def key(frame: tuple):
    kind = frame[TYPE]
    if kind == "queue_update":
        return ("u", frame[EVENT], frame[COUNTER], frame[SENT_AT], frame[QUEUE_ID], frame[SEQ])
    if kind == "queue_position":
        return ("p", frame[SERVICE], frame[SENT_AT])
    if kind == "ticket_update":
        return ("t", frame[EVENT], frame[TICKET], frame[SENT_AT])
    return ("?", kind, frame[SENT_AT])


def _in(frame, start, end) -> bool:
    sent = frame[SENT_AT]
    return sent is not None and start <= sent <= end


def latency_by_phase(sockets: list[dict], phases: list[dict]) -> dict:
    out = {}
    for phase in phases:
        start, end = phase["start_ms"], phase["end_ms"]
        per_kind = defaultdict(list)
        for socket in sockets:
            kind = socket["spec"]["kind"]
            for frame in socket["frames"]:
                if _in(frame, start, end):
                    per_kind[kind].append(frame[T_RECV] - frame[SENT_AT])
        if per_kind:
            everything = [v for values in per_kind.values() for v in values]
            out[phase["name"]] = {
                "all": {**summarize(everything), "clients": len(sockets)},
                **{kind: summarize(values) for kind, values in sorted(per_kind.items())},
            }
    return out


def duplicates(sockets: list[dict]) -> int:
    total = 0
    for socket in sockets:
        counts = Multiset(key(f) for f in socket["frames"])
        total += sum(n - 1 for n in counts.values() if n > 1)
    return total


def window(socket: dict, start: float, end: float) -> tuple[float, float]:
    """What a socket is expected to have seen: from `start` until the end, or until it closed
    (by the bench, or by the server: the latter is counted in `closed_by_server`)."""
    closed = socket["closed_at"]
    return start, min(end, closed) if closed else end


def _phase_of(sent_at: float, phases: list[dict]) -> str:
    for phase in phases:
        if phase["start_ms"] <= sent_at <= phase["end_ms"]:
            return phase["name"]
    return "between phases"


def check_delivery(
    sockets: list[dict],
    *,
    start: float,
    end: float,
    calls_in_db: set[str],
    ticket_history: dict,
    phases: list[dict] = (),
    position_interval_ms: float = 500,
) -> dict:
    """Lost and duplicated messages per client kind, between `start` (all connected) and `end`."""
    # A socket that never got its snapshot is a failed connection (reported with the connects),
    # not a client that should have received anything.
    never = [s for s in sockets if s["connected_at"] is None]
    sockets = [s for s in sockets if s["connected_at"] is not None]
    displays = [s for s in sockets if s["spec"]["kind"] == "display"]
    patients = [s for s in sockets if s["spec"]["kind"] == "patient"]
    counters = [s for s in sockets if s["spec"]["kind"] == "counter"]
    result = {}

    # The display group: the union of what every display received is what each should have.
    union = {}
    for socket in displays:
        lo, hi = window(socket, start, end)
        for frame in socket["frames"]:
            if frame[TYPE] == "queue_update" and _in(frame, lo, hi):
                union[key(frame)] = frame
    lost = 0
    lost_by_phase = Multiset()
    for socket in displays:
        lo, hi = window(socket, start, end)
        got = {key(f) for f in socket["frames"]}
        for k, f in union.items():
            if lo <= f[SENT_AT] <= hi and k not in got:
                lost += 1
                lost_by_phase[_phase_of(f[SENT_AT], phases)] += 1
    called_seen = {f[QUEUE_ID] for f in union.values() if f[EVENT] == "patient_called"}
    missing_calls = sorted(calls_in_db - called_seen) if displays else []
    lost += len(missing_calls) * len(displays)
    result["display"] = {
        "clients": len(displays),
        "messages_per_client": len(union),
        "frames": sum(len(s["frames"]) for s in displays),
        "calls_in_db": len(calls_in_db),
        "calls_reaching_no_display": len(missing_calls),
        "lost": lost,
        "lost_by_phase": dict(lost_by_phase),
        "duplicates": duplicates(displays),
    }

    # Each counter's staff group gets every display message about its counter.
    lost = 0
    for socket in counters:
        counter_id = socket["spec"]["meta"]["counter_id"]
        lo, hi = window(socket, start, end)
        got = {key(f) for f in socket["frames"] if f[TYPE] == "queue_update"}
        expected = [k for k, f in union.items() if f[COUNTER] == counter_id and lo <= f[SENT_AT] <= hi]
        lost += sum(1 for k in expected if k not in got)
    result["counter"] = {
        "clients": len(counters),
        "frames": sum(len(s["frames"]) for s in counters),
        "checked": bool(displays),
        "lost": lost,
        "duplicates": duplicates(counters),
    }

    # Patients: the positions group of their service (what any member got, every member gets;
    # after each change the displays saw for that service, a list read after it), and their own
    # ticket's history.
    by_service = defaultdict(list)
    for socket in patients:
        by_service[socket["spec"]["meta"]["service_id"]].append(socket)
    lost_positions = stale_positions = lost_personal = expected_personal = 0
    grace = position_interval_ms + 1000
    for service_id, members in by_service.items():
        lo = start
        hi = min(window(s, start, end)[1] for s in members)
        positions = set()
        for socket in members:
            positions |= {key(f) for f in socket["frames"] if f[TYPE] == "queue_position" and _in(f, lo, hi)}
        changes = [f[SENT_AT] for f in union.values() if f[SERVICE] == service_id and lo <= f[SENT_AT] <= hi - grace]
        for socket in members:
            frames = [f for f in socket["frames"] if f[TYPE] == "queue_position"]
            lost_positions += len(positions - {key(f) for f in frames})
            newest = max((f[SEQ] for f in frames if f[SEQ] is not None), default=None)
            stale_positions += sum(1 for c in changes if newest is None or newest < c)
    lost_positions += stale_positions
    for socket in patients:
        ticket_id = socket["spec"]["meta"]["ticket_id"]
        expected = Multiset(ticket_history.get(ticket_id, []))
        expected_personal += sum(expected.values())
        got = Multiset(f[EVENT] for f in socket["frames"] if f[TYPE] == "ticket_update" and f[TICKET] == ticket_id)
        lost_personal += sum(max(0, n - got.get(event, 0)) for event, n in expected.items())
    result["patient"] = {
        "clients": len(patients),
        "frames": sum(len(s["frames"]) for s in patients),
        "personal_events_expected": expected_personal,
        "lost_positions": lost_positions,
        "stale_positions": stale_positions,
        "lost_personal": lost_personal,
        "lost": lost_positions + lost_personal,
        "duplicates": duplicates(patients),
    }
    closed = [s for s in sockets if s["closed_at"] is not None and not s.get("closed_by_bench")]
    result["closed_by_server"] = len(closed)
    result["never_connected"] = len(never)
    result["lost"] = sum(result[k]["lost"] for k in ("display", "counter", "patient"))
    result["duplicates"] = sum(result[k]["duplicates"] for k in ("display", "counter", "patient"))
    return result


def check_bare(sockets: list[dict], events: int) -> dict:
    """The floor: every client must get every one of the `events` broadcasts once."""
    lost = dups = 0
    latencies = []
    for socket in sockets:
        seqs = Multiset(f[SEQ] for f in socket["frames"] if f[SEQ] is not None)
        lost += sum(1 for seq in range(events) if seq not in seqs)
        dups += sum(n - 1 for n in seqs.values() if n > 1)
        latencies += [f[T_RECV] - f[SENT_AT] for f in socket["frames"] if f[SENT_AT] is not None]
    return {
        "clients": len(sockets),
        "events": events,
        "lost": lost,
        "duplicates": dups,
        "latency": summarize(latencies),
    }


def database_checks(*, start_ms: float, end_ms: float, patient_end_ms: float, patient_ticket_ids: list[int]) -> dict:
    """Correctness from the database after the run: double calls, numbering, the window's history."""
    from datetime import UTC, datetime

    from django.db.models import Count, Max, Min

    from bench.minimal.models import Entry
    from queue_app.models import Notification, QueueHistory, Ticket

    start = datetime.fromtimestamp(start_ms / 1000, tz=UTC)
    end = datetime.fromtimestamp(end_ms / 1000, tz=UTC)
    patient_end = datetime.fromtimestamp(patient_end_ms / 1000, tz=UTC)
    called_twice = (
        QueueHistory.objects.filter(action="called").values("ticket_id").annotate(n=Count("id")).filter(n__gt=1).count()
    )
    gaps = duplicate_numbers = not_from_one = 0
    for row in Ticket.objects.values("service_id", "service_date").annotate(
        n=Count("id"), top=Max("number"), bottom=Min("number"), distinct=Count("number", distinct=True)
    ):
        gaps += row["top"] - row["distinct"]
        duplicate_numbers += row["n"] - row["distinct"]
        not_from_one += row["bottom"] != 1
    two_called = (
        Ticket.objects.filter(status="called").values("counter_id").annotate(n=Count("id")).filter(n__gt=1).count()
    )
    calls = set(
        QueueHistory.objects.filter(action="called", at__gte=start, at__lte=end).values_list(
            "ticket__queue_id", flat=True
        )
    )
    history = defaultdict(list)
    rows = QueueHistory.objects.filter(
        ticket_id__in=patient_ticket_ids, at__gte=start, at__lte=patient_end
    ).values_list("ticket_id", "action")
    for ticket_id, action in rows:
        if action in ACTION_TO_TICKET_EVENT:
            history[ticket_id].append(ACTION_TO_TICKET_EVENT[action])
    statuses = dict(Ticket.objects.values("status").annotate(n=Count("id")).values_list("status", "n"))
    # The texts the changes owed, by what became of them (a sender that kept up leaves none due).
    texts = dict(Notification.objects.values("status").annotate(n=Count("id")).values_list("status", "n"))
    write_floor = {"entries": 0, "number_gaps": 0, "duplicate_numbers": 0}
    for row in Entry.objects.values("day", "lane").annotate(
        n=Count("id"), top=Max("number"), distinct=Count("number", distinct=True)
    ):
        write_floor["entries"] += row["n"]
        write_floor["number_gaps"] += row["top"] - row["distinct"]
        write_floor["duplicate_numbers"] += row["n"] - row["distinct"]
    return {
        "correctness": {
            "tickets": sum(statuses.values()),
            "statuses": statuses,
            "tickets_called_twice": called_twice,
            "number_gaps": gaps,
            "duplicate_numbers": duplicate_numbers,
            "numbering_not_from_1": not_from_one,
            "counters_calling_two_at_once": two_called,
            "calls_in_window": len(calls),
            "texts": texts,
            "write_floor": write_floor,
        },
        "calls": calls,
        "ticket_history": dict(history),
    }
