"""Counter staff actions: each parses input, makes one service call and answers the counter state."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from .. import selectors, services
from ..models import Counter
from .base import StaffApi

ERROR = inline_serializer("Error", {"error": serializers.CharField(), "code": serializers.CharField()})
COUNTER_STATE = inline_serializer(
    "CounterState",
    {
        "counter": serializers.DictField(),
        "serving_patient": serializers.DictField(allow_null=True),
        "queue_length": serializers.IntegerField(),
    },
)
ERRORS = {403: ERROR, 400: ERROR, 409: ERROR}


class ActionInput(serializers.Serializer):
    expected_queue_id = serializers.CharField(required=False, allow_blank=True, max_length=40)
    counter = serializers.IntegerField(required=False, min_value=1, help_text="Admins only: the counter to act on.")


class _CounterAction(StaffApi):
    operation = None  # the service function

    def post(self, request):
        data = ActionInput(data=request.data)
        data.is_valid(raise_exception=True)
        type(self).operation(
            counter=self.counter, by=request.user, expected=data.validated_data.get("expected_queue_id") or None
        )
        return Response(selectors.counter_state(self.counter))


@extend_schema(request=ActionInput, responses={200: COUNTER_STATE, **ERRORS}, summary="Serve next patient")
class ServeNextApi(_CounterAction):
    """Finish the current patient and call the next one (409 `stale` if the screen was out of date)."""

    operation = services.serve_next


@extend_schema(request=ActionInput, responses={200: COUNTER_STATE, **ERRORS}, summary="Skip (no-show) and call next")
class SkipPatientApi(_CounterAction):
    operation = services.skip


@extend_schema(
    request=ActionInput, responses={200: COUNTER_STATE, **ERRORS}, summary="Announce the current patient again"
)
class AnnouncePatientApi(_CounterAction):
    operation = services.announce


class StatusInput(serializers.Serializer):
    status = serializers.ChoiceField(choices=Counter.Status.values)
    counter = serializers.IntegerField(required=False, min_value=1)


@extend_schema(
    request=StatusInput,
    responses={
        200: inline_serializer(
            "StatusResult", {"counter": serializers.DictField(), "redistributed": serializers.IntegerField()}
        ),
        **ERRORS,
    },
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
    responses={200: COUNTER_STATE, 403: ERROR},
    summary="The counter, its current patient and its waiting list in order",
)
class QueueDataApi(StaffApi):
    def get(self, request):
        data = selectors.counter_state(self.counter, with_waiting=True)
        data["today"] = selectors.today_counts(self.counter)
        data["to_redistribute"] = data["queue_length"]
        return Response(data)
