"""Who the client is and how it connected: only a trusted proxy's headers count."""

import time

import pytest

from queue_app.models import Ticket
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


# --- how long the request waited for a worker (X-Request-Start from nginx) ------------------------


def stamped(seconds_ago: float) -> dict:
    return {"REMOTE_ADDR": PROXY, "HTTP_X_REQUEST_START": f"t={time.time() - seconds_ago:.3f}"}


def test_a_join_that_waited_too_long_for_a_worker_is_answered_busy_and_changes_nothing(
    signed_in_phone, opd, counters, settings
):
    settings.TRUSTED_PROXIES, settings.HTTP_QUEUE_SECONDS = [PROXY], 10

    late = signed_in_phone.api("/queue/join/", {"service_id": opd.pk}, **stamped(12))

    assert late.status_code == 503 and late.json()["code"] == "unavailable"
    assert int(late["Retry-After"]) > 0
    assert not Ticket.objects.exists()
    in_time = signed_in_phone.api("/queue/join/", {"service_id": opd.pk}, **stamped(2))
    assert in_time.status_code == 201


def test_a_page_that_waited_too_long_is_a_plain_busy_page(client, behind_a_proxy, settings):
    settings.HTTP_QUEUE_SECONDS = 10

    response = client.get("/", secure=True, **stamped(30))

    assert response.status_code == 503 and response["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize(
    ("peer", "stamp", "limit"),
    [
        ("203.0.113.9", "t={ago_60}", 10),  # not from the proxy: not believed
        (PROXY, "t=yesterday", 10),  # unreadable
        (PROXY, "t={ago_day}", 10),  # a clock that jumped, not a wait
        (PROXY, "t={ahead_day}", 10),
        (PROXY, "t={ago_60}", 0),  # HTTP_QUEUE_SECONDS=0: never
        (PROXY, "{ago_5}", 10),  # within the limit, without the t= prefix
    ],
)
def test_a_stamp_that_is_not_a_long_wait_changes_nothing(client, behind_a_proxy, settings, peer, stamp, limit):
    settings.HTTP_QUEUE_SECONDS = limit
    now = time.time()  # when the test runs, not when it was collected
    stamp = stamp.format(
        ago_60=f"{now - 60:.3f}", ago_day=f"{now - 86400:.3f}", ahead_day=f"{now + 86400:.3f}", ago_5=f"{now - 5:.3f}"
    )

    response = client.get("/no-such-page/", secure=True, REMOTE_ADDR=peer, HTTP_X_REQUEST_START=stamp)

    assert response.status_code in (404, 301)  # served as usual (another peer: redirected to HTTPS)
