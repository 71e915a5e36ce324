# Placeholder module: the display helper replaces this file entirely.
from django.http import Http404


def display_screen(request):
    raise Http404("not built yet")
