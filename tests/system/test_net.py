"""Who the client is and how it connected: only a trusted proxy's headers count."""

import pytest

from queue_app.net import rate_limit_network

pytestmark = pytest.mark.django_db

PROXY = "10.0.0.1"


@pytest.fixture
def behind_a_proxy(settings):
    """Production behind nginx: HTTPS enforced, X-Forwarded-Proto believed from the proxy."""
    settings.TRUSTED_PROXIES = [PROXY]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 3600


def test_a_trusted_proxy_saying_https_makes_the_request_secure(client, behind_a_proxy):
    response = client.get("/no-such-page/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_PROTO="https")

    assert response.status_code == 404  # served, not redirected
    assert response["Strict-Transport-Security"] == "max-age=3600"


def test_any_other_peer_saying_https_is_still_plain_http(client, behind_a_proxy):
    response = client.get("/no-such-page/", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_PROTO="https")

    assert response.status_code == 301
    assert response["Location"] == "https://testserver/no-such-page/"
    assert "Strict-Transport-Security" not in response


def test_a_peer_inside_a_trusted_proxy_network_is_trusted(client, behind_a_proxy, settings):
    settings.TRUSTED_PROXIES = ["172.16.0.0/12"]

    response = client.get("/no-such-page/", REMOTE_ADDR="172.18.0.5", HTTP_X_FORWARDED_PROTO="https")

    assert response.status_code == 404


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("203.0.113.7", "203.0.113.0/24"),
        ("203.0.113.254", "203.0.113.0/24"),
        ("::ffff:203.0.113.7", "203.0.113.0/24"),  # an IPv4 client on a dual-stack socket
        ("2001:db8:0:1::1", "2001:db8::/56"),
        ("2001:db8:0:ff:1:2:3:4", "2001:db8::/56"),
        ("2001:db8:0:100::1", "2001:db8:0:100::/56"),
        ("unknown", "unknown"),
    ],
)
def test_per_address_limits_count_the_clients_ipv4_24_or_ipv6_56(address, network):
    assert rate_limit_network(address) == network
