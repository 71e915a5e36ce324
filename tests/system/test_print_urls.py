"""`make run` prints the addresses phones on the clinic's network can open (scripts/print_urls.py),
the QR poster's among them, and says so plainly when this computer has no network."""

import importlib.util
import ipaddress
import socket
import subprocess
import sys

import pytest

from tests.liveserver import BASE_DIR, clean_env

SCRIPT = BASE_DIR / "scripts" / "print_urls.py"


@pytest.fixture
def print_urls(monkeypatch):
    monkeypatch.setenv("PORT", "8123")
    monkeypatch.setenv("QUEUE_IGNORE_DOTENV", "1")
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    spec = importlib.util.spec_from_file_location("print_urls", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class LanSocket(socket.socket):
    """A UDP socket on a machine whose route to the world leaves from 192.168.1.20."""

    def connect(self, address):
        self.probed = address

    def getsockname(self):
        return ("192.168.1.20", 40000)


class NoNetworkSocket(socket.socket):
    def connect(self, address):
        raise OSError(101, "Network is unreachable")


def test_the_lan_address_is_the_one_this_computer_routes_from(print_urls):
    found = print_urls.lan_address()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(print_urls.ROUTE_PROBE)
        except OSError:
            pytest.skip("this machine has no route to any network")
        routed = sock.getsockname()[0]
    assert found == routed
    assert not ipaddress.ip_address(found).is_loopback


def test_make_run_prints_the_poster_and_patient_addresses_on_the_lan(print_urls, monkeypatch, capsys):
    monkeypatch.setattr(socket, "socket", LanSocket)
    print_urls.main()
    out = capsys.readouterr().out
    assert "QR poster to print: http://192.168.1.20:8123/qr/" in out
    assert "Patients (phone):   http://192.168.1.20:8123/patient/login/" in out
    assert "127.0.0.1" not in out


def test_without_a_network_it_says_phones_cannot_reach_this_computer(print_urls, monkeypatch, capsys):
    monkeypatch.setattr(socket, "socket", NoNetworkSocket)
    monkeypatch.setattr(socket, "gethostbyname_ex", lambda name: (name, [], ["127.0.1.1"]))
    assert print_urls.lan_address() is None
    print_urls.main()
    out = capsys.readouterr().out
    assert "Staff (counter PC): http://127.0.0.1:8123/staff/login/" in out
    assert "No network address found: phones cannot reach this computer." in out


def test_a_network_without_a_gateway_falls_back_to_the_names_address(print_urls, monkeypatch):
    monkeypatch.setattr(socket, "socket", NoNetworkSocket)
    monkeypatch.setattr(socket, "gethostbyname_ex", lambda name: (name, [], ["127.0.1.1", "10.1.2.3"]))
    assert print_urls.lan_address() == "10.1.2.3"


def test_with_public_base_url_it_says_where_the_poster_points(print_urls, monkeypatch, capsys):
    monkeypatch.setattr(socket, "socket", LanSocket)
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://queue.cityclinic.example/")
    print_urls.main()
    out = capsys.readouterr().out
    assert "The poster's QR code points at PUBLIC_BASE_URL: https://queue.cityclinic.example/patient/login/" in out


def test_the_script_runs_as_make_run_calls_it():
    result = subprocess.run(
        [sys.executable, str(SCRIPT)],
        cwd=BASE_DIR,
        env=clean_env(DEBUG="1", PORT="8123"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "QR poster to print: http://" in result.stdout and ":8123/qr/" in result.stdout
