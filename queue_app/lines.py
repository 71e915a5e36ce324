"""Reading a service's line in its order (queue_app/ordering.py): who is next, where each
waiting ticket stands, and what the staff lists show. One query reads a service's waiting
tickets as small rows; the order is worked out in Python, so the count of queries never grows
with the line."""

from collections import Counter as Tally
from collections import defaultdict
from datetime import datetime

from .models import MAX_ID, Counter, Service, Ticket, service_day
from .ordering import Place, line
from .statements import remembered

# What a staff list shows of a waiting ticket, besides its place.
ROW_FIELDS = (
    "id",
    "queue_id",
    "patient_name",
    "joined_at",
    "counter_id",
    "priority__code",
    "priority__name",
    "priority_to_confirm",
    "staff_note",
)


def places(service_id: int, *, day=None) -> list[tuple[Place, int, int | None]]:
    """The service's waiting tickets of the day: (place, number, expected counter id), one query."""
    return [
        (Place(id=pk, joined_at=joined, rank=rank or 0, emergency=bool(emergency)), number, counter_id)
        for pk, joined, rank, emergency, number, counter_id in _waiting(service_id, day or service_day())
    ]


@remembered
def _waiting(service_id: int, day):
    return (
        Ticket.objects.of_day(day)
        .waiting()
        .filter(service_id=service_id)
        .values_list("id", "joined_at", "priority__rank", "priority__is_emergency", "number", "counter_id")
    )


class Lines:
    """A service's waiting tickets in order: the service's one line, or each counter's line (and
    the pool's) when the service has a line per counter.

    A change reads them once under the service's lock and hands them on (joined, without): the
    counts, the texts owed and the staff lists of its messages all come from that one read.
    `streaks`: each counter's priority streak, if the caller has read its counters."""

    def __init__(self, service: Service, *, day=None, rows=None, streaks: dict | None = None):
        self.service = service
        self.rows = rows = places(service.pk, day=day) if rows is None else rows
        self.numbers = {place.id: number for place, number, _ in rows}
        self.counter_of = {place.id: counter_id for place, _, counter_id in rows}
        order = {"streak": service.priority_streak, "in_a_row": service.priority_calls_in_a_row}
        self.service_line = line([p for p, _, _ in rows], **order)
        self.by_counter = defaultdict(list)
        self.streaks = streaks or {}
        if service.per_counter_lines:
            # Each counter's line keeps its own count of priority calls in a row (one more query).
            if streaks is None:
                streaks = dict(Counter.objects.filter(service_id=service.pk).values_list("pk", "priority_streak"))
            self.streaks = streaks
            grouped = defaultdict(list)
            for place, _, counter_id in rows:
                grouped[counter_id].append(place)
            self.by_counter = defaultdict(
                list,
                {
                    c: line(ps, streak=streaks.get(c, service.priority_streak), in_a_row=order["in_a_row"])
                    for c, ps in grouped.items()
                },
            )

    def joined(self, ticket: Ticket) -> "Lines":
        """The lines once a ticket read after them has joined (its row is new in this change)."""
        return self._with(_place(ticket.pk, ticket.joined_at, ticket.priority), ticket.number, ticket.counter_id)

    def ahead_of_newcomer(self, *, counter_id, joined_at: datetime, priority=None) -> int:
        """How many would stand before a ticket joining now at `counter_id`, before it exists
        (it sorts after every ticket of its class, its id being larger than theirs)."""
        return self._with(_place(MAX_ID, joined_at, priority), 0, counter_id).ahead_of(MAX_ID)

    def _with(self, place: Place, number: int, counter_id) -> "Lines":
        return Lines(self.service, rows=[*self.rows, (place, number, counter_id)], streaks=self.streaks or None)

    def without(self, ticket_id: int) -> "Lines":
        """The lines once the ticket has left them (called), with the service's order settings now."""
        rows = [row for row in self.rows if row[0].id != ticket_id]
        return Lines(self.service, rows=rows, streaks=self.streaks or None)

    @property
    def one_line(self) -> bool:
        return not self.service.per_counter_lines

    def line_of(self, counter_id) -> list[Place]:
        """The line a counter calls from first (one line: the service's)."""
        return self.service_line if self.one_line else self.by_counter.get(counter_id, [])

    def next_for(self, counter_id) -> Place | None:
        """Who `counter_id` calls next: the head of its line; with a line per counter and its own
        empty, the service's first (no counter idles while patients wait)."""
        own = self.line_of(counter_id)
        if own:
            return own[0]
        return self.service_line[0] if self.service_line else None

    def ahead_of(self, ticket_id: int) -> int | None:
        """How many stand before the ticket in its line (None: not waiting)."""
        if ticket_id not in self.counter_of:
            return None
        ids = [p.id for p in self.line_of(self.counter_of[ticket_id])]
        return ids.index(ticket_id)

    def lengths(self) -> dict:
        """How many wait expected at each counter (None: unassigned), as selectors.waiting_lengths."""
        return dict(Tally(self.counter_of.values()))

    def near_the_front(self, within: int) -> dict[int, int]:
        """{ticket id: people ahead} of the tickets with at most `within` ahead in their line (the
        turn-near text: services/notifications.py)."""
        lines = [self.service_line] if self.one_line else list(self.by_counter.values())
        return {place.id: ahead for line_ in lines for ahead, place in enumerate(line_[: within + 1])}

    def numbers_in_order(self) -> list[int]:
        """Ticket numbers of the service's line, in order."""
        return [self.numbers[p.id] for p in self.service_line]


def _place(ticket_id: int, joined_at: datetime, priority) -> Place:
    return Place(
        id=ticket_id,
        joined_at=joined_at,
        rank=(priority.rank or 0) if priority else 0,
        emergency=bool(priority and priority.is_emergency),
    )


def counter_streaks(counters) -> dict:
    """Lines' `streaks` from the service's counters as a rule has read them."""
    return {c.pk: c.priority_streak for c in counters}


def service_lines(service_id: int, *, day=None) -> Lines:
    """The service's lines now (two queries: the service's order settings, its waiting tickets)."""
    service = Service.objects.only("pk", "per_counter_lines", "priority_streak", "priority_calls_in_a_row").get(
        pk=service_id
    )
    return Lines(service, day=day or service_day())


def staff_rows(ids: list[int]) -> list[dict]:
    """The rows a staff list shows for these waiting tickets, in the given order (one query)."""
    found = {row["id"]: row for row in _rows(tuple(ids))}
    return [found[pk] for pk in ids if pk in found]


@remembered(values=("ids",))
def _rows(ids: tuple):
    return Ticket.objects.filter(pk__in=ids).values(*ROW_FIELDS)
