"""ARCHITECTURE.md's four recipes, followed step by step in a copy of the course.

Each test makes the change the recipe describes (course.yml, a source notebook, a check
registered as a check module registers it, a limit, an export format) and sees it work
end to end: validated, released, graded with the sandbox and the reruns, exported.
"""

from __future__ import annotations

import csv
import io

import nbformat
import numpy as np
import pytest
import yaml

from autograder.checks import check, reference_state
from autograder.config import load_course
from autograder.grading import NotebookGrader
from autograder.nbmeta import grade_id
from autograder.release import release
from autograder.sandbox.runner import make_workdir
from autograder.validate import validate_course

from .conftest import DATA_FILE, copy_course, needs_data

pytestmark = [needs_data, pytest.mark.slow]


def _cell(source: str, gid: str, **flags) -> nbformat.NotebookNode:
    meta = {"grade": False, "grade_id": gid, "locked": False, "schema_version": 3, "solution": False, "task": False}
    return nbformat.v4.new_code_cell(source, metadata={"nbgrader": {**meta, **flags}})


def _question_cells(qid: str, answer: str, visible: str, points: float) -> list:
    return [
        _cell(f"### BEGIN SOLUTION\n{answer}\n### END SOLUTION", qid, solution=True),
        _cell(f"{visible}\n\n### BEGIN HIDDEN TESTS\n# checked by the grader\n### END HIDDEN TESTS", f"{qid}-test",
              grade=True, locked=True, points=points),
    ]


def _edit_yml(root, edit) -> None:
    data = yaml.safe_load((root / "course.yml").read_text())
    edit(data)
    (root / "course.yml").write_text(yaml.safe_dump(data, sort_keys=False))


def _grade(course, assignment_id: str, answers: dict[str, str] | None = None):
    a = course.assignment(assignment_id)
    nb = nbformat.read(course.source_notebook(a, a.notebooks[0]), as_version=4)
    for cell in nb.cells:
        if grade_id(cell) in (answers or {}):
            cell.source = answers[grade_id(cell)]
    with NotebookGrader(course, data_path=DATA_FILE) as grader:
        result = grader.grade(nb, a, a.notebooks[0]).result
    return {o.question: o for o in result.outcomes}


# ------------------------------------------------------------------- a new question
@check("array-creation", "recipe-mean-rate", inputs=("counts", "exptime"),
       secret=lambda inputs, rng: {"counts": rng.uniform(100, 1000, 5), "exptime": float(rng.integers(10, 100))})
def _mean_rate(ctx):
    counts, exptime = np.asarray(ctx.input("counts"), dtype=float), float(ctx.input("exptime"))
    ctx.expect_close("mean_rate", ctx.scalar("mean_rate"), np.mean(counts / exptime))


def test_recipe_new_question(tmp_path):
    root = copy_course(tmp_path / "course")

    def add(data):
        a = next(a for a in data["assignments"] if a["id"] == "array-creation")
        a["notebooks"][0]["questions"].append({"id": "recipe-mean-rate", "points": 1, "names": ["mean_rate"]})
        a["total"] += 1

    _edit_yml(root, add)
    course = load_course(root)
    a = course.assignment("array-creation")
    path = course.source_notebook(a, a.notebooks[0])
    nb = nbformat.read(path, as_version=4)
    nb.cells += _question_cells("recipe-mean-rate", "mean_rate = (counts / exptime).mean()",
                                "assert np.ndim(mean_rate) == 0, '`mean_rate` should be a single number'", 1)
    nbformat.write(nb, path)

    assert validate_course(course) == []
    release(course, ["array-creation"])
    assert "recipe-mean-rate" in course.release_notebook(a, a.notebooks[0]).read_text()
    outcomes = _grade(course, "array-creation")
    assert all(o.passed for o in outcomes.values()) and outcomes["recipe-mean-rate"].points == 1
    right = float(np.mean(np.array([1200.0, 4500.0, 800.0, 15000.0]) / 720.0))  # the notebook's given numbers
    typed = _grade(course, "array-creation", {"recipe-mean-rate": f"mean_rate = {right!r}"})
    assert not typed["recipe-mean-rate"].passed and [r.kind for r in typed["recipe-mean-rate"].runs] == [
        "own", "secret"]


# ----------------------------------------------------------------- a new assignment
@reference_state("recipe-mini")
def _mini_state(data_path) -> dict:
    return {"values": np.arange(5.0)}


@check("recipe-mini", "double", inputs=("values",), secret=lambda inputs, rng: {"values": rng.normal(size=7)})
def _double(ctx):
    values = np.asarray(ctx.input("values"), dtype=float)
    ctx.expect_close("doubled", ctx.array("doubled", shape=values.shape, kind="f"), 2 * values)


def test_recipe_new_assignment(tmp_path):
    root = copy_course(tmp_path / "course")
    _edit_yml(root, lambda data: data["assignments"].append({
        "id": "recipe-mini", "title": "A new assignment", "total": 2,
        "notebooks": [{"name": "mini", "questions": [{"id": "double", "points": 2, "names": ["doubled"]}]}]}))
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Doubling"),
                _cell("import numpy as np\nvalues = np.arange(5.0)", "setup", locked=True),
                *_question_cells("double", "doubled = values * 2", "assert doubled.shape == values.shape", 2)]
    (root / "source" / "recipe-mini").mkdir()
    nbformat.write(nb, root / "source" / "recipe-mini" / "mini.ipynb")
    course = load_course(root)
    assert validate_course(course) == []
    release(course, ["recipe-mini"])
    assert _grade(course, "recipe-mini")["double"].passed
    pasted = _grade(course, "recipe-mini", {"double": "doubled = np.array([0., 2., 4., 6., 8.])"})["double"]
    assert not pasted.passed and "second input" in pasted.message


# --------------------------------------------------------------------- a new limit
def test_recipe_new_limit(tmp_path):
    """A limit set in course.yml reaches the student's process: here the open files and
    the largest file (GradingLimits -> Limits -> apply_limits)."""
    root = copy_course(tmp_path / "course", grading={"open_files": 64, "file_size_mb": 3})
    course = load_course(root)
    with NotebookGrader(course, data_path=DATA_FILE) as grader:
        session = grader.zygote.spawn(make_workdir({}), grader.limits)
        try:
            out = session.run("import resource\nprint(resource.getrlimit(resource.RLIMIT_NOFILE))\n"
                              "try:\n    open('big', 'wb').write(b'x' * 4 * 2**20)\n    print('written')\n"
                              "except OSError as e:\n    print('refused', type(e).__name__)", timeout=30)
        finally:
            session.close()
    text = "".join(o.get("text", "") for o in out.outputs)
    assert "(64, 64)" in text and "refused" in text, text


# ------------------------------------------------------------- a new export format
def test_recipe_new_export_format(tmp_path, monkeypatch):
    from autograder import export
    from autograder.export.base import ExportFormat, register_format
    from autograder.fileio import atomic_write_text

    monkeypatch.setattr(export.base, "FORMATS", dict(export.base.FORMATS))
    monkeypatch.setattr(export, "FORMATS", export.base.FORMATS)

    @register_format
    class TotalsOnly(ExportFormat):
        name, suffix, help = "totals", "txt", "one line per student: id and total"

        def write(self, course, table, out):
            atomic_write_text(out, "".join(f"{r['student']} {r['total']}\n" for r in table.rows))
            return []

    root = copy_course(tmp_path / "course")
    course = load_course(root)
    release(course, ["slicing"])
    from nbgrader.api import Gradebook

    from autograder.gradebook import db_url

    with Gradebook(db_url(course), course.course.id) as gb:
        gb.add_student("ada")
    result = export.export_grades(course, fmt="totals")
    assert result.path == course.exports_dir / "grades-totals.txt"  # named after a format unlike its suffix
    assert result.path.read_text() == "ada 0\n"
    assert "totals" in export.FORMATS
    csv_path = export.export_grades(course, fmt="csv").path
    assert list(csv.DictReader(io.StringIO(csv_path.read_text())))[0]["student"] == "ada"
