"""Addresses patients' phones open, and their QR codes: the wall poster's and the ticket slip's.

PUBLIC_BASE_URL, when set, is the address phones can reach (it may differ from the one staff
use); otherwise the request's own host.
"""

import base64
import ipaddress
from urllib.parse import urlsplit

import qrcode
from django.conf import settings
from django.urls import reverse
from qrcode.image.svg import SvgPathFillImage

from . import access
from .models import Ticket


def absolute_url(request, path: str) -> str:
    if settings.PUBLIC_BASE_URL:
        return settings.PUBLIC_BASE_URL + path
    return request.build_absolute_uri(path)


def patient_entry_url(request) -> str:
    """Where the wall poster's code leads: the patient login."""
    return absolute_url(request, reverse("patient_login"))


def only_this_computer_opens(url: str) -> bool:
    """Whether `url` names this computer itself (localhost, 127.0.0.0/8, ::1, 0.0.0.0): a phone
    scanning a code of it would look for the queue on the phone."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified


def ticket_link_url(request, ticket: Ticket) -> str:
    """The ticket's signed live page, valid on its service day (printed on the slip)."""
    return absolute_url(request, reverse("ticket_link", args=[access.ticket_link_token(ticket)]))


def qr_image(url: str, *, factory=SvgPathFillImage, box_size: int = 10):
    # Error correction M survives a scuffed poster or a crumpled slip; border 4 is the quiet
    # zone the standard asks for.
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=box_size, border=4)
    code.add_data(url)
    code.make(fit=True)
    return code.make_image(image_factory=factory)


def qr_data_uri(url: str) -> str:
    """The QR code of `url` as an SVG data URI (crisp at any print size)."""
    svg = qr_image(url).to_string(encoding="unicode")
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()
