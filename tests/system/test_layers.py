"""The code's shape: layers point down, and every module reads in one sitting."""

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "queue_app"
MODULE_LINES = 400


def _modules():
    return sorted(p for p in APP.rglob("*.py") if "migrations" not in p.parts)


def _imports(path: Path, root: Path = APP.parent) -> set[str]:
    """The queue_app modules a file imports, as dotted names (`queue_app.services.otp`)."""
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name.startswith("queue_app")}


def _name(path: Path) -> str:
    return ".".join(path.relative_to(APP.parent).with_suffix("").parts).removesuffix(".__init__")


# (the importing modules, the modules they must not import): layers only point down.
FORBIDDEN = [
    ("queue_app.api", "queue_app.views"),
    ("queue_app.views", "queue_app.api"),
    ("queue_app.selectors", "queue_app.services"),
    ("queue_app.payloads", "queue_app.services"),
    ("queue_app.presenters", "queue_app.services"),
    ("queue_app.consumers", "queue_app.services.otp"),  # the consumer reads; the package's rules only
    ("queue_app.phones", "queue_app.services"),
    ("queue_app.names", "queue_app.services"),
    ("queue_app.errors", "queue_app.services"),
    ("queue_app.models", "queue_app.services"),
    ("queue_app.events", "queue_app.services"),
]


@pytest.mark.parametrize(("importer", "forbidden"), FORBIDDEN)
def test_layers_only_import_downwards(importer, forbidden):
    offending = [
        f"{_name(path)} imports {name}"
        for path in _modules()
        if _name(path) == importer or _name(path).startswith(importer + ".")
        for name in _imports(path)
        if name == forbidden or name.startswith(forbidden + ".")
    ]
    assert offending == []


def test_the_import_check_sees_a_forbidden_import(tmp_path):
    fake = tmp_path / "queue_app"
    (fake / "api").mkdir(parents=True)
    (fake / "api" / "x.py").write_text("from ..views.patient import thing\n")
    assert "queue_app.views.patient" in _imports(fake / "api" / "x.py", root=tmp_path)


def test_no_module_is_longer_than_one_sitting():
    long = {_name(p): n for p in _modules() if (n := len(p.read_text().splitlines())) > MODULE_LINES}
    assert long == {}


def test_the_consumer_writes_nothing_itself():
    source = (APP / "consumers.py").read_text()
    for write in (".save(", ".update(", ".create(", ".delete(", "select_for_update"):
        assert write not in source
