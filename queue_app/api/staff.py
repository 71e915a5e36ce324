"""Counter staff actions: each parses input, makes one service call and answers the counter state."""

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response

from .. import payloads, selectors, services
from ..bidi import isolated
from ..models import Counter, Ticket
from ..presenters import call_message
from .base import StaffApi, service_or_404
from .fields import TextField
from .schemas import (
    CounterActionSerializer,
    CounterQueueSerializer,
    PriorityResultSerializer,
    StatusResultSerializer,
    errors,
)

ERRORS = errors(400, 403, 404, 409)  # 404: an admin naming a counter that does not exist


class ActionInput(serializers.Serializer):
    expected_queue_id = TextField(
        required=False,
        allow_blank=True,
        max_length=40,
        help_text='The ticket on screen ("" when nobody is shown); if it is no longer current: 409 `stale`.',
    )
    counter = serializers.IntegerField(
        required=False, min_value=1, help_text="The counter to act on: any for admins, only their own for operators."
    )


class _CounterAction(StaffApi):
    operation = None  # the service function
    action = ""  # its name in the clerk's message (presenters.call_message)

    def post(self, request):
        data = ActionInput(data=request.data)
        data.is_valid(raise_exception=True)
        # Absent: no check. "": the screen showed nobody being served. Anything else: that ticket.
        call = type(self).operation(
            counter=self.counter, by=request.user, expected=data.validated_data.get("expected_queue_id")
        )
        data = payloads.counter_state(
            call.counter, serving_row=call.ticket, queue_length=call.queue_length, now=timezone.now()
        )
        return Response({**data, "message": call_message(call, action=self.action)})


@extend_schema(request=ActionInput, responses={200: CounterActionSerializer, **ERRORS}, summary="Serve next patient")
class ServeNextApi(_CounterAction):
    """Finish the current patient and call the next one (409 `stale` if the screen was out of date)."""

    operation = services.serve_next
    action = "serve_next"


@extend_schema(
    request=ActionInput, responses={200: CounterActionSerializer, **ERRORS}, summary="Skip (no-show) and call next"
)
class SkipPatientApi(_CounterAction):
    """Mark the patient at the counter a no-show and call the next one."""

    operation = services.skip
    action = "skip"


@extend_schema(
    request=ActionInput,
    responses={200: CounterActionSerializer, **ERRORS},
    summary="Announce the current patient again",
)
class AnnouncePatientApi(_CounterAction):
    operation = services.announce
    action = "announce"


class StatusInput(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=Counter.Status.choices,
        error_messages={
            "invalid_choice": _('Unknown status "{input}": use available, busy, break or closed.'),
            "required": _("Choose a status: available, busy, break or closed."),
        },
    )
    counter = serializers.IntegerField(required=False, min_value=1)


@extend_schema(
    request=StatusInput,
    responses={200: StatusResultSerializer, **ERRORS},
    summary="Set the counter status (available, busy, break, closed)",
)
class UpdateStatusApi(StaffApi):
    def post(self, request):
        data = StatusInput(data=request.data)
        data.is_valid(raise_exception=True)
        moved = services.set_status(counter=self.counter, status=data.validated_data["status"], by=request.user)
        state = selectors.counter_state(self.counter)
        return Response({"counter": state["counter"], "redistributed": moved, "queue_length": state["queue_length"]})


@extend_schema(
    parameters=[OpenApiParameter("counter", int, description="Admins: any counter; operators: their own.")],
    responses={200: CounterQueueSerializer, **errors(400, 403, 404)},
    summary="The counter, its current patient and its waiting list in order",
)
class QueueDataApi(StaffApi):
    def get(self, request):
        data = selectors.counter_state(self.counter, with_waiting=True)
        data["today"] = selectors.today_counts(self.counter)
        return Response(data)


def _answer(counter: Counter, message: str) -> Response:
    """A counter action's answer (CounterActionSerializer): the counter as it is now, and what happened."""
    state = selectors.counter_state(counter)
    keys = ("counter", "serving_patient", "queue_length")
    return Response({**{key: state[key] for key in keys}, "message": message})


class TransferInput(ActionInput):
    service = serializers.IntegerField(min_value=1, help_text="The service to send the patient to (e.g. Test).")
    note = TextField(
        required=False, allow_blank=True, max_length=1000, help_text="For the next counter's staff only (200 chars)."
    )


@extend_schema(
    request=TransferInput,
    responses={200: CounterActionSerializer, **ERRORS},
    summary="Send the patient at the counter to another service",
)
class TransferPatientApi(StaffApi):
    """The patient keeps their arrival time and priority in the other service's line; a note
    goes with them to the next counter. 409 when that service is closed today."""

    def post(self, request):
        data = TransferInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        ticket = services.transfer(
            counter=self.counter,
            service=service_or_404(fields["service"]),
            by=request.user,
            note=fields.get("note", ""),
            expected=fields.get("expected_queue_id"),
        )
        message = _("%(ticket)s was sent to %(service)s and keeps their place by arrival time.") % isolated(
            ticket=ticket.queue_id, service=ticket.service
        )
        return _answer(self.counter, message)


class BackToLineInput(ActionInput):
    note = TextField(required=False, allow_blank=True, max_length=1000, help_text="For staff only (200 chars).")


@extend_schema(
    request=BackToLineInput,
    responses={200: CounterActionSerializer, **ERRORS},
    summary="Send the patient at the counter back to the line, in their place",
)
class BackToLineApi(StaffApi):
    def post(self, request):
        data = BackToLineInput(data=request.data)
        data.is_valid(raise_exception=True)
        ticket = services.back_to_line(
            counter=self.counter,
            by=request.user,
            note=data.validated_data.get("note", ""),
            expected=data.validated_data.get("expected_queue_id"),
        )
        message = _("%(ticket)s is back in the line in their place.") % isolated(ticket=ticket.queue_id)
        return _answer(self.counter, message)


class PriorityInput(serializers.Serializer):
    queue_id = TextField(max_length=40, help_text="A waiting or called ticket of the counter's service, today.")
    priority = TextField(
        required=False, allow_blank=True, max_length=20, help_text='A category\'s id or short code; "" for none.'
    )
    counter = serializers.IntegerField(required=False, min_value=1)


@extend_schema(
    request=PriorityInput,
    responses={200: PriorityResultSerializer, **ERRORS},
    summary="Give a ticket in the counter's line a priority category (or none), confirmed",
)
class SetPriorityApi(StaffApi):
    def post(self, request):
        data = PriorityInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        category = services.category(fields.get("priority"))
        ticket = Ticket.objects.of_day().filter(queue_id=fields["queue_id"]).first()
        if ticket is None:
            raise exceptions.NotFound(_("No ticket %(ticket)s today.") % isolated(ticket=fields["queue_id"]))
        ticket = services.set_priority(ticket=ticket, priority=category, by=request.user, counter=self.counter)
        return Response({"ticket": payloads.priority_result(ticket)})
