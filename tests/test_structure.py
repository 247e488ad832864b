"""The package's shape: no import cycle, no private name used across modules.

Read from the source with :mod:`ast` (nothing is imported): every ``import`` and
``from ... import`` in ``autograder/``, ``reference_solution/`` and ``course_data.py``,
at module level or inside functions, resolved to the package's own modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

from .conftest import ROOT

PACKAGES = ("autograder", "reference_solution")


def _modules() -> dict[str, Path]:
    found = {"course_data": ROOT / "course_data.py"}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _resolve(module: str, level: int, name: str | None, is_package: bool) -> str:
    if level == 0:
        return name or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _imports(module: str) -> list[tuple[str, str | None, int]]:
    """(imported module, imported name or None, line) for every import of ``module``."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, None, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node.level, node.module, is_package)
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in MODULES:  # `from . import shell`: the module itself
                    out.append((sub, None, node.lineno))
                else:
                    out.append((target, alias.name, node.lineno))
    return [(m, n, line) for m, n, line in out if m in MODULES]


def _graph() -> dict[str, set[str]]:
    return {m: {target for target, _, _ in _imports(m) if target != m} for m in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _parent_packages(module: str) -> set[str]:
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)}


def test_no_import_cycle():
    assert _cycles(_graph()) == []


def test_no_private_name_is_imported_across_modules():
    """A name starting with ``_`` is imported only by its own module's package, and a
    private module (``_api``, ``_preload``...) only from inside its own package."""
    bad = []
    for module in MODULES:
        for target, name, line in _imports(module):
            if name and name.startswith("_") and not name.startswith("__"):
                bad.append(f"{module}:{line} imports {target}.{name}")
            private = [p for p in target.split(".") if p.startswith("_")]
            if private:
                owner = target[: target.index("._" if "._" in target else target)]
                if owner not in _parent_packages(module):
                    bad.append(f"{module}:{line} imports the private module {target}")
    assert bad == []


def test_every_module_is_seen():
    """The checks above read what they claim to: the package's modules, resolved."""
    assert {"autograder.cli", "autograder.grading", "autograder.sandbox.kernel", "autograder.checks._api",
            "reference_solution.extraction", "course_data"} <= set(MODULES)
    assert ("autograder.checks._api", "CheckContext") in {(m, n) for m, n, _ in _imports("autograder.checks")}


def test_the_complete_and_partial_example_notebooks_match_the_release():
    """ada's and grace's example notebooks start from the current release: the grader
    would report any instructor cell they differ in as edited (only linus's are tampered
    with on purpose).  Regenerate them with examples/make_examples.py after a release."""
    from pathlib import Path

    import nbformat

    from autograder import integrity

    root = Path(__file__).resolve().parents[1]
    for student in ("ada", "grace"):
        for path in sorted((root / "examples" / "submissions" / student).glob("*/*.ipynb")):
            released = root / "release" / path.parent.name / path.name
            problems = integrity.inspect(nbformat.read(path, as_version=4), nbformat.read(released, as_version=4))
            assert problems == [], (student, path.name, problems)
