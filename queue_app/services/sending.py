"""Sending the outbox (services/notifications.py writes it): claim due rows under a lock, send each
through the SMS backend, record the outcome. The in-process sender (background.py) and the
`send_notifications` sweeper both run `send_due`; a row is claimed by one of them at a time.

A claim runs out after NOTIFY_CLAIM_SECONDS: a sender that died between claim and send leaves the
row to the next round. One that died after the provider accepted the message but before recording
it would have it sent again; no provider call can be made atomic with our database.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Q
from django.urls import reverse
from django.utils import timezone

from .. import sms
from ..models import Notification, Ticket
from ..phones import mask_phone

log = logging.getLogger("queue.notifications")
Status = Notification.Status
Kind = Notification.Kind

# The ticket statuses in which a kind of message still helps its patient.
STILL_USEFUL = {
    Kind.NEAR: (Ticket.Status.WAITING,),
    Kind.CALLED: (Ticket.Status.CALLED,),
    Kind.MOVED: Ticket.ACTIVE_STATUSES,
}


CLOCK_MARGIN_SECONDS = 10


@dataclass
class Round:
    sent: int = 0
    failed: int = 0
    dropped: int = 0

    @property
    def claimed(self) -> int:
        return self.sent + self.failed


def send_due(*, now: datetime | None = None, limit: int = 50) -> Round:
    """Claim the due rows (up to `limit`) and send them; returns what happened."""
    result = Round()
    claimed = claim_due(now=now, limit=limit, result=result)
    for row in claimed:
        if deliver(row):
            result.sent += 1
        else:
            result.failed += 1  # or taken by another sender meanwhile; either way not sent here
    return result


def _backlog(now: datetime) -> Q:
    return Q(status__in=Notification.DUE_STATUSES, next_attempt_at__lte=now)


@transaction.atomic
def claim_due(*, now: datetime | None = None, limit: int = 50, result: Round | None = None) -> list[Notification]:
    """Take the due rows for this sender: each is marked `sending` until its claim runs out.

    Rows a racing sender holds are skipped (SKIP LOCKED; SQLite's IMMEDIATE transaction lets one
    claim at a time). Rows no longer worth sending, or over the caps, are dropped here."""
    now = now or timezone.now()
    result = result if result is not None else Round()
    due = Notification.objects.filter(_backlog(now)).order_by("next_attempt_at", "id")
    skip_locked = connection.features.has_select_for_update_skip_locked
    rows = list(due.select_for_update(skip_locked=skip_locked)[:limit])
    if not rows:
        return []
    statuses = dict(Ticket.objects.filter(pk__in={r.ticket_id for r in rows}).values_list("pk", "status"))
    give_up = now - timedelta(minutes=settings.NOTIFY_GIVE_UP_MINUTES)
    budget = _budget(now)
    claimed = []
    closed = defaultdict(list)  # (status, error): the rows closed so, one UPDATE each
    for row in rows:
        level = logging.WARNING  # something an operator should look at: a stalled sender, the caps
        if statuses.get(row.ticket_id) not in STILL_USEFUL[row.kind]:
            # Routine on a fast line (called before the round came): not for `journalctl -p warning`.
            reason, level = "the ticket moved on before it was sent", logging.INFO
        elif row.created_at < give_up:
            reason = f"not sent within {settings.NOTIFY_GIVE_UP_MINUTES} minutes"
        elif row.attempts >= settings.NOTIFY_MAX_ATTEMPTS:
            closed[Status.FAILED, f"gave up after {row.attempts} attempts"].append(row.pk)
            continue
        elif budget <= 0:
            reason = "over the notification SMS cap (NOTIFY_SMS_PER_HOUR / NOTIFY_SMS_PER_DAY)"
        else:
            budget -= 1
            claimed.append(row)
            continue
        closed[Status.DROPPED, reason].append(row.pk)
        log.log(level, "notification dropped: id=%s kind=%s to=%s: %s", row.pk, row.kind, mask_phone(row.to), reason)
        result.dropped += 1
    for (status, error), ids in closed.items():
        # A fast line drops many "near" texts at once (called before the round): one UPDATE.
        Notification.objects.filter(pk__in=ids).update(
            status=status, error=error, next_attempt_at=None, claimed_until=None, updated_at=now
        )
    until = now + timedelta(seconds=settings.NOTIFY_CLAIM_SECONDS)
    for row in claimed:
        row.status, row.claimed_until, row.next_attempt_at, row.attempts = (
            Status.SENDING,
            until,
            until,
            row.attempts + 1,
        )
        row.updated_at = now
    # One plain UPDATE for them all (the rows are locked, so attempts + 1 is what was read, plus
    # one): bulk_update's CASE per row and field cost more CPU than sending the texts.
    fields = {"status": Status.SENDING, "claimed_until": until, "next_attempt_at": until, "updated_at": now}
    Notification.objects.filter(pk__in=[row.pk for row in claimed]).update(attempts=F("attempts") + 1, **fields)
    return claimed


def _budget(now: datetime) -> int:
    """How many more notification SMS the caps allow now: sent ones and claimed ones count."""
    hour = now - timedelta(hours=1)
    day = now - timedelta(days=1)
    sent = Q(status__in=Notification.SENT_STATUSES)
    counts = Notification.objects.filter((sent & Q(sent_at__gte=day)) | Q(status=Status.SENDING, claimed_until__gt=now))
    counts = counts.aggregate(day=Count("pk"), hour=Count("pk", filter=~(sent & Q(sent_at__lt=hour))))
    return min(settings.NOTIFY_SMS_PER_HOUR - counts["hour"], settings.NOTIFY_SMS_PER_DAY - counts["day"])


def deliver(row: Notification) -> bool:
    """Send a claimed row and record the outcome, unless its claim ran out and another sender
    took it meanwhile. Returns whether the provider accepted it."""
    # Nobody takes a claim before it runs out; near its end (a stalled sender, clocks of two
    # machines a little apart) ask the database whether it is still ours.
    if timezone.now() >= row.claimed_until - timedelta(seconds=CLOCK_MARGIN_SECONDS):
        held = Notification.objects.filter(pk=row.pk, status=Status.SENDING, claimed_until=row.claimed_until)
        if not held.exists():
            return False  # another sender has taken the row
    # Delivery receipts need an address the provider can reach (views/sms_status.py).
    extra = {"status_callback": settings.PUBLIC_BASE_URL + reverse("sms_status")} if settings.PUBLIC_BASE_URL else {}
    try:
        provider_id = sms.get_backend().send(to=row.to, body=row.body, **extra)
    except Exception as exc:  # noqa: BLE001 - any backend failure is a failed attempt, not a dead sender
        retry = getattr(exc, "retryable", True) and row.attempts < settings.NOTIFY_MAX_ATTEMPTS
        now = timezone.now()
        backoff = timedelta(seconds=settings.NOTIFY_RETRY_SECONDS * 2 ** (row.attempts - 1))
        _record(row, status=Status.FAILED, error=str(exc)[:200], next_attempt_at=now + backoff if retry else None)
        log.warning(
            "notification not sent: id=%s kind=%s attempt=%s retry=%s: %s", row.pk, row.kind, row.attempts, retry, exc
        )
        return False
    _record(row, status=Status.SENT, provider_id=provider_id or "", sent_at=timezone.now(), error="")
    log.info("notification sent: id=%s kind=%s to=%s", row.pk, row.kind, mask_phone(row.to))
    return True


def _record(row: Notification, **fields) -> None:
    fields.setdefault("next_attempt_at", None)
    Notification.objects.filter(pk=row.pk, status=Status.SENDING, claimed_until=row.claimed_until).update(
        claimed_until=None, updated_at=timezone.now(), **fields
    )


# Twilio's final message statuses (its status callback) and what they mean for the row.
RECEIPTS = {"delivered": Status.DELIVERED, "undelivered": Status.UNDELIVERED, "failed": Status.FAILED}


def record_receipt(*, provider_id: str, provider_status: str, error_code: str = "") -> Notification | None:
    """A delivery receipt: the row sent as `provider_id` was delivered, or not. Returns the row
    (None: no such message); interim statuses (queued, sent) change nothing."""
    row = Notification.objects.filter(provider_id=provider_id).exclude(provider_id="").first()
    if row is None:
        return None
    status = RECEIPTS.get(provider_status)
    if status is not None:
        error = f"provider error {error_code}" if error_code else ""
        Notification.objects.filter(pk=row.pk).update(status=status, error=error[:200], updated_at=timezone.now())
        row.status = status
    return row
