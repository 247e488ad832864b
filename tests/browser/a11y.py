"""axe-core, run in the page: accessibility rules checked by the same engine as browsers' tools.

axe.min.js comes from the ``axe-playwright-python`` package (the test extra), which
bundles it, so nothing is downloaded at run time.  It is evaluated through Playwright
(the DevTools protocol), which pages with a strict Content-Security-Policy allow.
"""

from __future__ import annotations

import functools
from importlib.resources import files


@functools.cache
def axe_source() -> str:
    return (files("axe_playwright_python") / "axe.min.js").read_text(encoding="utf-8")


def axe_violations(page, rules: list[str] | None = None) -> list[dict]:
    """axe's violations on the page: every rule by default, or only ``rules`` (rule ids)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source())
    options = {"resultTypes": ["violations"]}
    if rules:
        options["runOnly"] = {"type": "rule", "values": rules}
    return page.evaluate("options => axe.run(document, options)", options)["violations"]


def describe(violations: list[dict]) -> str:
    """One line per rule and failing element: what a report (or a fix) needs."""
    lines = []
    for v in violations:
        for node in v["nodes"]:
            lines.append(f"{v['id']} ({v['impact']}): {' '.join(map(str, node['target']))}: {node['html'][:120]}")
    return "\n".join(lines)
