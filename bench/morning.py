"""A simulated clinic morning: is the line fair, and does anyone get lost?

    .venv/bin/python -m bench.morning [--seed N] [--order one-line|per-counter|both] [--patients 180]

Seeded and time-compressed: the real services (join, serve_next, skip, set_status, transfer,
set_priority) run on a throwaway SQLite database while a simulated clock (django.utils.timezone.now)
jumps from one event to the next. Patients arrive over three hours (Poisson); three OPD counters
(one slow doctor) and two Test counters serve them; one OPD counter takes a break mid-morning and
one Test counter closes; some patients do not show up (skipped), some are sent from OPD to Test,
a few have priority (elderly, pregnant, one emergency) and two are given one while they wait.
The same morning (same seed) runs once per order mode: one line per service, or a line per counter.

What it reports, per mode:
- overtakes within a class: a call of a ticket while a ticket of the same service and category
  (or none) that joined earlier waited; the minutes a patient lost to them (from the first call of
  someone of their class who joined after them, to their own call);
- positions that went up (a patient moved back in the line), by what caused it;
- waits (first call minus arrival in the service) per service: median, p90, max;
- correctness: tickets called twice, lost (never finished by the end) or called without the
  patient's page being told (no `called` event on the ticket's group).

The figures and their table are computed in bench/morning_figures.py.
"""

import argparse
import heapq
import json
import os
import random
import shutil
import tempfile
from collections import Counter as Tally
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

from .morning_figures import figures, table
from .servers import migrate, server_env

# name, service, mean minutes per patient
COUNTERS = [
    ("OPD 1", "OPD", 3.0),
    ("OPD 2", "OPD", 3.0),
    ("OPD 3 (slow doctor)", "OPD", 6.0),
    ("Test 1", "Test", 3.0),
    ("Test 2", "Test", 3.0),
]
BREAK = ("OPD 2", 1 / 3, 4 / 9)  # counter, from and to (parts of the morning: minutes 60 to 80 of 180)
CLOSING = ("Test 2", 5 / 6)  # counter, when (minute 150 of 180)
NO_SHOW = 0.06  # of the patients called
NO_SHOW_WAIT = 1.0  # minutes a counter waits for a patient who does not come
TRANSFER = 0.15  # of OPD patients, sent on to Test at the end of their visit
CATEGORIES = [("Elderly 60+", "60+", 2, 0.08), ("Pregnant", "PRG", 3, 0.03)]  # name, code, rank, share


@dataclass
class Visit:
    """What the bench remembers of one patient's ticket."""

    pk: int
    service: str
    joined_at: object
    klass: tuple  # (emergency, rank): who is served first come, first served among themselves
    arrived: float  # minute the ticket entered its present service (arrival, or transfer)
    called: list = field(default_factory=list)  # (service, minutes waited) of each call
    no_show: bool = False
    transfer: bool = False
    state: str = "waiting"
    first_passed: float | None = None  # minute someone of its class who joined after it was called
    estimates: list = field(default_factory=list)  # (minute, minutes estimated, people ahead) while waiting


class Clock:
    def __init__(self, start):
        self.start, self.minutes = start, 0.0

    def now(self):
        return self.start + timedelta(minutes=self.minutes)


def simulate(*, seed: int, order: str, patients: int = 180, minutes: float = 180.0) -> dict:
    """Run one morning on the configured database (Django set up); return its figures."""
    from django.utils import timezone

    real_now = timezone.now()
    start = timezone.localtime(real_now).replace(hour=8, minute=0, second=0, microsecond=0)
    clock = Clock(start)
    with mock.patch("django.utils.timezone.now", clock.now):
        return Morning(seed=seed, order=order, patients=patients, minutes=minutes, clock=clock).run()


class Morning:
    def __init__(self, *, seed, order, patients, minutes, clock):
        from datetime import time as hour

        from queue_app import events, services
        from queue_app.models import Counter, Patient, Service, Staff

        # Who comes, when and with what is drawn first (the same in every mode); how long each
        # visit takes, from a second stream as the visits happen.
        self.services_api, self.clock = services, clock
        self.rng, self.timing = random.Random(seed), random.Random(seed + 1)
        self.sent_called = set()  # ticket ids told "called" on their own group
        self.original_send = events.send
        events.send = self.record_events
        self.events_module = events
        per_counter = order == "per-counter"
        suffix = order.replace("-", " ")
        self.services = {
            name: Service.objects.create(service_name=f"{name} {suffix}", week_days=127, per_counter_lines=per_counter)
            for name in ("OPD", "Test")
        }
        self.reception = Staff.objects.create(username=f"reception-{order}", role=Staff.Role.RECEPTION)
        # The migration's default categories, as this morning ranks them.
        self.categories = {
            code: (priority_category(name=name, code=code, rank=rank), share) for name, code, rank, share in CATEGORIES
        }
        self.emergency = priority_category(name="Emergency", code="EMG", rank=9, is_emergency=True)
        self.counters, self.speed, self.current, self.idle = {}, {}, {}, set()
        for i, (name, service, mean) in enumerate(COUNTERS):
            staff = Staff.objects.create(username=f"op{i}-{order}", role=Staff.Role.OPERATOR)
            counter = Counter.objects.create(
                counter_name=name, service=self.services[service], start_time=hour(0), end_time=hour(23, 59, 59)
            )
            self.counters[name] = services.hold_counter(counter=counter, staff=staff)
            self.speed[name] = mean
            self.idle.add(name)
        self.Patient = Patient
        self.visits: dict[int, Visit] = {}
        self.positions: dict[int, int] = {}
        self.tally = Tally()
        self.ups = Tally()
        self.up_patients = set()
        self.lost_minutes = {}
        self.rises = Tally()  # an estimate up by 2 minutes or more with nobody put ahead, by cause
        self.queue = []
        self.seq = 0
        self.plan(patients, minutes)

    # --- the morning's events ------------------------------------------------------------------------

    def at(self, minute, kind, *args):
        self.seq += 1
        heapq.heappush(self.queue, (minute, self.seq, kind, args))

    def plan(self, patients, minutes):
        rng, t = self.rng, 0.0
        arrivals = []
        for _ in range(patients):
            t += rng.expovariate(patients / minutes)
            arrivals.append(t)
        emergency = rng.randrange(patients // 3, 2 * patients // 3) if patients >= 3 else None
        given_later = set(rng.sample(range(patients), min(2, patients)))
        for i, minute in enumerate(arrivals):
            service = "OPD" if rng.random() < 0.75 else "Test"
            category = self.emergency if i == emergency else None
            for cat, share in self.categories.values():
                if category is None and rng.random() < share:
                    category = cat
            no_show, transfer = rng.random() < NO_SHOW, service == "OPD" and rng.random() < TRANSFER
            self.at(minute, "arrive", i, service, category, i in given_later, no_show, transfer)
        self.at(BREAK[1] * minutes, "status", BREAK[0], "break")
        self.at(BREAK[2] * minutes, "status", BREAK[0], "available")
        self.at(CLOSING[1] * minutes, "status", CLOSING[0], "closed")

    def run(self) -> dict:
        try:
            while self.queue:
                minute, _seq, kind, args = heapq.heappop(self.queue)
                self.clock.minutes = minute
                reason = getattr(self, f"on_{kind}")(*args)
                self.watch_positions(reason)
        finally:
            self.events_module.send = self.original_send
        return figures(self)

    def on_arrive(self, i, service, category, given_later, no_show, transfer):
        patient = self.Patient.objects.create(phone=None, name=f"Patient {i}")
        first = category if not given_later else None
        ticket, _new = self.services_api.join(
            patient=patient, service=self.services[service], by=self.reception, priority=first
        )
        self.visits[ticket.pk] = Visit(
            pk=ticket.pk,
            service=service,
            joined_at=ticket.joined_at,
            klass=klass(first),
            arrived=self.clock.minutes,
            no_show=no_show,
            transfer=transfer,
        )
        if given_later:
            # Staff notice later that the patient has priority (a category, or elderly).
            later = category or self.categories["60+"][0]
            self.at(self.clock.minutes + self.timing.uniform(2, 10), "priority", ticket.pk, later)
        self.wake(service)
        return f"{klass_name(klass(first))} joined"

    def on_priority(self, pk, category):
        from queue_app.models import Ticket

        visit = self.visits[pk]
        if visit.state != "waiting":
            return None
        self.services_api.set_priority(ticket=Ticket.objects.get(pk=pk), priority=category, by=self.reception)
        visit.klass = klass(category)
        return "a category was given to a waiting patient"

    def on_status(self, name, status):
        self.services_api.set_status(counter=self.counters[name], status=status, by=self.counters[name].held_by)
        self.counters[name].current_status = status
        if status == "available" and name not in self.current:
            self.idle.add(name)
            self.at(self.clock.minutes, "free", name)
        return {"break": "a counter went on break", "closed": "a counter closed"}.get(status, "a counter reopened")

    def wake(self, service):
        for name in sorted(self.idle):
            if self.counters[name].service_id == self.services[service].pk:
                self.at(self.clock.minutes, "free", name)

    def on_free(self, name):
        """The counter finishes its patient (served, a no-show, or sent to Test) and calls the next."""
        from queue_app.errors import CounterNotOpen, NobodyWaiting

        services, counter = self.services_api, self.counters[name]
        current = self.current.pop(name, None)
        if current is None and name not in self.idle:
            return None  # a wake-up for a counter that was busy meanwhile
        reason = None
        try:
            if current is not None and current.transfer and current.service == "OPD":
                services.transfer(counter=counter, service=self.services["Test"], by=counter.held_by, note="blood test")
                current.service, current.state, current.arrived = "Test", "waiting", self.clock.minutes
                current.transfer = False
                reason = "a patient was sent from OPD to Test"
                self.wake("Test")
                call = services.serve_next(counter=counter, by=counter.held_by)
            elif current is not None and current.no_show:
                call = services.skip(counter=counter, by=counter.held_by)
                current.state = "skipped"
            else:
                call = services.serve_next(counter=counter, by=counter.held_by)
                if current is not None:
                    current.state = "served"
        except (NobodyWaiting, CounterNotOpen):
            call = None
        self.called(name, call.ticket if call else None)
        return reason

    def called(self, name, ticket):
        if ticket is None:
            self.idle.add(name)
            return
        self.idle.discard(name)
        visit = self.visits[ticket.pk]
        minute = self.clock.minutes
        self.tally["calls"] += 1
        if visit.state != "waiting":
            self.tally["called twice"] += 1
        # Overtakes within the class: earlier arrivals of the same class still waiting.
        passed = [
            v
            for v in self.visits.values()
            if v.state == "waiting"
            and v.pk != visit.pk
            and v.service == visit.service
            and v.klass == visit.klass
            and (v.joined_at, v.pk) < (visit.joined_at, visit.pk)
        ]
        if passed:
            self.tally["calls overtaking"] += 1
            self.tally["overtakes"] += len(passed)
            for v in passed:
                v.first_passed = minute if v.first_passed is None else v.first_passed
        if visit.first_passed is not None:
            self.lost_minutes[visit.pk] = self.lost_minutes.get(visit.pk, 0.0) + minute - visit.first_passed
            visit.first_passed = None
        visit.called.append((visit.service, minute - visit.arrived))
        visit.state = "called"
        self.current[name] = visit
        took = NO_SHOW_WAIT if visit.no_show else self.timing.gammavariate(4.0, self.speed[name] / 4.0)
        self.at(minute + took, "free", name)

    def record_events(self, messages, *, positions_of=()):
        for _group, payload in messages:
            if payload.get("type") == "ticket_update" and payload.get("event") == "called":
                self.sent_called.add((payload["ticket"]["id"], self.clock.minutes))

    def watch_positions(self, reason):
        """Every waiting patient's place in their line now, and the wait the ticket page shows
        (estimates.py): a place further back is counted, and an estimate that rose by 2 minutes
        or more while nobody was put ahead."""
        from queue_app import selectors
        from queue_app.lines import Lines

        now = {}
        selectors.forget_minutes()  # remembered for seconds of real time: minutes of this morning
        for service in self.services.values():
            service.refresh_from_db(fields=["priority_streak"])
            lines = Lines(service)
            for place, _number, counter_id in lines.rows:
                ahead = lines.ahead_of(place.id)
                now[place.id] = (service.pk, ahead)
                serving = selectors.counters_serving(service, counter_id)[0]
                shown = selectors.wait_for(service, counter_id, ahead)[1]
                visit = self.visits.get(place.id)
                if visit is None or shown is None:
                    continue
                if visit.estimates and visit.estimates[-1][2] >= ahead and shown >= visit.estimates[-1][1] + 2:
                    fewer = serving < visit.estimates[-1][3]
                    self.rises["a counter stopped calling" if fewer else "the time a visit takes grew"] += 1
                visit.estimates.append((self.clock.minutes, shown, ahead, serving))
        for pk, (service_id, ahead) in now.items():
            before = self.positions.get(pk)
            if before is not None and before[0] == service_id and ahead > before[1]:
                self.ups[reason or "the line's order changed"] += 1
                self.up_patients.add(pk)
        self.positions = now


def priority_category(*, code, **fields):
    from queue_app.models import PriorityCategory

    return PriorityCategory.objects.update_or_create(code=code, defaults={"is_active": True, **fields})[0]


def klass(category) -> tuple:
    if category is None:
        return (False, 0)
    return (category.is_emergency, category.rank)


def klass_name(value: tuple) -> str:
    return "an emergency" if value[0] else ("a priority patient" if value[1] else "a patient without priority")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.morning", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--order", choices=("one-line", "per-counter", "both"), default="both")
    parser.add_argument("--patients", type=int, default=180)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON, not a table")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="queue-morning-"))
    cfg = SimpleNamespace(
        secret_key="morning-" + os.urandom(8).hex(),
        log_level="warning",
        redis=False,
        overrides={},
        http_limit=0,
        what_if="",
        database_url=lambda w: f"sqlite:///{w / 'morning.sqlite3'}",
    )
    try:
        env = server_env(cfg, workdir)
        migrate(env, lambda message: None)
        os.environ.update(env)
        os.environ.pop("REDIS_URL", None)
        import django

        django.setup()
        modes = ["one-line", "per-counter"] if args.order == "both" else [args.order]
        results = {mode: simulate(seed=args.seed, order=mode, patients=args.patients) for mode in modes}
        print(json.dumps(results, indent=2) if args.json else table(results))
    finally:
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # Django never got set up
            pass
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
