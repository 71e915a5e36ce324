"""The README and the pages under docs/: every relative link and image resolves (anchors into
markdown files included), the README stays a five-minute read, and the docs say what the design
contract asks them to (the kiosk flag, every setting of .env.example)."""

import re
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
README = BASE_DIR / "README.md"
EXTERNAL = ("http://", "https://", "mailto:")

FENCED_BLOCK = re.compile(r"^ {0,3}(`{3,}|~{3,}).*?^ {0,3}\1[`~]*[ \t]*$", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.DOTALL)
# [text](target), ![alt](target), optionally <target> and a "title"; one level of nested brackets.
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^()\s<>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"")


def documentation_pages(root: Path = BASE_DIR) -> list[Path]:
    pages = [root / "README.md", root / "SECURITY.md", root / "bench" / "README.md"]
    return [page for page in pages if page.exists()] + sorted((root / "docs").glob("*.md"))


def prose(text: str) -> str:
    """The text a reader sees as prose: code blocks and code spans hold examples, not links."""
    return CODE_SPAN.sub("", FENCED_BLOCK.sub("", text))


def link_targets(page: Path) -> list[str]:
    text = prose(page.read_text(encoding="utf-8"))
    return INLINE_LINK.findall(text) + REFERENCE_DEFINITION.findall(text)


def github_slug(heading: str) -> str:
    """The id GitHub gives a heading: its text, lower-cased, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading counts by its text
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = page.read_text(encoding="utf-8")
    found, seen = set(), {}
    for heading in HEADING.findall(FENCED_BLOCK.sub("", text)):
        slug = github_slug(heading)
        # GitHub numbers repeated headings: setup, setup-1, setup-2 ...
        found.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
        seen[slug] = seen.get(slug, 0) + 1
    return found | set(HTML_ANCHOR.findall(text))


def broken_links(pages: list[Path], root: Path = BASE_DIR) -> list[str]:
    broken = []
    for page in pages:
        where = page.relative_to(root)
        for target in link_targets(page):
            if target.startswith(EXTERNAL):
                continue
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            if not resolved.is_relative_to(root.resolve()):
                broken.append(f"{where}: {target} points outside the repository")
            elif not resolved.exists():
                broken.append(f"{where}: {target} does not exist")
            elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
                broken.append(f"{where}: {target} names no heading of {resolved.relative_to(root.resolve())}")
    return broken


def test_every_relative_link_in_the_docs_resolves():
    pages = documentation_pages()

    assert README in pages and len(pages) >= 8  # README, SECURITY.md, bench/README.md, docs/*.md
    assert broken_links(pages) == []


def test_the_link_check_catches_a_missing_file_a_missing_heading_and_a_way_out(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text("# A page\n\n## Backups and upgrades\n")
    (tmp_path / "README.md").write_text(
        "# Read me\n\n"
        "[fine](docs/page.md#backups-and-upgrades) ![fine](docs/page.md) [here](#read-me) "
        "[web](https://example.org/x.md) `[code](nowhere.md)`\n"
        "[gone](docs/missing.md) [no heading](docs/page.md#restores) [out](../outside.md)\n"
        "```\n[in a code block](nowhere.md)\n```\n"
    )

    assert broken_links(documentation_pages(tmp_path), root=tmp_path) == [
        "README.md: docs/missing.md does not exist",
        "README.md: docs/page.md#restores names no heading of docs/page.md",
        "README.md: ../outside.md points outside the repository",
    ]


def test_headings_get_the_anchors_github_gives_them():
    assert github_slug("2. TLS certificate") == "2-tls-certificate"
    assert github_slug("Capacity (per server process)") == "capacity-per-server-process"
    assert github_slug("Benchmark (`make bench`)") == "benchmark-make-bench"
    assert github_slug("Without Docker: systemd and nginx") == "without-docker-systemd-and-nginx"


def test_the_readme_is_a_five_minute_read():
    assert len(README.read_text(encoding="utf-8").splitlines()) < 200


def test_the_readme_links_every_docs_page():
    linked = {(README.parent / target.partition("#")[0]).resolve() for target in link_targets(README)}

    assert [page.name for page in sorted((BASE_DIR / "docs").glob("*.md")) if page not in linked] == []


def test_the_readme_and_the_operations_page_name_the_wall_tvs_kiosk_flag():
    flag = "chromium --kiosk --autoplay-policy=no-user-gesture-required"

    assert flag in README.read_text(encoding="utf-8")
    assert flag in (BASE_DIR / "docs" / "operations.md").read_text(encoding="utf-8")


def test_the_configuration_page_explains_every_variable_of_the_env_example():
    example = (BASE_DIR / ".env.example").read_text(encoding="utf-8")
    names = re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", example, re.MULTILINE)
    page = (BASE_DIR / "docs" / "configuration.md").read_text(encoding="utf-8")

    assert "DATABASE_URL" in names
    assert [name for name in names if f"`{name}`" not in page] == []
