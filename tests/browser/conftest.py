"""Browser tests: Debian's Chromium, driven by Playwright, against a real Daphne server.

- One Chromium for the whole session (`browser`); each test opens its own contexts (cookies,
  viewport) through `open_context`, closed when the test ends.
- One server per test module (`site`): Daphne in a subprocess (tests/liveserver.py) on a SQLite
  file of its own, migrated once per session and copied per module, with the SMS file backend so
  a test reads the code from the "phone" as a patient does. Test data is made in that database by
  a separate process (server_data.py): the test process never opens the server's database.
- Every test in this folder is marked `browser` (CI's MariaDB pass deselects them), and skipped
  with the reason when /usr/bin/chromium is missing. Nothing downloads a browser.
"""

import json
import re
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.liveserver import BASE_DIR, clean_env, migrated_sqlite, start_live_server

from .server_data import RESULT_MARK

HERE = Path(__file__).resolve().parent
CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 768}
TABLET = {"width": 820, "height": 1180}
TV = {"width": 1920, "height": 1080}

# Waiting for a page to react to something a server did: generous, a loaded 2-core CI is slow.
TIMEOUT_MS = 15_000

CODE = re.compile(r"(?<!\d)\d{6}(?!\d)")

# Counts the page's WebSockets (and can refuse new ones, as a dead network would), so a test
# can wait until a page is live before acting, and keep a dropped socket down for a while.
# The sockets themselves are the browser's own; only their construction is watched.
SOCKET_WATCH = """
(() => {
  const Real = window.WebSocket;
  const watch = { opened: 0, snapshots: 0, blocked: false };
  function Watched(url, protocols) {
    // A refused port on loopback: the socket fails at once, like a network that is down.
    const target = watch.blocked ? "ws://127.0.0.1:9/" : url;
    const socket = protocols === undefined ? new Real(target) : new Real(target, protocols);
    socket.addEventListener("open", () => { watch.opened += 1; });
    socket.addEventListener("message", (event) => {
      try { if (JSON.parse(event.data).type === "snapshot") watch.snapshots += 1; } catch (e) { /* not JSON */ }
    });
    return socket;
  }
  Watched.prototype = Real.prototype;
  for (const name of ["CONNECTING", "OPEN", "CLOSING", "CLOSED"]) Watched[name] = Real[name];
  window.WebSocket = Watched;
  window.__sockets = watch;
})();
"""


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    # tryfirst: the marker must be on the items before pytest's own -m selection looks for it.
    missing = not CHROMIUM.exists()
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.browser)
            if missing:
                item.add_marker(pytest.mark.skip(reason=f"{CHROMIUM} is missing (apt-get install chromium)"))


# --- the browser ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(request):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    playwright = request.getfixturevalue("playwright_session")
    chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture
def open_context(browser, site):
    """open_context(viewport, **options) -> a new BrowserContext on the module's server."""
    opened = []

    def open_(viewport=DESKTOP, *, mobile=None, init_scripts=(), **options):
        mobile = viewport == PHONE if mobile is None else mobile
        context = browser.new_context(
            base_url=site.url,
            viewport=viewport,
            device_scale_factor=1,
            is_mobile=mobile,
            has_touch=mobile,
            locale="en-US",
            timezone_id="UTC",
            **options,
        )
        context.set_default_timeout(TIMEOUT_MS)
        context.add_init_script(SOCKET_WATCH)
        for script in init_scripts:
            context.add_init_script(script)
        opened.append(context)
        return context

    yield open_
    for context in opened:
        context.close()


# --- the server ----------------------------------------------------------------------------------


@dataclass
class LiveSite:
    """The module's Daphne server, its database (through server_data.py) and its SMS folder."""

    server: object
    env: dict
    sms_dir: Path
    _counts: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    def data(self, action: str, **params):
        """Run server_data.<action>(**params) in a process on the server's database; its answer."""
        result = subprocess.run(
            [sys.executable, "-m", "tests.browser.server_data"],
            cwd=BASE_DIR,
            env=self.env,
            input=json.dumps({"action": action, "params": params}),
            capture_output=True,
            text=True,
            timeout=120,
        )
        lines = [line for line in result.stdout.splitlines() if line.startswith(RESULT_MARK)]
        if result.returncode != 0 or not lines:
            raise RuntimeError(f"server_data {action} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return json.loads(lines[-1][len(RESULT_MARK) :])

    def messages_to(self, phone: str) -> list[str]:
        """Bodies of the SMS sent to `phone` (E.164), oldest first."""
        bodies = []
        if not self.sms_dir.exists():
            return bodies
        for path in sorted(p for p in self.sms_dir.iterdir() if not p.name.startswith(".")):
            head, _, body = path.read_text(encoding="utf-8").partition("\n\n")
            if head.strip() == f"To: {phone}":
                bodies.append(body)
        return bodies

    def next_code(self, phone: str, *, after: int, timeout: float = TIMEOUT_MS / 1000) -> str:
        """The code in the first SMS to `phone` beyond the `after` already there; waits for it."""
        deadline = time.monotonic() + timeout
        while True:
            bodies = self.messages_to(phone)
            if len(bodies) > after:
                codes = CODE.findall(bodies[after])
                assert len(codes) == 1, f"expected one 6-digit code in {bodies[after]!r}"
                return codes[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"no SMS to {phone} within {timeout}s")
            time.sleep(0.1)


@pytest.fixture(scope="module")
def site(request, tmp_path_factory):
    """A Daphne server for this module, on a database and an SMS folder of its own.

    A module may set SITE_ENV = {...} to add or override the server's environment variables.
    """
    folder = tmp_path_factory.mktemp(f"site-{request.module.__name__.rsplit('.', 1)[-1]}")
    env = clean_env(
        DEBUG="0",
        QUEUE_TESTING="1",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=migrated_sqlite(folder / "browser.sqlite3"),
        SMS_BACKEND="file",
        SMS_FILE_PATH=str(folder / "sms"),
        TIME_ZONE="UTC",
        DISPLAY_NAME_MODE="masked",
        FACILITY_NAME="City Health Clinic",
        LOG_LEVEL="warning",
        **getattr(request.module, "SITE_ENV", {}),
    )
    server = start_live_server(request, env=env, name=f"daphne-{folder.name}", log_dir=folder)
    return LiveSite(server=server, env=env, sms_dir=folder / "sms")
