"""The wall display's page in a kiosk Chromium: announcements in turn, speech that fails or never
ends, the sound gate, a lost connection, names as text, a flood of events, the layout.

The tests run a real Daphne (HTTP + WebSocket, its own SQLite file) and make calls through the
staff API in that server, so events travel the real path to the page. Speech is counted by
stubbing speechSynthesis.speak in an init script; the chime by counting oscillators. The server
is this module's own (`display_server`, its data made by `manage.py shell`), not conftest's `site`.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings

ROOT = Path(__file__).resolve().parents[2]


CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
KIOSK_ARGS = [*BROWSER_ARGS, "--autoplay-policy=no-user-gesture-required"]

# Counts speak() calls; `window.__speech` picks how the fake engine behaves: "ok" fires `end`,
# "silent" never fires anything (the browser bug the time limit is for). Chimes are counted as
# oscillators started.
SPEECH_STUB = """
window.__spoken = [];
window.__speech = "ok";
window.__oscillators = 0;
if (window.speechSynthesis) {
  window.speechSynthesis.speak = function (utterance) {
    window.__spoken.push(utterance.text);
    if (window.__speech === "ok") setTimeout(function () { utterance.onend && utterance.onend(); }, 20);
  };
  window.speechSynthesis.cancel = function () {};
}
if (window.AudioContext) {
  const create = AudioContext.prototype.createOscillator;
  AudioContext.prototype.createOscillator = function () { window.__oscillators += 1; return create.call(this); };
}
"""
NO_SPEECH = "delete window.speechSynthesis; delete window.SpeechSynthesisUtterance;"
FAST = "QueueDisplay.timing.chime = 30; QueueDisplay.timing.pause = 10;"

SERVER_SETUP = """
import json
from datetime import time
from django.conf import settings
from django.test import Client
from queue_app import services
from queue_app.models import EVERY_DAY, Counter, Service, Staff
opd = Service.objects.create(service_name="OPD", week_days=EVERY_DAY)
admin = Staff.objects.create(username="admin", password="display-test-pass", role="admin", is_superuser=True)
counters = []
for i in (1, 2, 3):
    operator = Staff.objects.create(username=f"operator{i}", password="display-test-pass")
    counter = Counter.objects.create(
        counter_name=f"Counter {i}", service=opd, start_time=time(0, 0), end_time=time(23, 59, 59)
    )
    services.hold_counter(counter=counter, staff=operator)
    counters.append(counter.pk)
client = Client()
client.force_login(admin)
print("RESULT:" + json.dumps({"session": client.cookies[settings.SESSION_COOKIE_NAME].value, "counters": counters}))
"""

JOIN = """
import json
from queue_app import services
from queue_app.models import Patient, Service
opd = Service.objects.get(service_name="OPD")
start = Patient.objects.count()
ids = []
for i in range(%(count)d):
    patient = Patient.objects.create(phone=f"+9197000{start + i:05d}", name=f"Guest{start + i} Tester")
    ids.append(services.join(patient=patient, service=opd)[0].queue_id)
print("RESULT:" + json.dumps(ids))
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DisplayServer:
    """A Daphne process with its own database, and the staff API to make calls through it."""

    def __init__(self, workdir: Path):
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = dict(
            os.environ,
            DEBUG="1",  # static files from the source folders, no collectstatic
            QUEUE_IGNORE_DOTENV="1",
            DATABASE_URL=f"sqlite:///{workdir / 'display.sqlite3'}",
            DISPLAY_NAME_MODE="masked",
            LOG_LEVEL="warning",
            # The shell's joins owe texts: no sender thread printing them (console SMS) into the
            # stdout this class reads its RESULT line from.
            NOTIFY_SENDER_THREAD="0",
            SMS_BACKEND="locmem",
        )
        for name in ("REDIS_URL", "DJANGO_SETTINGS_MODULE", "PYTEST_CURRENT_TEST"):
            self.env.pop(name, None)
        self.manage("migrate", "-v0")
        setup = self.shell(SERVER_SETUP)
        self.session, self.counters = setup["session"], setup["counters"]
        self.log = open(workdir / "daphne.log", "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("daphne")),
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                "queue_system.asgi:application",
            ],  # fmt: skip
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("daphne did not start")

    def manage(self, *args) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    def shell(self, code: str):
        out = self.manage("shell", "-c", code)
        return json.loads(next(line for line in out.splitlines() if line.startswith("RESULT:"))[7:])

    def join(self, count: int) -> list[str]:
        return self.shell(JOIN % {"count": count})

    def stop(self):
        if getattr(self, "process", None) and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        if getattr(self, "log", None):
            self.log.close()


@pytest.fixture(scope="module")
def display_server(tmp_path_factory):
    if not shutil.which(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (set CHROMIUM_PATH)")
    server = DisplayServer(tmp_path_factory.mktemp("display"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def playwright_instance(display_server, playwright_session):
    return playwright_session


@pytest.fixture(scope="module")
def kiosk_browser(playwright_instance):
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=KIOSK_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def staff_api(playwright_instance, display_server):
    """POSTs to the staff API as the admin, in the server process (so events reach the page)."""
    token = "a" * 32
    context = playwright_instance.request.new_context(
        base_url=display_server.base,
        extra_http_headers={
            "Cookie": f"{django_settings.SESSION_COOKIE_NAME}={display_server.session}; csrftoken={token}",
            "X-CSRFToken": token,
        },
    )

    def post(path, **fields):
        response = context.post(path, form={k: str(v) for k, v in fields.items()})
        assert response.ok, response.text()
        return response.json()

    yield post
    context.dispose()


def open_display(browser, server, *, init=SPEECH_STUB, size=(1920, 1080)):
    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.add_init_script(init)
    page.goto(server.base + "/display/")
    # The snapshot embedded in the page, then the socket's own on connect.
    page.wait_for_function("window.QueueDisplay && QueueDisplay.snapshots >= 2")
    return page


def test_calls_from_several_counters_are_announced_in_turn_three_times_each(kiosk_browser, display_server, staff_api):
    display_server.join(3)
    page = open_display(kiosk_browser, display_server)
    page.evaluate(FAST)

    called = [staff_api("/staff/serve_next/", counter=pk)["serving_patient"] for pk in display_server.counters]
    page.wait_for_function("QueueDisplay.spokenCount >= 9 && !QueueDisplay.speaking", timeout=20000)
    spoken = page.evaluate("window.__spoken")

    assert page.evaluate("QueueDisplay.spokenCount") == len(spoken) == 9
    expected = []
    for ticket, number in zip(called, display_server.counters, strict=True):
        service, digits, suffix = ticket["queue_id"].split("_")
        words = " ".join(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"][int(d)]
                         for d in digits)  # fmt: skip
        masked = ticket["patient_name"].split()[0] + " T."
        text = f"Ticket {service} {words}, {masked}, please go to Counter {display_server.counters.index(number) + 1}"
        assert suffix not in text
        expected += [text] * 3
    assert spoken == expected
    assert page.evaluate("QueueDisplay.shown") == called[-1]["queue_id"]
    rows = page.locator("#board-rows tr")
    assert rows.count() == 3
    for i, ticket in enumerate(called):
        assert rows.nth(i).locator(".d-ticket").get_attribute("data-queue-id") == ticket["queue_id"]
    assert page.errors == []
    page.close()


def test_announce_again_speaks_the_current_ticket_again(kiosk_browser, display_server, staff_api):
    display_server.join(1)
    counter = display_server.counters[0]
    ticket = staff_api("/staff/serve_next/", counter=counter)["serving_patient"]
    page = open_display(kiosk_browser, display_server)
    page.evaluate(FAST)

    staff_api("/staff/announce_patient/", counter=counter)
    page.wait_for_function("QueueDisplay.spokenCount >= 3 && !QueueDisplay.speaking", timeout=10000)

    assert page.evaluate("QueueDisplay.spokenCount") == 3
    assert page.locator("#call-ticket").get_attribute("data-queue-id") == ticket["queue_id"]
    page.close()


def test_speech_that_never_ends_cannot_stall_the_announcement_queue(kiosk_browser, display_server):
    page = open_display(kiosk_browser, display_server)
    page.evaluate(
        FAST + "window.__speech = 'silent'; QueueDisplay.timing.limitBase = 150; QueueDisplay.timing.limitPerChar = 0;"
    )

    send_event(page, 1, queue_id="OPD_101_1111")
    send_event(page, 2, queue_id="OPD_102_2222")
    page.wait_for_function("!QueueDisplay.speaking && QueueDisplay.queue.length === 0", timeout=10000)

    assert page.evaluate("QueueDisplay.spokenCount") == 6
    assert page.evaluate("QueueDisplay.announced") == [
        "Ticket OPD one zero one, Asha R., please go to Counter 1",
        "Ticket OPD one zero two, Asha R., please go to Counter 2",
    ]
    assert page.evaluate("window.__oscillators") >= 2 * (1 + 3) * 2  # two-note chime, then one per silent repetition
    page.close()


def test_the_browsers_own_speech_engine_cannot_stall_the_queue(kiosk_browser, display_server):
    # Headless Chromium usually has no voices (speak() fails at once); a desktop one speaks.
    # Either way the three repetitions go out and the queue drains within its time limits.
    count_only = (
        "const speak = speechSynthesis.speak.bind(speechSynthesis); window.__spoken = [];"
        "speechSynthesis.speak = function (u) { window.__spoken.push(u.text); speak(u); };"
    )
    page = open_display(kiosk_browser, display_server, init=count_only)
    page.evaluate(FAST)

    send_event(page, 1, queue_id="OPD_108_8888")
    page.wait_for_function("!QueueDisplay.speaking && QueueDisplay.announced.length === 1", timeout=70000)

    assert page.evaluate("window.__spoken") == ["Ticket OPD one zero eight, Asha R., please go to Counter 1"] * 3
    assert page.errors == []
    page.close()


def test_a_browser_without_speech_chimes_instead_and_keeps_going(kiosk_browser, display_server):
    page = open_display(kiosk_browser, display_server, init=SPEECH_STUB + NO_SPEECH)
    page.evaluate(FAST)

    send_event(page, 1, queue_id="OPD_103_3333")
    page.wait_for_function("!QueueDisplay.speaking && QueueDisplay.announced.length === 1", timeout=10000)

    assert page.evaluate("QueueDisplay.spokenCount") == 0
    assert page.evaluate("window.__oscillators") == (1 + 3) * 2
    assert page.errors == []
    page.close()


def test_ticket_only_announcement_when_names_are_hidden(kiosk_browser, display_server):
    page = open_display(kiosk_browser, display_server)

    text = page.evaluate(
        "QueueDisplay.textFor({queue_id: 'OPD_001_4821', patient_name: '', counter_id: 1, counter_name: 'Counter 1'})"
    )

    assert text == "Ticket OPD zero zero one, please go to Counter 1"
    page.close()


def test_sound_stays_off_until_someone_clicks_enable(playwright_instance, display_server):
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)  # no autoplay flag
    page = open_display(browser, display_server)
    page.evaluate(FAST)
    gate = page.locator("#sound-gate")
    assert gate.is_visible()
    assert page.locator("#sound-state").get_attribute("data-on") == "false"

    send_event(page, 1, queue_id="OPD_104_4444")
    page.wait_for_timeout(200)
    assert page.evaluate("QueueDisplay.spokenCount") == 0  # muted: shown, not spoken
    assert page.locator("#call-ticket").text_content() == "OPD 104"

    page.locator("#sound-enable").click()
    page.wait_for_function("QueueDisplay.soundOn")
    assert not gate.is_visible()
    assert page.locator("#sound-state").get_attribute("data-on") == "true"
    send_event(page, 1, queue_id="OPD_105_5555")
    page.wait_for_function("QueueDisplay.spokenCount === 3 && !QueueDisplay.speaking", timeout=10000)
    browser.close()


def test_connection_loss_shows_the_banner_and_a_reconnect_catches_up(kiosk_browser, display_server, staff_api):
    display_server.join(1)
    counter = display_server.counters[1]
    page = open_display(kiosk_browser, display_server)
    page.evaluate(FAST)
    banner = page.locator("#conn-banner")
    assert not banner.is_visible()

    network = {"down": True}
    page.route_web_socket(
        "**/ws/queue/updates/**", lambda ws: ws.close() if network["down"] else ws.connect_to_server()
    )
    page.evaluate("QueueDisplay.live.drop()")
    banner.wait_for(state="visible", timeout=5000)
    ticket = staff_api("/staff/serve_next/", counter=counter)["serving_patient"]  # missed while down
    network["down"] = False
    banner.wait_for(state="hidden", timeout=20000)

    page.wait_for_function("QueueDisplay.spokenCount === 3 && !QueueDisplay.speaking", timeout=10000)
    row = page.locator(f"#board-rows tr[data-counter-id='{counter}'] .d-ticket")
    assert row.get_attribute("data-queue-id") == ticket["queue_id"]
    assert page.evaluate("QueueDisplay.announced").pop().startswith("Ticket OPD ")
    page.close()


def test_names_are_shown_as_text_never_as_html(kiosk_browser, display_server):
    page = open_display(kiosk_browser, display_server)
    evil = '<img src=x onerror="window.__xss=1">Eve'

    send_event(page, display_server.counters[0], queue_id="OPD_107_7777", name=evil)
    page.wait_for_timeout(100)

    assert page.locator("#call-name").text_content() == evil
    assert page.locator("main img").count() == 0
    assert page.evaluate("window.__xss") is None
    assert "<img" not in page.evaluate("QueueDisplay.announced.join(' ')")
    page.close()


def test_a_flood_of_events_renders_without_freezing_and_the_strip_is_capped(kiosk_browser, display_server):
    page = open_display(kiosk_browser, display_server)
    counters = display_server.counters

    elapsed = page.evaluate(
        """(ids) => { const start = performance.now();
        for (let i = 0; i < 3000; i += 1) {
          const id = ids[i % ids.length];
          QueueDisplay.handle({type: 'queue_update', event: i % 3 ? 'new_patient' : 'patient_called', counter_id: id,
            counter_name: 'Counter ' + id,
            serving_patient: {queue_id: 'OPD_' + (200 + i) + '_1234', patient_name: 'P ' + i},
            queue_length: i % 7, queue_lengths: {[String(id)]: i % 7}, current_status: 'busy', is_open: true});
        }
        return performance.now() - start; }""",
        counters,
    )
    page.wait_for_timeout(300)
    still_ticking = page.evaluate("new Promise((resolve) => requestAnimationFrame(() => resolve(true)))")

    assert elapsed < 2000
    assert still_ticking
    assert page.locator("#recent-list li").count() == 5
    assert len(page.evaluate("QueueDisplay.recent")) == 8
    assert len(page.evaluate("QueueDisplay.queue")) <= 30
    assert page.evaluate("QueueDisplay.dropped") > 0
    assert page.errors == []
    page.close()


def test_an_event_for_the_unassigned_pool_updates_lengths_without_breaking_the_page(kiosk_browser, display_server):
    page = open_display(kiosk_browser, display_server)
    first = display_server.counters[0]

    send_event(page, None, event="new_patient", queue_length=4, queue_lengths={str(first): 17}, current_status=None)
    page.wait_for_timeout(100)

    assert page.locator(f"#board-rows tr[data-counter-id='{first}'] .d-waiting").text_content() == "17"
    assert page.errors == []
    page.close()


def test_no_open_counter_shows_the_friendly_empty_state(kiosk_browser, display_server):
    page = open_display(kiosk_browser, display_server)

    page.evaluate(
        """() => QueueDisplay.applySnapshot({type: 'snapshot', counters: [{id: 1, counter_name: 'Counter 1',
        service: 'OPD', current_status: 'closed', is_open: false, serving_patient: null, queue_length: 0}],
        recent_calls: []})"""
    )
    page.wait_for_timeout(100)

    assert page.locator("#board-empty").is_visible()
    assert not page.locator("#board").is_visible()
    page.close()


@pytest.mark.parametrize("size", [(1920, 1080), (1280, 720)])
def test_the_page_fits_the_screen_and_does_not_move_when_data_changes(kiosk_browser, display_server, size):
    page = open_display(kiosk_browser, display_server, size=size)
    boxes = (
        "['.d-board', '#now-calling', '.d-recent', '.d-header']"
        ".map((s) => JSON.stringify(document.querySelector(s).getBoundingClientRect()))"
    )
    before = page.evaluate(boxes)

    long_name = "Bartholomew Maximilian Featherstonehaugh-Cholmondeley W."
    send_event(page, display_server.counters[0], queue_id="TEST_1234_0001", name=long_name, queue_length=12345)
    page.wait_for_timeout(100)

    assert page.evaluate(boxes) == before
    assert page.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]") == list(size)
    assert page.evaluate(
        "document.querySelector('#call-ticket').scrollWidth <= document.querySelector('#call-ticket').clientWidth"
    )
    page.close()


def send_event(page, counter_id, *, event="patient_called", queue_id=None, name="Asha R.", **extra):
    """Hand the page a queue_update as the socket would deliver it."""
    message = {
        "type": "queue_update",
        "event": event,
        "counter_id": counter_id,
        "counter_name": f"Counter {counter_id}" if counter_id else None,
        "serving_patient": {"queue_id": queue_id, "patient_name": name} if queue_id else None,
        "queue_length": 0,
        "queue_lengths": {},
        "current_status": "available",
        "is_open": True,
        **extra,
    }
    page.evaluate("(message) => QueueDisplay.handle(message)", message)
