"""One verdict: feedback, export and report read every score from nbgrader's gradebook.

Scores by the autograder, a grader's manual score and comment in the formgrader (set
here through nbgrader's own API, as the formgrader does), questions graded by hand,
and nbgrader's late penalties: the same numbers everywhere.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import nbformat
import pytest

from autograder.export import export_grades
from autograder.feedback import write_feedback
from autograder.report import OUTPUTS, class_report
from autograder.results import MANUAL, Outcome, Run, SubmissionRecord

from .realclass import gradebook, make_course, release_in_gradebook, submit

UTC = dt.timezone.utc
DUE = dt.datetime(2026, 3, 6, 22, 59, tzinfo=UTC)  # 23:59 in Berlin


def graded_copy(course, student: str, assignment: str, outcomes: list[Outcome]) -> None:
    """autograded/<student>/<assignment>/: a graded notebook and the autograder's record."""
    a = course.assignment(assignment)
    folder = course.folder("autograded", student, assignment)
    folder.mkdir(parents=True)
    for nbcfg in a.notebooks:
        nb = nbformat.v4.new_notebook()
        for q in nbcfg.questions:
            meta = {"nbgrader": {"grade_id": q.id, "solution": True}}
            nb.cells.append(nbformat.v4.new_code_cell(f"# answer to {q.id}", metadata=meta))
            if not q.manual:
                meta = {"nbgrader": {"grade_id": q.grade_cell, "grade": True, "points": q.points}}
                nb.cells.append(nbformat.v4.new_code_cell(f"assert {q.names[0]} is not None", metadata=meta))
        nbformat.write(nb, folder / nbcfg.filename)
    SubmissionRecord(student, assignment, "fp", "settings", outcomes, []).write(folder)


@pytest.fixture
def course(tmp_path):
    course = make_course(tmp_path / "course", schedule={
        "timezone": "Europe/Berlin", "late": {"policy": "percent", "percent_per_day": 10, "max_percent": 50}},
        assignment_settings={"intro": {"due": "2026-03-06 23:59"}, "essay": {"due": "2026-03-06 23:59"}})
    release_in_gradebook(course)
    submit(course, "ada", "essay", {"compute": 2, "explain": None}, DUE - dt.timedelta(hours=2))
    graded_copy(course, "ada", "essay", [Outcome("compute", 2, 2, runs=(Run("own", True),)),
                                         Outcome("explain", 0, 4, MANUAL, "graded by hand by your instructor")])
    submit(course, "bob", "intro", {"make-array": 2, "slice-it": 0}, DUE + dt.timedelta(hours=30))
    graded_copy(course, "bob", "intro", [Outcome("make-array", 2, 2),
                                         Outcome.failed("slice-it", 3, "b has shape (4,); expected 3 elements")])
    return course


def formgrader_saves(grade, *, manual_score=None, extra_credit=None) -> None:
    """What nbgrader 0.9's formgrader does when a grader saves a grade (its GradeHandler.put):
    both values as given, and nbgrader's ``needs_manual_grade`` flag cleared unless the
    grade is left with no score at all.  (The caller commits.)"""
    grade.manual_score = manual_score
    grade.extra_credit = extra_credit
    grade.needs_manual_grade = grade.manual_score is None and grade.auto_score is None


def nbgrader_autogrades_again(course, student: str, assignment: str, answers: dict[str, str]) -> None:
    """Plain ``nbgrader autograde`` of a resubmission: nbgrader's own SaveAutoGrades step on
    the student's notebook (a passing test cell per autograded question, the written
    answers' text as given)."""
    from nbconvert.exporters.exporter import ResourcesDict
    from nbgrader.preprocessors import SaveAutoGrades

    from autograder.gradebook import db_url

    a = course.assignment(assignment)
    for nbcfg in a.notebooks:
        nb = nbformat.v4.new_notebook()
        for q in nbcfg.questions:
            meta = {"grade_id": q.grade_cell, "grade": True, "points": q.points, "solution": q.manual,
                    "locked": not q.manual, "schema_version": 3}
            make = nbformat.v4.new_markdown_cell if q.manual else nbformat.v4.new_code_cell
            nb.cells.append(make(answers.get(q.id, "assert True"), metadata={"nbgrader": meta}))
        resources = ResourcesDict(nbgrader={"db_url": db_url(course), "assignment": assignment,
                                            "notebook": nbcfg.name, "student": student})
        SaveAutoGrades()(nb, resources)


def row(page: str, qid: str) -> str:
    return re.search(rf'<tr id="q-{qid}">(.*?)</tr>', page, re.S).group(1)


def exported(course) -> dict[str, dict]:
    return {r["student"]: r for r in csv.DictReader(io.StringIO(export_grades(course).path.read_text()))}


def test_manual_grades_comments_and_late_penalties_reach_feedback_export_and_report(course):
    fb = course.root / "feedback"
    # before anyone grades by hand
    write_feedback(course)
    ada = (fb / "ada/essay/feedback.html").read_text()
    assert "needs manual grading" in row(ada, "explain") and ">-<" in row(ada, "explain")
    assert "Total: <strong>2 / 6</strong>" in ada and "(needs manual grading)" in ada
    assert (fb / "ada/essay/essay.html").read_text() == ada  # nbgrader's <notebook>.html, for release_feedback
    bob = (fb / "bob/intro/feedback.html").read_text()
    assert "failed" in row(bob, "slice-it") and "expected 3 elements" in row(bob, "slice-it")
    assert "1 day 6 h late" in bob and "&minus;0.4" in bob and "Total: <strong>1.6 / 5</strong>" in bob
    assert "Submitted 2026-03-08 05:59 CET; due 2026-03-06 23:59 CET" in bob  # in schedule.timezone
    rows = exported(course)
    assert rows["ada"]["essay/status"] == "needs manual grading" and rows["ada"]["essay/explain"] == ""
    assert (rows["bob"]["intro/raw"], rows["bob"]["intro/penalty"], rows["bob"]["intro/total"]) == ("2", "0.4", "1.6")
    report = class_report(course)
    assert report.awaiting == [("ada", "essay", "explain", 4.0)]
    manual = list(csv.DictReader(io.StringIO((course.root / "reports/manual.csv").read_text())))
    assert manual == [{"student": "ada", "assignment": "essay", "question": "explain", "points": "4"}]
    explain = next(r for r in report.rows if r.question == "explain")
    assert (explain.awaiting_grader, explain.submissions, explain.pass_rate) == (1, 0, None)

    # graders work in the formgrader: nbgrader's API, as the formgrader uses it
    with gradebook(course) as gb:
        formgrader_saves(gb.find_grade("explain", "essay", "essay", "ada"), manual_score=3.0)
        gb.find_comment("explain", "essay", "essay", "ada").manual_comment = "Names the axis; says why <b>not</b> 0."
        formgrader_saves(gb.find_grade("slice-it-test", "arrays", "intro", "bob"), manual_score=1.5)
        formgrader_saves(gb.find_grade("make-array-test", "arrays", "intro", "bob"), extra_credit=0.5)
        gb.find_comment("slice-it", "arrays", "intro", "bob").manual_comment = "Right idea, off by one."
        gb.db.commit()

    write_feedback(course)
    ada = (fb / "ada/essay/feedback.html").read_text()
    assert "graded by hand" in row(ada, "explain") and ">3<" in row(ada, "explain")
    assert "Names the axis; says why &lt;b&gt;not&lt;/b&gt; 0." in row(ada, "explain")
    assert "Total: <strong>5 / 6</strong></p>" in ada
    bob = (fb / "bob/intro/feedback.html").read_text()
    slice_row = row(bob, "slice-it")
    assert "graded by hand" in slice_row and ">1.5<" in slice_row and "Right idea, off by one." in slice_row
    assert "the autograder said" in slice_row and "expected 3 elements" in slice_row
    assert "+0.5 extra credit" in row(bob, "make-array")
    # the penalty follows the new score: (2.5 + 1.5) x 20%
    assert "&minus;0.8" in bob and "Total: <strong>3.2 / 5</strong>" in bob
    assert "Test of question slice-it: graded by hand (1.5 / 3)" in bob

    rows = exported(course)
    assert rows["ada"]["essay/explain"] == "3" and rows["ada"]["essay/status"] == "graded"
    assert (rows["bob"]["intro/slice-it"], rows["bob"]["intro/raw"], rows["bob"]["intro/penalty"],
            rows["bob"]["intro/total"]) == ("1.5", "4", "0.8", "3.2")
    report = class_report(course)
    assert report.awaiting == [] and report.totals == {"intro": [pytest.approx(3.2)], "essay": [5.0]}
    by = {a.assignment: a for a in report.assignments}
    assert (by["intro"].submitted, by["intro"].missing, by["intro"].late, by["intro"].penalized) == (1, 1, 1, 1)
    assert (by["essay"].late, by["essay"].awaiting_grader) == (0, 0)
    assert "intro: 1 of 2 submitted, 1 missing, 1 late (1 with a penalty)" in report.summary()


def test_report_outputs_are_a_registry_with_whole_submission_axes_and_hardest_first(course):
    report = class_report(course)
    assert list(OUTPUTS) == ["questions.csv", "assignments.csv", "manual.csv", "totals.png", "passrates.png"]
    assert set(report.paths) == set(OUTPUTS)
    for ax in report.figure.axes:  # counts of submissions are whole numbers
        ticks = [t for t in ax.get_yticks() if ax.get_ylim()[0] <= t <= ax.get_ylim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks)
    ax = report.passrate_figure.axes[0]
    top_down = [t.get_text() for _, t in sorted(zip(ax.get_yticks(), ax.get_yticklabels()), key=lambda p: -p[0])]
    # the hardest at the top (slice-it: 0%); a question nobody graded yet has no bar
    assert top_down == ["intro: slice-it", "intro: make-array", "essay: compute"]
    assert (course.root / "reports/passrates.png").read_bytes()[:4] == b"\x89PNG"


def test_a_hand_grade_nbgrader_flags_again_awaits_review(course):
    """A grader scores ada's written answer in the formgrader (which clears nbgrader's flag:
    graded, final); she resubmits and plain `nbgrader autograde` grades it: nbgrader keeps
    the grader's score and flags it for review.  Until a grader saves it again it awaits
    review everywhere, as `course autograde` leaves a hand grade it cannot vouch for:
    status needs manual grading, listed in manual.csv, not shown as graded by hand."""
    from autograder.gradebook import GRADED, NEEDS_MANUAL, read_gradebook

    with gradebook(course) as gb:
        formgrader_saves(gb.find_grade("explain", "essay", "essay", "ada"), manual_score=3.0)
        gb.db.commit()
    ada = read_gradebook(course).get("ada", "essay")
    assert (ada.status, ada.awaiting_grader, ada.questions["explain"]) == (GRADED, [], 3.0)  # an ordinary hand grade

    nbgrader_autogrades_again(course, "ada", "essay", {"explain": "Because of the axis, and a new reason."})
    with gradebook(course) as gb:  # nbgrader 0.9's SaveAutoGrades: the score kept, the flag set
        grade = gb.find_grade("explain", "essay", "essay", "ada")
        assert (grade.manual_score, grade.needs_manual_grade) == (3.0, True)
    ada = read_gradebook(course).get("ada", "essay")
    assert (ada.status, ada.awaiting_grader, ada.questions["explain"]) == (NEEDS_MANUAL, ["explain"], 3.0)
    report = class_report(course)
    assert report.awaiting == [("ada", "essay", "explain", 4.0)]
    manual = list(csv.DictReader(io.StringIO((course.root / "reports/manual.csv").read_text())))
    assert manual == [{"student": "ada", "assignment": "essay", "question": "explain", "points": "4"}]
    assert exported(course)["ada"]["essay/status"] == "needs manual grading"
    write_feedback(course)
    page = (course.root / "feedback/ada/essay/feedback.html").read_text()
    assert "needs manual grading" in row(page, "explain") and "graded by hand" not in row(page, "explain")

    with gradebook(course) as gb:  # a grader looks again and keeps the score
        formgrader_saves(gb.find_grade("explain", "essay", "essay", "ada"), manual_score=3.0)
        gb.db.commit()
    ada = read_gradebook(course).get("ada", "essay")
    assert (ada.status, ada.awaiting_grader) == (GRADED, [])
    assert exported(course)["ada"]["essay/status"] == "graded"
