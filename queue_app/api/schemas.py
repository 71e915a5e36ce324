"""The response bodies of the API, declared for /api/schema/ (drf-spectacular).

The bodies themselves are built by queue_app/payloads.py and queue_app/presenters.py; these
serializers only describe them, and a test checks that every builder's keys match its
declaration, so the two cannot drift apart.
"""

from rest_framework import serializers

from ..models import Counter, Ticket


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="A sentence a person can act on.")
    code = serializers.CharField(help_text="A stable machine-readable code, e.g. `stale`, `rate_limited`.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="400 only: the messages of each invalid field.",
    )


def errors(*statuses: int) -> dict:
    """The error bodies of an operation, for `extend_schema(responses=...)`."""
    return dict.fromkeys(statuses, ErrorSerializer)


class CounterSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    counter_name = serializers.CharField()
    service = serializers.CharField()
    service_id = serializers.IntegerField()
    current_status = serializers.ChoiceField(choices=Counter.Status.choices)
    is_open = serializers.BooleanField(help_text="Staffed, available or busy, and within its hours.")


class StaffCounterSerializer(CounterSummarySerializer):
    start_time = serializers.CharField(help_text="HH:MM")
    end_time = serializers.CharField(help_text="HH:MM")
    held_by = serializers.CharField(allow_null=True, help_text="Who works at the counter now.")


class ServingSerializer(serializers.Serializer):
    queue_id = serializers.CharField()
    patient_name = serializers.CharField(help_text="Public screens: per DISPLAY_NAME_MODE.")


class PrioritySerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    to_confirm = serializers.BooleanField(help_text="Chosen by the patient; staff have not confirmed it.")


class PriorityResultSerializer(serializers.Serializer):
    class TicketPriority(serializers.Serializer):
        queue_id = serializers.CharField()
        priority = PrioritySerializer(allow_null=True)

    ticket = TicketPriority()


class WaitingEntrySerializer(serializers.Serializer):
    queue_id = serializers.CharField()
    patient_name = serializers.CharField()
    joined_at = serializers.DateTimeField()
    waited_minutes = serializers.IntegerField()
    priority = PrioritySerializer(allow_null=True, help_text="Staff only: never on public screens.")
    note = serializers.CharField(allow_blank=True, help_text="From the counter that sent the patient on.")
    expected_counter_id = serializers.IntegerField(allow_null=True, help_text="null: waiting for a counter to open.")


class StaffServingSerializer(ServingSerializer):
    priority = PrioritySerializer(allow_null=True)
    note = serializers.CharField(allow_blank=True, help_text="From the counter that sent the patient on.")


class CounterStateSerializer(serializers.Serializer):
    counter = StaffCounterSerializer()
    serving_patient = StaffServingSerializer(allow_null=True, help_text="The ticket called at the counter, or null.")
    queue_length = serializers.IntegerField(
        help_text="How many wait in the line the counter calls from: the service's one line, or its own."
    )


class CounterActionSerializer(CounterStateSerializer):
    message = serializers.CharField(
        help_text="What happened, in the clerk's language: who was finished, who was called or why nobody was."
    )


class TodayCountsSerializer(serializers.Serializer):
    served = serializers.IntegerField()
    skipped = serializers.IntegerField()
    average_minutes = serializers.FloatField(allow_null=True, help_text="Average service time of the last 50.")


def _versions_field():
    return serializers.DictField(
        child=serializers.IntegerField(min_value=0),
        help_text="Service id → its state version, read before the rest: this state is at least as new. "
        "Every change of a service's queue raises it by one; WebSocket events carry it too.",
    )


class CounterQueueSerializer(CounterStateSerializer):
    waiting = WaitingEntrySerializer(many=True, help_text="In queue order, the first WAITING_LIST_LIMIT.")
    expected_here = serializers.IntegerField(
        help_text="How many of them are expected at this counter: those a break or closing would move."
    )
    today = TodayCountsSerializer()
    versions = _versions_field()


class StatusResultSerializer(serializers.Serializer):
    counter = StaffCounterSerializer()
    redistributed = serializers.IntegerField(help_text="How many waiting tickets moved.")
    queue_length = serializers.IntegerField()


class TicketSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    queue_id = serializers.CharField(help_text="e.g. OPD_004_1234")
    number = serializers.IntegerField()
    service = serializers.CharField()
    service_id = serializers.IntegerField()
    counter = serializers.CharField(allow_null=True, help_text="Where to go; null while waiting for a counter.")
    counter_id = serializers.IntegerField(allow_null=True)
    status = serializers.ChoiceField(choices=Ticket.Status.choices)
    patient_name = serializers.CharField()
    joined_at = serializers.DateTimeField()
    called_at = serializers.DateTimeField(allow_null=True)
    service_date = serializers.DateField()
    one_line = serializers.BooleanField(
        help_text="One line for the service: the first free counter calls; `counter` is where they are expected."
    )
    notify = serializers.BooleanField(help_text="The patient gets texts: turn near, called, counter changed.")


class PatientTicketSerializer(TicketSerializer):
    people_ahead = serializers.IntegerField()
    position = serializers.IntegerField(allow_null=True, help_text="1 = next; 0 = being served.")
    estimated_wait_minutes = serializers.IntegerField(
        allow_null=True, help_text="null while the ticket waits for a counter of its service to open."
    )
    minutes_per_place = serializers.FloatField(
        help_text="Minutes one place in the line takes: a patient's time shared by the counters calling from it."
    )
    may_come_back = serializers.BooleanField(
        help_text="Finished today, but reception may still bring it back (a skipped ticket recalled, a "
        "served one sent on to another service): the patient's page keeps following it."
    )


class TicketEnvelopeSerializer(serializers.Serializer):
    ticket = PatientTicketSerializer()


class JoinedTicketSerializer(TicketEnvelopeSerializer):
    message = serializers.CharField(required=False, help_text="200 only: says the ticket was already held.")


class ReceptionRowSerializer(TicketSerializer):
    status_label = serializers.CharField()
    joined_time = serializers.CharField(help_text="HH:MM, local time")
    slip_url = serializers.CharField()
    can_recall = serializers.BooleanField()
    can_move = serializers.BooleanField()
    can_cancel = serializers.BooleanField()
    priority = PrioritySerializer(allow_null=True, help_text="Staff only.")
    can_set_priority = serializers.BooleanField()


class DeskServiceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    meta = serializers.CharField(help_text="People waiting and counters open, in words.")
    no_counter = serializers.BooleanField()


class ReceptionTicketsSerializer(serializers.Serializer):
    tickets = ReceptionRowSerializer(many=True)
    truncated = serializers.BooleanField(help_text="More tickets matched than are listed: search to narrow.")
    query = serializers.CharField()
    services = DeskServiceSerializer(many=True, help_text="Today's services for a walk-in.")


class WalkInTicketSerializer(serializers.Serializer):
    ticket = PatientTicketSerializer()
    row = ReceptionRowSerializer()
    created = serializers.BooleanField()
    message = serializers.CharField()
    slip_url = serializers.CharField(help_text="The printable slip.")
    link = serializers.CharField(help_text="The ticket's signed live page (/t/<token>/), valid today only.")


class ReceptionActionSerializer(serializers.Serializer):
    ticket = ReceptionRowSerializer()
    message = serializers.CharField()


class DisplayCounterSerializer(CounterSummarySerializer):
    serving_patient = ServingSerializer(allow_null=True)
    queue_length = serializers.IntegerField()


class RecentCallSerializer(serializers.Serializer):
    queue_id = serializers.CharField()
    patient_name = serializers.CharField()
    counter_id = serializers.IntegerField()
    counter_name = serializers.CharField()
    service_id = serializers.IntegerField()
    called_at = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=Ticket.Status.choices)


class DisplaySnapshotSerializer(serializers.Serializer):
    versions = _versions_field()
    counters = DisplayCounterSerializer(many=True)
    recent_calls = RecentCallSerializer(many=True)
    facility = serializers.CharField()
    name_mode = serializers.ChoiceField(choices=["masked", "full", "none"])
    server_time = serializers.DateTimeField()
