"""A small fixed history for the reports' tests, every figure worked out by hand in the tests.

Written straight to the tables: these are past days, which no service call can produce.
Times are UTC; 2026-11-02 is a Monday, 2026-11-03 has no ticket at all.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime

from queue_app.models import Counter, QueueHistory, Ticket

from .factories import CounterFactory, PatientFactory, ServiceFactory, StaffFactory

MONDAY, EMPTY_DAY, WEDNESDAY = date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 4)


def at(day: date, hh: int, mm: int) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=UTC)


@dataclass
class History:
    opd: object
    lab: object
    counter_a: Counter
    counter_b: Counter
    op1: object
    op2: object
    tickets: dict


def build_history() -> History:
    opd = ServiceFactory(service_name="OPD")
    lab = ServiceFactory(service_name="Test")
    op1 = StaffFactory(username="op1", first_name="Asha", last_name="Rao")
    op2 = StaffFactory(username="op2", first_name="Bala", last_name="Iyer")
    counter_a = CounterFactory(counter_name="Room A", service=opd)
    counter_b = CounterFactory(counter_name="Room B", service=opd)
    patient = PatientFactory(phone="+919800000001")
    made = {}
    number = {opd.pk: 0, lab.pk: 0}

    def ticket(
        name,
        service,
        day,
        joined,
        *,
        status,
        counter=None,
        called=None,
        finished=None,
        by=None,
        first=None,
        estimate=None,
    ):
        number[service.pk] += 1
        made[name] = Ticket.objects.create(
            queue_id=f"{service.code}_{number[service.pk]:03d}_1234",
            number=number[service.pk],
            service_date=day,
            service=service,
            patient=patient,
            patient_name=f"Patient {name}",
            counter=counter,
            status=status,
            joined_at=joined,
            called_at=called,
            finished_at=finished,
            called_by=by,
            first_called_at=first or called,
            estimated_wait_at_join=estimate,
        )
        return made[name]

    m, nxt = MONDAY, EMPTY_DAY
    S = Ticket.Status
    ticket(
        "t1",
        opd,
        m,
        at(m, 9, 0),
        status=S.SERVED,
        counter=counter_a,
        called=at(m, 9, 10),
        finished=at(m, 9, 15),
        by=op1,
        estimate=9,  # waited 10 min: 1 min short
    )
    ticket(
        "t2",
        opd,
        m,
        at(m, 9, 5),
        status=S.SERVED,
        counter=counter_a,
        called=at(m, 9, 25),
        finished=at(m, 9, 35),
        by=op1,
        estimate=15,  # waited 20 min: 5 min short
    )
    ticket(
        "t3",
        opd,
        m,
        at(m, 9, 20),
        status=S.SKIPPED,
        counter=counter_b,
        called=at(m, 9, 30),
        finished=at(m, 9, 32),
        by=op2,
        estimate=12,  # waited 10 min: 2 min long
    )
    ticket("t4", opd, m, at(m, 9, 40), status=S.CANCELLED, counter=counter_a, finished=at(m, 9, 50), estimate=5)
    # Skipped at 10:05, recalled, called again at 10:40 and served: its last call counts.
    t5 = ticket(
        "t5",
        opd,
        m,
        at(m, 10, 0),
        status=S.SERVED,
        counter=counter_b,
        called=at(m, 10, 40),
        finished=at(m, 10, 50),
        by=op2,
        first=at(m, 10, 5),
        estimate=6,  # first called after 5 min: 1 min long (its last call came after 40)
    )
    QueueHistory.objects.create(ticket=t5, counter=counter_b, action="called", at=at(m, 10, 5), by=op2)
    QueueHistory.objects.create(ticket=t5, counter=counter_b, action="skipped", at=at(m, 10, 7), by=op2)
    QueueHistory.objects.create(ticket=t5, counter=counter_b, action="recalled", at=at(m, 10, 30))
    # Joined before midnight, called and served after it: it belongs to Monday.
    ticket(
        "t6",
        opd,
        m,
        at(m, 23, 50),
        status=S.SERVED,
        counter=counter_a,
        called=at(nxt, 0, 10),
        finished=at(nxt, 0, 20),
        by=op1,
    )
    ticket("t7", opd, m, at(m, 16, 0), status=S.EXPIRED, finished=at(nxt, 6, 0), estimate=30)
    w = WEDNESDAY
    # Waited 30 min: 3 min short. t6 (no estimate: no counter was open) and t4, t7 (never called)
    # do not count in the estimates' figures.
    ticket("t8", lab, w, at(w, 11, 0), status=S.SERVED, called=at(w, 11, 30), finished=at(w, 11, 45), estimate=27)
    return History(opd, lab, counter_a, counter_b, op1, op2, made)
