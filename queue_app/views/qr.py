"""The wall QR code: a printable A4 poster and the code itself as PNG and SVG.

The code points at the absolute patient login URL: PUBLIC_BASE_URL when set (the address
patients' phones can reach, which may differ from the one staff use), else this request's host.
"""

import io

import qrcode
from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import cache_control
from qrcode.image.pure import PyPNGImage
from qrcode.image.svg import SvgPathFillImage


def patient_entry_url(request) -> str:
    path = reverse("patient_login")
    if settings.PUBLIC_BASE_URL:
        return settings.PUBLIC_BASE_URL + path
    return request.build_absolute_uri(path)


def _qr(url: str, factory, box_size: int):
    # Error correction M survives a scuffed or partly shaded poster; border 4 is the quiet zone
    # the standard asks for.
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=box_size, border=4)
    code.add_data(url)
    code.make(fit=True)
    return code.make_image(image_factory=factory)


def poster(request):
    """An A4 poster: facility name, "Scan to join the queue", the code and the address in text."""
    return render(request, "qr/poster.html", {"entry_url": patient_entry_url(request)})


@cache_control(max_age=300)
def qr_png(request):
    buffer = io.BytesIO()
    _qr(patient_entry_url(request), PyPNGImage, box_size=16).save(buffer)
    response = HttpResponse(buffer.getvalue(), content_type="image/png")
    response["Content-Disposition"] = 'inline; filename="queue-qr.png"'
    return response


@cache_control(max_age=300)
def qr_svg(request):
    svg = _qr(patient_entry_url(request), SvgPathFillImage, box_size=10).to_string(encoding="unicode")
    response = HttpResponse(svg, content_type="image/svg+xml")
    response["Content-Disposition"] = 'inline; filename="queue-qr.svg"'
    return response
