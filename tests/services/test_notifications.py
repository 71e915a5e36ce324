"""Patient texts: what a queue change owes (written in its transaction), and sending the outbox
(claims, retries, give-up, caps). Twilio is reached through its own HTTP client interface."""

import io
import logging
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from twilio.http import HttpClient
from twilio.http.response import Response

from queue_app import services
from queue_app.bidi import isolate
from queue_app.models import Notification, Patient, Service, Ticket
from queue_app.services import notifications, sending
from queue_app.services.notifications import set_notify
from queue_app.sms import locmem
from queue_app.sms.twilio import SmsBackend as TwilioBackend

from ..factories import CounterFactory, PatientFactory
from ..patient_helpers import Clock

pytestmark = pytest.mark.django_db


def join_all(service, patients, **kwargs):
    return [services.join(patient=p, service=service, **kwargs)[0] for p in patients]


def rows(kind=None, **filters):
    found = Notification.objects.filter(**filters)
    return list(found.filter(kind=kind) if kind else found)


def near_ahead(ticket):
    """How many were ahead when the ticket's "near" text was written (the text says it)."""
    body = Notification.objects.get(ticket=ticket, kind="near").body
    return 0 if "is next" in body else int(body.split(", ")[-1].split(" ahead")[0])


# --- what a change owes ------------------------------------------------------------------------


def test_a_called_patient_gets_one_text_with_the_ticket_code_and_the_counter(opd, counters):
    opd.notify_near_at = 0
    opd.save()
    [ticket] = join_all(opd, [PatientFactory()])
    services.serve_next(counter=counters[0], by=None)
    services.announce(counter=counters[0], by=None)  # called again on the display: no second text
    [called] = rows("called")
    assert called.ticket_id == ticket.pk and called.to == ticket.patient.phone
    assert ticket.queue_id in called.body and "Counter 1" in called.body
    assert called.status == "pending" and called.next_attempt_at is not None


def test_the_near_text_is_written_when_the_people_ahead_reach_the_threshold(opd, counters):
    tickets = join_all(opd, PatientFactory.create_batch(6))  # threshold 2 by default
    assert {r.ticket_id for r in rows("near")} == {t.pk for t in tickets[:3]}
    services.serve_next(counter=counters[0], by=None)
    assert {r.ticket_id for r in rows("near")} == {t.pk for t in tickets[:4]}
    assert near_ahead(tickets[3]) == 2
    assert [near_ahead(t) for t in tickets[:3]] == [0, 1, 2]
    assert tickets[4].queue_id not in "".join(r.body for r in rows())  # nobody else's data


def test_a_join_behind_the_front_owes_nothing_and_reads_nothing_for_texts(opd, counters):
    join_all(opd, PatientFactory.create_batch(4))  # the front (threshold 2) is told
    newcomer = PatientFactory()
    with CaptureQueriesContext(connection) as queries:
        services.join(patient=newcomer, service=opd)
    assert len(rows("near")) == 3
    assert not any("queue_app_notification" in q["sql"] for q in queries.captured_queries)


def test_the_texts_owed_read_their_tickets_once_whatever_their_number(opd, counters):
    """Each text names its ticket, service and counter, in its patient's language: all read with
    the tickets in one query (only the columns the texts use), none fetched again one by one."""
    tickets = join_all(opd, PatientFactory.create_batch(4))
    Patient.objects.filter(pk=tickets[1].patient_id).update(language="es")
    Notification.objects.all().delete()
    service = Service.objects.only(*notifications.SERVICE_FIELDS).get(pk=opd.pk)
    with CaptureQueriesContext(connection) as queries:
        assert notifications.write_owed(service=service) == 3  # the three at the front (threshold 2)
    assert len(queries) == 3  # the line, the tickets with all their texts say, one insert
    spanish = Notification.objects.get(ticket=tickets[1])
    said = f"Su turno está cerca: turno {isolate(tickets[1].queue_id)} ({isolate('OPD')}), 1 por delante."
    assert said in spanish.body  # outside GSM-7, so its values are isolated (notifications.text)
    assert spanish.to == tickets[1].patient.phone


def test_a_join_that_hands_out_the_waiting_pool_tells_the_new_front(opd, staff):
    tickets = join_all(opd, PatientFactory.create_batch(4))  # no counter open: nobody near
    counter = services.hold_counter(counter=CounterFactory(service=opd), staff=staff[0])
    Ticket.objects.update(counter=None)  # still waiting in the pool when the counter opened
    Notification.objects.all().delete()
    services.join(patient=PatientFactory(), service=opd)
    assert {r.ticket_id for r in rows("near")} == {t.pk for t in tickets[:3]}
    assert counter.pk == Ticket.objects.get(pk=tickets[0].pk).counter_id


def test_texts_turned_on_near_the_front_are_owed_at_once(opd, counters):
    tickets = join_all(opd, PatientFactory.create_batch(4), notify=False)
    set_notify(ticket=tickets[1], notify=True, patient=tickets[1].patient)
    set_notify(ticket=tickets[3], notify=True, patient=tickets[3].patient)  # 3 ahead: not yet
    assert [(r.ticket_id, near_ahead(tickets[1])) for r in rows("near")] == [(tickets[1].pk, 1)]
    set_notify(ticket=tickets[1], notify=True, patient=tickets[1].patient)  # again: no second text
    services.join(patient=PatientFactory(), service=opd)
    assert len(rows("near")) == 1
    services.serve_next(counter=counters[0], by=None)
    assert {r.ticket_id for r in rows("near")} == {tickets[1].pk, tickets[3].pk}


def test_nobodys_turn_is_near_before_a_counter_opens(opd, staff):
    counter = CounterFactory(counter_name="Counter 1", service=opd)
    tickets = join_all(opd, PatientFactory.create_batch(4))
    assert rows() == []
    services.hold_counter(counter=counter, staff=staff[0])
    services.set_status(counter=counter, status="available", by=None)
    assert {r.ticket_id for r in rows("near")} == {t.pk for t in tickets[:3]}


def test_a_threshold_of_zero_sends_no_near_text(opd, counters):
    opd.notify_near_at = 0
    opd.save()
    join_all(opd, PatientFactory.create_batch(3))
    assert rows("near") == []


def test_opted_out_patients_and_walk_ins_without_a_phone_get_nothing(opd, counters, staff):
    join_all(opd, PatientFactory.create_batch(2), notify=False)
    services.issue_walk_in(name="Walk In", service=opd, by=staff[0])
    services.issue_walk_in(name="Walk In Phone", service=opd, by=staff[0], phone="+919800000001")
    for counter in counters:
        services.serve_next(counter=counter, by=None)
    services.serve_next(counter=counters[0], by=None)
    assert rows() == []


def test_reception_may_turn_texts_on_for_a_walk_in_with_a_phone(opd, counters, staff):
    ticket, _ = services.issue_walk_in(name="Ravi", service=opd, by=staff[0], phone="+919800000002", notify=True)
    assert [r.ticket_id for r in rows("near")] == [ticket.pk]


def test_the_outbox_row_rolls_back_with_its_change(opd, counters):
    opd.notify_near_at = 0
    opd.save()
    [ticket] = join_all(opd, [PatientFactory()])
    with pytest.raises(DatabaseError), transaction.atomic():
        services.serve_next(counter=counters[0], by=None)
        assert len(rows("called")) == 1
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table")
    ticket.refresh_from_db()
    assert ticket.status == "waiting" and rows() == []


def test_a_patient_who_was_told_hears_once_that_their_counter_changed(opd, counters):
    tickets = join_all(opd, PatientFactory.create_batch(4))  # two at each counter, all near
    services.set_status(counter=counters[0], status="break", by=None)
    moved = rows("moved")
    assert {r.ticket_id for r in moved} == {t.pk for t in tickets if t.counter_id == counters[0].pk}
    assert all("Counter 2" in r.body for r in moved)
    services.set_status(counter=counters[0], status="available", by=None)
    services.set_status(counter=counters[1], status="break", by=None)
    assert len(rows("moved")) == len({r.ticket_id for r in rows("moved")})  # at most one per ticket


def test_a_patient_sent_on_to_another_service_after_the_call_hears_the_new_ticket(opd, lab, counters, staff):
    opd.notify_near_at = 0
    opd.save()
    [ticket] = join_all(opd, [PatientFactory()])
    services.serve_next(counter=counters[0], by=None)
    moved = services.move_to_service(ticket=ticket, service=lab, by=staff[0])
    [row] = rows("moved")
    assert moved.queue_id in row.body and "Test" in row.body and ticket.queue_id not in row.body


def test_a_recalled_patient_who_was_called_hears_where_to_wait(opd, counters, staff):
    opd.notify_near_at = 0
    opd.save()
    [ticket] = join_all(opd, [PatientFactory()])
    services.serve_next(counter=counters[0], by=None)
    services.skip(counter=counters[0], by=None)
    services.recall(ticket=ticket, by=staff[0])
    [row] = rows("moved")
    assert ticket.queue_id in row.body and "Counter 1" in row.body


def test_nobody_hears_of_a_move_before_being_told_where_to_go(opd, counters):
    opd.notify_near_at = 0
    opd.save()
    join_all(opd, PatientFactory.create_batch(4))
    services.set_status(counter=counters[0], status="break", by=None)
    assert rows() == []


def test_turning_texts_off_drops_what_is_still_unsent(opd, counters, patient):
    [ticket] = join_all(opd, [patient])
    set_notify(ticket=ticket, notify=False, patient=patient)
    assert [r.status for r in rows()] == ["dropped"]
    services.serve_next(counter=counters[0], by=None)
    assert rows("called") == []


def test_texts_cannot_be_turned_on_without_a_phone(opd, counters, staff):
    ticket, _ = services.issue_walk_in(name="No Phone", service=opd, by=staff[0])
    with pytest.raises(services.InvalidInput):
        set_notify(ticket=ticket, notify=True)
    assert Ticket.objects.get(pk=ticket.pk).notify is False


# --- sending -------------------------------------------------------------------------------------


def test_due_texts_are_sent_through_the_sms_backend_and_marked_sent(opd, counters):
    tickets = join_all(opd, PatientFactory.create_batch(2))
    done = sending.send_due()
    assert (done.sent, done.failed, done.dropped) == (2, 0, 0)
    assert sorted(m.to for m in locmem.outbox) == sorted(t.patient.phone for t in tickets)
    assert {r.status for r in rows()} == {"sent"} and all(r.provider_id and r.sent_at for r in rows())
    assert sending.send_due().claimed == 0


def test_a_sender_that_died_after_claiming_leaves_the_text_to_the_next_after_the_claim_runs_out(
    opd, counters, settings, monkeypatch
):
    clock = Clock(monkeypatch)
    join_all(opd, [PatientFactory()])
    [stalled] = sending.claim_due()  # the sender stalls here, before sending
    clock.offset = timedelta(seconds=5)
    assert sending.send_due().claimed == 0
    clock.offset = timedelta(seconds=settings.NOTIFY_CLAIM_SECONDS + 1)
    assert sending.send_due().sent == 1
    assert sending.deliver(stalled) is False  # it wakes up after all: its claim is gone
    assert len(locmem.outbox) == 1
    [row] = rows()
    assert row.status == "sent" and row.attempts == 2


def test_a_near_text_is_dropped_once_the_patient_is_called(opd, counters, caplog):
    opd.notify_near_at = 5
    opd.save()
    join_all(opd, [PatientFactory()])
    services.serve_next(counter=counters[0], by=None)
    with caplog.at_level(logging.INFO, logger="queue.notifications"):
        done = sending.send_due()
    assert (done.sent, done.dropped) == (1, 1)
    assert {r.kind: r.status for r in rows()} == {"near": "dropped", "called": "sent"}
    # Routine on a fast line: logged, but not among the warnings an operator is asked to read.
    [drop] = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert drop.levelno == logging.INFO and "moved on" in drop.getMessage()


def test_nothing_is_sent_after_the_ticket_ended(opd, counters):
    [ticket] = join_all(opd, [PatientFactory()])
    services.cancel(ticket=ticket)
    assert sending.send_due().dropped == 1
    assert locmem.outbox == []


def test_a_called_text_is_given_up_after_the_give_up_time(opd, counters, settings):
    opd.notify_near_at = 0
    opd.save()
    join_all(opd, [PatientFactory()])
    services.serve_next(counter=counters[0], by=None)
    late = timezone.now() + timedelta(minutes=settings.NOTIFY_GIVE_UP_MINUTES + 1)
    assert sending.send_due(now=late).dropped == 1
    assert locmem.outbox == []


def test_texts_over_the_hourly_cap_are_dropped_with_a_reason(opd, counters, settings, caplog):
    settings.NOTIFY_SMS_PER_HOUR = 2
    join_all(opd, PatientFactory.create_batch(3))
    done = sending.send_due()
    assert (done.sent, done.dropped) == (2, 1)
    [dropped] = rows(status="dropped")
    assert "cap" in dropped.error and "cap" in caplog.text
    assert [r.levelno for r in caplog.records if "dropped" in r.getMessage()] == [logging.WARNING]
    settings.NOTIFY_SMS_PER_HOUR, settings.NOTIFY_SMS_PER_DAY = 100, 2
    opd.notify_near_at = 5
    opd.save()
    join_all(opd, PatientFactory.create_batch(1))  # the day's two are spent too
    assert sending.send_due().dropped == 1
    assert len(locmem.outbox) == 2


# --- Twilio, through its HTTP client interface -----------------------------------------------------


class CannedTwilio(HttpClient):
    """Answers the twilio library like Twilio would, without a network."""

    answers: list = []
    requests: list = []

    def __init__(self):
        super().__init__(logging.getLogger("twilio.http_client"), False)

    def request(self, method, uri, params=None, data=None, headers=None, auth=None, timeout=None, **kwargs):
        CannedTwilio.requests.append(data)
        answer = CannedTwilio.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        status, body = answer
        return Response(status, body)


class CannedTwilioBackend(TwilioBackend):
    def __init__(self):
        super().__init__(http_client=CannedTwilio())


@pytest.fixture
def twilio(settings):
    settings.SMS_BACKEND = f"{__name__}.CannedTwilioBackend"
    settings.TWILIO_ACCOUNT_SID = "AC" + "0" * 32
    settings.TWILIO_AUTH_TOKEN = "secret"
    settings.TWILIO_PHONE_NUMBER = "+15005550006"
    CannedTwilio.answers, CannedTwilio.requests = [], []
    return CannedTwilio


ACCEPTED = (201, '{"sid": "SM' + "a" * 32 + '", "status": "queued"}')


def one_due_text(opd):
    opd.notify_near_at = 5
    opd.save()
    join_all(opd, [PatientFactory()])
    return rows()[0]


def test_twilio_refusing_a_message_4xx_fails_it_for_good(opd, counters, twilio):
    one_due_text(opd)
    twilio.answers = [(400, '{"code": 21211, "message": "Invalid To number", "status": 400}')]
    assert sending.send_due().failed == 1
    [row] = rows()
    assert row.status == "failed" and row.next_attempt_at is None and "400" in row.error
    assert sending.send_due(now=timezone.now() + timedelta(hours=1)).claimed == 0


@pytest.mark.parametrize(
    "trouble", [(503, '{"code": 20503, "message": "unavailable", "status": 503}'), __import__("requests").Timeout()]
)
def test_twilio_5xx_or_a_timeout_is_retried_after_a_backoff(opd, counters, twilio, settings, trouble):
    one_due_text(opd)
    twilio.answers = [trouble, ACCEPTED]
    assert sending.send_due().failed == 1
    [row] = rows()
    assert row.status == "failed" and row.next_attempt_at is not None
    assert sending.send_due().claimed == 0  # not before the backoff
    retry_at = timezone.now() + timedelta(seconds=settings.NOTIFY_RETRY_SECONDS + 1)
    assert sending.send_due(now=retry_at).sent == 1
    row.refresh_from_db()
    assert row.status == "sent" and row.provider_id == "SM" + "a" * 32 and row.attempts == 2


def test_twilio_is_asked_for_delivery_receipts_when_the_public_address_is_known(opd, counters, twilio, settings):
    one_due_text(opd)
    settings.PUBLIC_BASE_URL = "https://clinic.example"
    twilio.answers = [ACCEPTED]
    sending.send_due()
    assert twilio.requests[-1]["StatusCallback"] == "https://clinic.example/sms/status/"


def test_the_command_sends_what_is_due_once_and_says_so(opd, counters):
    join_all(opd, PatientFactory.create_batch(2))
    out = io.StringIO()
    call_command("send_notifications", stdout=out)
    call_command("send_notifications", stdout=out)
    assert out.getvalue().splitlines() == ["2 sent, 0 failed, 0 dropped.", "0 sent, 0 failed, 0 dropped."]
    assert len(locmem.outbox) == 2


@pytest.mark.parametrize("command", ["send_notifications", "housekeeping"])
def test_the_commands_refuse_a_round_every_zero_seconds(command):
    with pytest.raises(CommandError, match="above 0"):
        call_command(command, "--every", "0")
