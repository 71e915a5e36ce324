# Placeholder module: the patient-journey helper replaces this file entirely.
from django.http import Http404


def _todo(request, *args, **kwargs):
    raise Http404("not built yet")


poster = qr_png = qr_svg = _todo
