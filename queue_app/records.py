"""Records kept beside the queue: one history row per transition, and the latest one-time code
of each phone. Part of queue_app.models (imported there)."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .phones import mask_phone


class QueueHistory(models.Model):
    """One row per transition: who, where, from/to, when. Nothing is ever deleted."""

    class Action(models.TextChoices):
        JOINED = "joined", _("Joined")
        ASSIGNED = "assigned", _("Assigned to a counter")
        CALLED = "called", _("Called")
        ANNOUNCED = "announced", _("Announced again")
        SERVED = "served", _("Served")
        SKIPPED = "skipped", _("Skipped")
        REDISTRIBUTED = "redistributed", _("Moved to another counter")
        RETURNED_TO_POOL = "returned_to_pool", _("Waiting for a counter to open")
        CANCELLED = "cancelled", _("Cancelled")
        EXPIRED = "expired", _("Expired")
        RECALLED = "recalled", _("Recalled")
        MOVED_SERVICE = "moved_service", _("Moved to another service")
        COUNTER_STATUS = "counter_status", _("Counter status changed")
        COUNTER_HELD = "counter_held", _("Staff took the counter")
        COUNTER_RELEASED = "counter_released", _("Staff left the counter")
        PRIORITY = "priority", _("Priority changed")
        NOTE = "note", _("Note changed")
        BACK_TO_LINE = "back_to_line", _("Sent back to the line")

    ticket = models.ForeignKey(
        "Ticket", on_delete=models.PROTECT, null=True, blank=True, related_name="history", verbose_name=_("ticket")
    )
    counter = models.ForeignKey(
        "Counter", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("counter")
    )
    from_counter = models.ForeignKey(
        "Counter", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("from counter")
    )
    action = models.CharField(_("action"), max_length=20, choices=Action.choices)
    from_status = models.CharField(_("from"), max_length=16, blank=True)
    to_status = models.CharField(_("to"), max_length=16, blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("queue history")
        verbose_name_plural = _("queue history")

    def __str__(self):
        return f"{self.get_action_display()} {self.ticket or self.counter or ''}".strip()


class OTP(models.Model):
    """The latest one-time code sent to a phone, stored only as an HMAC."""

    phone = models.CharField(_("phone"), max_length=16, unique=True)
    code_hash = models.CharField(max_length=64)
    pending_name = models.CharField(max_length=100, blank=True)
    sent_at = models.DateTimeField(_("sent"))
    expires_at = models.DateTimeField(_("expires"))
    attempts = models.PositiveSmallIntegerField(_("wrong attempts"), default=0)
    send_count = models.PositiveIntegerField(_("codes sent"), default=0)
    used_at = models.DateTimeField(_("used"), null=True, blank=True)

    class Meta:
        verbose_name = _("one-time code")
        verbose_name_plural = _("one-time codes")

    def __str__(self):
        return f"OTP for {mask_phone(self.phone)}"
