"""Print the URLs to open and the demo logins after `make run` has set everything up."""

import os
import socket
from pathlib import Path

port = os.environ.get("PORT", "8000")


def lan_address() -> str:
    """The address phones on the clinic network use (falls back to loopback)."""
    try:
        address = socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"
    return address if not address.startswith("127.") else "127.0.0.1"


base = f"http://{lan_address()}:{port}"
logins = Path(__file__).resolve().parent.parent / "var" / "demo-logins.txt"
print(
    f"""
Queue management system is starting on port {port}.
  Patients (phone):   {base}/patient/login/      (QR poster to print: {base}/qr/)
  Staff (counter PC): {base}/staff/login/
  Wall display (TV):  {base}/display/
  Admin:              {base}/admin/
  API docs:           {base}/api/docs/
SMS codes are printed in this terminal (SMS_BACKEND=console). Demo logins:"""
)
if logins.exists():
    for line in logins.read_text().splitlines():
        print("  " + line)
print()
