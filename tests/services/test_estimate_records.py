"""What a ticket keeps for the reports' estimate accuracy: the wait it showed when it was made
(selectors.wait_at_join, the ticket page's estimate) and when it was first called."""

from queue_app import selectors, services
from queue_app.models import Ticket

from ..factories import CounterFactory, PatientFactory


def fresh(ticket) -> Ticket:
    return Ticket.objects.get(pk=ticket.pk)


def shown(ticket) -> int | None:
    """What the ticket's page shows now."""
    return selectors.ticket_dict(fresh(ticket))["estimated_wait_minutes"]


def join_many(service, count, **kwargs):
    return [services.join(patient=p, service=service, **kwargs)[0] for p in PatientFactory.create_batch(count)]


def both_busy(service, counters):
    join_many(service, len(counters))
    for counter in counters:
        services.serve_next(counter=counter, by=None)  # each counter serves someone now


def test_a_join_records_the_wait_its_page_shows(opd, counters):
    join_many(opd, 5)  # two counters, nobody served yet: five minutes a patient (the default)
    ticket, _ = services.join(patient=PatientFactory(), service=opd)
    # Five ahead, what is left of the visits under way, two counters: 5.65 x 5 / 2.
    assert fresh(ticket).estimated_wait_at_join == round(5.65 * 5 / 2) == shown(ticket)


def test_a_join_with_a_counter_free_records_no_wait(opd, counters):
    ticket, _ = services.join(patient=PatientFactory(), service=opd)
    assert fresh(ticket).estimated_wait_at_join == 0 == shown(ticket)


def test_a_join_with_every_counter_busy_records_the_rest_of_a_visit(opd, counters):
    both_busy(opd, counters)
    ticket, _ = services.join(patient=PatientFactory(), service=opd)
    assert fresh(ticket).estimated_wait_at_join == round(0.65 * 5 / 2) == shown(ticket)


def test_a_join_while_no_counter_is_open_records_nothing(opd):
    ticket, _ = services.join(patient=PatientFactory(), service=opd)
    assert fresh(ticket).estimated_wait_at_join is None and shown(ticket) is None


def test_a_priority_join_records_its_place_ahead_of_others(opd, counters, elderly):
    both_busy(opd, counters)
    join_many(opd, 6)
    ticket, _ = services.join(patient=PatientFactory(), service=opd, priority=elderly)
    # First in the line (priority, three in a row allowed): what is left of a visit, two counters.
    assert selectors.people_ahead(fresh(ticket)) == 0
    assert fresh(ticket).estimated_wait_at_join == round(0.65 * 5 / 2) == shown(ticket)


def test_an_ordinary_join_counts_only_the_priorities_called_before_it(opd, counters, elderly):
    """With one priority call in a row allowed, the second and third priority patients wait
    behind a newcomer without priority: they are not ahead of it."""
    opd.priority_calls_in_a_row = 1
    opd.save(update_fields=["priority_calls_in_a_row"])
    both_busy(opd, counters)
    join_many(opd, 3, priority=elderly)
    ticket, _ = services.join(patient=PatientFactory(), service=opd)
    assert selectors.people_ahead(fresh(ticket)) == 1  # one priority call, then this ticket
    assert fresh(ticket).estimated_wait_at_join == round(1.65 * 5 / 2) == shown(ticket)


def test_a_join_with_a_line_per_counter_records_its_counters_wait(per_counter_lines, counters):
    join_many(per_counter_lines, 4)  # two at each counter
    ticket, _ = services.join(patient=PatientFactory(), service=per_counter_lines)
    assert fresh(ticket).estimated_wait_at_join == round(2.65 * 5) == shown(ticket)


def test_a_walk_in_records_its_wait(opd, counters, admin_user):
    join_many(opd, 3)
    ticket, _ = services.issue_walk_in(name="Meena", service=opd, by=admin_user)
    assert fresh(ticket).estimated_wait_at_join == round(3.65 * 5 / 2) == shown(ticket)


def test_the_first_call_is_kept_through_a_skip_and_a_recall(opd, counters, admin_user):
    ticket, _ = services.join(patient=PatientFactory(), service=opd)
    services.skip(counter=services.serve_next(counter=counters[0], by=None).counter, by=None)
    first = fresh(ticket).first_called_at
    assert first is not None and fresh(ticket).status == Ticket.Status.SKIPPED
    services.recall(ticket=fresh(ticket), by=admin_user)
    services.serve_next(counter=counters[0], by=None)
    again = fresh(ticket)
    assert again.status == Ticket.Status.CALLED and again.called_at > first and again.first_called_at == first


def test_a_ticket_sent_on_before_its_first_call_drops_its_estimate(opd, lab, counters, admin_user):
    join_many(opd, 2)
    ticket, _ = services.join(patient=PatientFactory(), service=opd)
    assert fresh(ticket).estimated_wait_at_join is not None
    moved = services.move_to_service(ticket=fresh(ticket), service=lab, by=admin_user)
    assert fresh(moved).estimated_wait_at_join is None and fresh(moved).first_called_at is None


def test_a_ticket_transferred_after_its_call_keeps_its_estimate_and_first_call(opd, lab, counters, admin_user):
    ticket, _ = services.join(patient=PatientFactory(), service=opd)
    counter = services.serve_next(counter=counters[0], by=admin_user).counter
    called = fresh(ticket)
    lab_counter = CounterFactory(counter_name="Lab 1", service=lab)
    services.hold_counter(counter=lab_counter, staff=admin_user)
    services.transfer(counter=counter, service=lab, by=admin_user)
    services.serve_next(counter=lab_counter, by=admin_user)
    moved = fresh(ticket)
    assert moved.service_id == lab.pk and moved.called_at > called.called_at
    assert moved.estimated_wait_at_join == called.estimated_wait_at_join == 0
    assert moved.first_called_at == called.first_called_at
