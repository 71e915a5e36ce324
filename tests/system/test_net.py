"""Who the client is and how it connected: only a trusted proxy's headers count."""

import pytest

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
