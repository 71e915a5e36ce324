"""What the clinic prints, printed by Chromium to PDF on its own paper size: the reception slip on
A6 paper and on 80 and 58 mm rolls, and the A4 QR poster, each on one sheet; and the poster warns
before anyone prints a code no phone can open."""

import re

import pytest
from playwright.sync_api import expect

from .conftest import DESKTOP
from .helpers import PASSWORD

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


@pytest.fixture(scope="module")
def made(site):
    return site.data(
        "setup",
        services=[{"service_name": "OPD", "description": "Outpatient Department"}],
        staff=[{"username": "desk1", "role": "reception"}, {"username": "physio1"}],
        # A long counter name takes two lines on the slip: the A6 slip must still fit its sheet.
        counters=[{"counter_name": "Physiotherapy and Rehabilitation Room 12", "service": "OPD", "held_by": "physio1"}],
        joins=[
            {"phone": "+919876560001", "name": "Ananya Sharma", "service": "OPD"},
            {"phone": "+919876560002", "name": "Subramanian Venkataraghavan Iyer", "service": "OPD"},
        ],
    )


def reception_page(open_context):
    page = open_context(DESKTOP).new_page()
    page.goto("/staff/login/")
    page.get_by_label("Username").fill("desk1")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/staff/reception/")
    return page


@pytest.mark.parametrize(("size", "width"), [("a6", 105), ("80", 80), ("58", 58)])
def test_the_slip_prints_on_one_sheet_of_its_paper(site, made, open_context, size, width):
    page = reception_page(open_context)
    page.goto(f"/staff/reception/tickets/{made['tickets'][1]['id']}/slip/?size={size}")
    expect(page.locator(".slip-where")).to_contain_text("Physiotherapy and Rehabilitation Room 12")
    sheets = printed(page)
    assert len(sheets) == 1, f"the {size} slip printed on {len(sheets)} pages"
    assert sheets[0][0] == pytest.approx(width, abs=0.5)
    if size == "a6":
        assert sheets[0][1] == pytest.approx(148, abs=0.5)
    # Everything is on that sheet: the footer ends above the paper's bottom edge.
    page.emulate_media(media="print")
    slip = page.locator("#slip").bounding_box()
    foot = page.locator(".slip-foot").bounding_box()
    assert foot["y"] + foot["height"] <= slip["y"] + slip["height"] + 0.5


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
