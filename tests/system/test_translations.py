"""The shipped languages are complete: every string a person sees is marked, every marked string
is in each catalogue, translated (none empty or fuzzy), and the committed .mo files say what the
.po files say.

When a test here fails after new strings were added, the fix is in docs/translations.md:
`manage.py makemessages -l hi -l ar -l es`, translate the listed msgids, `manage.py compilemessages`.
"""

import ast
import gettext
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.utils.translation.template import templatize

BASE = Path(settings.BASE_DIR)
SHIPPED = [code for code, _name in settings.LANGUAGES if code != settings.LANGUAGE_CODE]
HOW_TO = (
    "run `manage.py makemessages -l hi -l ar -l es`, translate, then `manage.py compilemessages` (docs/translations.md)"
)

# --- a small .po reader (no polib): entries as {msgctxt, msgid, msgid_plural, msgstr: {...}, fuzzy} ---


def _unquote(text: str) -> str:
    return ast.literal_eval(text)


def read_po(path: Path) -> list[dict]:
    entries, entry, key = [], None, None
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if not line.strip():
            if entry and "msgid" in entry:
                entries.append(entry)
            entry, key = None, None
            continue
        entry = entry or {"msgstr": {}, "fuzzy": False}
        if line.startswith("#,"):
            entry["fuzzy"] = entry["fuzzy"] or "fuzzy" in line
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            if key.startswith("msgstr"):
                entry["msgstr"][key] += _unquote(line)
            else:
                entry[key] += _unquote(line)
        else:
            key, _space, value = line.partition(" ")
            if key.startswith("msgstr"):
                entry["msgstr"][key] = _unquote(value)
            else:
                entry[key] = _unquote(value)
    return entries


def catalogue(code: str) -> list[dict]:
    return [e for e in read_po(BASE / "locale" / code / "LC_MESSAGES" / "django.po") if e["msgid"]]


def key(entry: dict) -> tuple:
    return entry.get("msgctxt"), entry["msgid"]


# --- what the code marks ------------------------------------------------------------------------

GETTEXT_NAMES = {
    "_",
    "gettext",
    "gettext_lazy",
    "gettext_noop",
    "ngettext",
    "ngettext_lazy",
    "pgettext",
    "pgettext_lazy",
}


def _calls(tree) -> set[tuple]:
    found = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        if name not in GETTEXT_NAMES:
            continue
        args = [a.value if isinstance(a, ast.Constant) and isinstance(a.value, str) else None for a in node.args]
        if name.startswith("pgettext") and len(args) >= 2 and None not in args[:2]:
            found.add((args[0], args[1]))
        elif args and args[0] is not None and not name.startswith("pgettext"):
            found.add((None, args[0]))
    return found


def python_msgids() -> set[tuple]:
    found = set()
    for path in [*BASE.glob("queue_app/**/*.py"), *BASE.glob("queue_system/*.py")]:
        found |= _calls(ast.parse(path.read_text(encoding="utf-8")))
    return found


def template_msgids() -> set[tuple]:
    """Django's own template-to-gettext conversion (as makemessages uses), read back with ast."""
    found = set()
    for path in BASE.glob("templates/**/*.html"):
        code = templatize(path.read_text(encoding="utf-8"), origin=str(path))
        for match in re.finditer(r"\b(?:n|p|np)?gettext\(", code):
            end = match.end()
            while end <= len(code):
                end = code.find(")", end) + 1
                if end == 0:
                    break
                try:
                    found |= _calls(ast.parse(code[match.start() : end]))
                    break
                except SyntaxError:
                    continue
    return found


def test_the_code_and_templates_mark_strings_that_the_catalogue_reads():
    marked = python_msgids() | template_msgids()
    assert len(marked) > 300  # the reader sees the strings at all


@pytest.mark.parametrize("code", SHIPPED)
def test_every_marked_string_is_in_the_catalogue(code):
    known = {key(e) for e in catalogue(code)}
    missing = sorted(m for c, m in python_msgids() | template_msgids() if (c, m) not in known)
    assert missing == [], f"{len(missing)} msgids are not in locale/{code}: {HOW_TO}"


@pytest.mark.parametrize("code", SHIPPED)
def test_every_msgid_is_translated(code):
    untranslated = [
        e["msgid"] for e in catalogue(code) if e["fuzzy"] or not e["msgstr"] or any(not v for v in e["msgstr"].values())
    ]
    assert untranslated == [], f"{len(untranslated)} msgids untranslated or fuzzy in locale/{code}: {HOW_TO}"


@pytest.mark.parametrize("code", SHIPPED)
def test_translations_keep_their_placeholders(code):
    placeholder = re.compile(r"%\(\w+\)[sdr]|%[sd]|\{\w+\}")
    wrong = []
    for e in catalogue(code):
        want = sorted(set(placeholder.findall(e["msgid_plural"] if "msgid_plural" in e else e["msgid"])))
        for form in e["msgstr"].values():
            if sorted(set(placeholder.findall(form))) != want and not ("msgid_plural" in e and "%(" not in e["msgid"]):
                wrong.append((e["msgid"], form))
    assert wrong == []


@pytest.mark.parametrize("code", SHIPPED)
def test_the_compiled_catalogue_matches_the_po_file(code):
    """The .mo is committed (a fresh clone needs no gettext tools); it must say what the .po says."""
    mo = BASE / "locale" / code / "LC_MESSAGES" / "django.mo"
    assert mo.exists(), f"locale/{code}/LC_MESSAGES/django.mo is missing: {HOW_TO}"
    with mo.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)._catalog
    stale = []
    for e in catalogue(code):
        msgid = e["msgid"] if e.get("msgctxt") is None else f"{e['msgctxt']}\x04{e['msgid']}"
        if "msgid_plural" in e:
            for index, form in e["msgstr"].items():
                n = int(index[len("msgstr[") : -1])
                if compiled.get((msgid, n)) != form:
                    stale.append(e["msgid"])
        elif compiled.get(msgid) != e["msgstr"]["msgstr"]:
            stale.append(e["msgid"])
    assert stale == [], f"locale/{code}/LC_MESSAGES/django.mo is older than its .po: {HOW_TO}"


# --- visible text that is not marked ---------------------------------------------------------------

# Words that are the same in every language here: names of formats and codes.
UNTRANSLATED_WORDS = {"QR", "PNG", "SVG", "A4", "A6", "SMS", "OTP", "mm", "Ctrl", "Alt", "Shift", "Enter", "Esc", "Tab"}
HIDDEN = [
    # Blocks that hold a class name or an address, not text.
    re.compile(r"\{%\s*block\s+\w*(?:class|url)\s*%\}.*?\{%\s*endblock\s*%\}", re.S),
    re.compile(r"\{%\s*comment\s*%\}.*?\{%\s*endcomment\s*%\}", re.S),
    re.compile(r"\{#.*?#\}", re.S),
    re.compile(r"<(script|style)\b.*?</\1>", re.S | re.I),
    re.compile(r"\{%\s*blocktrans(?:late)?\b.*?\{%\s*endblocktrans(?:late)?\s*%\}", re.S),
    re.compile(r"\{%.*?%\}", re.S),
    re.compile(r"\{\{.*?\}\}", re.S),
]
SHOWN_ATTRIBUTES = re.compile(r"""\b(?:title|alt|placeholder|aria-label)\s*=\s*(["'])(.*?)\1""", re.S)


def unmarked_text(source: str) -> list[str]:
    """Letters a person would see that no translate tag covers (text and shown attributes)."""
    for pattern in HIDDEN[:4]:
        source = pattern.sub(" ", source)
    found = []
    for _quote, value in SHOWN_ATTRIBUTES.findall(source):
        for pattern in HIDDEN[4:]:
            value = pattern.sub(" ", value)
        found += re.findall(r"[^\W\d_]{2,}", value)
    for pattern in HIDDEN[4:]:
        source = pattern.sub(" ", source)
    text = re.sub(r"<[^>]*>", " ", source)
    text = re.sub(r"&[#\w]+;", " ", text)
    found += re.findall(r"[^\W\d_]{2,}", text)
    return [word for word in found if word not in UNTRANSLATED_WORDS]


@pytest.mark.parametrize("path", sorted(BASE.glob("templates/**/*.html")), ids=lambda p: str(p.relative_to(BASE)))
def test_templates_show_no_unmarked_text(path):
    assert unmarked_text(path.read_text(encoding="utf-8")) == []


def test_the_unmarked_text_check_sees_plain_words():
    assert sorted(unmarked_text('<p>Hello {% translate "there" %}</p><img alt="A picture">')) == ["Hello", "picture"]
    assert (
        unmarked_text("<p title=\"{% translate 'Hi' %}\">{% blocktranslate %}Hi {{ x }}{% endblocktranslate %}</p>")
        == []
    )
