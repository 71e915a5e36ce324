"""The order of a service's line, checked against a small reference model of the Queue rules.

hypothesis drives random sequences of joins (with or without a priority category, emergencies
included), calls, no-shows and recalls, breaks, closings, reopenings, staff logging out and in,
transfers to the other service, going back to the line, category changes and cancellations, over
two services with two or three staffed counters each. The model below is written from DESIGN.md's
rules, not from queue_app.ordering:

- a call takes the earliest emergency; else, when a priority ticket waits and fewer than K
  priority calls were made in a row while someone without priority waited (or nobody without
  priority waits), the highest rank, earliest joined; else the earliest joined without priority.
  K = 0: only emergencies go ahead, everyone else in join order.
- a priority call counts towards the K in a row only while someone without priority waits; an
  emergency call leaves the count alone; any other call starts it again.

After every step: nothing called twice, nothing lost, the ticket called is the model's, the
starvation bound holds, and the positions the patients' pages, the phones' position list and the
staff's list show are the model's. With a line per counter (the service option) who is called
depends on the counters' own lines: there only nothing called twice, nothing lost and no open
counter idle while its service's patients wait are checked.
"""

from dataclasses import dataclass, field

import pytest
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from queue_app import selectors, services
from queue_app.models import Counter, PriorityCategory, Ticket

from ..conftest import ON_MYSQL
from ..factories import CounterFactory, PatientFactory, ServiceFactory, StaffFactory

pytestmark = pytest.mark.slow

WAITING, CALLED, SKIPPED, DONE = "waiting", "called", "skipped", "done"
ACTIVE = (WAITING, CALLED)
OPEN = (Counter.Status.AVAILABLE, Counter.Status.BUSY)
# name, code, rank, emergency: two of the same rank, called first come, first served between them
CATEGORIES = [
    ("Emergency", "EMG", 9, True),
    ("Disability", "DIS", 3, False),
    ("Pregnant", "PRG", 3, False),
    ("Elderly 60+", "60+", 2, False),
]
ENDINGS = ["served"] * 4 + ["no-show", "transfer", "back"]
CATEGORY = st.sampled_from([None, None, None, 0, 1, 2, 3])  # an index in CATEGORIES, or none
SETTINGS = settings(
    # Fewer on MariaDB, whose every statement costs a round trip: the suite's time stays bounded.
    max_examples=8 if ON_MYSQL else 25,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@dataclass
class Model:
    """What the rules say of a ticket: its service, state, category and arrival."""

    service: int
    joined: tuple  # (joined_at, id): the order of arrival
    rank: int = 0
    emergency: bool = False
    state: str = WAITING
    counter: int | None = None  # where it is being served (CALLED)


@dataclass
class ServiceModel:
    in_a_row: int
    counters: list = field(default_factory=list)
    streak: int = 0  # priority calls in a row while someone without priority waited


class QueueOrder(RuleBasedStateMachine):
    per_counter = False

    def __init__(self):
        super().__init__()
        # Each example in a savepoint of the test's transaction, rolled back in teardown.
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        selectors.forget_minutes()
        selectors.forget_versions()
        self.staff_member = StaffFactory(username="reception", role="reception")
        # The migration's default set, ranked as this test needs.
        self.categories = [
            PriorityCategory.objects.update_or_create(
                code=code, defaults={"name": name, "rank": rank, "is_emergency": emergency, "is_active": True}
            )[0]
            for name, code, rank, emergency in CATEGORIES
        ]
        self.services = {}
        self.counters = {}  # id -> Counter
        self.status = {}  # counter id -> status
        self.staff_of = {}  # counter id -> the staff member who works there
        self.held = set()  # counters someone holds (logged in)
        self.tickets: dict[int, Model] = {}
        self.checks = 0
        # waiting ticket without priority -> priority calls since one without priority was last called
        self.overtaken = {}

    @initialize(
        in_a_row=st.tuples(st.integers(0, 3), st.integers(0, 3)),
        sizes=st.tuples(st.integers(2, 3), st.integers(2, 3)),
        crowd=st.lists(st.tuples(st.integers(0, 1), CATEGORY), max_size=8),
    )
    def open_the_clinic(self, in_a_row, sizes, crowd):
        """Two services with their counters staffed, and the patients already there at opening."""
        for n, (k, size) in enumerate(zip(in_a_row, sizes, strict=True)):
            service = ServiceFactory(
                service_name=f"Service{n}", priority_calls_in_a_row=k, per_counter_lines=self.per_counter
            )
            model = self.services[service.pk] = ServiceModel(in_a_row=k)
            for i in range(size):
                counter = CounterFactory(counter_name=f"S{n} C{i}", service=service)
                member = StaffFactory(username=f"op{n}{i}")
                counter = services.hold_counter(counter=counter, staff=member)
                self.counters[counter.pk] = counter
                self.status[counter.pk] = counter.current_status
                self.staff_of[counter.pk] = member
                self.held.add(counter.pk)
                model.counters.append(counter.pk)
        for which, category in crowd:
            self.join(which, [category])

    def teardown(self):
        transaction.set_rollback(True)
        self.atomic.__exit__(None, None, None)

    # --- the model -------------------------------------------------------------------------------

    def waiting(self, service_id):
        return sorted(
            (pk for pk, t in self.tickets.items() if t.state == WAITING and t.service == service_id),
            key=lambda pk: self.tickets[pk].joined,
        )

    def ordinary(self, service_id):
        return [pk for pk in self.waiting(service_id) if not (self.tickets[pk].rank or self.tickets[pk].emergency)]

    def model_next(self, service_id):
        """Who a call of the service takes now, by the rules."""
        waiting = self.waiting(service_id)
        if not waiting:
            return None
        emergencies = [pk for pk in waiting if self.tickets[pk].emergency]
        if emergencies:
            return emergencies[0]
        model = self.services[service_id]
        if model.in_a_row == 0:
            return waiting[0]
        priority = [pk for pk in waiting if self.tickets[pk].rank]
        ordinary = [pk for pk in waiting if not self.tickets[pk].rank]
        if priority and (model.streak < model.in_a_row or not ordinary):
            best = max(self.tickets[pk].rank for pk in priority)
            return next(pk for pk in priority if self.tickets[pk].rank == best)
        return ordinary[0]

    def model_line(self, service_id):
        """The whole line in call order: the calls the model would make with nobody else arriving."""
        saved = {pk: t.state for pk, t in self.tickets.items()}
        streak = self.services[service_id].streak
        line = []
        while (pk := self.model_next(service_id)) is not None:
            self.count_call(service_id, pk)
            self.tickets[pk].state = CALLED
            line.append(pk)
        for pk, state in saved.items():
            self.tickets[pk].state = state
        self.services[service_id].streak = streak
        return line

    def count_call(self, service_id, pk):
        ticket, model = self.tickets[pk], self.services[service_id]
        if ticket.emergency:
            return
        if ticket.rank and any(other != pk for other in self.ordinary(service_id)):
            model.streak += 1
        else:
            model.streak = 0

    def is_open(self, counter_id):
        return counter_id in self.held and self.status[counter_id] in OPEN

    def serving(self, counter_id):
        """Someone is at the counter and the staff member is there to send them on."""
        return counter_id in self.held and self.current(counter_id) is not None

    def current(self, counter_id):
        return next((pk for pk, t in self.tickets.items() if t.state == CALLED and t.counter == counter_id), None)

    def set_category(self, pk, category):
        ticket = self.tickets[pk]
        ticket.rank = category.rank if category else 0
        ticket.emergency = bool(category and category.is_emergency)
        if ticket.rank:
            self.overtaken.pop(pk, None)
        elif ticket.state == WAITING:
            self.overtaken.setdefault(pk, 0)

    # --- rules -----------------------------------------------------------------------------------

    @rule(which=st.integers(0, 1), categories=st.lists(CATEGORY, min_size=1, max_size=3))
    def join(self, which, categories):
        """One to three patients join a service, each with a category or none."""
        service_id = sorted(self.services)[which]
        for index in categories:
            category = None if index is None else self.categories[index]
            ticket, new = services.join(
                patient=PatientFactory(),
                service=self.counters_service(service_id),
                by=self.staff_member,
                priority=category,
            )
            assert new
            self.tickets[ticket.pk] = Model(service=service_id, joined=(ticket.joined_at, ticket.pk))
            self.set_category(ticket.pk, category)

    def counters_service(self, service_id):
        return next(c.service for c in self.counters.values() if c.service_id == service_id)

    def pick_counter(self, data, wanted=lambda pk: True):
        candidates = sorted(pk for pk in self.counters if wanted(pk))
        if not candidates:
            return None
        return data.draw(st.sampled_from(candidates), label="counter")

    @rule(data=st.data(), endings=st.lists(st.sampled_from(ENDINGS), min_size=1, max_size=4))
    def calls(self, data, endings):
        """A few visits end in a row, at counters picked at random: the patient served (and the
        next called), a no-show skipped, sent to the other service or back to the line."""
        for ending in endings:
            can_call = lambda pk: self.is_open(pk) or self.serving(pk)  # noqa: E731
            counter_id = self.pick_counter(data, can_call if ending == "served" else self.serving)
            if counter_id is None:
                continue
            if ending == "transfer":
                self.send_on(counter_id, note="")
            elif ending == "back":
                self.back_at(counter_id)
            else:
                self.call_at(counter_id, no_show=ending == "no-show")

    def call_at(self, counter_id, no_show):
        counter, service_id = self.counters[counter_id], self.counters[counter_id].service_id
        by = self.staff_of[counter_id]
        current = self.current(counter_id)
        expected = self.model_next(service_id) if self.is_open(counter_id) else None
        if current is None and not self.is_open(counter_id):
            with pytest.raises(services.CounterNotOpen):
                services.serve_next(counter=counter, by=by)
            return
        if current is None and expected is None:
            with pytest.raises(services.NobodyWaiting):
                services.serve_next(counter=counter, by=by)
            return
        action = services.skip if no_show else services.serve_next
        call = action(counter=counter, by=by)
        if current is not None:
            assert call.finished.pk == current
            self.tickets[current].state = SKIPPED if no_show else DONE
        called = call.ticket.pk if call.ticket else None
        if called is not None:
            # Nothing called twice: it was waiting, in this service, a moment ago.
            assert self.tickets[called].state == WAITING, f"ticket {called} called while {self.tickets[called].state}"
            assert self.tickets[called].service == service_id
        if self.per_counter:
            # No counter idles while its service's patients wait.
            assert (called is None) == (expected is None)
        else:
            assert called == expected, self.explain(service_id, called, expected)
        if called is None:
            return
        self.count_overtakes(service_id, called)
        self.count_call(service_id, called)
        self.tickets[called].state, self.tickets[called].counter = CALLED, counter_id

    def count_overtakes(self, service_id, called):
        """The starvation bound: priority calls (not emergencies) seen by each waiting ticket
        without priority since an ordinary ticket was last called."""
        ticket = self.tickets[called]
        if ticket.emergency:
            return
        waiting_ordinary = [pk for pk in self.ordinary(service_id) if pk != called]
        if ticket.rank:
            for pk in waiting_ordinary:
                self.overtaken[pk] = self.overtaken.get(pk, 0) + 1
        else:
            for pk in waiting_ordinary:
                self.overtaken[pk] = 0
        self.overtaken.pop(called, None)

    def explain(self, service_id, called, expected):
        def show(pk):
            if pk is None:
                return "nobody"
            t = self.tickets[pk]
            return f"#{pk}(rank {t.rank}{', EMG' if t.emergency else ''})"

        line = ", ".join(show(pk) for pk in self.waiting(service_id))
        model = self.services[service_id]
        return (
            f"called {show(called)}, the model calls {show(expected)}; waiting in join order: {line}; "
            f"streak {model.streak} of at most {model.in_a_row}"
        )

    @rule(
        data=st.data(),
        status=st.sampled_from([Counter.Status.BREAK, Counter.Status.CLOSED, "available", "available", "busy"]),
    )
    def set_status(self, data, status):
        counter_id = self.pick_counter(data, lambda pk: pk in self.held)
        if counter_id is None:
            return
        services.set_status(counter=self.counters[counter_id], status=status, by=self.staff_of[counter_id])
        self.status[counter_id] = status

    @rule(data=st.data(), note=st.sampled_from(["", "fasting sample"]))
    @precondition(lambda self: any(self.serving(pk) for pk in self.counters))
    def transfer(self, data, note):
        self.send_on(self.pick_counter(data, self.serving), note=note)

    def send_on(self, counter_id, *, note):
        counter = self.counters[counter_id]
        target = next(pk for pk in self.services if pk != counter.service_id)
        pk = self.current(counter_id)
        moved = services.transfer(
            counter=counter, service=self.counters_service(target), by=self.staff_of[counter_id], note=note
        )
        assert moved.pk == pk and moved.service_id == target and moved.status == Ticket.Status.WAITING
        ticket = self.tickets[pk]
        ticket.service, ticket.state, ticket.counter = target, WAITING, None
        if not ticket.rank:
            self.overtaken[pk] = 0

    @rule(data=st.data())
    @precondition(lambda self: any(self.serving(pk) for pk in self.counters))
    def back_to_line(self, data):
        self.back_at(self.pick_counter(data, self.serving))

    def back_at(self, counter_id):
        counter = self.counters[counter_id]
        pk = self.current(counter_id)
        assert services.back_to_line(counter=counter, by=self.staff_of[counter_id]).pk == pk
        self.tickets[pk].state, self.tickets[pk].counter = WAITING, None
        if not self.tickets[pk].rank:
            self.overtaken[pk] = 0

    @rule(data=st.data(), category=st.sampled_from([None, 0, 1, 2, 3]))
    @precondition(lambda self: any(t.state in ACTIVE for t in self.tickets.values()))
    def set_priority(self, data, category):
        pk = data.draw(st.sampled_from(sorted(pk for pk, t in self.tickets.items() if t.state in ACTIVE)))
        category = None if category is None else self.categories[category]
        staff = self.staff_of[self.services[self.tickets[pk].service].counters[0]]
        services.set_priority(ticket=Ticket.objects.get(pk=pk), priority=category, by=staff)
        self.set_category(pk, category)

    @rule(data=st.data())
    @precondition(lambda self: any(t.state in ACTIVE for t in self.tickets.values()))
    def cancel(self, data):
        pk = data.draw(st.sampled_from(sorted(pk for pk, t in self.tickets.items() if t.state in ACTIVE)))
        services.cancel(ticket=Ticket.objects.get(pk=pk), by=self.staff_member)
        self.tickets[pk].state = DONE
        self.overtaken.pop(pk, None)

    @rule(data=st.data())
    @precondition(lambda self: any(t.state == SKIPPED for t in self.tickets.values()))
    def recall(self, data):
        """A patient who missed their call comes back: they wait again in their place."""
        pk = data.draw(st.sampled_from(sorted(pk for pk, t in self.tickets.items() if t.state == SKIPPED)))
        services.recall(ticket=Ticket.objects.get(pk=pk), by=self.staff_member)
        self.tickets[pk].state, self.tickets[pk].counter = WAITING, None
        if not self.tickets[pk].rank:
            self.overtaken[pk] = 0

    @rule(data=st.data())
    @precondition(lambda self: self.held)
    def log_out(self, data):
        counter_id = self.pick_counter(data, lambda pk: pk in self.held)
        services.release_counter(staff=self.staff_of[counter_id])
        self.held.discard(counter_id)
        self.status[counter_id] = Counter.Status.CLOSED

    @rule(data=st.data())
    @precondition(lambda self: len(self.held) < len(self.counters))
    def log_in(self, data):
        counter_id = self.pick_counter(data, lambda pk: pk not in self.held)
        services.hold_counter(counter=self.counters[counter_id], staff=self.staff_of[counter_id])
        self.held.add(counter_id)
        if self.status[counter_id] == Counter.Status.CLOSED:
            self.status[counter_id] = Counter.Status.AVAILABLE

    # --- what must hold after every step ---------------------------------------------------------

    @invariant()
    def nothing_called_twice_or_lost(self):
        rows = Ticket.objects.values_list("id", "status", "service_id", "counter_id")
        states = {Ticket.Status.WAITING: WAITING, Ticket.Status.CALLED: CALLED, Ticket.Status.SKIPPED: SKIPPED}
        found = {pk: (states.get(status, DONE), service, counter) for pk, status, service, counter in rows}
        assert set(found) == set(self.tickets), "a ticket appeared or disappeared"
        for pk, ticket in self.tickets.items():
            state, service, counter = found[pk]
            assert (state, service) == (ticket.state, ticket.service), f"ticket {pk}: {found[pk]} vs {ticket}"
            if state == CALLED:
                assert counter == ticket.counter
        serving = [counter for state, _service, counter in found.values() if state == CALLED]
        assert len(serving) == len(set(serving)), "a counter serves two tickets"

    @invariant()
    def the_starvation_bound_holds(self):
        if self.per_counter:
            return  # each counter's own line keeps its own count: see the last test below
        for pk, seen in self.overtaken.items():
            bound = self.services[self.tickets[pk].service].in_a_row
            if bound:
                assert seen <= bound, f"ticket {pk} without priority saw {seen} priority calls in a row (K={bound})"

    @invariant()
    def positions_shown_are_the_models(self):
        if self.per_counter or not self.services:
            return
        tickets = {t.pk: t for t in Ticket.objects.filter(status=Ticket.Status.WAITING).select_related("service")}
        for service_id in self.services:
            line = self.model_line(service_id)
            numbers = {pk: tickets[pk].number for pk in line}
            assert selectors.positions_now(service_id)["line"] == [numbers[pk] for pk in line]
            # The patients' pages: the tail's, and one more, a different place each step.
            if line:
                self.checks += 1
                some = self.checks % len(line)
                assert selectors.people_ahead(tickets[line[some]]) == some
                assert selectors.ticket_dict(tickets[line[-1]])["position"] == len(line)
            # The staff's list (with one line, the same at every counter of the service).
            state = selectors.queue_state(service_ids=[service_id], rows_for={self.services[service_id].counters[0]})
            assert [row["id"] for row in state.line_rows.get(service_id, [])] == line[: settings_limit()]


def settings_limit():
    from django.conf import settings as django_settings

    return django_settings.WAITING_LIST_LIMIT


def test_one_line_per_service_follows_the_rules(db):
    run_state_machine_as_test(QueueOrder, settings=SETTINGS)


class PerCounterLines(QueueOrder):
    per_counter = True


def test_a_line_per_counter_neither_calls_twice_nor_loses_a_ticket(db):
    run_state_machine_as_test(PerCounterLines, settings=settings(SETTINGS, max_examples=4 if ON_MYSQL else 12))


def test_a_line_per_counter_holds_the_bound_at_each_counter(per_counter_lines, staff, patients):
    """Found by the state machine above: with one count of priority calls for the whole service,
    another counter's call of a patient without priority restarted it, and this counter passed
    its own such patient twice with K = 1."""
    opd = per_counter_lines
    opd.priority_calls_in_a_row = 1
    opd.save(update_fields=["priority_calls_in_a_row"])
    pregnant = PriorityCategory.objects.update_or_create(code="PRG", defaults={"name": "Pregnant", "rank": 2})[0]
    first, second = (services.hold_counter(counter=CounterFactory(service=opd), staff=member) for member in staff[:2])
    services.set_status(counter=second, status=Counter.Status.BREAK, by=staff[1])
    # All three wait at the first counter: two priority patients, then one without.
    p1, _p2, ordinary = (
        services.join(patient=patients[i], service=opd, by=staff[2], priority=category)[0]
        for i, category in enumerate([pregnant, pregnant, None])
    )
    services.set_status(counter=second, status=Counter.Status.AVAILABLE, by=staff[1])
    services.join(patient=patients[3], service=opd, by=staff[2])  # waits at the second counter

    assert services.serve_next(counter=first, by=staff[0]).ticket == p1
    services.serve_next(counter=second, by=staff[1])  # calls its own patient, without priority
    # K = 1: the first counter has called one priority patient while `ordinary` waited there.
    assert services.serve_next(counter=first, by=staff[0]).ticket == ordinary
