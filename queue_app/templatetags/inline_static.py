"""{% inline_static "css/app.css" %}: the text of one of our static files, for a <style> block.

The patient pages inline the shared base stylesheet (tokens, layout, buttons: what the first
paint needs) and link only their own, so a phone on a slow network waits for one stylesheet
before it draws, not two. The file stays the one source of truth; staff pages still link it.
"""

from functools import lru_cache
from pathlib import Path

from django import template
from django.conf import settings
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.utils.safestring import mark_safe

register = template.Library()


@register.simple_tag
def inline_static(path: str) -> str:
    text = _read.__wrapped__(path) if settings.DEBUG else _read(path)  # DEBUG: edits show at once
    return mark_safe(text)  # noqa: S308 - our own file, not user input


@lru_cache(maxsize=8)
def _read(path: str) -> str:
    found = finders.find(path)  # static/ in the source tree (development, tests, the image)
    if found:
        return Path(found).read_text(encoding="utf-8")
    with staticfiles_storage.open(path) as collected:  # only STATIC_ROOT deployed
        return collected.read().decode("utf-8")
