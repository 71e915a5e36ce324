"""What the clinic prints, printed by Chromium to PDF on its own paper size: the A4 QR poster on
one sheet; and the poster warns before anyone prints a code no phone can open."""

import re

import pytest
from playwright.sync_api import expect

from .conftest import DESKTOP

MM_IN_POINTS = 72 / 25.4
PAGE = re.compile(rb"/Type\s*/Page\b")  # a page object; the page tree is /Type /Pages
MEDIA_BOX = re.compile(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]")


def pdf_pages(pdf: bytes) -> list[tuple[float, float]]:
    """The size of each page of a PDF Chromium printed, in millimetres."""
    count = len(PAGE.findall(pdf))
    boxes = [(float(w) / MM_IN_POINTS, float(h) / MM_IN_POINTS) for w, h in MEDIA_BOX.findall(pdf)]
    assert len(boxes) == count, "every page names its paper size"
    return boxes


def printed(page) -> list[tuple[float, float]]:
    """Print the page as the browser's print dialog would, on the paper its @page rule asks for."""
    return pdf_pages(page.pdf(prefer_css_page_size=True, print_background=True))


def test_the_poster_warns_before_printing_a_code_phones_cannot_open_and_prints_on_one_a4_sheet(site, open_context):
    page = open_context(DESKTOP).new_page()
    page.goto("/qr/")  # the browser tests' server answers at 127.0.0.1, as a poster opened on the server
    warning = page.locator("#poster-unreachable")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text(f"Phones cannot open {site.url}/patient/login/")
    expect(warning).to_contain_text("or set PUBLIC_BASE_URL")
    sheets = printed(page)
    assert len(sheets) == 1
    assert sheets[0] == (pytest.approx(210, abs=0.5), pytest.approx(297, abs=0.5))
    page.emulate_media(media="print")
    expect(warning).to_be_hidden()  # the warning is for the screen, never on the wall
