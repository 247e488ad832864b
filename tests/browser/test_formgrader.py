"""The instructor's seat: nbgrader's formgrader after ``course autograde``.

A student's submission of the assignment holding the course's written answer (a question
of course.yml graded by hand) is collected and autograded.  In the formgrader the
instructor sees the assignment with its due date and one submission, the submission with
its autograded score and "needs manual grading", and grades the written answer on the
submission's page (a score and a comment, typed as a grader types them).  The grade then
counts in ``course export`` and shows on the student's feedback page.
"""

from __future__ import annotations

import csv
import io
import re

import pytest
import yaml

pytest.importorskip("playwright")

from playwright.sync_api import expect  # noqa: E402

from autograder.config import load_course  # noqa: E402

from ..conftest import ROOT, answered_with_solutions  # noqa: E402
from .conftest import course  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow]

STUDENT = "ada"
DUE = "2030-01-15 17:00"
SCORE = 1.5
COMMENT = "Names the header's zero point as the likely cause; no check proposed."


def written_question(root):
    """(assignment, notebook, question) of the first question graded by hand in course.yml."""
    c = load_course(root)
    for a in c.assignments:
        for nb in a.notebooks:
            for q in nb.questions:
                if q.manual:
                    return a, nb, q
    pytest.fail("course.yml has no question graded by hand (manual: true): the course's written answer is missing")


def test_instructor_grades_the_written_answer_in_the_formgrader(lab, page, shot, tmp_path):
    root = lab.root
    assignment, notebook, question = written_question(root)
    aid, nb_name = assignment.id, notebook.filename.removesuffix(".ipynb")
    data = yaml.safe_load((root / "course.yml").read_text())
    for a in data["assignments"]:
        if a["id"] == aid:
            a["due"] = DUE
    (root / "course.yml").write_text(yaml.safe_dump(data, sort_keys=False))
    course(root, "release", aid)
    answered_with_solutions(root / "release" / aid / notebook.filename, ROOT / "source" / aid / notebook.filename,
             tmp_path / "class" / STUDENT / aid / notebook.filename)
    # (only the notebook: collect takes nothing else, and the grader puts course_data.py beside it)
    course(root, "collect", str(tmp_path / "class"))
    course(root, "autograde", aid, "--jobs", "1")
    auto_points = assignment.total - question.points

    # the assignment, with its due date and its one submission
    page.goto(f"{lab.url}formgrader/manage_assignments?token={lab.token}")
    listed = page.locator("tr", has=page.locator("td.name", has_text=aid))
    expect(listed.locator("td.duedate")).to_contain_text(DUE.split()[0], timeout=60_000)
    expect(listed.locator("td.num-submissions")).to_have_text("1")
    shot("assignments")

    # the notebook's submissions, with the autograder's score, waiting for a grader
    page.goto(f"{lab.url}formgrader/gradebook/{aid}/{nb_name}?token={lab.token}")
    submission = page.locator("tr", has=page.get_by_text("Submission #1"))
    expect(submission.locator("td.score")).to_have_text(f"{auto_points:g} / {assignment.total:g}", timeout=60_000)
    # the formgrader flags it with an icon (no text): its search value says what the flag means
    expect(submission.locator("td.needs-manual-grade")).to_have_attribute("data-search", "needs manual grade")
    shot("submissions")

    # the submission's page: the written answer, a score and a comment typed by the grader
    submission.get_by_text("Submission #1").click()
    score = page.locator(f"input.score#{question.id}")
    expect(score).to_be_visible(timeout=60_000)
    # the page's scripts attach the savers after the inputs show: a change typed before that
    # is never sent (seen once on a loaded machine)
    page.wait_for_load_state("networkidle")
    with page.expect_response(lambda r: "/formgrader/api/grade/" in r.url and r.request.method == "PUT"):
        score.fill(f"{SCORE:g}")
        score.press("Tab")
    comment = page.locator(f"textarea#{question.id}-comment")
    with page.expect_response(lambda r: "/formgrader/api/comment/" in r.url and r.request.method == "PUT"):
        comment.fill(COMMENT)
        comment.press("Tab")
    shot("graded")

    # the grade counts in the export and shows on the student's feedback page
    course(root, "export")
    rows = {r["student"]: r for r in csv.DictReader(io.StringIO((root / "exports" / "grades.csv").read_text()))}
    assert float(rows[STUDENT][f"{aid}/{question.id}"]) == SCORE
    total = auto_points + SCORE
    assert float(rows[STUDENT][f"{aid}/total"]) == total
    course(root, "feedback", aid, "--student", STUDENT)
    page.goto((root / "feedback" / STUDENT / aid / "feedback.html").as_uri())
    expect(page.locator("body")).to_contain_text(f"Total: {total:g} / {assignment.total:g}")
    graded = page.locator(f"tr#q-{question.id}")
    expect(graded).to_contain_text(COMMENT)
    expect(graded).not_to_contain_text("needs manual grading")
    assert re.search(rf"\b{SCORE:g}\b", graded.inner_text())
    shot("feedback")
