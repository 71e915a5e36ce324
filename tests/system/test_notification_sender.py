"""The in-process sender: a change that owes a text wakes it after the commit, and it sends the
text off the request's thread; a rolled-back change wakes nothing."""

import time

import pytest
from django.db import transaction

from queue_app import background, services
from queue_app.models import Notification
from queue_app.sms import locmem

from ..factories import PatientFactory

pytestmark = pytest.mark.django_db(transaction=True)


class CountedSender(background.NotificationSender):
    """The real sender, counting its rounds so a test can wait for the first one to end."""

    rounds = 0

    def run_once(self):
        try:
            return super().run_once()
        finally:
            self.rounds += 1


@pytest.fixture
def sender(settings, monkeypatch, opd, counters):
    # Started once the data exists, and past its first round (a round at start): on SQLite's
    # shared in-memory database a write of the test meeting the round's is refused at once
    # ("database table is locked"), not waited for.
    settings.NOTIFY_SENDER_THREAD = True
    thread = CountedSender(every=3600)  # after its first round, only a wake makes it send
    monkeypatch.setattr(background, "_sender", thread)
    thread.start()
    assert wait_until(lambda: thread.rounds >= 1)
    yield thread
    thread.stop()
    thread.join(30)
    assert not thread.is_alive()


def wait_until(condition, *, deadline=30.0):
    """Polls: the thread sends when it gets to it (a generous deadline, never a timing claim)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_a_committed_change_is_texted_by_the_sender_thread(sender, opd, counters):
    ticket, _ = services.join(patient=PatientFactory(), service=opd)
    assert wait_until(lambda: Notification.objects.filter(status="sent").count() == 1)
    assert [m.to for m in locmem.outbox] == [ticket.patient.phone]


def test_a_rolled_back_change_sends_nothing(sender, opd, counters):
    with pytest.raises(RuntimeError), transaction.atomic():
        services.join(patient=PatientFactory(), service=opd)
        raise RuntimeError("a later step of the request failed")
    services.join(patient=PatientFactory(), service=opd)  # a committed one, to know the thread ran
    assert wait_until(lambda: Notification.objects.filter(status="sent").count() == 1)
    assert len(locmem.outbox) == 1 and Notification.objects.count() == 1


@pytest.mark.parametrize(("every", "closes"), [(1, False), (30, True)])
def test_a_quiet_round_keeps_the_connection_only_for_a_sender_polling_every_second(monkeypatch, every, closes):
    # Production's sender process polls every second: reconnecting each time would cost more
    # than the poll. The threads' rounds are 30 s apart: no connection is held between them.
    closed = []
    monkeypatch.setattr(background.connections, "close_all", lambda: closed.append(True))
    done = background.NotificationSender(every=every).run_once()
    assert (done.claimed, done.dropped) == (0, 0)
    assert bool(closed) is closes
