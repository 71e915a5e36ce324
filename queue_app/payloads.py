"""The shapes clients receive, each built here once: API answers, WebSocket snapshots and
events use these functions, and api/schemas.py declares them for the OpenAPI schema.

Builders take what the caller has read (models, or the few columns a selector read) and do no
queries. Public shapes (the display's) carry names per DISPLAY_NAME_MODE and never a phone.
"""

from datetime import datetime

from .estimates import RESIDUAL
from .models import Counter, Ticket
from .names import public_name


def _counter_summary(counter: Counter, *, now: datetime | None) -> dict:
    return {
        "id": counter.pk,
        "counter_name": counter.counter_name,
        "service": counter.service.service_name,
        "service_id": counter.service_id,
        "current_status": counter.current_status,
        "is_open": counter.is_open(now),
    }


def staff_counter(counter: Counter, *, now: datetime | None = None) -> dict:
    """A counter as staff see it: its hours and who holds it."""
    return {
        **_counter_summary(counter, now=now),
        "start_time": counter.start_time.strftime("%H:%M"),
        "end_time": counter.end_time.strftime("%H:%M"),
        "held_by": counter.held_by.display_name if counter.held_by_id and counter.held_by else None,
    }


def priority(row) -> dict | None:
    """A ticket's priority category as staff see it (a Ticket, or a row with priority__code,
    priority__name and priority_to_confirm); never part of a public shape."""
    if isinstance(row, Ticket):
        if row.priority_id is None:
            return None
        code, name, to_confirm = row.priority.code, row.priority.name, row.priority_to_confirm
    else:
        if not row.get("priority__code"):
            return None
        code, name, to_confirm = row["priority__code"], row["priority__name"], row["priority_to_confirm"]
    return {"code": code, "name": name, "to_confirm": to_confirm}


def serving(row, *, mode: str = "full", staff: bool = False) -> dict | None:
    """The ticket called at a counter (a Ticket or a row with queue_id and patient_name); for
    `staff`, with its priority and the note from the counter that sent the patient on."""
    if row is None:
        return None
    queue_id, name = (
        (row.queue_id, row.patient_name) if isinstance(row, Ticket) else (row["queue_id"], row["patient_name"])
    )
    data = {"queue_id": queue_id, "patient_name": name if mode == "full" else public_name(name, mode)}
    if staff:
        data["priority"] = priority(row)
        data["note"] = row.staff_note if isinstance(row, Ticket) else row.get("staff_note", "")
    return data


def waiting_entry(row: dict, *, now: datetime) -> dict:
    """A waiting ticket on a counter's list, in its line's order (staff only: full name, the
    priority category, the note from the last counter, the counter it is expected at)."""
    return {
        "queue_id": row["queue_id"],
        "patient_name": row["patient_name"],
        "joined_at": row["joined_at"].isoformat(),
        "waited_minutes": max(0, int((now - row["joined_at"]).total_seconds() // 60)),
        "priority": priority(row),
        "note": row["staff_note"],
        "expected_counter_id": row["counter_id"],
    }


def priority_result(ticket: Ticket) -> dict:
    """A ticket's priority as staff see it after a change (staff only)."""
    return {"queue_id": ticket.queue_id, "priority": priority(ticket)}


def counter_state(
    counter: Counter,
    *,
    serving_row,
    queue_length: int,
    now: datetime,
    waiting_rows=None,
    versions: dict | None = None,
    expected_here: int | None = None,
) -> dict:
    """The staff view of one counter: the ticket it serves (a Ticket, a row or None), how many
    wait and, given their rows, who (the first WAITING_LIST_LIMIT). A snapshot also carries
    the `versions` it is at least as new as."""
    data = {
        "counter": staff_counter(counter, now=now),
        "serving_patient": serving(serving_row, staff=True),
        "queue_length": queue_length,
    }
    if expected_here is not None:
        data["expected_here"] = expected_here
    if waiting_rows is not None:
        data["waiting"] = [waiting_entry(r, now=now) for r in waiting_rows]
    if versions is not None:
        data["versions"] = versions
    return data


def queue_update(
    event: str,
    counter: Counter | None,
    state,
    *,
    service_id: int,
    version: int | None,
    lengths: dict,
    now: datetime,
    mode: str,
) -> dict:
    """A `queue_update` event about one counter (None: the service's pool). `mode` "staff":
    full names and the counter's waiting list; otherwise a DISPLAY_NAME_MODE for the display.
    `version`: the service's state version after the change (every frame of a change has it)."""
    counter_id = counter.pk if counter else None
    data = {
        "type": "queue_update",
        "event": event,
        "counter_id": counter_id,
        "counter_name": counter.counter_name if counter else None,
        "service_id": service_id,
        "version": version,
        "current_status": counter.current_status if counter else None,
        "is_open": counter.is_open(now) if counter else None,
        "serving_patient": serving(
            state.serving.get(counter_id) if counter else None, mode=_name_mode(mode), staff=mode == "staff"
        ),
        "queue_length": state.line_length(counter),
        "queue_lengths": lengths,
        "unassigned": state.queue_length(None),
    }
    if mode == "staff":
        data["expected_here"] = state.queue_length(counter_id) if counter else 0
        data["waiting"] = [waiting_entry(r, now=now) for r in state.waiting_rows(counter)] if counter else []
    return data


def _name_mode(mode: str) -> str:
    return "full" if mode == "staff" else mode


def ticket_update(
    event: str, ticket: Ticket, *, counter: Counter | None, note: str = "", version: int | None = None
) -> dict:
    """One patient's personal news (the ticket.<id> group): called, moved, served, expired…
    `version`: the service's state version after the change (None: no queue change, e.g. expired)."""
    return {
        "type": "ticket_update",
        "event": event,
        "service_id": ticket.service_id,
        "version": version,
        "ticket": {
            "id": ticket.pk,
            "queue_id": ticket.queue_id,
            "number": ticket.number,
            "status": ticket.status,
            "service_id": ticket.service_id,
            "counter_id": counter.pk if counter else None,
            "counter": counter.counter_name if counter else None,
            "may_come_back": ticket.may_come_back,
        },
        "message": note,
    }


def patient_ticket(
    ticket: Ticket, *, people_ahead: int | None = None, minutes: float | None = None, wait: int | None = None
) -> dict:
    """The patient's view of a ticket; with `people_ahead` (in their line), `minutes` (what one
    place in that line takes) and `wait` (estimates.wait_minutes: None while no counter serves
    it), where they stand and how long they may wait. `counter` is, while waiting, the counter
    they are expected at; who calls them says where to go."""
    data = {
        "id": ticket.pk,
        "queue_id": ticket.queue_id,
        "number": ticket.number,
        "service": ticket.service.service_name,
        "service_id": ticket.service_id,
        "counter": ticket.counter.counter_name if ticket.counter_id else None,
        "counter_id": ticket.counter_id,
        "status": ticket.status,
        "patient_name": ticket.patient_name,
        "joined_at": ticket.joined_at.isoformat(),
        "called_at": ticket.called_at.isoformat() if ticket.called_at else None,
        "service_date": ticket.service_date.isoformat(),
        # One line for the service: while waiting, `counter` is only where they are expected.
        "one_line": not ticket.service.per_counter_lines,
        "notify": ticket.notify,
    }
    if people_ahead is not None:
        waiting = ticket.status == Ticket.Status.WAITING
        data["people_ahead"] = people_ahead
        data["position"] = people_ahead + 1 if waiting else (0 if people_ahead == 0 else None)
        data["estimated_wait_minutes"] = wait if waiting else 0
        data["minutes_per_place"] = round(minutes, 2)
        data["may_come_back"] = ticket.may_come_back
    return data


def versions(pairs) -> dict:
    """{"<service id>": state version}: what a snapshot is at least as new as (JSON keys are text)."""
    return {str(service_id): version for service_id, version in pairs}


def display_snapshot(counters, state, recent, *, now: datetime, mode: str, facility: str, versions: dict) -> dict:
    """What the wall display shows: every counter and the latest calls (public), and the state
    version of each service, read before the rest."""
    return {
        "versions": versions,
        "counters": [
            {
                **_counter_summary(c, now=now),
                "serving_patient": serving(state.serving.get(c.pk), mode=mode),
                "queue_length": state.line_length(c),
            }
            for c in counters
        ],
        "recent_calls": [
            {
                "queue_id": r["queue_id"],
                "patient_name": public_name(r["patient_name"], mode),
                "counter_id": r["counter_id"],
                "counter_name": r["counter__counter_name"],
                "service_id": r["counter__service_id"],
                "called_at": r["called_at"].isoformat(),
                "status": r["status"],
            }
            for r in recent
        ],
        "facility": facility,
        "name_mode": mode,
        "server_time": now.isoformat(),
    }


def positions(service_id: int, numbers: dict, minutes: float, *, as_of: float, version: int) -> dict:
    """The queue.<service_id> message: ticket numbers only, no names, no priorities. `line`: the
    service's one line in order (a phone's position is its index there; null with a line per
    counter: then its counter's list, in order). `as_of` (ms since the epoch, taken before the
    read) lets a phone drop a message older than one it has shown; `version`, the service's
    state version read before the numbers, that it is at least as new."""
    serving_numbers, waiting = numbers["serving"], numbers["waiting"]
    counters = {}
    for counter_id in set(serving_numbers) | {k for k in waiting if k is not None}:
        counters[str(counter_id)] = {"serving": serving_numbers.get(counter_id), "waiting": waiting.get(counter_id, [])}
    return {
        "type": "queue_position",
        "service_id": service_id,
        "version": version,
        "counters": counters,
        "unassigned": waiting.get(None, []),
        "line": numbers["line"],
        "minutes_per_place": round(minutes, 2),
        # What is left of the visits under way, in places (estimates.RESIDUAL): the phone's estimate
        # is (people ahead + this) x minutes_per_place, as the server's.
        "places_under_way": RESIDUAL,
        "as_of": as_of,
    }
