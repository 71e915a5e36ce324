"""The notification outbox: one row per SMS a queue change owes a patient (services/notifications.py
writes it in the change's transaction, services/sending.py claims and sends it after the commit)."""

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .phones import mask_phone


class Notification(models.Model):
    class Kind(models.TextChoices):
        NEAR = "near", _("Turn near")
        CALLED = "called", _("Called")
        MOVED = "moved", _("Moved")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        DROPPED = "dropped", _("Dropped")
        DELIVERED = "delivered", _("Delivered")
        UNDELIVERED = "undelivered", _("Undelivered")

    # A sender takes these when next_attempt_at has come (a claim that ran out included).
    DUE_STATUSES = (Status.PENDING, Status.FAILED, Status.SENDING)
    # Left the provider: they count against the hourly and daily caps.
    SENT_STATUSES = (Status.SENT, Status.DELIVERED, Status.UNDELIVERED)

    ticket = models.ForeignKey(
        "queue_app.Ticket", on_delete=models.PROTECT, related_name="notifications", verbose_name=_("ticket")
    )
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    to = models.CharField(_("to"), max_length=16)
    body = models.CharField(_("text"), max_length=320)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    # When a sender may (re)try it; NULL: never again (sent, dropped, or failed for good).
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    # A sender claimed it until then; a sender that died mid-send leaves it to the next one after.
    claimed_until = models.DateTimeField(_("claimed until"), null=True, blank=True)
    provider_id = models.CharField(_("provider id"), max_length=64, blank=True, db_index=True)
    error = models.CharField(_("error"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        constraints = [
            # At most one message of each kind per ticket, even if two changes race to write it.
            models.UniqueConstraint(fields=["ticket", "kind"], name="notification_once_per_ticket_kind"),
            models.CheckConstraint(condition=Q(kind__in=["near", "called", "moved"]), name="notification_kind_valid"),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="notification_due"),
            models.Index(fields=["sent_at"], name="notification_sent_at"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} → {mask_phone(self.to)}"
