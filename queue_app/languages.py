"""The shipped languages: which code a request, a patient or the display's voice may use.

A code that is not shipped is never an error: the default language is used and the reason is
logged, so a typo in a setting or a hand-made form post cannot take a page down.
"""

import logging

from django.conf import settings
from django.utils import translation

log = logging.getLogger("queue_app.languages")

# The voice asked of the browser for each language, and the script a name must be written in
# for that voice to read it (an English voice garbles an Arabic name, and the other way round).
VOICES = {"en": "en-US", "hi": "hi-IN", "ar": "ar-SA", "es": "es-ES"}
NAME_SCRIPTS = {"en": "Latin", "hi": "Devanagari", "ar": "Arabic", "es": "Latin"}


def shipped() -> list[str]:
    return [code for code, _name in settings.LANGUAGES]


def supported(code: str | None) -> str | None:
    """The shipped language for a code ("es-MX" is Spanish), or None."""
    if not code:
        return None
    code = str(code).strip().lower().replace("_", "-")
    if code in shipped():
        return code
    primary = code.split("-")[0]
    return primary if primary in shipped() else None


def choose(code: str | None, *, where: str) -> str:
    """A shipped language for `code`, else the default one (logging why)."""
    chosen = supported(code)
    if chosen is None:
        log.warning(
            "language refused code=%r where=%s reason=not_shipped default=%s", code, where, settings.LANGUAGE_CODE
        )
        return settings.LANGUAGE_CODE
    return chosen


def for_patient(patient) -> str:
    """The language a patient's SMS are written in: their choice, else the default."""
    return supported(getattr(patient, "language", "")) or settings.LANGUAGE_CODE


def patient_language(patient):
    """`with patient_language(p): body = _("…")` writes a message in the patient's language."""
    return translation.override(for_patient(patient))


def announce_languages() -> list[str]:
    """ANNOUNCE_LANGUAGES as shipped codes, in order, without repeats (never empty)."""
    codes = []
    for code in settings.ANNOUNCE_LANGUAGES:
        chosen = supported(code)
        if chosen is None:
            log.warning("announce language dropped code=%r reason=not_shipped", code)
        elif chosen not in codes:
            codes.append(chosen)
    return codes or [settings.LANGUAGE_CODE]


def voice_lang(code: str) -> str:
    """The BCP 47 tag asked of the speech engine; DISPLAY_VOICE_LANG refines its own language."""
    configured = settings.DISPLAY_VOICE_LANG
    if configured and configured.split("-")[0].lower() == code:
        return configured
    return VOICES.get(code, code)
