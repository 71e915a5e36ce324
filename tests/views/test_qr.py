"""The wall QR code: it encodes the absolute patient login URL, as PNG, SVG and an A4 poster."""

import io

import png
import pytest
import qrcode
from django.contrib.staticfiles import finders
from django.test import Client
from qrcode.image.svg import SvgPathFillImage

pytestmark = pytest.mark.django_db


def expected_svg(url: str) -> str:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=10, border=4)
    code.add_data(url)
    code.make(fit=True)
    return code.make_image(image_factory=SvgPathFillImage).to_string(encoding="unicode")


def modules(url: str) -> list[list[bool]]:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    code.add_data(url)
    code.make(fit=True)
    return code.get_matrix()


def test_qr_points_at_the_public_base_url_when_set(settings):
    settings.PUBLIC_BASE_URL = "https://queue.cityclinic.example"
    response = Client().get("/qr.svg")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert response.content.decode() == expected_svg("https://queue.cityclinic.example/patient/login/")


def test_qr_points_at_the_requests_host_otherwise(settings):
    settings.PUBLIC_BASE_URL = ""
    response = Client().get("/qr.svg", HTTP_HOST="clinic.lan:8000")
    assert response.content.decode() == expected_svg("http://clinic.lan:8000/patient/login/")
    assert response.content.decode() != expected_svg("http://other.lan:8000/patient/login/")


def test_qr_png_is_a_png_of_the_same_code(settings):
    settings.PUBLIC_BASE_URL = "https://queue.cityclinic.example"
    response = Client().get("/qr.png")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    width, height, rows, _info = png.Reader(file=io.BytesIO(response.content)).read()
    matrix = modules("https://queue.cityclinic.example/patient/login/")
    box = width // len(matrix)
    assert width == height == box * len(matrix)
    pixels = [list(row) for row in rows]
    # Sample the centre of every module: dark where the QR matrix is dark.
    for y, line in enumerate(matrix):
        for x, dark in enumerate(line):
            assert (pixels[y * box + box // 2][x * box + box // 2] == 0) == dark


def test_poster_has_the_facility_the_call_to_action_the_code_and_the_address(settings):
    settings.PUBLIC_BASE_URL = "https://queue.cityclinic.example"
    settings.FACILITY_NAME = "Sunrise <Health> Centre"
    html = Client().get("/qr/").content.decode()
    assert "Sunrise &lt;Health&gt; Centre" in html
    assert "Scan to join the queue" in html
    assert 'src="/qr.svg"' in html and 'alt="QR code for https://queue.cityclinic.example/patient/login/"' in html
    assert "<strong>https://queue.cityclinic.example/patient/login/</strong>" in html
    assert "css/patient.css" in html


def test_poster_prints_on_one_a4_page():
    css = open(finders.find("css/patient.css"), encoding="utf-8").read()
    assert "@page { size: A4 portrait; margin: 0; }" in css
    assert ".poster-toolbar, .skip-link { display: none !important; }" in css


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "localhost:8000", "[::1]:8000", "127.0.1.1", "0.0.0.0:8000"])
def test_the_poster_warns_when_phones_cannot_open_its_address(settings, host):
    settings.PUBLIC_BASE_URL = ""
    html = Client().get("/qr/", HTTP_HOST=host).content.decode()
    assert f"Phones cannot open http://{host}/patient/login/: that address only works on this computer." in html
    assert "open this poster through this computer's network address" in html
    assert "or set PUBLIC_BASE_URL to the address phones use." in html


@pytest.mark.parametrize("host", ["192.168.1.20:8000", "clinic.lan", "[fd00::20]:8000"])
def test_the_poster_does_not_warn_on_an_address_phones_can_open(settings, host):
    settings.PUBLIC_BASE_URL = ""
    html = Client().get("/qr/", HTTP_HOST=host).content.decode()
    assert "Phones cannot open" not in html


def test_the_poster_opened_on_the_server_does_not_warn_when_public_base_url_is_set(settings):
    settings.PUBLIC_BASE_URL = "http://192.168.1.20:8000"
    html = Client().get("/qr/", HTTP_HOST="127.0.0.1:8000").content.decode()
    assert "Phones cannot open" not in html
    assert "<strong>http://192.168.1.20:8000/patient/login/</strong>" in html
