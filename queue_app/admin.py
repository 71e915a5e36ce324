"""Django admin. Queue state (ticket status, counter status and holder) changes only through the
services layer: those fields are read-only here and admin actions call the services."""

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.auth.admin import UserAdmin
from django.utils import dateformat, timezone
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from . import access, services
from .bidi import isolate, isolated
from .forms import AdminLoginForm, ServiceAdminForm
from .models import (
    OTP,
    Counter,
    Notification,
    Patient,
    PriorityCategory,
    QueueHistory,
    Service,
    ServiceClosedDate,
    Staff,
    Ticket,
)
from .phones import mask_phone

admin.site.login_form = AdminLoginForm  # refuses over-long usernames before django-axes records them
admin.site.site_header = _("Queue management")
admin.site.site_title = _("Queue management")
admin.site.index_title = format_html(
    '{} · <a href="/qr/">{}</a> · <a href="/display/">{}</a>', _("Administration"), _("QR poster"), _("Wall display")
)


# Dates in the admin are worked out in Python, never converted by the database: MariaDB as
# Debian installs it has no time-zone tables, and with a TIME_ZONE other than UTC its CONVERT_TZ
# answers NULL (every list with a date hierarchy on a date-and-time column answered 500). So the
# date hierarchies use date columns (a ticket's service date, the clinic's own day), and
# date-and-time columns get Django's date filter ("today", "past 7 days"…), whose bounds are
# computed in Python. tests/views/test_admin.py checks that no list converts in SQL.


class SafeDateFilters:
    """A date filter past datetime's range (?joined_at__year=99999999999) raises OverflowError,
    which Django's changelist does not catch: turn it into the "invalid filter" redirect."""

    def get_changelist_instance(self, request):
        try:
            return super().get_changelist_instance(request)
        except OverflowError as exc:
            raise IncorrectLookupParameters(exc) from exc


class RecordsOnly:
    """Records of what happened (history, texts sent) are read, never added, edited or deleted
    by hand: the services write them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _short_time(moment):
    """A time of today as 10:56; of another day with its date (6 Dec, 10:56). None: empty."""
    if moment is None:
        return None
    local = timezone.localtime(moment)
    return dateformat.format(local, "H:i" if local.date() == timezone.localdate() else "j M, H:i")


class ClosedDateInline(admin.StackedInline):  # stacked: every field gets a <label>
    model = ServiceClosedDate
    extra = 1
    verbose_name_plural = _("closed dates (holidays)")


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    form = ServiceAdminForm
    list_display = [
        "service_name",
        "description",
        "days",
        "opens_at",
        "closes_at",
        "per_counter_lines",
        "priority_calls_in_a_row",
        "notify_near_at",
        "is_active",
    ]
    list_filter = ["is_active", "per_counter_lines"]
    search_fields = ["service_name", "description"]
    inlines = [ClosedDateInline]

    @admin.display(description=_("days offered"))
    def days(self, obj):
        return obj.days_display()


@admin.register(PriorityCategory)
class PriorityCategoryAdmin(admin.ModelAdmin):
    """Categories are never deleted while a ticket uses one (history keeps it): set them inactive."""

    list_display = ["name", "code", "rank", "is_emergency", "self_declare", "is_active"]
    list_filter = ["is_active", "is_emergency", "self_declare"]
    search_fields = ["name", "code"]


@admin.register(ServiceClosedDate)
class ServiceClosedDateAdmin(admin.ModelAdmin):
    list_display = ["date", "service", "reason"]
    list_filter = ["service"]
    list_select_related = ["service"]


def _run_status(modeladmin, request, queryset, status):
    moved = 0
    for counter in queryset:
        try:
            moved += services.set_status(counter=counter, status=status, by=request.user)
        except services.QueueError as exc:
            modeladmin.message_user(request, f"{counter}: {exc.message}", messages.ERROR)
    modeladmin.message_user(
        request, _("Status set to %(status)s; %(moved)d waiting tickets moved.") % {"status": status, "moved": moved}
    )


def _status_action(status: str, description):
    """An admin action setting the selected counters' status through the queue rules."""

    @admin.action(description=description)
    def action(modeladmin, request, queryset):
        _run_status(modeladmin, request, queryset, status)

    action.__name__ = f"make_{status}"
    return action


@admin.register(Counter)
class CounterAdmin(admin.ModelAdmin):
    list_display = ["counter_name", "service", "current_status", "held_by", "assigned_staff", "start_time", "end_time"]
    list_filter = ["service", "current_status"]
    search_fields = ["counter_name", "service__service_name", "held_by__username", "assigned_staff__username"]
    # Set by staff logins and the dashboard's heartbeat, never typed in.
    readonly_fields = ["current_status", "held_by", "held_since", "last_seen_at"]
    list_select_related = ["service", "held_by", "assigned_staff"]
    actions = ["make_available", "make_busy", "make_break", "make_closed", "release_holder"]

    make_available = _status_action(Counter.Status.AVAILABLE, _("Set status: available"))
    make_busy = _status_action(Counter.Status.BUSY, _("Set status: busy"))
    make_break = _status_action(Counter.Status.BREAK, _("Set status: break (moves its waiting patients)"))
    make_closed = _status_action(Counter.Status.CLOSED, _("Set status: closed (moves its waiting patients)"))

    @admin.action(description=_("End the staff member's hold (logs them off the counter)"))
    def release_holder(self, request, queryset):
        for counter in queryset.exclude(held_by=None).select_related("held_by"):
            services.release_counter(staff=counter.held_by)
        self.message_user(request, _("Counters released."))


@admin.register(Staff)
class StaffAdmin(UserAdmin):
    list_display = ["username", "first_name", "last_name", "role", "is_active", "last_login"]
    list_filter = ["role", "is_active", "is_superuser"]
    fieldsets = UserAdmin.fieldsets + ((_("Queue"), {"fields": ["role"]}),)
    add_fieldsets = ((None, {"classes": ["wide"], "fields": ["username", "role", "password1", "password2"]}),)


@admin.register(Patient)
class PatientAdmin(SafeDateFilters, admin.ModelAdmin):
    list_display = ["name", "masked_phone", "created_at"]
    search_fields = ["name", "phone"]
    list_filter = ["created_at"]  # not a date hierarchy: see above

    @admin.display(description=_("phone"))
    def masked_phone(self, obj):
        return mask_phone(obj.phone) if obj.phone else "—"


class ReceptionTicketAccess:
    """Reception staff use the ticket pages and actions of the admin by their role.

    The role is what every other part of the product checks (pages, API); a permission Group
    kept in step with it by a data migration would be a second source of truth that can drift
    (a reception member missing from the group, an operator added to it). Staff.save() makes
    reception staff `is_staff` so they can log in to the admin; here they may view tickets and
    use the actions (which call the services), nothing else: every ticket field is read-only.
    """

    def _reception(self, request) -> bool:
        return access.is_reception_user(request.user)

    def has_module_permission(self, request):
        return self._reception(request) or super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return self._reception(request) or super().has_view_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._reception(request) or super().has_change_permission(request, obj)


class HistoryInline(admin.TabularInline):
    model = QueueHistory
    fk_name = "ticket"
    extra = 0
    can_delete = False
    fields = ["at", "action", "from_status", "to_status", "from_counter", "counter", "by", "note"]
    readonly_fields = fields

    def has_view_permission(self, request, obj=None):
        return access.is_reception_user(request.user) or super().has_view_permission(request, obj)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def _run_on_tickets(modeladmin, request, queryset, operation, summary) -> None:
    """Call one service per selected ticket; refusals are reported per ticket, the rest go ahead."""
    done = 0
    for ticket in queryset.select_related("service", "counter"):
        try:
            operation(ticket)
            done += 1
        except services.QueueError as exc:
            modeladmin.message_user(request, f"{ticket}: {exc.message}", messages.WARNING)
    modeladmin.message_user(request, summary(done))


def _move_action(service: Service):
    """The admin action moving the selected tickets to `service` (there is one per active service)."""

    def move(modeladmin, request, queryset):
        _run_on_tickets(
            modeladmin,
            request,
            queryset,
            lambda ticket: services.move_to_service(ticket=ticket, service=service, by=request.user),
            lambda n: (
                ngettext(
                    "%(n)d ticket moved to %(service)s, keeping its arrival time.",
                    "%(n)d tickets moved to %(service)s, keeping their arrival time.",
                    n,
                )
                % {"n": n, "service": isolate(service)}
            ),
        )

    move.allowed_permissions = ("change",)
    return move


@admin.register(Ticket)
class TicketAdmin(SafeDateFilters, ReceptionTicketAccess, admin.ModelAdmin):
    # Fits a 1366 px screen beside the admin's menu and filters: the service is the ticket code's
    # prefix (and a filter), the service day is the day of the joined time (and a filter), and a
    # long counter name wraps (the admin keeps foreign keys and dates on one line).
    # The priority is a filter and on the ticket's page: one more column would not fit 1366 px.
    list_display = ["queue_id", "patient_name", "counter_name", "status", "joined", "called"]
    list_filter = ["status", "service", "service_date", "counter", "priority"]
    search_fields = ["queue_id", "patient_name", "patient__phone"]
    date_hierarchy = "service_date"  # a date column: see above
    list_select_related = ["service", "counter", "priority"]
    inlines = [HistoryInline]
    actions = ["cancel_tickets", "recall_tickets"]  # plus one "move to <service>" per active service
    # Tickets are created by joining and change state by the services only.
    readonly_fields = [f.name for f in Ticket._meta.fields if f.name != "id"]

    @admin.display(description=_("counter"), ordering="counter__counter_name")
    def counter_name(self, obj):
        return obj.counter.counter_name if obj.counter_id else None

    @admin.display(description=_("joined"), ordering="joined_at")
    def joined(self, obj):
        return _short_time(obj.joined_at)

    @admin.display(description=_("called"), ordering="called_at")
    def called(self, obj):
        return _short_time(obj.called_at)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        # Every field is read-only, so a ticket's page is a view (no Save, which would only
        # rewrite a row the services may be changing); the list's actions need "change".
        if obj is not None:
            return False
        return super().has_change_permission(request, obj)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not self.has_change_permission(request):
            return actions
        for service in Service.objects.filter(is_active=True).order_by("service_name"):
            name = f"move_to_service_{service.pk}"
            description = gettext("Move to %(service)s (keeps the arrival time)") % isolated(service=service)
            actions[name] = (_move_action(service), name, description)
        return actions

    @admin.action(description=_("Cancel the selected tickets"), permissions=["change"])
    def cancel_tickets(self, request, queryset):
        done = 0
        for ticket in queryset:
            try:
                services.cancel(ticket=ticket, by=request.user)
                done += 1
            except services.QueueError as exc:
                self.message_user(request, f"{ticket}: {exc.message}", messages.WARNING)
        self.message_user(request, ngettext("%d ticket cancelled.", "%d tickets cancelled.", done) % done)

    @admin.action(description=_("Recall skipped tickets (back at their original place)"), permissions=["change"])
    def recall_tickets(self, request, queryset):
        _run_on_tickets(
            self,
            request,
            queryset,
            lambda ticket: services.recall(ticket=ticket, by=request.user),
            lambda n: ngettext("%(n)d ticket recalled.", "%(n)d tickets recalled.", n) % {"n": n},
        )


@admin.register(QueueHistory)
class QueueHistoryAdmin(RecordsOnly, SafeDateFilters, admin.ModelAdmin):
    list_display = ["at", "action", "ticket", "from_status", "to_status", "from_counter", "counter", "by"]
    list_filter = ["at", "action", "counter"]  # not a date hierarchy: see above
    search_fields = ["ticket__queue_id", "note", "by__username"]
    list_select_related = ["ticket", "counter", "from_counter", "by"]


@admin.register(OTP)
class OTPAdmin(admin.ModelAdmin):
    """Codes are stored only as an HMAC; nothing secret is shown or editable."""

    list_display = ["__str__", "sent_at", "expires_at", "attempts", "send_count", "used_at"]
    fields = ["sent_at", "expires_at", "attempts", "send_count", "used_at"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Notification)
class NotificationAdmin(RecordsOnly, SafeDateFilters, admin.ModelAdmin):
    """The patient-text outbox, read-only: what was owed, sent, delivered or dropped, and why.
    Phones are masked and message texts left out of the list (they name the ticket)."""

    list_display = ["created_at", "kind", "ticket", "masked_to", "status", "attempts", "provider_id", "sent_at"]
    list_filter = ["kind", "status", "created_at"]  # not a date hierarchy: see above
    search_fields = ["ticket__queue_id", "provider_id"]
    list_select_related = ["ticket"]
    fields = ["ticket", "kind", "masked_to", "status", "attempts", "error", "provider_id"]
    fields += ["created_at", "next_attempt_at", "claimed_until", "sent_at", "updated_at"]
    readonly_fields = fields

    @admin.display(description=_("to"))
    def masked_to(self, obj):
        return mask_phone(obj.to)


# django-axes' lockout logs have date hierarchies on date-and-time columns: the same lists
# without them (see above); their date filters stay.
def _without_date_hierarchy(model):
    if admin.site.is_registered(model):
        registered = type(admin.site.get_model_admin(model))
        admin.site.unregister(model)
        admin.site.register(model, type(registered.__name__, (registered,), {"date_hierarchy": None}))


for _model in (AccessAttempt, AccessLog, AccessFailureLog):
    _without_date_hierarchy(_model)
