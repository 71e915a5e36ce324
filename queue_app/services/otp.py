"""Phone verification with an SMS one-time code (OWASP ASVS 5.0 §6.5–6.6).

- 6 digits from `secrets`, stored only as an HMAC keyed with SECRET_KEY (one OTP row per phone);
  a new code replaces the previous one.
- Valid OTP_TTL_SECONDS, single use, OTP_MAX_ATTEMPTS wrong tries per code, constant-time check.
- Sends are limited per phone (OTP_SENDS_PER_PHONE per 10 minutes and a resend cooldown), per
  client network (OTP_SENDS_PER_IP, OTP_CHECKS_PER_IP, counted per IPv4 /24 and IPv6 /56), per
  hour overall (SMS_HOURLY_CAP) and to ALLOWED_PHONE_REGIONS, against SMS pumping. Part of the
  hourly cap (SMS_HOURLY_RESERVE_PERCENT) is kept for browsers sending to a phone they verified
  before, so strangers who spend the rest cannot lock returning patients out.
- Nothing here asks whether the phone belongs to a known patient before the code is verified, so
  every answer (and its timing) is the same for known and unknown phones.
- A code can be tried only in the browser session that asked for it (CODE_SENT_KEY names the
  phone and which code). Anyone else gets one answer for every (phone, code) pair, whatever
  the phone's state (never seen, code pending, used, expired), and their guesses spend none of
  the patient's tries. The session that asked is told what it needs: tries left, expired.
Rate counters live in Django's cache, which every server process shares (the database or Redis).
The code itself is never logged; only the SMS backend sees it.
"""

import hmac
import logging
import math
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .. import access, sms
from ..errors import Busy, CodeRejected, InvalidInput, NotAllowed, SmsNotSent
from ..models import OTP, Patient, end_of_service_day
from ..names import clean_name
from ..net import rate_limit_network
from ..phones import check_region_allowed, mask_phone, normalize_phone
from . import rate_limits as limits
from .rate_limits import RateLimited

log = logging.getLogger("queue.otp")

CODE_DIGITS = 6
WINDOW_SECONDS = 600  # "per 10 minutes" for the phone and address limits
VERIFIED_PHONE_KEY = "patient_verified_phone"
CODE_SENT_KEY = "patient_code_sent"  # {"phone": E.164, "code": CodeSent.code_id, "resend_at": epoch s}


class CodeAlreadySent(RateLimited):
    """No new code yet because one went to this phone moments ago (or is on its way): the patient
    may well have it. `sent` lets the page show the code step all the same, with the wait."""

    def __init__(self, message, *, code: str, retry_after: float, phone: str):
        super().__init__(message, code=code, retry_after=retry_after)
        # This session asked for the phone's code too: it may try the one already sent.
        sent_at = OTP.objects.filter(phone=phone).values_list("sent_at", flat=True).first()
        self.sent = CodeSent(phone=phone, resend_in=self.retry_after, code_id=_code_id(sent_at) if sent_at else "")


@dataclass(frozen=True)
class CodeSent:
    phone: str  # E.164
    resend_in: int  # seconds until another code may be asked for
    code_id: str  # which code was sent (its send time): only the session that asked may try it


@dataclass(frozen=True)
class Verification:
    phone: str  # E.164
    patient: Patient | None  # None: a new phone and no name yet (ask for it, then register)


# --- sending ---------------------------------------------------------------------------------


def send_code(*, phone: str, name: str = "", ip: str, verified_before: bool = False) -> CodeSent:
    """Text a new code to the phone. `name` is kept for registering the phone if it is new.

    `verified_before`: the asking browser verified this phone on an earlier visit
    (queue_app.known_phones); such sends may also use the reserved part of the hourly cap."""
    phone = normalize_phone(phone)
    check_region_allowed(phone)
    name = clean_name(name) if (name or "").strip() else ""
    now = timezone.now().timestamp()

    # One send per phone at a time: two taps of "Send code" must not text two codes, and the
    # per-phone send log below is only ever updated by one request.
    in_flight = limits.key("sending", phone)
    if not cache.add(in_flight, 1, timeout=settings.TWILIO_TIMEOUT_SECONDS + 20):
        # The database cache's add() also answers False when it could not write (it swallows the
        # error): only a lock that is really there means "a code is on its way".
        if cache.get(in_flight) is None:
            raise Busy(retry_after=2)
        raise CodeAlreadySent(
            _("A code is already on its way. Please wait a few seconds."), code="busy", retry_after=5, phone=phone
        )
    try:
        _check_cooldown(phone)
        send_log_key = limits.key("sends", phone)
        recent = [t for t in cache.get(send_log_key, []) if t > now - WINDOW_SECONDS]
        if len(recent) >= settings.OTP_SENDS_PER_PHONE:
            raise CodeAlreadySent(
                _("Too many codes were sent to this number. Please try again in a few minutes."),
                code="too_many_codes",
                retry_after=recent[0] + WINDOW_SECONDS - now,
                phone=phone,
            )
        ip_bucket = limits.take(
            limits.key("send-ip", rate_limit_network(ip)),
            limit=settings.OTP_SENDS_PER_IP,
            window=WINDOW_SECONDS,
            now=now,
            message=_("Too many codes were asked for from this network. Please try again in a few minutes."),
        )
        try:
            hour_bucket = limits.take(
                "otp:sms-hour",
                limit=settings.SMS_HOURLY_CAP if verified_before else _anonymous_hourly_cap(),
                window=3600,
                now=now,
                message=_("We cannot send more codes right now. Please try again later or ask at reception."),
                code="sms_cap",
            )
        except RateLimited:
            limits.give_back(ip_bucket)
            log.warning(
                "SMS hourly cap reached (%s of %d): refusing codes (possible SMS pumping)",
                "all" if verified_before else "the part open to new phones",
                settings.SMS_HOURLY_CAP,
            )
            raise

        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        try:
            sms.send_sms(phone, _message(code))
        except (sms.SmsDeliveryError, OSError) as exc:
            # Not a sent code: give the reservations back so the patient can simply try again.
            limits.give_back(ip_bucket)
            limits.give_back(hour_bucket)
            log.warning(
                "otp not sent phone=%s provider_code=%s error=%s",
                mask_phone(phone),
                getattr(exc, "provider_code", None) or "-",
                exc.__class__.__name__,
            )
            raise SmsNotSent() from exc

        sent_at = _record_sent(phone, code, name)
        cache.set(send_log_key, [*recent, now], timeout=WINDOW_SECONDS)
    finally:
        cache.delete(in_flight)
    log.info("otp sent phone=%s", mask_phone(phone))
    return CodeSent(phone=phone, resend_in=settings.OTP_RESEND_SECONDS, code_id=_code_id(sent_at))


def _anonymous_hourly_cap() -> int:
    """The sends per hour open to anyone; the rest of SMS_HOURLY_CAP waits for returning patients."""
    return settings.SMS_HOURLY_CAP - settings.SMS_HOURLY_CAP * settings.SMS_HOURLY_RESERVE_PERCENT // 100


def _check_cooldown(phone: str) -> None:
    sent_at = OTP.objects.filter(phone=phone).values_list("sent_at", flat=True).first()
    if sent_at is None:
        return
    wait = (sent_at + timedelta(seconds=settings.OTP_RESEND_SECONDS) - timezone.now()).total_seconds()
    if wait > 0:
        seconds = math.ceil(wait)
        raise CodeAlreadySent(
            ngettext(
                "Please wait %(seconds)d second before asking for a new code.",
                "Please wait %(seconds)d seconds before asking for a new code.",
                seconds,
            )
            % {"seconds": seconds},
            code="resend_too_soon",
            retry_after=seconds,
            phone=phone,
        )


@transaction.atomic
def _record_sent(phone: str, code: str, name: str) -> datetime:
    now = timezone.now()
    fields = {
        "code_hash": _hash(phone, code),
        "sent_at": now,
        "expires_at": now + timedelta(seconds=settings.OTP_TTL_SECONDS),
        "attempts": 0,
        "used_at": None,
    }
    if name:  # a resend without a name keeps the name given with the first code
        fields["pending_name"] = name
    OTP.objects.update_or_create(
        phone=phone,
        defaults={**fields, "send_count": F("send_count") + 1},
        create_defaults={**fields, "send_count": 1},
    )
    return now


def _code_id(sent_at: datetime) -> str:
    """Names one sent code: its send time in whole microseconds (what the database keeps)."""
    return str((sent_at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1))


def _message(code: str) -> str:
    minutes = max(1, math.ceil(settings.OTP_TTL_SECONDS / 60))
    # The code must stay the only 6-digit number in the text (autofill and black-box tests read it).
    return ngettext(
        "%(code)s is your %(facility)s code. It expires in %(minutes)d minute.",
        "%(code)s is your %(facility)s code. It expires in %(minutes)d minutes.",
        minutes,
    ) % {"code": code, "facility": settings.FACILITY_NAME, "minutes": minutes}


# --- verifying -------------------------------------------------------------------------------


def verify_code(*, session, phone: str, code: str, ip: str, name: str = "") -> Verification:
    """Check the code sent to the phone; on success it is used up and the patient is returned.

    Only the session that asked for this code may try it: from any other session every (phone,
    code) pair gets the same refusal and counts nothing against the phone, so nobody can learn
    whether a phone has used the clinic, or spend a patient's tries.
    A new phone becomes a patient with the name given now or with the code; without either the
    result has no patient yet and `register_verified_phone` completes it.
    """
    limits.take(
        limits.key("check-ip", rate_limit_network(ip)),
        limit=settings.OTP_CHECKS_PER_IP,
        window=WINDOW_SECONDS,
        now=timezone.now().timestamp(),
        message=_("Too many codes were tried from this network. Please try again in a few minutes."),
    )
    name = clean_name(name) if (name or "").strip() else ""
    phone = normalize_phone(phone)
    digits = _digits(code)
    asked = code_sent(session)
    if asked is None or asked["phone"] != phone or not asked.get("code"):
        # Not asked for here: the phone's row is not even read, so neither the answer nor its
        # timing depends on whether the phone is known, has a code pending, used or expired.
        log.info("otp refused phone=%s reason=not_asked_here", mask_phone(phone))
        raise CodeRejected()
    now = timezone.now()
    refused = None
    with transaction.atomic():
        # Lock the row: two requests with the same code must not both succeed (single use),
        # and two wrong guesses must both be counted.
        otp = OTP.objects.select_for_update().filter(phone=phone).first()
        refused = _refusal(otp, phone, digits, now, code_id=asked["code"])
        if refused is None:
            chosen = name or otp.pending_name
            otp.used_at = now
            otp.pending_name = ""  # kept only until the phone is verified
            otp.save(update_fields=["used_at", "pending_name"])
            patient = Patient.objects.filter(phone=phone).first()
            if patient is None and chosen:
                patient, _created = Patient.objects.get_or_create(phone=phone, defaults={"name": clean_name(chosen)})
    if refused is not None:  # raised after the commit, so a wrong attempt stays counted
        log.info("otp refused phone=%s reason=%s", mask_phone(phone), refused.code)
        raise refused
    log.info("otp verified phone=%s registered=%s", mask_phone(phone), patient is not None)
    return Verification(phone=phone, patient=patient)


def _digits(code: str | None) -> str:
    # Spaces and dashes are fine ("123 456"); so are digits typed on a non-Latin keyboard.
    raw = "".join((code or "").split()).replace("-", "")
    if len(raw) != CODE_DIGITS or not all(ch.isdecimal() for ch in raw):
        raise CodeRejected(_("Please enter the 6-digit code from the SMS."), code="invalid_code_format")
    return "".join(str(unicodedata.decimal(ch)) for ch in raw)


def _refusal(otp: OTP | None, phone: str, digits: str, now: datetime, *, code_id: str) -> CodeRejected | None:
    """Why this code is refused (counting a wrong guess), or None when it is right.

    `code_id` is the code this session asked for. A newer code asked for elsewhere (another
    browser, or someone else) replaced it: this session is told its code expired, without a try
    counted, and the newer code works only where it was asked for.
    """
    if otp is None or not otp.code_hash:
        return CodeRejected()
    if _code_id(otp.sent_at) != code_id:
        return CodeRejected(_("This code has expired. Please ask for a new code."), code="code_expired")
    if otp.used_at is not None:
        return CodeRejected(_("This code has already been used. Please ask for a new code."), code="code_used")
    if otp.attempts >= settings.OTP_MAX_ATTEMPTS:
        return CodeRejected(_("Too many wrong tries. Please ask for a new code."), code="too_many_attempts")
    if otp.expires_at <= now:
        return CodeRejected(_("This code has expired. Please ask for a new code."), code="code_expired")
    if hmac.compare_digest(_hash(phone, digits), otp.code_hash):
        return None
    otp.attempts += 1
    otp.save(update_fields=["attempts"])
    left = settings.OTP_MAX_ATTEMPTS - otp.attempts
    if left <= 0:
        return CodeRejected(
            _("That code is not right, and that was the last try. Please ask for a new code."),
            code="too_many_attempts",
        )
    return CodeRejected(
        ngettext(
            "That code is not right. You have %(left)d more try.",
            "That code is not right. You have %(left)d more tries.",
            left,
        )
        % {"left": left}
    )


# --- the patient's session -------------------------------------------------------------------


def start_patient_session(*, session, verification: Verification, staff_signed_in: bool) -> None:
    """Sign the browser in as the verified phone's patient until the end of the service day.

    The key is rotated (no session fixation) but the data is kept, so a staff member signed in
    in the same browser stays signed in; their session keeps its own expiry rules.
    """
    session.cycle_key()
    session.pop(CODE_SENT_KEY, None)
    session[VERIFIED_PHONE_KEY] = verification.phone
    if verification.patient is not None:
        session[access.PATIENT_SESSION_KEY] = verification.patient.pk
    else:
        session.pop(access.PATIENT_SESSION_KEY, None)
    if not staff_signed_in:
        session.set_expiry(end_of_service_day())


def verified_phone(session) -> str | None:
    return session.get(VERIFIED_PHONE_KEY) if session is not None else None


def remember_code_sent(*, session, sent: CodeSent) -> None:
    """Remember which phone this browser is verifying and which code it asked for: the code step
    survives a reload, and only this session may try that code."""
    session[CODE_SENT_KEY] = {
        "phone": sent.phone,
        "code": sent.code_id,
        "resend_at": int(timezone.now().timestamp()) + sent.resend_in,
    }


def code_sent(session) -> dict | None:
    value = session.get(CODE_SENT_KEY) if session is not None else None
    return value if isinstance(value, dict) and value.get("phone") else None


def forget_code_sent(*, session) -> None:
    session.pop(CODE_SENT_KEY, None)


def is_known_phone(*, session, phone: str | None = None) -> bool:
    """Whether the phone verified in this session belongs to a patient; any other phone is refused.

    Being a patient of a clinic is health information, so nobody may ask about another number.
    The phone comes from the session: `phone`, if given (older clients sent it in the query
    string, where access logs keep it), must be that same number.
    """
    verified = verified_phone(session)
    if phone is not None:
        try:
            phone = normalize_phone(phone)
        except InvalidInput:
            phone = ""
    if not verified or phone not in (None, verified):
        raise NotAllowed(_("Please verify this phone number first."), code="verify_first")
    return Patient.objects.filter(phone=verified).exists()


@transaction.atomic
def register_verified_phone(*, session, name: str) -> Patient:
    """A new phone verified without a name: create its patient with this name and sign in."""
    phone = verified_phone(session)
    if not phone:
        raise NotAllowed(_("Please verify your phone number first."), code="verify_first")
    patient, _created = Patient.objects.get_or_create(phone=phone, defaults={"name": clean_name(name)})
    session[access.PATIENT_SESSION_KEY] = patient.pk
    return patient


def end_patient_session(*, session, staff_signed_in: bool) -> None:
    """Sign the patient out; a staff member signed in in the same browser stays signed in."""
    if staff_signed_in:
        for key in (access.PATIENT_SESSION_KEY, VERIFIED_PHONE_KEY, CODE_SENT_KEY):
            session.pop(key, None)
    else:
        session.flush()


def _hash(phone: str, code: str) -> str:
    return salted_hmac("queue_app.otp", f"{phone}:{code}", algorithm="sha256").hexdigest()
