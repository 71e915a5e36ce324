#!/usr/bin/env python
"""Exit 0 when the server on this host answers /healthz/ with 200, else 1 (and say why).

For Docker's HEALTHCHECK and for monitoring a systemd instance:

    python deploy/healthcheck.py          # port 8000
    python deploy/healthcheck.py 8001     # another port

The request carries a Host header the server accepts (the first name in ALLOWED_HOSTS), so it
passes Django's host check; /healthz/ is exempt from the HTTPS redirect.
"""

import os
import sys
import urllib.error
import urllib.request


def host_header(allowed_hosts: str) -> str:
    for host in allowed_hosts.split(","):
        host = host.strip()
        if host and host != "*":
            return host.lstrip(".")  # ".example.org" allows example.org and its subdomains
    return "localhost"


def main(argv: list[str]) -> int:
    port = argv[1] if len(argv) > 1 else os.environ.get("HEALTHCHECK_PORT", "8000")
    request = urllib.request.Request(  # noqa: S310 - a fixed http://127.0.0.1 URL
        f"http://127.0.0.1:{int(port)}/healthz/", headers={"Host": host_header(os.environ.get("ALLOWED_HOSTS", ""))}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            body = response.read(500).decode(errors="replace")
            status = response.status
    except urllib.error.HTTPError as exc:
        body, status = exc.read(500).decode(errors="replace"), exc.code
    except (urllib.error.URLError, OSError) as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"unhealthy: {status} {body}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
