"""Print the URLs to open and the demo logins after `make run` has set everything up.

Phones reach this computer at its address on the clinic's network, never at 127.0.0.1: the QR
poster's code points at the address the poster was opened at (unless PUBLIC_BASE_URL says
otherwise), so the poster URL printed here is the network one.
"""

import ipaddress
import os
import socket
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
# An address from TEST-NET-1 (RFC 5737): never a real host. Connecting a UDP socket to it sends
# nothing; the kernel only picks the route, and with it this computer's address on that network.
ROUTE_PROBE = ("192.0.2.1", 9)


def _reachable(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return not (ip.is_loopback or ip.is_unspecified)


def lan_address() -> str | None:
    """This computer's IPv4 address on its network, or None when it has none (no network)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect(ROUTE_PROBE)
            address = sock.getsockname()[0]
        if _reachable(address):
            return address
    except OSError:  # no route at all: no default gateway, or no network
        pass
    # A network without a gateway: the addresses this computer's name resolves to.
    try:
        addresses = socket.gethostbyname_ex(socket.gethostname())[2]
    except OSError:
        return None
    return next((a for a in addresses if _reachable(a)), None)


def dotenv_value(name: str) -> str:
    """A setting from the environment, or from .env as the server reads it (the server's own
    environment wins)."""
    if name in os.environ or os.environ.get("QUEUE_IGNORE_DOTENV") == "1":
        return os.environ.get(name, "")
    try:
        from dotenv import dotenv_values
    except ImportError:
        return ""
    return dotenv_values(BASE_DIR / ".env").get(name) or ""


def main() -> None:
    port = os.environ.get("PORT", "8000")
    lan = lan_address()
    base = f"http://{lan or '127.0.0.1'}:{port}"
    public = dotenv_value("PUBLIC_BASE_URL").rstrip("/")
    print(
        f"""
Queue management system is starting on port {port}.
  Patients (phone):   {base}/patient/login/
  QR poster to print: {base}/qr/
  Staff (counter PC): {base}/staff/login/
  Wall display (TV):  {base}/display/
  Admin:              {base}/admin/
  API docs:           {base}/api/docs/"""
    )
    if public:
        print(f"The poster's QR code points at PUBLIC_BASE_URL: {public}/patient/login/")
    elif lan:
        print("Phones on the same network open these addresses; open the poster at the address above to print it.")
    else:
        print(
            "No network address found: phones cannot reach this computer. Connect it to the clinic's network and "
            "run `make run` again (or set PUBLIC_BASE_URL) before printing the QR poster."
        )
    print("SMS codes are printed in this terminal (SMS_BACKEND=console). Demo logins:")
    logins = BASE_DIR / "var" / "demo-logins.txt"
    if logins.exists():
        for line in logins.read_text().splitlines():
            print("  " + line)
    print()


if __name__ == "__main__":
    main()
