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


# Per-address rate limits count a client's network, not its one address: one attacker easily
# holds many addresses of one network (a cloud host's IPv6 /64 or more, a run of IPv4 addresses),
# while a clinic's patients behind one NAT share one address anyway.
IPV4_LIMIT_PREFIX = 24
IPV6_LIMIT_PREFIX = 56


def rate_limit_network(address: str) -> str:
    """The network a client address is counted in by per-address limits: its IPv4 /24 or IPv6 /56."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address  # "unknown" (no peer): counted as it is
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.version == 4:
        return str(ipaddress.IPv4Network((int(ip), IPV4_LIMIT_PREFIX), strict=False))
    return str(ipaddress.IPv6Network((int(ip), IPV6_LIMIT_PREFIX), strict=False))
