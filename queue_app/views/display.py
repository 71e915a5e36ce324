"""The wall display: every counter, the newest call and the spoken announcements.

The page renders today's snapshot into the HTML (so it is complete before the socket opens) and
then follows /ws/queue/updates/ through static/js/display.js. Everything it shows is public:
names follow DISPLAY_NAME_MODE and phone numbers never reach it (selectors.display_snapshot).
`?service=<id>` keeps one service's counters and calls (a screen per waiting area).
"""

from django.conf import settings
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, pgettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from .. import languages, selectors
from ..models import Counter

# The default of DISPLAY_ANNOUNCE_TEMPLATE, marked here so translators see it: a clinic that
# keeps the default hears it in each announcement language.
gettext_noop("Ticket {ticket}, {name}, please go to {counter}")


def _spoken_digits() -> list[str]:
    # Ticket digits are spoken one by one: "OPD zero zero one".
    return [
        pgettext("spoken digit", "zero"),
        pgettext("spoken digit", "one"),
        pgettext("spoken digit", "two"),
        pgettext("spoken digit", "three"),
        pgettext("spoken digit", "four"),
        pgettext("spoken digit", "five"),
        pgettext("spoken digit", "six"),
        pgettext("spoken digit", "seven"),
        pgettext("spoken digit", "eight"),
        pgettext("spoken digit", "nine"),
    ]


def _voice(code: str) -> dict:
    """One announcement language: the voice's tag, its sentence and digits, the names it may read."""
    with translation.override(code):
        return {
            "code": code,
            "lang": languages.voice_lang(code),
            "label": translation.get_language_info(code)["name_local"],
            "template": _(settings.DISPLAY_ANNOUNCE_TEMPLATE),
            "digits": _spoken_digits(),
            "script": languages.NAME_SCRIPTS.get(code, ""),
        }


def announcer_config(*, service_id: int | None = None) -> dict:
    """What display.js needs: the announcement languages, repetitions, name mode and filters."""
    voices = [_voice(code) for code in languages.announce_languages()]
    return {
        "voices": voices,
        # The first language's, kept for older scripts and on-site overrides (?lang=, ?voice=).
        "lang": voices[0]["lang"],
        "template": voices[0]["template"],
        "digits": voices[0]["digits"],
        "repeat": settings.DISPLAY_ANNOUNCE_REPEAT,
        "name_mode": settings.DISPLAY_NAME_MODE,
        "hide_closed": settings.DISPLAY_HIDE_CLOSED,
        "service_id": service_id,
        "time_zone": settings.TIME_ZONE,
        "locale": translation.get_language() or settings.LANGUAGE_CODE,
        "statuses": {value: str(label) for value, label in Counter.Status.choices},
        "strings": {
            "voiceMissing": _("No voice for %(languages)s on this screen: those announcements are a chime only."),
            "voicesReady": _("Voices: %(languages)s."),
        },
    }


@require_safe
@never_cache
def display_screen(request):
    """Full-screen wall display; keeps itself current over the WebSocket (or by polling)."""
    service_id = selectors.display_service(request.GET.get("service"))
    return render(
        request,
        "display/screen.html",
        {
            "snapshot": selectors.display_snapshot(service_id=service_id),
            "display_config": announcer_config(service_id=service_id),
        },
    )
