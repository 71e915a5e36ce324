import os
import secrets
import time
from pathlib import Path

from django.conf import settings

from .base import BaseSmsBackend


class SmsBackend(BaseSmsBackend):
    """Development and black-box tests: one UTF-8 file per message in SMS_FILE_PATH.

    Format: first line `To: +E164`, a blank line, then the body. Files are written to a temporary
    name and renamed, so a reader never sees half a message.
    """

    def send(self, *, to: str, body: str, status_callback: str | None = None) -> str | None:
        folder = Path(settings.SMS_FILE_PATH)
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns()}-{secrets.token_hex(4)}.txt"
        temporary = folder / f".{name}.tmp"
        temporary.write_text(f"To: {to}\n\n{body}\n", encoding="utf-8")
        os.replace(temporary, folder / name)
        return name
