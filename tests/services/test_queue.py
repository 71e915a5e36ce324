"""The queue rules of DESIGN.md, one test per rule, through the real services."""

from datetime import date, time, timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from queue_app import selectors, services
from queue_app.bidi import FSI, PDI
from queue_app.models import Counter, QueueHistory, Service, Ticket

from ..factories import CounterFactory, PatientFactory, ServiceFactory, StaffFactory

pytestmark = pytest.mark.django_db


def join_all(service, patients):
    return [services.join(patient=p, service=service)[0] for p in patients]


def waiting_ids(counter):
    """The tickets expected at the counter, in join order (where the break rules put them)."""
    waiting = Ticket.objects.filter(counter=counter, status=Ticket.Status.WAITING).order_by("joined_at", "id")
    return list(waiting.values_list("queue_id", flat=True))


def refresh(ticket):
    return Ticket.objects.get(pk=ticket.pk)


# --- joining --------------------------------------------------------------------------------


def test_join_assigns_the_open_counter_with_fewest_waiting_lowest_id_on_ties(opd, counters, patients):
    tickets = join_all(opd, patients[:3])
    assert [t.counter_id for t in tickets] == [counters[0].pk, counters[1].pk, counters[0].pk]


def test_queue_id_is_service_code_sequence_and_four_random_digits(opd, counters, patients):
    first, second = join_all(opd, patients[:2])
    code, seq, suffix = first.queue_id.split("_")
    assert (code, seq) == ("OPD", "001")
    assert len(suffix) == 4 and suffix.isdigit()
    assert second.queue_id.split("_")[1] == "002"
    assert patients[0].phone[-4:] != suffix or patients[1].phone[-4:] != second.queue_id[-4:]


def test_service_code_drops_non_alphanumerics():
    assert ServiceFactory.build(service_name="X-ray & Scan").code == "XRAYSCAN"


def test_sequence_widens_past_999(opd, counters, patients):
    Ticket.objects.create(
        queue_id="OPD_999_0000",
        number=999,
        service_date=timezone.localdate(),
        service=opd,
        patient=patients[9],
        patient_name="x",
        status=Ticket.Status.SERVED,
    )
    ticket = services.join(patient=patients[0], service=opd)[0]
    assert ticket.queue_id.startswith("OPD_1000_")


def test_joining_twice_returns_the_active_ticket(opd, counters, patient, django_assert_num_queries):
    first, created = services.join(patient=patient, service=opd)
    again, created_again = services.join(patient=patient, service=opd)
    assert created and not created_again
    assert again.pk == first.pk
    assert Ticket.objects.count() == 1
    with django_assert_num_queries(0):  # whole, with what its answer shows (the join read small rows)
        assert (again.queue_id, str(again.service), again.counter_id) == (first.queue_id, "OPD", first.counter_id)
        assert str(again.counter) == str(first.counter)


def test_a_patient_may_hold_one_ticket_per_service(opd, lab, counters, patient):
    a, _ = services.join(patient=patient, service=opd)
    b, _ = services.join(patient=patient, service=lab)
    assert a.pk != b.pk


def test_a_phone_holds_at_most_the_configured_number_of_active_tickets_across_services(
    opd, lab, counters, patient, settings
):
    settings.MAX_ACTIVE_TICKETS_PER_PHONE = 3
    services.join(patient=patient, service=opd)
    services.join(patient=patient, service=opd, name="Ravi Doe")
    held, _ = services.join(patient=patient, service=lab, name="Mira Doe")

    with pytest.raises(services.TicketLimitReached) as refused:
        services.join(patient=patient, service=lab)

    assert refused.value.message == (
        "This phone already holds 3 tickets today, the most one phone may hold. "
        "Leave the queue with one of them first, or ask at reception."
    )
    assert refused.value.status_code == 409
    assert services.join(patient=patient, service=lab, name="Mira Doe") == (held, False)  # held: still shown
    services.cancel(ticket=held, patient=patient)
    assert services.join(patient=patient, service=lab)[1] is True


def test_by_default_one_phone_cannot_queue_a_hundred_family_members(opd, counters, patient):
    for n in range(settings.MAX_ACTIVE_TICKETS_PER_PHONE):
        services.join(patient=patient, service=opd, name=f"Family member {n}")

    with pytest.raises(services.TicketLimitReached):
        services.join(patient=patient, service=opd, name="Family member 99")

    assert settings.MAX_ACTIVE_TICKETS_PER_PHONE == 5
    assert Ticket.objects.filter(patient=patient).count() == 5


def test_only_todays_active_tickets_count_towards_the_phones_limit(opd, counters, patient, settings):
    settings.MAX_ACTIVE_TICKETS_PER_PHONE = 1
    Ticket.objects.create(
        queue_id="OPD_001_0000",
        number=1,
        service_date=timezone.localdate() - timedelta(days=1),
        service=opd,
        patient=patient,
        patient_name="Yesterday",
        status=Ticket.Status.SERVED,
    )
    served, _ = services.join(patient=patient, service=opd, name="Served Today")
    services.serve_next(counter=counters[0], by=counters[0].held_by)
    services.serve_next(counter=counters[0], by=counters[0].held_by)
    assert refresh(served).status == Ticket.Status.SERVED

    assert services.join(patient=patient, service=opd)[1] is True


def test_reception_may_give_a_phone_more_tickets_than_it_could_take_itself(opd, counters, patient, settings):
    settings.MAX_ACTIVE_TICKETS_PER_PHONE = 1
    services.join(patient=patient, service=opd)
    receptionist = StaffFactory(username="desk", role="reception")

    ticket, created = services.issue_walk_in(name="Grandma Doe", phone=patient.phone, service=opd, by=receptionist)

    assert created and ticket.patient == patient


def test_joining_after_being_served_gives_a_new_ticket(opd, counters, patient):
    first, _ = services.join(patient=patient, service=opd)
    services.serve_next(counter=counters[0], by=None)
    services.serve_next(counter=counters[0], by=None)
    second, created = services.join(patient=patient, service=opd)
    assert created and second.number == 2


def test_join_refuses_an_inactive_service(opd, counters, patient):
    opd.is_active = False
    opd.save()
    with pytest.raises(services.ServiceUnavailable):
        services.join(patient=patient, service=opd)
    assert not Ticket.objects.exists()


def test_join_refuses_a_service_not_offered_today(patient):
    today_bit = 1 << timezone.localdate().weekday()
    other_days = ServiceFactory(service_name="Dental", week_days=127 & ~today_bit)
    with pytest.raises(services.ServiceUnavailable, match="not offered today"):
        services.join(patient=patient, service=other_days)


def test_join_with_no_open_counter_waits_in_the_pool(opd, patient):
    CounterFactory(service=opd)  # nobody holds it
    ticket, _ = services.join(patient=patient, service=opd)
    assert ticket.counter is None and ticket.status == Ticket.Status.WAITING


def test_nobody_is_assigned_to_a_counter_where_nobody_works(opd, staff, patients):
    staffed = services.hold_counter(counter=CounterFactory(service=opd), staff=staff[0])
    CounterFactory(service=opd, current_status=Counter.Status.AVAILABLE)  # available but nobody holds it
    assert {t.counter_id for t in join_all(opd, patients[:4])} == {staffed.pk}


def test_counter_outside_its_hours_is_not_open(opd, staff, patient):
    now = timezone.localtime()
    later = (now + timedelta(hours=2)).time().replace(microsecond=0)
    end = (now + timedelta(hours=3)).time().replace(microsecond=0)
    if later > end:  # the test runs just before midnight: hours across midnight would still be shut
        later, end = time(0, 0), time(0, 1)
    counter = services.hold_counter(counter=CounterFactory(service=opd, start_time=later, end_time=end), staff=staff[0])
    assert not counter.is_open()
    ticket, _ = services.join(patient=patient, service=opd)
    assert ticket.counter is None


def test_counter_hours_start_inclusive_end_exclusive(opd):
    counter = CounterFactory.build(service=opd, start_time=time(9), end_time=time(17))
    tz = timezone.get_current_timezone()
    day = date(2026, 1, 5)
    at = lambda h, m=0: timezone.make_aware(timezone.datetime.combine(day, time(h, m)), tz)  # noqa: E731
    assert counter.within_hours(at(9)) and counter.within_hours(at(16, 59))
    assert not counter.within_hours(at(17)) and not counter.within_hours(at(8, 59))


def test_pool_is_handed_out_in_join_order_when_a_counter_opens(opd, staff, patients):
    counter = CounterFactory(service=opd)
    pooled = join_all(opd, patients[:3])
    services.hold_counter(counter=counter, staff=staff[0])
    assert waiting_ids(counter) == [t.queue_id for t in pooled]


# --- calling --------------------------------------------------------------------------------


def test_serve_next_calls_the_first_of_the_services_line_whichever_counter_it_was_expected_at(opd, counters, patients):
    tickets = join_all(opd, patients[:4])  # expected at counter 1, 2, 1, 2
    calls = [services.serve_next(counter=counters[1], by=None) for _ in range(3)]
    assert [c.ticket.pk for c in calls] == [t.pk for t in tickets[:3]]
    assert refresh(tickets[0]).counter_id == counters[1].pk  # where to go: the counter that called
    assert calls[0].queue_length == 3 and calls[-1].queue_length == 1  # the service's line
    history = QueueHistory.objects.filter(ticket=tickets[0], action="called").get()
    assert history.from_counter_id == counters[0].pk


def test_with_a_line_per_counter_serve_next_calls_the_earliest_of_its_own_line(per_counter_lines, counters, patients):
    tickets = join_all(per_counter_lines, patients[:4])
    call = services.serve_next(counter=counters[0], by=counters[0].held_by)
    assert call.ticket.pk == tickets[0].pk and refresh(call.ticket).status == Ticket.Status.CALLED
    assert call.counter == counters[0] and call.queue_length == 1  # #3 still waits there
    assert services.serve_next(counter=counters[0], by=None).ticket.pk == tickets[2].pk


def test_serve_next_completes_the_current_ticket(opd, counters, patients):
    first, second, _ = join_all(opd, patients[:3])
    services.serve_next(counter=counters[0], by=None)
    services.serve_next(counter=counters[0], by=None)
    assert refresh(first).status == Ticket.Status.SERVED
    assert refresh(first).finished_at is not None
    assert refresh(second).status == Ticket.Status.CALLED


def test_an_idle_counter_takes_the_earliest_waiting_ticket_of_its_service(per_counter_lines, counters, patients):
    tickets = join_all(per_counter_lines, patients[:3])  # counter 1: #1, #3; counter 2: #2
    services.serve_next(counter=counters[1], by=None)  # counter 2 calls #2
    called = services.serve_next(counter=counters[1], by=None).ticket  # its queue is empty: takes #1
    assert called.pk == tickets[0].pk and called.counter_id == counters[1].pk
    history = QueueHistory.objects.filter(ticket=called, action="called").get()
    assert history.from_counter_id == counters[0].pk


def test_serve_next_with_nobody_waiting_says_so(opd, counters):
    with pytest.raises(services.NobodyWaiting, match="Nobody is waiting"):
        services.serve_next(counter=counters[0], by=None)


def test_serve_next_finishes_the_last_patient_and_calls_nobody(opd, counters, patient):
    services.join(patient=patient, service=opd)
    services.serve_next(counter=counters[0], by=None)
    call = services.serve_next(counter=counters[0], by=None)
    assert call.ticket is None and call.queue_length == 0
    assert Ticket.objects.get().status == Ticket.Status.SERVED


def test_stale_expected_ticket_is_refused_without_change(opd, counters, patients):
    first, second, *_ = join_all(opd, patients[:3])
    services.serve_next(counter=counters[0], by=None)
    with pytest.raises(services.StaleAction):
        services.serve_next(counter=counters[0], by=None, expected="OPD_999_0000")
    assert refresh(first).status == Ticket.Status.CALLED


def test_double_click_serves_once(opd, counters, patients):
    first, second, third = join_all(opd, patients[:3])
    services.serve_next(counter=counters[0], by=None)
    services.serve_next(counter=counters[0], by=None, expected=first.queue_id)
    with pytest.raises(services.StaleAction):
        services.serve_next(counter=counters[0], by=None, expected=first.queue_id)
    assert refresh(second).status == Ticket.Status.CALLED
    assert refresh(third).status == Ticket.Status.WAITING


def test_skip_marks_no_show_and_calls_the_next(opd, counters, patients):
    first, second, _ = join_all(opd, patients[:3])
    services.serve_next(counter=counters[0], by=None)
    called = services.skip(counter=counters[0], by=None).ticket
    assert refresh(first).status == Ticket.Status.SKIPPED and called.pk == second.pk


def test_skip_without_a_current_ticket_is_refused(opd, counters, patients):
    join_all(opd, patients[:2])
    with pytest.raises(services.NoCurrentTicket):
        services.skip(counter=counters[0], by=None)
    assert not Ticket.objects.exclude(status=Ticket.Status.WAITING).exists()


def test_announce_needs_a_current_ticket_and_writes_history(opd, counters, patient):
    with pytest.raises(services.NoCurrentTicket):
        services.announce(counter=counters[0], by=None)
    services.join(patient=patient, service=opd)
    called = services.serve_next(counter=counters[0], by=None).ticket
    assert services.announce(counter=counters[0], by=None).ticket.pk == called.pk
    assert QueueHistory.objects.filter(ticket=called, action="announced").count() == 1


def test_a_closed_counter_cannot_call(opd, counters, patient):
    services.join(patient=patient, service=opd)
    services.set_status(counter=counters[0], status="closed", by=None)
    with pytest.raises(services.CounterNotOpen):
        services.serve_next(counter=counters[0], by=None)


def test_serve_next_on_break_finishes_the_current_patient_calls_nobody_and_counts_who_waits_elsewhere(
    opd, counters, patients
):
    first, _, third = join_all(opd, patients[:3])  # counter 1: #1, #3; counter 2: #2
    services.serve_next(counter=counters[0], by=None)  # #1 at counter 1
    services.set_status(counter=counters[0], status="break", by=None)  # #3 moves to counter 2
    call = services.serve_next(counter=counters[0], by=None)
    assert call.finished.pk == first.pk and refresh(first).status == Ticket.Status.SERVED
    assert call.ticket is None and refresh(third).status == Ticket.Status.WAITING
    # The service's one line still has two; both now expected at the other counter.
    assert (call.queue_length, call.waiting_elsewhere, call.waiting_unassigned) == (2, 2, 0)


def test_serve_next_on_break_with_no_other_counter_open_counts_who_waits_for_one_to_open(opd, counters, patients):
    join_all(opd, patients[:3])
    services.serve_next(counter=counters[0], by=None)
    services.release_counter(staff=counters[1].held_by)
    services.set_status(counter=counters[0], status="break", by=None)  # the rest go to the pool
    call = services.serve_next(counter=counters[0], by=None)
    assert (call.waiting_elsewhere, call.waiting_unassigned) == (0, 2)


def test_skip_and_announce_with_nobody_at_the_counter_say_what_to_press_instead(opd, counters, patient):
    services.join(patient=patient, service=opd)
    with pytest.raises(services.NoCurrentTicket, match="nobody to skip. Press Serve next"):
        services.skip(counter=counters[0], by=None)
    with pytest.raises(services.NoCurrentTicket, match="nobody to announce. Press Serve next"):
        services.announce(counter=counters[0], by=None)


def test_serve_next_at_a_counter_on_break_with_nobody_there_says_to_choose_available(opd, counters, patient):
    services.join(patient=patient, service=opd)
    services.set_status(counter=counters[0], status="break", by=None)
    with pytest.raises(services.CounterNotOpen) as refused:
        services.serve_next(counter=counters[0], by=None)
    assert refused.value.message == (
        f"{FSI}Counter 1{PDI} is not open (On break), so nobody can be called. Choose Available to call patients."
    )


# --- status and breaks ----------------------------------------------------------------------


def test_break_keeps_join_order_when_redistributing(opd, staff, patients):
    c1, c2, c3 = (services.hold_counter(counter=CounterFactory(service=opd), staff=s) for s in staff[:3])
    tickets = join_all(opd, patients[:9])  # round robin: c1 gets 1,4,7; c2 2,5,8; c3 3,6,9
    moved = services.set_status(counter=c1, status="break", by=None)
    assert moved == 3
    for counter in (c2, c3):
        numbers = [int(q.split("_")[1]) for q in waiting_ids(counter)]
        assert numbers == sorted(numbers)
    all_waiting = waiting_ids(c2) + waiting_ids(c3)
    assert sorted(all_waiting) == sorted(t.queue_id for t in tickets)
    assert waiting_ids(c1) == []


def test_break_gives_each_ticket_to_the_counter_with_fewest_waiting(opd, staff, patients):
    c1, c2, c3 = (services.hold_counter(counter=CounterFactory(service=opd), staff=s) for s in staff[:3])
    join_all(opd, patients[:6])  # 2 each
    services.serve_next(counter=c3, by=None)  # c3 now 1 waiting
    services.set_status(counter=c1, status="break", by=None)
    # c1's two tickets: first to c3 (1 waiting), then c2 and c3 tie at 2 → lowest id, c2.
    assert len(waiting_ids(c2)) == 3 and len(waiting_ids(c3)) == 2


def test_break_keeps_the_ticket_being_served_with_its_counter(opd, counters, patients):
    first, *_ = join_all(opd, patients[:3])
    services.serve_next(counter=counters[0], by=None)
    services.set_status(counter=counters[0], status="break", by=None)
    assert refresh(first).counter_id == counters[0].pk and refresh(first).status == Ticket.Status.CALLED
    services.serve_next(counter=counters[0], by=None)  # finishing the current one still works
    assert refresh(first).status == Ticket.Status.SERVED
    assert not Ticket.objects.filter(counter=counters[0], status=Ticket.Status.CALLED).exists()


def test_break_with_no_other_open_counter_returns_tickets_to_the_pool(opd, counters, patients):
    tickets = join_all(opd, patients[:4])
    services.set_status(counter=counters[1], status="closed", by=None)
    services.set_status(counter=counters[0], status="break", by=None)
    assert all(refresh(t).counter_id is None for t in tickets)
    assert QueueHistory.objects.filter(action="returned_to_pool").count() == 4


def test_back_from_break_the_counter_takes_the_pool_in_join_order(opd, counters, patients):
    tickets = join_all(opd, patients[:4])
    services.set_status(counter=counters[1], status="closed", by=None)
    services.set_status(counter=counters[0], status="break", by=None)
    services.set_status(counter=counters[0], status="available", by=None)
    assert waiting_ids(counters[0]) == [t.queue_id for t in tickets]


def test_redistributed_tickets_keep_their_join_time(opd, counters, patients):
    tickets = join_all(opd, patients[:4])
    services.set_status(counter=counters[0], status="break", by=None)
    assert [refresh(t).joined_at for t in tickets] == [t.joined_at for t in tickets]


def test_unknown_status_is_refused(opd, counters):
    with pytest.raises(services.InvalidStatus):
        services.set_status(counter=counters[0], status="lunch", by=None)
    assert Counter.objects.get(pk=counters[0].pk).current_status == "available"


def test_setting_the_same_status_changes_nothing(opd, counters):
    before = QueueHistory.objects.count()
    assert services.set_status(counter=counters[0], status="available", by=None) == 0
    assert QueueHistory.objects.count() == before


def test_logout_closes_the_counter_and_redistributes(opd, counters, patients):
    join_all(opd, patients[:4])
    moved = services.release_counter(staff=counters[0].held_by)
    counter = Counter.objects.get(pk=counters[0].pk)
    assert moved == 2 and counter.current_status == "closed" and counter.held_by is None
    assert len(waiting_ids(counters[1])) == 4


def test_taking_a_held_counter_needs_confirmation(opd, counters, staff):
    with pytest.raises(services.CounterTaken):
        services.hold_counter(counter=counters[0], staff=staff[3])
    taken = services.hold_counter(counter=counters[0], staff=staff[3], force=True)
    assert taken.held_by_id == staff[3].pk


def test_switching_counters_releases_the_first(opd, counters, staff, patients):
    free = CounterFactory(service=opd)
    join_all(opd, patients[:2])
    services.hold_counter(counter=free, staff=staff[0])
    old = Counter.objects.get(pk=counters[0].pk)
    assert old.held_by is None and old.current_status == "closed"
    assert Counter.objects.get(pk=free.pk).held_by_id == staff[0].pk


def test_inactive_staff_cannot_hold_a_counter(opd):
    with pytest.raises(services.NotAllowed):
        services.hold_counter(counter=CounterFactory(service=opd), staff=StaffFactory(is_active=False))


# --- cancel, history, day rollover ---------------------------------------------------------


def test_cancel_leaves_the_queue_and_frees_the_active_slot(opd, counters, patient):
    ticket, _ = services.join(patient=patient, service=opd)
    services.cancel(ticket=ticket, patient=patient)
    assert refresh(ticket).status == Ticket.Status.CANCELLED and refresh(ticket).active_key is None
    with pytest.raises(services.TicketNotActive):
        services.cancel(ticket=ticket, patient=patient)
    assert services.join(patient=patient, service=opd)[1] is True


def test_a_patient_cannot_cancel_another_patients_ticket(opd, counters, patients):
    ticket, _ = services.join(patient=patients[0], service=opd)
    with pytest.raises(services.NotAllowed):
        services.cancel(ticket=ticket, patient=patients[1])
    assert refresh(ticket).status == Ticket.Status.WAITING


def test_every_transition_writes_history(opd, counters, patients):
    first, second = join_all(opd, patients[:2])
    services.serve_next(counter=counters[0], by=counters[0].held_by)
    services.skip(counter=counters[0], by=counters[0].held_by)
    actions = list(
        QueueHistory.objects.filter(ticket=first).order_by("id").values_list("action", "from_status", "to_status")
    )
    assert actions == [("joined", "", "waiting"), ("called", "waiting", "called"), ("skipped", "called", "skipped")]
    assert QueueHistory.objects.filter(ticket=first, action="called").get().by_id == counters[0].held_by_id


def _age_tickets(days=1):
    yesterday = timezone.localdate() - timedelta(days=days)
    Ticket.objects.update(service_date=yesterday)
    Service.objects.filter(numbers_day__isnull=False).update(numbers_day=yesterday)  # its numbers too


def test_yesterdays_open_tickets_expire_and_numbering_restarts(opd, counters, patients):
    join_all(opd, patients[:3])
    _age_tickets()
    assert services.expire_previous_days() == 3
    assert services.expire_previous_days() == 0  # idempotent
    assert set(Ticket.objects.values_list("status", flat=True)) == {"expired"}
    ticket, created = services.join(patient=patients[0], service=opd)
    assert created and ticket.number == 1


def test_queues_and_snapshots_show_today_only(opd, counters, patients):
    join_all(opd, patients[:3])
    _age_tickets()
    snapshot = selectors.display_snapshot()
    assert all(c["queue_length"] == 0 for c in snapshot["counters"])


def test_first_activity_of_a_new_day_expires_earlier_tickets(opd, counters, patients, monkeypatch):
    from queue_app.services import housekeeping

    join_all(opd, patients[:2])
    _age_tickets()
    monkeypatch.setattr(housekeeping, "_rolled_over_through", None)
    services.join(patient=patients[5], service=opd)
    assert Ticket.objects.filter(status="expired").count() == 2


def test_housekeeping_command_is_idempotent(opd, counters, patients):
    from django.core.management import call_command

    join_all(opd, patients[:2])
    _age_tickets()
    call_command("housekeeping")
    call_command("housekeeping")
    assert QueueHistory.objects.filter(action="expired").count() == 2


# --- cost as the queue grows ----------------------------------------------------------------


@pytest.mark.parametrize("count", [5, 500])
def test_query_counts_do_not_grow_with_the_queue(opd, counters, count, django_assert_max_num_queries):
    patients = PatientFactory.create_batch(count)
    join_all(opd, patients[:-1])
    # The service's row locked (with whether today is a closed date), the phone's row locked and
    # its tickets read once, the counters, the line read once as small rows (what runs after the
    # commit, such as the position list, does not run inside the test's transaction), the ticket
    # and its history, the service's version and last number (one UPDATE), the texts owed (the
    # tickets concerned), the counters' versions, the messages' rows (called, listed); savepoints.
    with django_assert_max_num_queries(14):
        services.join(patient=patients[-1], service=opd)
    with django_assert_max_num_queries(14):  # the service's line read once, as small rows
        services.serve_next(counter=counters[0], by=None)
    with django_assert_max_num_queries(15):  # and one finished: its UPDATE (both history rows: one INSERT)
        services.serve_next(counter=counters[0], by=None)
    with django_assert_max_num_queries(5):  # the services' versions, then what the display shows
        selectors.display_snapshot()
    with django_assert_max_num_queries(5):  # the line as small rows, then the rows listed
        state = selectors.counter_state(counters[0], with_waiting=True)
    in_line = Ticket.objects.filter(service=opd, status="waiting").count()
    assert state["queue_length"] == in_line
    assert len(state["waiting"]) == min(in_line, settings.WAITING_LIST_LIMIT)
    ticket = Ticket.objects.select_related("service", "counter").filter(status="waiting").last()
    with django_assert_max_num_queries(3):  # the line, and how many counters share it now
        selectors.ticket_dict(ticket)


def test_break_query_count_does_not_grow_with_the_queue(opd, counters, django_assert_max_num_queries):
    join_all(opd, PatientFactory.create_batch(60))
    with django_assert_max_num_queries(23):  # 3 of them the texts owed (write_owed)
        services.set_status(counter=counters[0], status="break", by=None)


# --- idle counters ---------------------------------------------------------------------------


def test_a_counter_whose_dashboard_went_quiet_is_released_and_its_queue_moves(opd, counters, patients, settings):
    join_all(opd, patients[:4])
    later = timezone.now() + timedelta(minutes=settings.COUNTER_IDLE_MINUTES + 1)
    services.touch_counter(counter=Counter.objects.get(pk=counters[1].pk), staff=counters[1].held_by)
    Counter.objects.filter(pk=counters[1].pk).update(last_seen_at=later)  # counter 2's clerk is still there
    assert services.release_idle_counters(now=later) == 1
    quiet = Counter.objects.get(pk=counters[0].pk)
    assert quiet.held_by is None and quiet.current_status == "closed"
    assert len(waiting_ids(counters[1])) == 4
    assert QueueHistory.objects.filter(action="counter_released", note__startswith="idle").count() == 1


def test_a_heartbeat_keeps_the_counter(opd, counters, settings):
    later = timezone.now() + timedelta(minutes=settings.COUNTER_IDLE_MINUTES - 1)
    assert services.release_idle_counters(now=later) == 0
    assert Counter.objects.filter(held_by__isnull=False).count() == 2


def test_touch_writes_at_most_once_a_minute(opd, counters, django_assert_num_queries):
    counter = Counter.objects.select_related("held_by").get(pk=counters[0].pk)
    with django_assert_num_queries(0):
        services.touch_counter(counter=counter, staff=counter.held_by)  # just seen at hold time
    counter.last_seen_at -= timedelta(minutes=2)
    with django_assert_num_queries(1):
        services.touch_counter(counter=counter, staff=counter.held_by)


# --- the day's numbers, kept on the service's row -----------------------------------------------


def test_numbers_follow_on_from_the_row_and_a_stale_save_of_the_service_keeps_them(opd, counters, patients):
    services.join(patient=patients[0], service=opd)
    stale = Service.objects.get(pk=opd.pk)  # an admin form opened now...
    second, _ = services.join(patient=patients[1], service=opd)
    stale.description = "Edited"
    stale.save()  # ...and saved after another join: it must not hand number 2 out again
    third, _ = services.join(patient=patients[2], service=opd)
    assert (second.number, third.number) == (2, 3)
    assert Service.objects.get(pk=opd.pk).description == "Edited"


def test_nobody_joins_on_a_closed_date_read_with_the_services_row(opd, counters, patients):
    from queue_app.models import ServiceClosedDate

    ServiceClosedDate.objects.create(service=opd, date=timezone.localdate() + timedelta(days=1), reason="Tomorrow")
    assert services.join(patient=patients[0], service=opd)[1]
    ServiceClosedDate.objects.create(service=opd, date=timezone.localdate(), reason="Holiday")
    with pytest.raises(services.ServiceUnavailable):
        services.join(patient=patients[1], service=opd.pk)
