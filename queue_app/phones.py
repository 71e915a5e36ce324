"""Phone numbers people type: parsed and normalised to E.164 with phonenumbers."""

import phonenumbers
from django.conf import settings
from django.utils.translation import gettext as _
from phonenumbers import PhoneNumberType, geocoder

from .errors import InvalidInput

MAX_PHONE_INPUT = 32  # "+91 98123-45678" and friends; anything longer is not a phone number
# Only numbers that can receive an SMS. Premium-rate and shared-cost numbers are refused outright:
# they are what SMS-pumping fraud sends codes to.
SMS_CAPABLE = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)


def normalize_phone(raw: str | None, *, region: str | None = None) -> str:
    """Return the number in E.164 (+919812345678), or raise InvalidInput(code="invalid_phone")."""
    text = (raw or "").strip()
    if not text:
        raise InvalidInput(_("Please enter your mobile number."), code="invalid_phone")
    if len(text) > MAX_PHONE_INPUT:
        raise InvalidInput(_("That is too long for a phone number."), code="invalid_phone")
    try:
        number = phonenumbers.parse(text, region or settings.DEFAULT_PHONE_REGION)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise InvalidInput(
            _("This does not look like a valid mobile number. Please check it and try again."), code="invalid_phone"
        )
    if phonenumbers.number_type(number) not in SMS_CAPABLE:
        raise InvalidInput(_("Please enter a mobile number that can receive SMS."), code="invalid_phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def region_of(e164: str) -> str | None:
    return phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))


def region_name(region: str) -> str:
    example = phonenumbers.example_number(region)
    return (geocoder.country_name_for_number(example, "en") if example else "") or region


def check_region_allowed(e164: str) -> None:
    """SMS pumping: codes go only to the regions this clinic serves (ALLOWED_PHONE_REGIONS)."""
    allowed = settings.ALLOWED_PHONE_REGIONS
    if region_of(e164) not in allowed:
        raise InvalidInput(
            _("We can only send codes to mobile numbers from %(regions)s.")
            % {"regions": ", ".join(region_name(r) for r in allowed)},
            code="region_not_allowed",
        )


def display_phone(e164: str) -> str:
    """The number grouped for reading back to its owner: +91 98123 45678."""
    return phonenumbers.format_number(phonenumbers.parse(e164, None), phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def mask_phone(phone: str | None) -> str:
    """A phone number as logs and admin lists show it: its last four digits only (`***5678`)."""
    digits = "".join(ch for ch in phone or "" if ch.isdigit())
    return f"***{digits[-4:]}" if digits else "-"
