"""Names people type are shown as text everywhere: never markup, never script.

Patients A and B (and a waiting patient) are named with classic payloads; every page that shows
them is parsed as a browser would (html.parser), and must contain no element, attribute or
script that came from a name — while the name itself is there, as text or inside a JSON block.
The pages' scripts must put data into the page only through textContent (a static check of
every file in static/js); the spoken announcement is checked in Chromium by
tests/browser/test_display_kiosk.py (test_names_are_shown_as_text_never_as_html: no markup reaches
speechSynthesis).
"""

import json
import re
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest

from queue_app import access
from queue_app.models import Counter, Patient

from ..security_helpers import build_cast

ROOT = Path(__file__).resolve().parents[2]
PAYLOADS = [
    "<img src=x onerror=alert(1)>",
    "</script><script>alert(2)</script>",
    '"><svg onload=alert(3)>',
]
COUNTER_NAME = "Desk <b onmouseover=alert(4)>1</b>"  # admins type counter names; same rule


class Page(HTMLParser):
    """What a browser builds from the HTML: elements with attributes, script bodies, text."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict]] = []
        self.scripts: list[tuple[dict, str]] = []
        self.text: list[str] = []
        self._script: dict | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        attributes = {name: value or "" for name, value in attrs}
        self.elements.append((tag, attributes))
        if tag == "script":
            self._script = attributes
            self.scripts.append((attributes, ""))

    def handle_endtag(self, tag):
        if tag == "script":
            self._script = None

    def handle_data(self, data):
        if self._script is not None:
            attributes, body = self.scripts[-1]
            self.scripts[-1] = (attributes, body + data)
        else:
            self.text.append(data)

    def json_strings(self) -> list[str]:
        """Every string inside the page's <script type="application/json"> blocks."""
        found = []

        def walk(value):
            if isinstance(value, str):
                found.append(value)
            elif isinstance(value, dict):
                for item in value.values():
                    walk(item)
            elif isinstance(value, list):
                for item in value:
                    walk(item)

        for attributes, body in self.scripts:
            if attributes.get("type") == "application/json":
                walk(json.loads(body))
        return found


def assert_inert(html: str, *, shows: list[str], where: str) -> None:
    page = Page(html)
    for tag, attributes in page.elements:
        handlers = [name for name in attributes if name.startswith("on")]
        assert not handlers, f"{where}: <{tag}> has event handler attributes {handlers}"
        assert not (tag in ("img", "svg") and attributes.get("src") == "x"), f"{where}: injected <{tag}>"
        for name in ("href", "src", "action", "formaction"):
            assert not attributes.get(name, "").strip().lower().startswith("javascript:"), f"{where}: {tag} {name}"
    for attributes, body in page.scripts:
        if attributes.get("type") == "application/json":
            continue
        # Our pages load their scripts from files; an inline script can only be an injection
        # (Django's own admin templates have none either).
        assert attributes.get("src") and not body.strip(), f"{where}: inline script {body[:80]!r}"
    assert "alert(" not in "".join(body for _a, body in page.scripts if _a.get("type") != "application/json")
    text = unescape("".join(page.text))
    strings = page.json_strings()
    for name in shows:
        assert name in text or any(name in s for s in strings), f"{where}: {name!r} is not shown at all"


@pytest.fixture
def evil(opd, counters, admin_user, settings):
    settings.DISPLAY_NAME_MODE = "full"  # the display shows names as typed: the hardest case
    cast = build_cast(opd, counters, admin_user, name_a=PAYLOADS[0], name_b=PAYLOADS[1])
    waiting = cast.waiting[0]
    Patient.objects.filter(pk=waiting.patient_id).update(name=PAYLOADS[2])
    waiting.patient_name = PAYLOADS[2]
    waiting.save(update_fields=["patient_name"])
    Counter.objects.filter(pk=counters[0].pk).update(counter_name=COUNTER_NAME)
    return cast


# (visitor, path, what the page must show as text)
PAGES = [
    ("patA", "/dashboard/", [PAYLOADS[0]]),
    ("patA", "/dashboard/?ticket={ta}", [PAYLOADS[0]]),
    ("patB", "/service/selection/", [PAYLOADS[1]]),
    ("op1", "/staff/dashboard/", [PAYLOADS[0], PAYLOADS[2]]),
    ("op1", "/staff/logout/", [PAYLOADS[0]]),
    ("op1", "/staff/switch_counter/", []),
    ("admin", "/staff/dashboard/?counter={c1}", [PAYLOADS[0], PAYLOADS[2]]),
    ("anon", "/display/", [PAYLOADS[0], PAYLOADS[1], COUNTER_NAME]),
    ("anon", "/t/{link_a}/", []),
    ("recep", "/staff/reception/", [PAYLOADS[0], PAYLOADS[1], PAYLOADS[2]]),
    ("recep", "/staff/reception/tickets/{ta}/slip/", []),
    ("admin", "/admin/queue_app/ticket/", [PAYLOADS[0], PAYLOADS[1], PAYLOADS[2]]),
    ("admin", "/admin/queue_app/ticket/{ta}/change/", [PAYLOADS[0]]),
    ("admin", "/admin/queue_app/patient/", [PAYLOADS[0], PAYLOADS[1], PAYLOADS[2]]),
    ("admin", "/admin/queue_app/queuehistory/", []),
    ("admin", "/admin/queue_app/counter/", [COUNTER_NAME]),
    ("admin", "/admin/queue_app/otp/", []),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("who", "path", "shows"), PAGES, ids=[f"{w} {p}" for w, p, _s in PAGES])
def test_names_are_escaped_on_every_page(evil, who, path, shows):
    ids = {**evil.ids, "link_a": access.ticket_link_token(evil.ticket_a)}
    response = evil.actors[who].get(path.format(**ids))
    assert response.status_code == 200, (path, response.status_code)
    html = response.content.decode()
    for payload in (*PAYLOADS, COUNTER_NAME):
        assert payload not in html, f"{path}: {payload!r} appears unescaped"
    assert_inert(html, shows=shows, where=f"{who} {path}")


@pytest.mark.django_db
def test_a_name_typed_into_a_form_comes_back_escaped(db):
    """The login form re-shows what was typed when the phone is wrong: escaped, as a value."""
    from ..security_helpers import Actor

    anon = Actor("anon")
    response = anon.post("/patient/login/", {"action": "send", "phone": "12", "name": PAYLOADS[2]})
    assert response.status_code == 400
    html = response.content.decode()
    assert PAYLOADS[2] not in html
    page = Page(html)
    assert any(a.get("name") == "name" and a.get("value") == PAYLOADS[2] for tag, a in page.elements if tag == "input")
    assert_inert(html, shows=[], where="login form")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("who", "path"),
    [("anon", "/display/screen/data/"), ("op1", "/staff/get_queue_data/"), ("patA", "/dashboard/")],
)
def test_json_answers_carrying_names_are_never_sniffed_as_html(evil, who, path):
    response = evil.actors[who].get(path, HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert any(p in json.dumps(response.json()) for p in PAYLOADS)


# Reviewed uses of an HTML sink that never carry data, by file and exact line.
REVIEWED_SINKS = {
    # The walk-in button keeps its own server-rendered label while busy and puts it back.
    ("reception.js", "const label = submit.innerHTML;"),
    ("reception.js", "submit.innerHTML = label;"),
}


def test_page_scripts_put_data_in_the_page_only_as_text():
    """No HTML sinks in the pages' JavaScript: data goes in through textContent."""
    sinks = re.compile(r"\.innerHTML\b|\.outerHTML\b|insertAdjacentHTML|document\.write|\beval\s*\(|new Function\b")
    scripts = sorted((ROOT / "static" / "js").glob("*.js"))
    assert len(scripts) >= 5
    found = [
        f"{script.name}:{number}: {line.strip()}"
        for script in scripts
        for number, line in enumerate(script.read_text().splitlines(), 1)
        if sinks.search(line) and (script.name, line.strip()) not in REVIEWED_SINKS
    ]
    assert not found, f"HTML sinks in page scripts (use textContent): {found}"


def test_templates_never_switch_escaping_off():
    marks = re.compile(r"\|\s*safe\b|\{%\s*autoescape\s+off|\|\s*safeseq\b")
    templates = sorted((ROOT / "templates").rglob("*.html"))
    found = [
        f"{t.relative_to(ROOT)}:{n}"
        for t in templates
        for n, line in enumerate(t.read_text().splitlines(), 1)
        if marks.search(line)
    ]
    assert not found, f"escaping switched off in: {found}"
    code = sorted((ROOT / "queue_app").rglob("*.py"))
    unsafe = re.compile(r"\bmark_safe\s*\(|\bSafeString\s*\(")
    found = [
        f"{c.relative_to(ROOT)}:{n}"
        for c in code
        for n, line in enumerate(c.read_text().splitlines(), 1)
        if unsafe.search(line)
    ]
    assert not found, f"mark_safe in: {found}"
