"""Test data for a live server, made in the server's own database by a separate process.

The browser tests' Daphne server runs on a SQLite file of its own; the test process never opens
it. `LiveSite.data(...)` (conftest.py) runs this module as `python -m tests.browser.server_data`
with the server's environment, sends {"action": ..., "params": {...}} on stdin and reads the
answer from the last line of stdout. Everything is made through the factories and the services,
as in the rest of the suite.

Queue changes made here (join, serve_next, ...) publish their events in this process's in-memory
channel layer, which nobody listens to: call them before the pages that should show them open
(the pages read the state on load), or act through the server (the browser, or its HTTP API)
when a page must see the change live.
"""

import json
import os
import sys

RESULT_MARK = "@@result "


def setup(*, services=(), staff=(), counters=(), patients=(), joins=()) -> dict:
    """Create services, staff, counters (held when `held_by` is given), patients; then `joins`."""
    from queue_app import services as queue
    from tests.factories import CounterFactory, PatientFactory, ServiceFactory, StaffFactory

    made = {"services": {}, "staff": {}, "counters": {}, "patients": {}}
    for spec in services:
        service = ServiceFactory(**spec)
        made["services"][service.service_name] = service.pk
    for spec in staff:
        member = StaffFactory(**spec)
        made["staff"][member.username] = member.pk
    members = {}
    for spec in counters:
        spec = dict(spec)
        service = ServiceFactory(service_name=spec.pop("service"))
        assigned = spec.pop("assigned_staff", None)
        held_by = spec.pop("held_by", None)
        counter = CounterFactory(
            **spec, service=service, assigned_staff=_staff(assigned, members) if assigned else None
        )
        if held_by:
            counter = queue.hold_counter(counter=counter, staff=_staff(held_by, members))
        made["counters"][counter.counter_name] = counter.pk
    for spec in patients:
        patient = PatientFactory(**spec)
        made["patients"][patient.phone] = patient.pk
    made["tickets"] = [join(**spec) for spec in joins]
    return made


def join(*, phone: str, name: str, service: str) -> dict:
    """The patient with this phone (made if new) joins the service's queue."""
    from queue_app import services as queue
    from queue_app.models import Service
    from tests.factories import PatientFactory

    patient = PatientFactory(phone=phone, name=name)
    ticket, _created = queue.join(patient=patient, service=Service.objects.get(service_name=service))
    return _ticket(ticket)


def serve_next(*, counter: str, by: str) -> dict | None:
    """The staff member `by` presses Serve next at the counter named `counter`."""
    from queue_app import services as queue

    ticket = queue.serve_next(counter=_counter(counter), by=_staff(by, {})).ticket
    return _ticket(ticket) if ticket else None


def set_status(*, counter: str, status: str, by: str) -> int:
    """Set a counter's status as its staff member would (break and closed move its queue)."""
    from queue_app import services as queue

    return queue.set_status(counter=_counter(counter), status=status, by=_staff(by, {}))


def send_texts() -> int:
    """Send the texts the queue changes owe now, as the server's sender thread would on its next
    round (here, so a page opened next shows them sent, not pending); how many were sent."""
    from queue_app.services import sending

    sent = 0
    while done := sending.send_due(limit=50).sent:
        sent += done
    return sent


def past_days(*, days: int, seed: int = 7) -> dict:
    """`days` finished past days for the existing services, counters and staff, in the shape of a
    clinic's week (a morning rush, a short Saturday, Sundays closed): served, skipped, cancelled
    and expired tickets with their waits, service times and estimates, and the texts sent to
    those who asked for them. Written straight to the tables, as tests/report_helpers.py does: no
    service call can make a past day. Returns the range from the first of those days to today."""
    import random
    from datetime import datetime, timedelta

    from django.utils import timezone

    from queue_app.models import Counter, Notification, Patient, QueueHistory, Ticket

    rng = random.Random(seed)
    today = timezone.localdate()
    zone = timezone.get_current_timezone()
    patients = list(Patient.objects.exclude(phone=None).order_by("phone"))
    desks = {}
    for counter in Counter.objects.select_related("service", "assigned_staff").order_by("counter_name"):
        desks.setdefault(counter.service, []).append(counter)
    hours = {8: 6, 9: 12, 10: 14, 11: 11, 12: 7, 13: 5, 14: 6, 15: 5, 16: 3}  # arrivals by hour
    S = Ticket.Status
    outcomes = {S.SERVED: 86, S.SKIPPED: 7, S.CANCELLED: 4, S.EXPIRED: 3}
    # Per service: patients on a weekday, the mean wait and the typical visit, in minutes.
    shape = {"OPD": (38, 14, 6), "Test": (22, 8, 4)}
    texts = []
    for offset in range(days, 0, -1):
        day = today - timedelta(days=offset)
        if day.weekday() == 6:
            continue
        for service, counters in desks.items():
            per_day, mean_wait, visit = shape.get(service.service_name, (20, 10, 5))
            count = round(per_day * (0.5 if day.weekday() == 5 else rng.uniform(0.8, 1.2)))
            joins = sorted(
                datetime(day.year, day.month, day.day, rng.choices(list(hours), list(hours.values()))[0], tzinfo=zone)
                + timedelta(seconds=rng.randrange(3600))
                for _ in range(count)
            )
            for number, joined in enumerate(joins, start=1):
                counter = counters[number % len(counters)]
                status = rng.choices(list(outcomes), list(outcomes.values()))[0]
                wait = timedelta(minutes=min(75, rng.expovariate(1 / mean_wait)))
                called = joined + wait if status in (S.SERVED, S.SKIPPED) else None
                if status == S.SERVED:
                    finished = called + timedelta(minutes=max(1.0, rng.lognormvariate(0, 0.4) * visit))
                elif status == S.SKIPPED:
                    finished = called + timedelta(minutes=2)
                else:
                    finished = joined + wait
                patient = patients[rng.randrange(len(patients))]
                ticket = Ticket.objects.create(
                    queue_id=f"{service.code}_{number:03d}_{rng.randrange(10000):04d}",
                    number=number,
                    service_date=day,
                    service=service,
                    patient=patient,
                    patient_name=patient.name,
                    counter=counter,
                    status=status,
                    joined_at=joined,
                    called_at=called,
                    first_called_at=called,
                    finished_at=finished,
                    called_by=counter.assigned_staff if called else None,
                    # What the page showed on joining: the wait, give or take a minute or two.
                    estimated_wait_at_join=max(0, round(wait.total_seconds() / 60 + rng.gauss(0, 1.5))),
                    notify=rng.random() < 0.4,
                )
                QueueHistory.objects.create(ticket=ticket, counter=counter, action="joined", at=joined)
                if called:
                    QueueHistory.objects.create(
                        ticket=ticket, counter=counter, action="called", at=called, by=ticket.called_by
                    )
                QueueHistory.objects.create(ticket=ticket, counter=counter, action=status, at=finished)
                if ticket.notify and called:
                    texts += _past_texts(ticket, rng)
    Notification.objects.bulk_create(texts)
    return {"date_from": (today - timedelta(days=days)).isoformat(), "date_to": today.isoformat()}


def _past_texts(ticket, rng) -> list:
    """The "turn near" and "called" texts of a past ticket, each delivered or not."""
    from datetime import timedelta

    from queue_app.models import Notification
    from queue_app.services.notifications import text

    Status = Notification.Status
    made = []
    near_at = max(ticket.joined_at, ticket.called_at - timedelta(minutes=rng.uniform(3, 9)))
    for kind, at in ((Notification.Kind.NEAR, near_at), (Notification.Kind.CALLED, ticket.called_at)):
        status = rng.choices([Status.DELIVERED, Status.SENT, Status.UNDELIVERED], [85, 10, 5])[0]
        made.append(
            Notification(
                ticket=ticket,
                kind=kind,
                to=ticket.patient.phone,
                body=text(ticket, kind, ahead=2),
                status=status,
                attempts=1,
                provider_id=f"SM{rng.getrandbits(128):032x}",  # a Twilio message id's shape
                error="30003: unreachable destination handset" if status == Status.UNDELIVERED else "",
                created_at=at,
                sent_at=at + timedelta(seconds=2),
            )
        )
    return made


def tickets(*, service: str) -> list[dict]:
    """Today's tickets of a service, in join order."""
    from queue_app.models import Ticket

    found = Ticket.objects.filter(service__service_name=service).select_related("counter").order_by("joined_at", "id")
    return [_ticket(t) for t in found]


def _staff(username: str, cache: dict):
    from queue_app.models import Staff

    if username not in cache:
        cache[username] = Staff.objects.get(username=username)
    return cache[username]


def _counter(name: str):
    from queue_app.models import Counter

    return Counter.objects.get(counter_name=name)


def _ticket(ticket) -> dict:
    return {
        "id": ticket.pk,
        "queue_id": ticket.queue_id,
        "status": ticket.status,
        "counter": ticket.counter.counter_name if ticket.counter_id else None,
        "patient_name": ticket.patient_name,
    }


def reset_lockouts() -> int:
    """Forget every failed staff login (django-axes), as `manage.py axes_reset` does."""
    from axes.utils import reset

    return reset()


ACTIONS = {f.__name__: f for f in (setup, join, serve_next, set_status, send_texts, past_days, tickets, reset_lockouts)}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "queue_system.settings")
    import django

    django.setup()
    request = json.load(sys.stdin)
    result = ACTIONS[request["action"]](**request.get("params", {}))
    # Last line, marked: anything else the process prints (warnings) cannot be mistaken for it.
    sys.stdout.write("\n" + RESULT_MARK + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
