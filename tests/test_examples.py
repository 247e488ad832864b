"""`course demo` on the example class: every output is made and the scores are as documented."""

from __future__ import annotations

import csv

import pytest
from click.testing import CliRunner

from autograder.cli import main

from .conftest import copy_course, needs_data

pytestmark = [needs_data, pytest.mark.slow]

EXPECTED = {  # examples/submissions/README.md
    "ada": {"array-creation": 10, "broadcasting-ripple": 8, "slicing": 9, "boolean-masks": 9, "copy-vs-view": 9,
            "longslit-extraction": 18},
    "grace": {"array-creation": 6, "broadcasting-ripple": 4, "slicing": 5, "boolean-masks": 5, "copy-vs-view": 5,
              "longslit-extraction": 16},
    "linus": {"array-creation": 9, "broadcasting-ripple": 6, "slicing": 7, "boolean-masks": 0, "copy-vs-view": 7,
              "longslit-extraction": 15},
}
# The written answer of the extraction (graded by hand): ada and grace wrote one, which waits
# for a grader (no score yet, the assignment "needs manual grading"); linus left it empty,
# which nbgrader scores 0 at once.
WRITTEN = "longslit-extraction/redshift-offset"
WAITING = {"ada", "grace"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = copy_course(tmp_path_factory.mktemp("demo"))
    result = CliRunner().invoke(main, ["--course-dir", str(root), "demo"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return root, result.output


def test_demo_writes_every_output(demo):
    root, output = demo
    for rel in ("reports/spectrum.png", "reports/totals.png", "reports/questions.csv", "exports/grades.csv",
                "gradebook.db", "reports/similarity/similarity.csv"):
        assert (root / rel).is_file(), rel
        assert str(root / rel) in output or rel.split("/")[0] in output
    for student in EXPECTED:
        for assignment in EXPECTED[student]:
            assert (root / "feedback" / student / assignment / "feedback.html").is_file()
    assert (root / "reports" / "totals.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # collect: the class's README.md is ignored; linus's truncated upload is the one warning
    assert "0 refused, 1 ignored, 1 warnings" in output


def test_demo_scores_are_as_documented(demo):
    root, _ = demo
    with open(root / "exports" / "grades.csv", newline="") as fh:
        rows = {r["student"]: r for r in csv.DictReader(fh)}
    assert set(rows) == set(EXPECTED)
    for student, per_assignment in EXPECTED.items():
        got = {a: float(rows[student][f"{a}/total"]) for a in per_assignment}
        assert got == per_assignment, student
        assert float(rows[student]["total"]) == sum(per_assignment.values())


LOST = {  # the questions each mistake costs, and only those (examples/submissions/README.md)
    "grace": {"array-creation/sine-vectorized", "array-creation/ranges", "broadcasting-ripple/ripple-surface",
              "broadcasting-ripple/spectral-index-table", "slicing/strided", "slicing/dq-block",
              "boolean-masks/combine", "boolean-masks/disk-mask", "copy-vs-view/alias-and-copy",
              "copy-vs-view/new-arrays", "longslit-extraction/source-rows", "longslit-extraction/one-column-fit"},
    "linus": {"array-creation/reshape", "broadcasting-ripple/ripple-surface", "slicing/better-spectrum",
              "copy-vs-view/new-arrays", "longslit-extraction/cosmic-rays", WRITTEN}
    | {f"boolean-masks/{q}" for q in ("compare", "combine", "bad-pixels", "disk-mask", "zero-disk")},
    "ada": set(),
}


def test_each_mistake_costs_its_own_questions_only(demo, course):
    root, _ = demo
    with open(root / "exports" / "grades.csv", newline="") as fh:
        rows = {r["student"]: r for r in csv.DictReader(fh)}
    for student, lost in LOST.items():
        for a in course.assignments:
            for q in a.questions:
                col = f"{a.id}/{q.id}"
                if col == WRITTEN and student in WAITING:
                    assert rows[student][col] == "", (student, col)
                    assert rows[student][f"{a.id}/status"] == "needs manual grading", student
                    continue
                expected = 0.0 if col in lost else q.points
                assert float(rows[student][col]) == expected, (student, col)


def test_feedback_shows_messages_and_no_hidden_tests(demo):
    root, _ = demo
    html = (root / "feedback" / "grace" / "longslit-extraction" / "feedback.html").read_text()
    assert "source-rows" in html and "spectrum_src" in html
    assert "HIDDEN TESTS" not in html
    # grading.plots: none draws no picture: the student's own plots come from the submitted notebook
    assert "data:image/jpeg;base64," in html and "as it is in your submitted notebook" in html


def test_demo_again_is_idempotent(demo):
    root, _ = demo
    result = CliRunner().invoke(main, ["--course-dir", str(root), "autograde"])
    assert result.exit_code == 0, result.output
    assert "0 graded, 18 already graded (skipped), 0 failed" in result.output


def _cli(root, *args):
    return CliRunner().invoke(main, ["--course-dir", str(root), *args])


def test_cli_export_report_feedback_on_the_graded_class(demo, tmp_path):
    import json

    root, _ = demo
    out = tmp_path / "grades.json"
    r = _cli(root, "export", "--format", "json", "--output", str(out))
    assert r.exit_code == 0, r.output
    rows = {row["student"]: row for row in json.loads(out.read_text())["students"]} \
        if isinstance(json.loads(out.read_text()), dict) else {row["student"]: row for row in json.loads(out.read_text())}
    assert rows["linus"]["boolean-masks/total"] == 0
    r = _cli(root, "report", "--output-dir", str(tmp_path / "rep"))
    assert r.exit_code == 0, r.output
    assert (tmp_path / "rep" / "totals.png").is_file()
    r = _cli(root, "feedback", "slicing", "--student", "grace")
    assert r.exit_code == 0 and "grace/slicing/feedback.html" in r.output


def test_cli_bad_input_names_the_problem_and_changes_nothing(demo, tmp_path):
    root, _ = demo
    before = (root / "gradebook.db").read_bytes()
    cases = [
        (["feedback", "--student", "nobody"], "nobody"),
        (["autograde", "no-such-assignment"], "unknown assignment 'no-such-assignment'"),
        (["autograde", "--student", "nobody"], "nobody"),
        (["collect", str(tmp_path / "missing")], "no such file or folder"),
        (["check", str(tmp_path / "nothing.ipynb")], "nothing.ipynb"),
    ]
    for args, expected in cases:
        r = _cli(root, *args)
        assert r.exit_code == 2, (args, r.output)
        assert expected in r.output, (args, r.output)
    assert (root / "gradebook.db").read_bytes() == before


def test_a_manual_grade_then_counts(demo):
    """A grader scores ada's written answer in the gradebook (as the formgrader does): the
    export counts it and her extraction is graded.  (Changes the demo's gradebook: last.)"""
    from nbgrader.api import Gradebook

    root, _ = demo
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        grade = gb.find_grade("redshift-offset", "extraction", "longslit-extraction", "ada")
        assert grade.needs_manual_grade and grade.manual_score is None
        grade.manual_score, grade.needs_manual_grade = 2, False  # as the formgrader saves a grade
        gb.db.commit()
    r = _cli(root, "export")
    assert r.exit_code == 0, r.output
    with open(root / "exports" / "grades.csv", newline="") as fh:
        ada = next(row for row in csv.DictReader(fh) if row["student"] == "ada")
    assert float(ada[WRITTEN]) == 2
    assert ada["longslit-extraction/status"] == "graded"
    assert float(ada["longslit-extraction/total"]) == EXPECTED["ada"]["longslit-extraction"] + 2
