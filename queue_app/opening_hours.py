"""When a service is open: its closed dates (holidays) and the hours arithmetic shared by
services and counters. Re-exported by queue_app.models."""

from datetime import date, datetime, time

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def within(now: time, start: time, end: time) -> bool:
    if start <= end:
        return start <= now < end
    return now >= start or now < end  # hours across midnight


class ServiceSchedule(models.Model):
    """A service's opening hours, holidays and wait alert (Service's fields, kept here so the
    models module stays short)."""

    opens_at = models.TimeField(
        _("opens at"),
        null=True,
        blank=True,
        help_text=_("When the service starts seeing patients. Leave empty to use each counter's own hours."),
    )
    closes_at = models.TimeField(
        _("closes at"),
        null=True,
        blank=True,
        help_text=_("When the service stops seeing patients. A counter's own hours can only narrow these."),
    )
    wait_alert_minutes = models.PositiveSmallIntegerField(
        _("wait alert (minutes)"),
        null=True,
        blank=True,
        help_text=_("The reports page warns when someone has waited longer than this. Leave empty for no warning."),
    )

    class Meta:
        abstract = True

    def is_offered_on(self, day: date) -> bool:
        """On one of its week days and not a closed date (a holiday) of the service (read with the
        row by services.changes.lock_service, or asked here)."""
        if not self.week_days & (1 << day.weekday()):
            return False
        known = getattr(self, "closed_days", {})
        if day in known:
            return not known[day]
        return self.pk is None or not self.closed_dates.filter(date=day).exists()

    def within_hours(self, moment: datetime | None = None) -> bool:
        """Within the service's opening hours (start inclusive, end exclusive); no hours: always."""
        if self.opens_at is None or self.closes_at is None:
            return True
        return within(timezone.localtime(moment).time(), self.opens_at, self.closes_at)


class ServiceClosedDate(models.Model):
    """A day a service is closed although it is one of its week days (a public holiday)."""

    service = models.ForeignKey(
        "queue_app.Service", on_delete=models.CASCADE, related_name="closed_dates", verbose_name=_("service")
    )
    date = models.DateField(_("date"), help_text=_("No tickets can be taken for the service on this day."))
    reason = models.CharField(_("reason"), max_length=100, blank=True, help_text=_("For example: public holiday."))

    class Meta:
        ordering = ["date"]
        verbose_name = _("closed date")
        verbose_name_plural = _("closed dates")
        constraints = [models.UniqueConstraint(fields=["service", "date"], name="service_closed_date_unique")]

    def __str__(self):
        return f"{self.service} {self.date}"


__all__ = ["ServiceClosedDate", "ServiceSchedule", "within"]
