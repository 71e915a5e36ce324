"""Patient endpoints: SMS code, check, join, cancel. Each parses, makes one service call, answers JSON.

The login, selection and dashboard pages post the same forms to their own page views when
JavaScript is off (queue_app/views/patient.py); both paths call the same services.
"""

from django.middleware.csrf import rotate_token
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response

from .. import access, known_phones, selectors, services
from ..models import MAX_ID, Ticket
from ..names import MAX_NAME_LENGTH
from ..net import client_ip
from ..phones import MAX_PHONE_INPUT
from ..presenters import after_login_url, already_held_message
from ..services import otp
from .base import ApiView, PatientApi
from .fields import TextField
from .schemas import JoinedTicketSerializer, TicketEnvelopeSerializer, errors


class SendOtpInput(serializers.Serializer):
    phone = TextField(max_length=MAX_PHONE_INPUT)
    name = TextField(max_length=MAX_NAME_LENGTH, required=False, allow_blank=True, default="")


@extend_schema(
    request=SendOtpInput,
    responses={
        200: inline_serializer(
            "CodeSent", {"sent": serializers.BooleanField(), "resend_in": serializers.IntegerField()}
        ),
        **errors(400, 403, 429, 502),
    },
    summary="Text a one-time code to the phone (same answer for known and unknown phones)",
)
class SendOtpApi(ApiView):
    """The answer is the same whether or not the phone belongs to a patient. 429 (with Retry-After)
    before OTP_RESEND_SECONDS have passed, after OTP_SENDS_PER_PHONE codes in 10 minutes, per client
    network, or past SMS_HOURLY_CAP (past its unreserved part for a phone this browser never
    verified: `sms_cap`); 400 for a number that is not a mobile of an allowed region; 502 when the
    SMS provider fails (nothing is counted then). A 429 because this phone was just sent a code
    (`resend_too_soon`, `too_many_codes`, `busy`) still takes the session to the code step: the
    patient can type the code they have."""

    def post(self, request):
        data = SendOtpInput(data=request.data)
        data.is_valid(raise_exception=True)
        phone = data.validated_data["phone"]
        try:
            sent = otp.send_code(
                phone=phone,
                name=data.validated_data["name"],
                ip=client_ip(request),
                verified_before=known_phones.verified_here_before(request, phone),
            )
        except otp.CodeAlreadySent as exc:
            # 429 all the same, but the patient may have that code: this browser's login page
            # now shows the code step (and the wait), also after a reload.
            otp.remember_code_sent(session=request.session, sent=exc.sent)
            raise
        otp.remember_code_sent(session=request.session, sent=sent)
        return Response({"sent": True, "resend_in": sent.resend_in})


class VerifyOtpInput(serializers.Serializer):
    phone = TextField(max_length=MAX_PHONE_INPUT)
    otp = TextField(max_length=16)
    name = TextField(max_length=MAX_NAME_LENGTH, required=False, allow_blank=True, default="")


@extend_schema(
    request=VerifyOtpInput,
    responses={
        200: inline_serializer(
            "Verified",
            {
                "verified": serializers.BooleanField(),
                "redirect": serializers.CharField(),
                "name_required": serializers.BooleanField(),
            },
        ),
        **errors(400, 403, 429),
    },
    summary="Check the code; starts the patient's session until the end of the service day",
)
class VerifyOtpApi(ApiView):
    """A code is valid OTP_TTL_SECONDS, once, for OTP_MAX_ATTEMPTS wrong tries, and only in the
    session that asked for it: anywhere else every phone and code get the same 400 `invalid_code`
    and no try is counted. A new phone needs a name (given with the code, or here); without one
    `name_required` is true and the redirect leads to the name step of the login page."""

    def post(self, request):
        data = VerifyOtpInput(data=request.data)
        data.is_valid(raise_exception=True)
        verification = otp.verify_code(
            session=request.session,
            phone=data.validated_data["phone"],
            code=data.validated_data["otp"],
            name=data.validated_data["name"],
            ip=client_ip(request),
        )
        otp.start_patient_session(
            session=request.session, verification=verification, staff_signed_in=access.is_staff_user(request.user)
        )
        services.remember_language(patient=verification.patient)
        rotate_token(request._request)
        response = Response(
            {
                "verified": True,
                "redirect": after_login_url(verification.patient),
                "name_required": verification.patient is None,
            }
        )
        known_phones.remember(response, request=request, phone=verification.phone)
        return response


@extend_schema(
    parameters=[
        OpenApiParameter(
            "phone",
            str,
            required=False,
            deprecated=True,
            description="Not needed: the phone is the one verified in this session. Still accepted from older "
            "clients, and then must be that phone; query strings end up in access logs, so leave it out.",
        )
    ],
    responses={200: inline_serializer("PatientExists", {"exists": serializers.BooleanField()}), **errors(403)},
    summary="Whether the phone verified in this session is a registered patient (403 verify_first otherwise)",
)
class CheckPatientApi(ApiView):
    """Being a patient of a clinic is health information: no enumeration of other numbers."""

    def get(self, request):
        phone = request.query_params.get("phone", "")[:64] or None  # absent or empty: the session's phone
        return Response({"exists": otp.is_known_phone(session=request.session, phone=phone)})


class JoinInput(serializers.Serializer):
    service_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    name = TextField(
        max_length=MAX_NAME_LENGTH,
        required=False,
        allow_blank=True,
        default="",
        help_text="Who the ticket is for, when not the patient themself (a child, a relative). "
        "Empty or absent: the patient. One active ticket per phone, service and name.",
    )
    priority = TextField(
        required=False,
        allow_blank=True,
        max_length=20,
        default="",
        help_text="A priority category the clinic lets patients choose (its code), marked for staff to confirm.",
    )
    notify = serializers.BooleanField(
        required=False,
        default=True,
        help_text="Text the phone when the turn is near, when called and if the counter changes.",
    )


@extend_schema(
    request=JoinInput,
    responses={201: JoinedTicketSerializer, 200: JoinedTicketSerializer, **errors(400, 403, 404, 409)},
    summary="Join a service's queue, for oneself or a family member (201 new, 200 the one already held)",
)
class JoinQueueApi(PatientApi):
    """With no counter open the ticket still joins and waits, unassigned, for one to open."""

    def post(self, request):
        data = JoinInput(data=request.data)
        data.is_valid(raise_exception=True)
        name = data.validated_data["name"] or None
        # The service is read once, under the queue lock (an unknown id: 404 from the service).
        priority = services.category(data.validated_data["priority"])
        ticket, created = services.join(
            patient=self.patient,
            service=data.validated_data["service_id"],
            name=name,
            priority=priority,
            notify=data.validated_data["notify"],
        )
        if created:
            return Response({"ticket": selectors.ticket_dict(ticket)}, status=status.HTTP_201_CREATED)
        return Response({"ticket": selectors.ticket_dict(ticket), "message": already_held_message(ticket)})


class CancelInput(serializers.Serializer):
    ticket = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)
    ticket_id = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)

    def validate(self, attrs):
        if "ticket" not in attrs and "ticket_id" not in attrs:
            raise serializers.ValidationError({"ticket": [_("Which ticket? Send its id as `ticket`.")]})
        return attrs


@extend_schema(
    request=CancelInput,
    responses={200: TicketEnvelopeSerializer, **errors(400, 403, 404, 409)},
    summary="Leave the queue: cancel one of the patient's own tickets",
)
class CancelTicketApi(PatientApi):
    """Only the patient's own ticket, while it is waiting or called; anyone else's is a 404, as a
    ticket that does not exist."""

    def post(self, request):
        data = CancelInput(data=request.data)
        data.is_valid(raise_exception=True)
        ticket_id = data.validated_data.get("ticket") or data.validated_data["ticket_id"]
        # Someone else's ticket is answered like one that does not exist: ids are sequential.
        ticket = Ticket.objects.filter(pk=ticket_id, patient=self.patient).first()
        if ticket is None:
            raise exceptions.NotFound(_("There is no such ticket."))
        ticket = services.cancel(ticket=ticket, patient=self.patient)
        return Response({"ticket": selectors.ticket_dict(ticket)})


class NotifyInput(serializers.Serializer):
    ticket = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    notify = serializers.BooleanField()


@extend_schema(
    request=NotifyInput,
    responses={200: TicketEnvelopeSerializer, **errors(400, 403, 404, 409)},
    summary="Turn the texts for one of the patient's own tickets on or off",
)
class NotifyApi(PatientApi):
    """Only the patient's own ticket; anyone else's is a 404, as one that does not exist."""

    def post(self, request):
        data = NotifyInput(data=request.data)
        data.is_valid(raise_exception=True)
        ticket = Ticket.objects.filter(pk=data.validated_data["ticket"], patient=self.patient).first()
        if ticket is None:
            raise exceptions.NotFound(_("There is no such ticket."))
        ticket = services.set_notify(ticket=ticket, notify=data.validated_data["notify"], patient=self.patient)
        return Response({"ticket": selectors.ticket_dict(ticket)})
