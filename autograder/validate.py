"""``course validate``: course.yml and every source notebook agree.

Checks, for every assignment and notebook declared in course.yml: the notebook exists
and is valid nbformat 4; each question has a solution cell whose grade_id is the
question id and a locked, graded test cell ``<id>-test`` worth the declared points,
with a hidden-tests block; no grade id appears twice; no graded cell is undeclared; every
question has a registered hidden check that captures names the question declares.  A
question graded by hand (``manual: true``) has instead one answer cell, a solution that
nbgrader grades, worth its points.
"""

from __future__ import annotations

import nbformat

from .config import Course
from .nbmeta import grade_id, has_hidden_tests, nbgrader

__all__ = ["validate_course"]


def validate_course(course: Course) -> list[str]:
    """Problems found (empty when everything is consistent); each names file and cell."""
    from .checks import registry

    checks = registry()
    problems: list[str] = []
    for a in course.assignments:
        for nbcfg in a.notebooks:
            path = course.source_notebook(a, nbcfg)
            rel = path.relative_to(course.root)
            try:
                nb = nbformat.read(path, as_version=4)
                nbformat.validate(nb)
            except Exception as exc:
                problems.append(f"{rel}: not a valid notebook ({str(exc).splitlines()[0]})")
                continue
            cells: dict[str, list] = {}
            for cell in nb.cells:
                gid = grade_id(cell)
                if gid:
                    cells.setdefault(gid, []).append(cell)
            for gid, found in cells.items():
                if len(found) > 1:
                    problems.append(f"{rel}: grade id {gid!r} is used by {len(found)} cells")
            declared = {q.id for q in nbcfg.questions} | {q.grade_cell for q in nbcfg.questions}
            for gid, found in cells.items():
                if nbgrader(found[0]).get("grade") and gid not in declared:
                    problems.append(f"{rel}: graded cell {gid!r} is not declared in course.yml")
            for q in nbcfg.questions:
                if q.manual:
                    problems += _manual_problems(rel, q, cells.get(q.id, [None])[0])
                    continue
                sol = cells.get(q.id, [None])[0]
                test = cells.get(q.test_id, [None])[0]
                if sol is None or not nbgrader(sol).get("solution") or sol.cell_type != "code":
                    problems.append(f"{rel}: question {q.id!r} has no code solution cell with grade_id {q.id!r}")
                elif "### BEGIN SOLUTION" not in sol.source:
                    problems.append(f"{rel}: solution cell {q.id!r} has no '### BEGIN SOLUTION' block")
                if test is None or test.cell_type != "code":
                    problems.append(f"{rel}: question {q.id!r} has no code test cell with grade_id {q.test_id!r}")
                    continue
                m = nbgrader(test)
                if not m.get("grade") or not m.get("locked") or m.get("solution"):
                    problems.append(f"{rel}: test cell {q.test_id!r} must be graded, locked and not a solution")
                if float(m.get("points", -1)) != q.points:
                    problems.append(f"{rel}: test cell {q.test_id!r} is worth {m.get('points')} points; course.yml says {q.points:g}")
                if not has_hidden_tests(test.source):
                    problems.append(f"{rel}: test cell {q.test_id!r} has no hidden-tests block")
                if sol is not None and test is not None and nb.cells.index(sol) > nb.cells.index(test):
                    problems.append(f"{rel}: test cell {q.test_id!r} comes before its solution cell")
                if (a.id, q.id) not in checks:
                    problems.append(f"{rel}: no hidden check is registered for question {q.id!r} (autograder/checks)")
    return problems


def _manual_problems(rel, q, cell) -> list[str]:
    """A question graded by hand: one answer cell that nbgrader grades (solution and grade)."""
    if cell is None:
        return [f"{rel}: question {q.id!r} (graded by hand) has no answer cell with grade_id {q.id!r}"]
    m = nbgrader(cell)
    problems = []
    if not (m.get("solution") and m.get("grade")) or m.get("locked"):
        problems.append(f"{rel}: answer cell {q.id!r} (graded by hand) must be a solution and graded, not locked")
    if float(m.get("points", -1)) != q.points:
        problems.append(f"{rel}: answer cell {q.id!r} is worth {m.get('points')} points; course.yml says {q.points:g}")
    return problems
