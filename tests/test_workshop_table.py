"""docs/workshop.md maps the workshop to the course with no gap: every question of
course.yml is in its table, with its assignment and points, and every cell it names exists."""

from __future__ import annotations

import re

import nbformat

from autograder.config import load_course

from .conftest import ROOT

TABLE = ROOT / "docs" / "workshop.md"


def _rows():
    rows = []
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        if line.startswith("| ") and not line.startswith(("| workshop", "| ---")):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            assert len(cells) == 4, line
            rows.append(cells)
    return rows


def test_every_question_is_in_the_workshop_table():
    course = load_course(ROOT, check_files=False)
    seen: dict[str, tuple[str, str]] = {}
    for _, assignment, ids, graded in _rows():
        for qid in re.findall(r"`([a-z0-9-]+)`", ids.split("(")[0]):
            seen[qid] = (assignment, graded)
    for a in course.assignments:
        for q in a.questions:
            assert q.id in seen, f"{q.id} ({a.id}) is missing from docs/workshop.md"
            assert seen[q.id][0] == a.id, q.id


def test_workshop_table_points_and_cells_are_true():
    course = load_course(ROOT, check_files=False)
    points = {q.id: q.points for a in course.assignments for q in a.questions}
    ids = {a.id: {n for c in nbformat.read(course.source_notebook(a, a.notebooks[0]), as_version=4).cells
                  for n in (c.get("id"), c.metadata.get("nbgrader", {}).get("grade_id"))}
           for a in course.assignments}  # a cell is named by its id or its nbgrader grade id
    for _, assignment, named, graded in _rows():
        assert assignment in ids, assignment
        questions = [q for q in re.findall(r"`([a-z0-9-]+)`", named.split("(")[0]) if q in points]
        if graded == "ungraded":
            assert not questions, named
            cell = re.search(r"cell `([a-z0-9-]+)`", named)
            assert cell and cell.group(1) in ids[assignment], named
        else:
            assert questions, named
            assert sum(points[q] for q in questions) == sum(float(p) for p in graded.split("+")), named
    assert "docs/workshop.md" in (ROOT / "README.md").read_text()
