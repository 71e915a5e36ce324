"""The wall QR code: a printable A4 poster and the code itself as PNG and SVG, pointing at the
patient login (queue_app/links.py)."""

import io

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import cache_control
from qrcode.image.pure import PyPNGImage

from ..links import only_this_computer_opens, patient_entry_url, qr_image


def poster(request):
    """An A4 poster: facility name, "Scan to join the queue", the code and the address in text.

    Opened on the server itself without PUBLIC_BASE_URL, the address is the loopback one no phone
    can open: the page warns before anyone prints it."""
    entry_url = patient_entry_url(request)
    context = {"entry_url": entry_url, "unreachable": only_this_computer_opens(entry_url)}
    return render(request, "qr/poster.html", context)


@cache_control(max_age=300)
def qr_png(request):
    buffer = io.BytesIO()
    qr_image(patient_entry_url(request), factory=PyPNGImage, box_size=16).save(buffer)
    response = HttpResponse(buffer.getvalue(), content_type="image/png")
    response["Content-Disposition"] = 'inline; filename="queue-qr.png"'
    return response


@cache_control(max_age=300)
def qr_svg(request):
    svg = qr_image(patient_entry_url(request)).to_string(encoding="unicode")
    response = HttpResponse(svg, content_type="image/svg+xml")
    response["Content-Disposition"] = 'inline; filename="queue-qr.svg"'
    return response
