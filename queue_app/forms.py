"""Staff forms: log in at a counter, and move to another counter; the service form in admin."""

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.utils.dates import WEEKDAYS
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .bidi import isolated
from .models import EVERY_DAY, Counter, Service, Staff


def counter_choices():
    """Every counter, grouped by service, with who holds it (for the login select and the picker)."""
    return Counter.objects.select_related("service", "held_by").order_by("service__service_name", "id")


class CounterChoiceField(forms.ModelChoiceField):
    """A select of the counters saying which are free. No staff names: the login page is public."""

    def label_from_instance(self, counter):
        state = gettext("in use") if counter.held_by_id else gettext("free")
        return gettext("%(counter)s · %(service)s (%(state)s)") % {
            **isolated(counter=counter.counter_name, service=counter.service.service_name),
            "state": state,
        }


class BoundedUsernameMixin:
    """A username longer than any account's is refused before authenticate() sees it.

    Django's AuthenticationForm only sets the field's max_length after the field is built, so
    nothing checks it, and authenticate() hands the username to django-axes, which records a
    failure in a 255-character column: MariaDB's strict mode then raises DataError (a 500), for
    256 characters or for 15 x U+FDFA, which the field's NFKC normalisation turns into 270.
    The answer is the usual "wrong username or password", and nothing is counted: no account
    was guessed at.
    """

    def clean(self):
        username = self.cleaned_data.get("username")
        if username is not None and len(username) > self.username_field.max_length:
            raise self.get_invalid_login_error()
        return super().clean()


class AdminLoginForm(BoundedUsernameMixin, AdminAuthenticationForm):
    """/admin/login/: Django's admin form with the same username bound."""


class StaffLoginForm(BoundedUsernameMixin, AuthenticationForm):
    """Username, password and the counter to work at.

    AuthenticationForm calls authenticate(request, …), so django-axes sees every attempt, and it
    refuses inactive accounts (the model backend does not authenticate them).
    """

    counter = CounterChoiceField(
        queryset=Counter.objects.none(),
        required=False,
        label=_("Counter"),
        empty_label=_("The counter assigned to me"),
        help_text=_(
            "Leave as is to work at the counter an administrator assigned to you. "
            "Reception staff: leave as is, you go to the reception desk."
        ),
    )

    error_messages = {
        "invalid_login": _("Wrong username or password."),
        "inactive": _("This account is disabled. Please ask an administrator."),
    }

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        self.fields["counter"].queryset = counter_choices()
        self.fields["username"].widget.attrs.update({"autocapitalize": "none", "spellcheck": "false"})

    def clean(self):
        cleaned = super().clean()
        user = self.get_user()
        if user is None:
            return cleaned
        if user.role in (Staff.Role.RECEPTION, Staff.Role.MANAGER):
            # Reception works at the reception desk and managers read reports, never at a
            # counter: nothing to hold.
            cleaned["counter"] = None
            return cleaned
        counter = cleaned.get("counter") or self.assigned_counter(user)
        if counter is None and not user.is_queue_admin:
            raise forms.ValidationError(
                _("No counter is assigned to you: please choose the counter you are working at."),
                code="counter_required",
            )
        cleaned["counter"] = counter
        return cleaned

    @staticmethod
    def assigned_counter(user: Staff) -> Counter | None:
        """The counter an administrator assigned (Counter.assigned_staff); a free one first."""
        assigned = Counter.objects.filter(assigned_staff=user).order_by("id")
        free_or_own = [c for c in assigned if c.held_by_id in (None, user.pk)]
        return (free_or_own or list(assigned) or [None])[0]


class SwitchCounterForm(forms.Form):
    """Take a counter; `force` confirms taking it from whoever holds it now."""

    counter = forms.ModelChoiceField(
        queryset=Counter.objects.select_related("service", "held_by"),
        label=_("Counter"),
        error_messages={"invalid_choice": _("That counter does not exist."), "required": _("Choose a counter.")},
    )
    force = forms.BooleanField(required=False, widget=forms.HiddenInput)


class ServiceAdminForm(forms.ModelForm):
    """The service in admin: its days as checkboxes over the week_days bitmask."""

    days = forms.TypedMultipleChoiceField(
        label=_("Days offered"),
        choices=[(i, name) for i, name in WEEKDAYS.items()],
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Tick the days of the week the service takes patients. Holidays go under closed dates below."),
    )

    class Meta:
        model = Service
        fields = [
            "service_name",
            "description",
            "days",
            "is_active",
            "opens_at",
            "closes_at",
            "wait_alert_minutes",
            "per_counter_lines",
            "priority_calls_in_a_row",
            "notify_near_at",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        week_days = self.instance.week_days if self.instance.pk else EVERY_DAY
        self.fields["days"].initial = [i for i in WEEKDAYS if week_days & (1 << i)]

    def clean(self):
        cleaned = super().clean()
        opens, closes = cleaned.get("opens_at"), cleaned.get("closes_at")
        if (opens is None) != (closes is None):
            raise forms.ValidationError(_("Give both opening and closing times, or neither."), code="half_hours")
        self.instance.week_days = sum(1 << day for day in set(cleaned.get("days") or []))
        return cleaned
