"""Durations as the reports page writes them, and names isolated inside its sentences."""

from django import template
from django.utils.translation import gettext as _

from queue_app.bidi import isolate

register = template.Library()


@register.filter
def duration(seconds) -> str:
    """ "–" for none, "45 s" under a minute, "12 min", "1 h 05 min"."""
    if seconds is None or seconds == "":
        return "–"
    seconds = round(float(seconds))
    if seconds < 60:
        return _("%(n)d s") % {"n": seconds}
    minutes = round(seconds / 60)
    if minutes < 60:
        return _("%(n)d min") % {"n": minutes}
    return _("%(h)d h %(m)02d min") % {"h": minutes // 60, "m": minutes % 60}


@register.filter
def isolated(name) -> str:
    """A name inside a sentence, isolated from its direction (bidi.py); escaped as usual."""
    return isolate(name)
