"""Base API views: CSRF on every unsafe request (anonymous ones too) and who is asking."""

from collections.abc import Mapping

from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.authentication import CSRFCheck
from rest_framework.views import APIView

from .. import access, selectors, services
from ..models import Counter, Service


def _dummy_get_response(request):  # pragma: no cover - CsrfViewMiddleware needs a callable
    return None


class ApiView(APIView):
    """DRF's SessionAuthentication checks CSRF only for logged-in users; we check it always."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method not in ("GET", "HEAD", "OPTIONS", "TRACE"):
            check = CSRFCheck(_dummy_get_response)
            check.process_request(request)
            reason = check.process_view(request, None, (), {})
            if reason:
                raise exceptions.PermissionDenied(_("CSRF check failed: reload the page and try again."))


class PatientApi(ApiView):
    """For a patient whose phone was verified in this session."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.patient = access.session_patient(request.session)
        if self.patient is None:
            raise exceptions.NotAuthenticated(_("Please verify your phone number first."))


class StaffApi(ApiView):
    """For an active staff member. `self.counter` is the counter they act on."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        user = request.user
        if not access.is_staff_user(user):
            raise exceptions.NotAuthenticated(_("Please log in as staff."))
        self.counter = self.resolve_counter(request)
        if self.counter.held_by_id == user.pk:
            services.touch_counter(counter=self.counter, staff=user)

    def resolve_counter(self, request) -> Counter:
        """An operator acts on the counter they hold; an admin may name any counter by id."""
        user = request.user
        fields = request.data if request.method == "POST" else request.query_params
        if not isinstance(fields, Mapping):  # a JSON list, string or null: not a form
            raise exceptions.ParseError(_("Send the fields as a JSON object or a form."))
        requested = fields.get("counter")
        if requested not in (None, ""):
            try:
                counter_id = int(requested)
            except (TypeError, ValueError):
                raise exceptions.ValidationError({"counter": [_("Must be a counter id.")]}) from None
            try:
                counter = selectors.counter_row(counter_id)
            except Counter.DoesNotExist:
                raise exceptions.NotFound(_("No such counter.")) from None
            if user.is_queue_admin or counter.held_by_id == user.pk:
                return counter
            raise exceptions.PermissionDenied(_("You can only act on your own counter."))
        counter = selectors.held_counter(user.pk)
        if counter is None:
            raise exceptions.PermissionDenied(_("You are not at a counter. Log in again and choose one."))
        return counter


def service_or_404(service_id: int) -> Service:
    """The service a request names, or the 404 that says what to do (services.UnknownService)."""
    service = Service.objects.filter(pk=service_id).first()
    if service is None:
        raise services.UnknownService()
    return service
