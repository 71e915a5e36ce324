"""Names people type: free Unicode text, trimmed, 1–100 characters, no control characters."""

import unicodedata

from django.utils.translation import gettext as _

from .errors import InvalidInput

MAX_NAME_LENGTH = 100
# Format characters (Cf) are refused — bidi overrides reorder what staff read, zero-width spaces
# hide — except the two joiners that Indic scripts (Malayalam chillus, Devanagari half forms)
# and emoji sequences need to spell a name at all.
JOINERS = {"\u200c", "\u200d"}  # zero-width non-joiner, zero-width joiner


def clean_name(raw: str | None) -> str:
    """Return the name as stored, or raise InvalidInput with a message a person can act on."""
    name = " ".join((raw or "").split())  # trim and fold runs of white space
    if not name:
        raise InvalidInput(_("Please enter a name."), code="invalid_name")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(
            _("Names can be at most %(max)d characters.") % {"max": MAX_NAME_LENGTH}, code="invalid_name"
        )
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") and ch not in JOINERS for ch in name):
        raise InvalidInput(_("The name contains characters that cannot be used."), code="invalid_name")
    return name


def name_key(name: str) -> str:
    """A name as the one-ticket-per-name rule compares it: spacing and case do not count."""
    return " ".join(name.split()).casefold()


def same_person(a: str, b: str) -> bool:
    return name_key(a) == name_key(b)


def public_name(name: str, mode: str) -> str:
    """The name as a public screen shows it: DISPLAY_NAME_MODE masked ("John D."), full or none."""
    if mode == "full":
        return name
    if mode == "none":
        return ""
    parts = name.split()
    if len(parts) <= 1:
        return name  # a single name is the first name the masked form shows anyway
    return parts[0] + " " + " ".join(p[0] + "." for p in parts[1:])
