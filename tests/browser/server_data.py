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


ACTIONS = {f.__name__: f for f in (setup, join, serve_next, set_status, tickets, reset_lockouts)}


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
