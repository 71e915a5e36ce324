"""The wall display: every counter, the newest call and the spoken announcements.

The page renders today's snapshot into the HTML (so it is complete before the socket opens) and
then follows /ws/queue/updates/ through static/js/display.js. Everything it shows is public:
names follow DISPLAY_NAME_MODE and phone numbers never reach it (selectors.display_snapshot).
"""

from django.conf import settings
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, pgettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from .. import selectors
from ..models import Counter

# The default of DISPLAY_ANNOUNCE_TEMPLATE, marked here so translators see it: a clinic that
# keeps the default hears it in the display's language.
gettext_noop("Ticket {ticket}, {name}, please go to {counter}")


def announcer_config() -> dict:
    """What display.js needs to speak a call: language, template, repetitions and word lists."""
    return {
        "lang": settings.DISPLAY_VOICE_LANG,
        "template": _(settings.DISPLAY_ANNOUNCE_TEMPLATE),
        "repeat": settings.DISPLAY_ANNOUNCE_REPEAT,
        "name_mode": settings.DISPLAY_NAME_MODE,
        "time_zone": settings.TIME_ZONE,
        "locale": translation.get_language() or settings.LANGUAGE_CODE,
        # Ticket digits are spoken one by one: "OPD zero zero one".
        "digits": [
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
        ],
        "statuses": {value: str(label) for value, label in Counter.Status.choices},
    }


@require_safe
@never_cache
def display_screen(request):
    """Full-screen wall display; keeps itself current over the WebSocket (or by polling)."""
    return render(
        request,
        "display/screen.html",
        {"snapshot": selectors.display_snapshot(), "display_config": announcer_config()},
    )
