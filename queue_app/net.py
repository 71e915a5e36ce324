"""The client's address: the socket peer, or X-Forwarded-For only behind a trusted proxy."""

import ipaddress

from django.conf import settings


def is_trusted_proxy(address: str) -> bool:
    """Whether the address is one of TRUSTED_PROXIES (addresses or networks)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for entry in settings.TRUSTED_PROXIES:
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def client_ip(request) -> str:
    peer = request.META.get("REMOTE_ADDR", "") or "unknown"
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if not forwarded or not is_trusted_proxy(peer):
        return peer
    # Walk from the nearest hop back and stop at the first address that is not a trusted proxy.
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    for hop in reversed(hops):
        if not is_trusted_proxy(hop):
            return hop
    return hops[0] if hops else peer


def axes_client_ip(request) -> str:
    return client_ip(request)
