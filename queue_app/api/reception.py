"""Reception desk endpoints: walk-in tickets, today's tickets, recall, move to another service, cancel.

Each parses its input, makes one service call and answers JSON. Reception staff and admins only:
counter operators get 403 `forbidden`, anyone not logged in as staff (patients too) 403
`not_authenticated`. CSRF on every POST (ApiView).
"""

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response

from .. import access, selectors, services
from ..bidi import isolate, isolated
from ..links import ticket_link_url
from ..models import MAX_ID, Ticket
from ..names import MAX_NAME_LENGTH
from ..phones import MAX_PHONE_INPUT, normalize_phone
from ..presenters import already_held_message, desk_services, reception_row
from .base import ApiView, service_or_404
from .fields import TextField
from .schemas import ReceptionActionSerializer, ReceptionTicketsSerializer, WalkInTicketSerializer, errors

ACTION_ERRORS = errors(400, 403, 404, 409)


class ReceptionApi(ApiView):
    """Reception staff and administrators."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if not access.is_staff_user(request.user):
            raise exceptions.NotAuthenticated(_("Please log in as staff."))
        if not access.is_reception_user(request.user):
            raise exceptions.PermissionDenied(_("The reception desk is for reception staff and administrators."))

    def ticket(self, ticket_id: int) -> Ticket:
        ticket = Ticket.objects.select_related("service", "counter", "priority").filter(pk=ticket_id).first()
        if ticket is None:
            raise exceptions.NotFound(_("There is no such ticket."))
        return ticket


class WalkInInput(serializers.Serializer):
    # Blank passes to the service, which says "Please enter a name." (400 invalid_name).
    name = TextField(max_length=MAX_NAME_LENGTH, allow_blank=True, min_length=1)
    phone = TextField(
        max_length=MAX_PHONE_INPUT,
        required=False,
        allow_blank=True,
        default="",
        help_text="Optional mobile number (no code is sent: the staff member vouches for it). With it the "
        "ticket also shows on that phone's dashboard, and one active ticket per phone, service and name holds.",
    )
    service_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    priority = TextField(
        required=False, allow_blank=True, max_length=20, default="", help_text="A priority category's id or code."
    )
    notify = serializers.BooleanField(
        required=False, default=False, help_text="Text that phone when the turn is near, called or moved."
    )

    def validate(self, attrs):
        if attrs.get("notify") and not attrs.get("phone", "").strip():
            raise serializers.ValidationError({"phone": [_("Texts need a mobile number.")]})
        return attrs


class TicketsApi(ReceptionApi):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "q", str, description='A ticket number ("12"), service and number ("OPD 12"), or part of a name or id.'
            )
        ],
        responses={200: ReceptionTicketsSerializer, **errors(403)},
        summary="Today's tickets, newest first, searchable (capped; reception and admins)",
    )
    def get(self, request):
        query = request.query_params.get("q", "")[: selectors.MAX_QUERY]
        tickets, truncated = selectors.today_tickets(query)
        return Response(
            {
                "tickets": [reception_row(t) for t in tickets],
                "truncated": truncated,
                "query": query,
                "services": desk_services(),
            }
        )

    @extend_schema(
        request=WalkInInput,
        responses={201: WalkInTicketSerializer, 200: WalkInTicketSerializer, **ACTION_ERRORS},
        summary="Give a walk-in a ticket (201 new; 200 the one that phone already holds for that name and service)",
    )
    def post(self, request):
        data = WalkInInput(data=request.data)
        data.is_valid(raise_exception=True)
        raw_phone = data.validated_data["phone"].strip()
        phone = normalize_phone(raw_phone) if raw_phone else None
        service = service_or_404(data.validated_data["service_id"])
        ticket, created = services.issue_walk_in(
            name=data.validated_data["name"],
            phone=phone,
            service=service,
            by=request.user,
            priority=services.category(data.validated_data["priority"]),
            notify=data.validated_data["notify"],
        )
        row = reception_row(ticket)
        body = {
            "ticket": selectors.ticket_dict(ticket),
            "row": row,
            "created": created,
            "message": _("Ticket %(ticket)s for %(name)s.") % isolated(ticket=ticket.queue_id, name=ticket.patient_name)
            if created
            else already_held_message(ticket),
            "slip_url": row["slip_url"],
            "link": ticket_link_url(request, ticket),
        }
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


@extend_schema(
    request=None,
    responses={200: ReceptionActionSerializer, **ACTION_ERRORS},
    summary="Recall a skipped ticket of today: back into the queue at its original join position",
)
class RecallApi(ReceptionApi):
    def post(self, request, ticket_id: int):
        ticket = services.recall(ticket=self.ticket(ticket_id), by=request.user)
        message = _("%(ticket)s is back in the queue, in its original place.") % isolated(ticket=ticket.queue_id)
        return Response({"ticket": reception_row(ticket), "message": message})


class MoveInput(serializers.Serializer):
    service_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)


@extend_schema(
    request=MoveInput,
    responses={200: ReceptionActionSerializer, **ACTION_ERRORS},
    summary="Move a ticket to another service (OPD → Test), keeping its original arrival time",
)
class MoveApi(ReceptionApi):
    """The same ticket moves (so its patient's page and signed link follow it) and gets the new
    service's next number; the patient's page is told with a `moved_service` ticket_update."""

    def post(self, request, ticket_id: int):
        data = MoveInput(data=request.data)
        data.is_valid(raise_exception=True)
        ticket = self.ticket(ticket_id)
        old = ticket.queue_id
        ticket = services.move_to_service(
            ticket=ticket, service=service_or_404(data.validated_data["service_id"]), by=request.user
        )
        message = _("%(old)s moved to %(service)s as %(ticket)s, keeping its arrival time.") % isolated(
            old=old, service=ticket.service, ticket=ticket.queue_id
        )
        return Response({"ticket": reception_row(ticket), "message": message})


class DeskPriorityInput(serializers.Serializer):
    priority = TextField(
        required=False, allow_blank=True, default="", max_length=20, help_text='A category\'s id or code; "" for none.'
    )


@extend_schema(
    request=DeskPriorityInput,
    responses={200: ReceptionActionSerializer, **ACTION_ERRORS},
    summary="Give a waiting or called ticket of today a priority category (or none), confirmed",
)
class PriorityApi(ReceptionApi):
    def post(self, request, ticket_id: int):
        data = DeskPriorityInput(data=request.data)
        data.is_valid(raise_exception=True)
        category = services.category(data.validated_data["priority"])
        ticket = services.set_priority(ticket=self.ticket(ticket_id), priority=category, by=request.user)
        message = _("%(ticket)s: priority %(priority)s.") % {
            **isolated(ticket=ticket.queue_id),
            "priority": isolate(category.name) if category else _("none"),
        }
        return Response({"ticket": reception_row(ticket), "message": message})


@extend_schema(
    request=None,
    responses={200: ReceptionActionSerializer, **ACTION_ERRORS},
    summary="Cancel a waiting or called ticket for the patient",
)
class CancelApi(ReceptionApi):
    def post(self, request, ticket_id: int):
        ticket = services.cancel(ticket=self.ticket(ticket_id), by=request.user)
        return Response(
            {"ticket": reception_row(ticket), "message": _("%(ticket)s cancelled.") % isolated(ticket=ticket.queue_id)}
        )
