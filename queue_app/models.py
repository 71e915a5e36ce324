"""Data and invariants. State changes go through queue_app.services, never through these models."""

import hashlib
import re
from datetime import date, datetime, time, timedelta

from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .accounts import Staff, StaffManager, StaffQuerySet  # noqa: F401 (re-exported)
from .names import name_key
from .opening_hours import ServiceClosedDate, ServiceSchedule, within  # noqa: F401 (re-exported)

WEEKDAY_NAMES = (_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun"))
EVERY_DAY = 127
REPORT_FIELDS = (
    "service_date",
    "service",
    "status",
    "counter",
    "called_by",
    "joined_at",
    "called_at",
    "finished_at",
    "first_called_at",
    "estimated_wait_at_join",
)


# Ids a request may name: larger numbers would overflow the database's 64-bit keys.
MAX_ID = 2**62


def parse_id(value) -> int | None:
    """A positive database id from a request's text, or None."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number < MAX_ID else None


def service_day(moment: datetime | None = None) -> date:
    """The service date: the local date in TIME_ZONE."""
    return timezone.localtime(moment).date()


def end_of_service_day(moment: datetime | None = None) -> datetime:
    """Local midnight after `moment` (in TIME_ZONE): when a patient's session ends."""
    local = timezone.localtime(moment)
    return datetime.combine(local.date() + timedelta(days=1), time.min, tzinfo=local.tzinfo)


class PriorityCategory(models.Model):
    """A reason to be called before others (Emergency, Elderly 60+, Pregnant…), set by an
    administrator. Shown to staff only: never on the display, in announcements or public events."""

    name = models.CharField(_("name"), max_length=50, unique=True)
    code = models.CharField(
        _("short code"), max_length=8, unique=True, help_text=_("Shown to staff beside the ticket, e.g. EMG or 60+.")
    )
    rank = models.PositiveSmallIntegerField(
        _("rank"), default=1, help_text=_("Higher ranks are called first among priority patients.")
    )
    is_emergency = models.BooleanField(
        _("emergency"),
        default=False,
        help_text=_("Called next, whatever the line: not held back by the limit of priority calls in a row."),
    )
    self_declare = models.BooleanField(
        _("patients may choose it"),
        default=False,
        help_text=_("Patients may pick it when they join; staff then see it marked 'to confirm'."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["-is_emergency", "-rank", "name"]
        verbose_name = _("priority category")
        verbose_name_plural = _("priority categories")

    def __str__(self):
        return self.name


class Service(ServiceSchedule):
    service_name = models.CharField(_("name"), max_length=50, unique=True)
    description = models.TextField(_("description"), blank=True)
    week_days = models.PositiveSmallIntegerField(
        _("days offered"),
        default=EVERY_DAY,
        validators=[MaxValueValidator(EVERY_DAY)],
        help_text=_("The days of the week the service takes patients."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    per_counter_lines = models.BooleanField(
        _("a line per counter"),
        default=False,
        help_text=_(
            "Off (usual): one line for the service, the next free counter calls whoever is first. "
            "On: each counter (a named room or doctor) calls its own line first."
        ),
    )
    priority_calls_in_a_row = models.PositiveSmallIntegerField(
        _("priority calls in a row"),
        default=3,
        validators=[MaxValueValidator(50)],
        help_text=_(
            "After this many priority patients in a row, the next patient without priority is called, "
            "so nobody waits for ever. 0: priorities do not change the order (emergencies still go first)."
        ),
    )
    # Priority patients called in a row ahead of someone without priority (the rule above) in the
    # service's one line; kept on the row every change locks. A line per counter: each counter's.
    priority_streak = models.PositiveSmallIntegerField(default=0, editable=False)
    # +1 with every change of the service's queue, in the change's transaction (the rules lock this
    # row anyway). Every event and snapshot carries it, so a screen that missed an event notices.
    version = models.PositiveBigIntegerField(_("state version"), default=0, editable=False)
    # The last ticket number handed out on `numbers_day` (services.changes.next_number): kept on
    # the row every join locks, so the day's next number costs no query of its tickets.
    last_number = models.PositiveIntegerField(default=0, editable=False)
    numbers_day = models.DateField(null=True, blank=True, editable=False)
    notify_near_at = models.PositiveSmallIntegerField(
        _("text patients when this many are ahead"), default=2, help_text=_('0: no "turn near" text.')
    )

    class Meta:
        ordering = ["service_name"]
        verbose_name = _("service")
        verbose_name_plural = _("services")
        constraints = [
            models.CheckConstraint(condition=Q(week_days__lte=EVERY_DAY), name="service_week_days_bitmask"),
        ]

    def __str__(self):
        return self.service_name

    # Kept by the rules under the row's lock (services/changes.py): a form saving the row (the
    # admin) must not write back what it read before, e.g. a number handed out since.
    RULE_FIELDS = frozenset({"version", "priority_streak", "last_number", "numbers_day"})

    def save(self, *args, **kwargs):
        if not self._state.adding and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [
                f.name for f in self._meta.concrete_fields if not f.primary_key and f.name not in self.RULE_FIELDS
            ]
        super().save(*args, **kwargs)

    @property
    def code(self) -> str:
        """The ticket prefix: the name upper-cased with non-alphanumerics dropped (OPD, TEST)."""
        return re.sub(r"[^A-Z0-9]", "", self.service_name.upper()) or "Q"

    def days_display(self) -> str:
        if self.week_days == EVERY_DAY:
            return str(_("Every day"))
        return ", ".join(str(name) for i, name in enumerate(WEEKDAY_NAMES) if self.week_days & (1 << i))


class Counter(models.Model):
    class Status(models.TextChoices):
        AVAILABLE = "available", _("Available")
        BUSY = "busy", _("Busy")
        BREAK = "break", _("On break")
        CLOSED = "closed", _("Closed")

    OPEN_STATUSES = (Status.AVAILABLE, Status.BUSY)

    counter_name = models.CharField(_("name"), max_length=50)
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="counters", verbose_name=_("service"))
    start_time = models.TimeField(_("opens at"), default=time(9, 0), help_text=_("Within the service's hours."))
    end_time = models.TimeField(_("closes at"), default=time(17, 0), help_text=_("Within the service's hours."))
    current_status = models.CharField(
        _("status"),
        max_length=16,
        choices=Status.choices,
        default=Status.CLOSED,
        help_text=_("Set by the staff member at the counter."),
    )
    assigned_staff = models.ForeignKey(
        Staff,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_counters",
        verbose_name=_("assigned staff"),
        help_text=_("The staff member who normally works here (pre-selected at login)."),
    )
    held_by = models.OneToOneField(
        Staff,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="held_counter",
        verbose_name=_("held by"),
        help_text=_("Who is logged in at this counter now. Set by staff login, cleared at logout."),
    )
    held_since = models.DateTimeField(_("held since"), null=True, blank=True)
    last_seen_at = models.DateTimeField(
        _("last seen"),
        null=True,
        blank=True,
        help_text=_("Last sign of life from the staff member's dashboard; idle counters are released."),
    )
    # With a line per counter: priority patients this counter called in a row (services/ordering).
    priority_streak = models.PositiveSmallIntegerField(default=0, editable=False)
    # The service's version of the last change this counter's staff socket was sent: what a
    # counter's screen must have seen (it hears only its own counter's changes).
    version = models.PositiveBigIntegerField(_("state version"), default=0, editable=False)

    class Meta:
        ordering = ["id"]
        verbose_name = _("counter")
        verbose_name_plural = _("counters")
        constraints = [
            models.CheckConstraint(
                condition=Q(current_status__in=["available", "busy", "break", "closed"]),
                name="counter_status_valid",
            ),
        ]

    def __str__(self):
        return self.counter_name

    def within_hours(self, moment: datetime | None = None) -> bool:
        """Within both the counter's hours and its service's (a counter may only narrow them)."""
        now = timezone.localtime(moment)
        return within(now.time(), self.start_time, self.end_time) and self.service.within_hours(now)

    def is_open(self, moment: datetime | None = None) -> bool:
        """Staffed, available or busy, and within its hours (start inclusive, end exclusive)."""
        return self.held_by_id is not None and self.current_status in self.OPEN_STATUSES and self.within_hours(moment)


class Patient(models.Model):
    phone = models.CharField(_("phone (E.164)"), max_length=16, unique=True, null=True, blank=True)
    name = models.CharField(_("name"), max_length=100)
    created_at = models.DateTimeField(_("registered"), default=timezone.now)
    # The language the patient chose (or verified in); their SMS are written in it. Blank: the default.
    language = models.CharField(_("language"), max_length=8, blank=True, default="")

    class Meta:
        ordering = ["name"]
        verbose_name = _("patient")
        verbose_name_plural = _("patients")

    def __str__(self):
        return self.name


class TicketQuerySet(models.QuerySet):
    def of_day(self, day: date | None = None):
        return self.filter(service_date=day or service_day())

    def waiting(self):
        return self.filter(status=Ticket.Status.WAITING)

    def called(self):
        return self.filter(status=Ticket.Status.CALLED)

    def active(self):
        return self.filter(status__in=Ticket.ACTIVE_STATUSES)

    def in_queue_order(self):
        return self.order_by("joined_at", "id")


class Ticket(models.Model):
    """A place in a service's queue on one service date (the seed's queue entry)."""

    class Status(models.TextChoices):
        WAITING = "waiting", _("Waiting")
        CALLED = "called", _("Called")
        SERVED = "served", _("Served")
        SKIPPED = "skipped", _("Skipped")
        CANCELLED = "cancelled", _("Cancelled")
        EXPIRED = "expired", _("Expired")

    ACTIVE_STATUSES = (Status.WAITING, Status.CALLED)
    # What reception may send to another service (a served patient may be sent on for a test).
    MOVABLE_STATUSES = (Status.WAITING, Status.CALLED, Status.SERVED)
    # Finished, but not for good while it is the ticket's day: reception may recall a skipped
    # ticket (services.recall) or send a served one on to another service (move_to_service).
    RETURNABLE_STATUSES = (Status.SKIPPED, Status.SERVED)

    queue_id = models.CharField(_("ticket"), max_length=40, db_index=True)
    number = models.PositiveIntegerField(_("number"))
    service_date = models.DateField(_("service date"))
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="tickets", verbose_name=_("service"))
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="tickets", verbose_name=_("patient"))
    patient_name = models.CharField(_("name on ticket"), max_length=100)
    counter = models.ForeignKey(
        Counter,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="tickets",
        verbose_name=_("counter"),
        help_text=_("Empty while the ticket waits for a counter of its service to open."),
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.WAITING)
    joined_at = models.DateTimeField(_("joined"), default=timezone.now)
    called_at = models.DateTimeField(_("called"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    # The reports compare the wait a ticket showed when it was made with the wait until its first
    # call (a recall or a transfer later moves called_at, not what the estimate was about).
    first_called_at = models.DateTimeField(_("first called"), null=True, blank=True)
    estimated_wait_at_join = models.PositiveIntegerField(
        _("estimated wait when joining (minutes)"),
        null=True,
        blank=True,
        help_text=_(
            "What the ticket showed when it was made. Empty: no counter was open, or the ticket was sent "
            "to another service before its first call."
        ),
    )
    called_by = models.ForeignKey(
        Staff, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("called by")
    )
    created_by = models.ForeignKey(
        Staff, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("issued by")
    )
    priority = models.ForeignKey(
        PriorityCategory,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="tickets",
        verbose_name=_("priority"),
    )
    priority_to_confirm = models.BooleanField(
        _("priority to confirm"), default=False, help_text=_("Chosen by the patient; staff have not confirmed it yet.")
    )
    staff_note = models.CharField(
        _("staff note"),
        max_length=200,
        blank=True,
        help_text=_("A short note for the next counter (staff only, never shown to the patient)."),
    )
    # Set while the ticket is active, NULL afterwards. A plain unique constraint on it gives
    # "one active ticket per patient, service and name" on MySQL too, which ignores
    # conditional unique constraints (models.W036).
    active_key = models.CharField(max_length=64, null=True, blank=True, unique=True, editable=False)
    notify = models.BooleanField(_("text the patient"), default=False)  # opted in to SMS (outbox.py)

    objects = TicketQuerySet.as_manager()

    class Meta:
        ordering = ["-service_date", "joined_at", "id"]
        verbose_name = _("ticket")
        verbose_name_plural = _("tickets")
        constraints = [
            models.UniqueConstraint(fields=["service", "service_date", "number"], name="ticket_number_unique_per_day"),
            models.CheckConstraint(
                condition=Q(status__in=["waiting", "called", "served", "skipped", "cancelled", "expired"]),
                name="ticket_status_valid",
            ),
            models.CheckConstraint(condition=Q(number__gte=1), name="ticket_number_positive"),
        ]
        indexes = [
            models.Index(fields=["counter", "status", "joined_at"], name="ticket_counter_queue"),
            models.Index(fields=["service", "service_date", "status", "joined_at"], name="ticket_service_queue"),
            # How many wait at each counter, counted from the index alone (every change counts).
            models.Index(fields=["service", "service_date", "status", "counter"], name="ticket_service_counts"),
            models.Index(fields=["status", "service_date"], name="ticket_status_day"),
            models.Index(fields=["service_date", "called_at"], name="ticket_recent_calls"),
            # The reports read a date range's times from the index alone (bench/README.md, Reports).
            models.Index(fields=[*REPORT_FIELDS], name="ticket_report_times"),
        ]

    def __str__(self):
        return self.queue_id

    @staticmethod
    def make_active_key(*, service_id: int, patient_id: int, name: str) -> str:
        raw = f"{service_id}|{patient_id}|{name_key(name)}"
        return hashlib.sha256(raw.encode()).hexdigest()

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    @property
    def may_come_back(self) -> bool:
        """Finished today in a way reception can still undo: its patient's page keeps listening."""
        return self.status in self.RETURNABLE_STATUSES and self.service_date == service_day()


# Kept in their own module to keep this one readable; imported here so `queue_app.models` has them all.
from .outbox import Notification  # noqa: E402, F401 - the outbox's model, kept in its own module
from .records import OTP, QueueHistory  # noqa: E402, F401
