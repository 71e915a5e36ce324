"""axe-core in the test browser: WCAG 2.2 A/AA checks of the page as it is on screen.

axe-core comes from npm (package.json at the repository root; `make setup` runs `npm ci`), and is
injected into the page from node_modules: nothing is fetched at test time. A missing axe-core is a
failure, never a skip, so the check cannot quietly stop running.

The script goes in as an inline <script>: a page with a Content-Security-Policy that forbids
inline scripts needs its context opened with bypass_csp=True.
"""

from pathlib import Path

from tests.liveserver import BASE_DIR

AXE_JS = Path(BASE_DIR) / "node_modules" / "axe-core" / "axe.min.js"

# WCAG 2.0, 2.1 and 2.2 at levels A and AA (2.2 adds only AA rules to axe's set).
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
FAILING_IMPACTS = ("serious", "critical")

RUN = """
async (tags) => {
  const results = await axe.run(document, { runOnly: { type: "tag", values: tags }, resultTypes: ["violations"] });
  return results.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.map((n) => ({ target: n.target.map(String), impact: n.impact, summary: n.failureSummary || "" })),
  }));
}
"""


def serious_violations(page) -> list[dict]:
    """axe's serious and critical WCAG 2.2 A/AA violations on the page as it is now."""
    if not AXE_JS.exists():
        raise AssertionError(f"{AXE_JS} is missing: run `make setup` (npm ci installs axe-core from package-lock.json)")
    if not page.evaluate("typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE_JS))
    violations = page.evaluate(RUN, WCAG_TAGS)
    return [v for v in violations if v["impact"] in FAILING_IMPACTS]


def assert_no_serious_violations(page, *, context: str = "") -> None:
    """Fail with a readable list (rule, impact, elements, why) if axe finds a serious or critical
    WCAG 2.2 A/AA violation on the page. `context` names the page and state in the message."""
    found = serious_violations(page)
    if found:
        where = context or page.url
        raise AssertionError(f"axe: {len(found)} serious/critical WCAG violation(s) on {where}\n{describe(found)}")


def describe(violations: list[dict]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"]:
            lines.append(f"    {' > '.join(node['target'])}")
            # failureSummary: "Fix any of the following:\n  Element has insufficient color contrast …"
            for reason in node["summary"].splitlines()[1:]:
                if reason.strip():
                    lines.append(f"      {reason.strip()}")
    return "\n".join(lines)
