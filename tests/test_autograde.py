"""course autograde end to end: parallel, idempotent, resumable, same scores as plain nbgrader and dask."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import nbformat
import pytest

from autograder.autograde import autograde
from autograder.results import SubmissionRecord
from autograder.config import load_course

from .conftest import ROOT, copy_course, needs_data

pytestmark = [needs_data, pytest.mark.slow]
ASSIGNMENT = "longslit-extraction"


def _replace_solution(nb, grade_id: str, code: str):
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.source = code
            return nb
    raise KeyError(grade_id)


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory):
    """A course copy with five submissions, autograded once with 2 workers."""
    from autograder.release import release

    root = copy_course(tmp_path_factory.mktemp("course"))
    course = load_course(root)
    release(course, [ASSIGNMENT])
    source = nbformat.read(ROOT / "source" / ASSIGNMENT / "extraction.ipynb", as_version=4)
    released = nbformat.read(root / "release" / ASSIGNMENT / "extraction.ipynb", as_version=4)
    # a right answer reached the student's way: from the release notebook, answers filled in
    full = nbformat.from_dict(json.loads(json.dumps(released)))
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in full.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell.source = answers[gid]
    partial = _replace_solution(full, "source-rows", "spectrum_src = img[250:259].sum(axis=0)")
    deleted = nbformat.from_dict(json.loads(json.dumps(full)))
    deleted.cells = [c for c in deleted.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "background-test"]
    subs = {"full": full, "partial": partial, "empty": released, "deleted": deleted}
    for student, nb in subs.items():
        folder = root / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / "extraction.ipynb")
    broken = root / "submitted" / "broken" / ASSIGNMENT
    broken.mkdir(parents=True)
    (broken / "extraction.ipynb").write_text('{"cells": [')
    results = autograde(course, jobs=2)
    return root, course, {r.student: r for r in results}


def _gradebook_scores(root, course):
    from nbgrader.api import Gradebook

    from autograder.gradebook import db_url

    with Gradebook(db_url(course), course.course.id) as gb:
        return {s.student.id: (s.score, {g.name: g.score for nb in s.notebooks for g in nb.grades})
                for s in gb.assignment_submissions(ASSIGNMENT)}


def test_scores_as_expected(graded_course):
    root, course, results = graded_course
    # the written answer (graded by hand) waits for a grader: the autograder's total is the rest
    total = course.assignment(ASSIGNMENT).total - sum(q.points for q in course.assignment(ASSIGNMENT).questions if q.manual)
    assert all(r.status == "graded" for r in results.values()), {s: r.error for s, r in results.items()}
    assert results["full"].score == total
    assert results["partial"].score == total - 1  # only source-rows (1 point) is lost
    assert results["partial"].questions["source-rows"] == 0
    assert results["empty"].score == 0
    assert results["broken"].score == 0
    assert any("not valid JSON" in p for p in results["broken"].problems)
    # a deleted test cell is restored and graded, and reported
    assert results["deleted"].score == total
    assert any("'background-test' was deleted" in p for p in results["deleted"].problems)
    gb = _gradebook_scores(root, course)
    assert {s: v[0] for s, v in gb.items()} == {s: r.score for s, r in results.items()}


def test_rerun_is_idempotent_and_resumes(graded_course):
    root, course, first = graded_course
    again = {r.student: r for r in autograde(course, jobs=2)}
    assert {r.status for r in again.values()} == {"skipped"}
    assert {s: r.score for s, r in again.items()} == {s: r.score for s, r in first.items()}
    # an interrupted batch: one submission has no done-marker -> only it is graded again
    (root / "autograded" / "partial" / ASSIGNMENT / SubmissionRecord.FILENAME).unlink()
    resumed = {r.student: r for r in autograde(course, jobs=1)}
    assert resumed["partial"].status == "graded" and resumed["partial"].score == first["partial"].score
    assert {s for s, r in resumed.items() if r.status == "graded"} == {"partial"}


def test_unknown_student_or_assignment_is_named(graded_course):
    _, course, _ = graded_course
    with pytest.raises(KeyError, match="nobody"):
        autograde(course, students=["nobody"])
    with pytest.raises(KeyError, match="unknown assignment 'nope'"):
        autograde(course, assignments=["nope"])


def test_plain_nbgrader_gives_the_same_scores(graded_course):
    root, course, results = graded_course
    env = {**os.environ, "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]])}
    nbgrader = os.path.join(os.path.dirname(sys.executable), "nbgrader")
    for student in ("full", "partial", "deleted"):
        proc = subprocess.run([nbgrader, "autograde", ASSIGNMENT, "--student", student, "--force"],
                              cwd=root, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
    gb = _gradebook_scores(root, course)
    for student in ("full", "partial", "deleted"):
        assert gb[student][0] == results[student].score


def test_dask_cluster_gives_the_same_scores(graded_course):
    from distributed import Client, LocalCluster

    root, course, results = graded_course
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        remote = {r.student: r for r in autograde(course, students=["full", "partial", "empty"], force=True,
                                                  scheduler=client)}
    assert {s: r.score for s, r in remote.items()} == {s: results[s].score for s in ("full", "partial", "empty")}
    assert all(r.status == "graded" for r in remote.values())


def test_autograde_warns_once_when_the_sandbox_has_limits_only(graded_course, monkeypatch):
    """Where namespaces are out of reach, the instructor is told once, before grading,
    what student code can reach; where they work, nothing is said."""
    from click.testing import CliRunner

    from autograder.cli import main
    from autograder.sandbox import isolation

    root, _, _ = graded_course
    args = ["--course-dir", str(root), "autograde", ASSIGNMENT, "--student", "full"]
    quiet = CliRunner().invoke(main, args)
    assert quiet.exit_code == 0, quiet.output
    if isolation.best_mode() != "limits":
        assert "resource limits only" not in quiet.output
    monkeypatch.setattr(isolation, "_MODE", "limits")
    loud = CliRunner().invoke(main, args)
    assert loud.exit_code == 0, loud.output
    assert loud.output.count("resource limits only") == 1
    assert "can read any file this user can read" in loud.output


def test_a_submission_folder_without_its_notebook_is_not_graded_0(tmp_path):
    """A hand-made submission folder holding only timestamp.txt, or a notebook under
    another name, is a problem named on its own FAILED line (exit status 1), not a 0:
    nothing goes to the gradebook, and export shows the submission missing.  A submission
    with one of its assignment's two notebooks missing is still graded (that one scores 0)."""
    import csv
    import io

    import yaml
    from click.testing import CliRunner

    from autograder.cli import main
    from autograder.gradebook import GRADED, MISSING, read_gradebook

    root = copy_course(tmp_path / "course")
    data = yaml.safe_load((root / "course.yml").read_text())
    two = next(a for a in data["assignments"] if a["id"] == "array-creation")  # and a written notebook
    two["notebooks"].append({"name": "written", "questions": [
        {"id": "why-arrays", "points": 1, "manual": True, "rubric": "says why an array beats a list"}]})
    two["total"] += 1
    (root / "course.yml").write_text(yaml.safe_dump(data, sort_keys=False))
    answer = nbformat.v4.new_markdown_cell("Model answer: one type, one block of memory.")
    answer.metadata["nbgrader"] = {"schema_version": 3, "grade": True, "solution": True, "locked": False,
                                   "grade_id": "why-arrays", "points": 1}
    written = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Why arrays"), answer])
    nbformat.write(written, root / "source" / "array-creation" / "written.ipynb")

    def cli(*args):
        return CliRunner().invoke(main, ["--course-dir", str(root), *args], terminal_width=300)

    r = cli("release", "array-creation", "copy-vs-view")
    assert r.exit_code == 0, r.output
    (tmp_path / "roster.csv").write_text("student id,name\nada,Ada L\ngrace,Grace H\nlinus,Linus T\n")
    assert cli("roster", "import", str(tmp_path / "roster.csv")).exit_code == 0
    submitted = root / "submitted"
    (submitted / "ada" / "copy-vs-view").mkdir(parents=True)
    (submitted / "ada" / "copy-vs-view" / "timestamp.txt").write_text("2026-02-21 10:00:00.000000 UTC\n")
    (submitted / "grace" / "copy-vs-view").mkdir(parents=True)
    shutil.copy(ROOT / "examples/submissions/grace/copy-vs-view/copy-vs-view.ipynb",
                submitted / "grace" / "copy-vs-view" / "copy-vs-view-Copy1.ipynb")
    (submitted / "linus" / "array-creation").mkdir(parents=True)  # written.ipynb missing
    shutil.copy(ROOT / "examples/submissions/linus/array-creation/array-creation.ipynb",
                submitted / "linus" / "array-creation")

    r = cli("autograde", "--jobs", "1")
    assert r.exit_code == 1, r.output
    lines = [" ".join(line.split()) for line in r.output.splitlines()]
    assert ("FAILED ada/copy-vs-view: no notebook to grade: submitted/ada/copy-vs-view/ holds no copy-vs-view.ipynb; "
            "nothing was recorded in the gradebook") in lines, r.output
    assert ("FAILED grace/copy-vs-view: no notebook to grade: submitted/grace/copy-vs-view/ holds no "
            "copy-vs-view.ipynb; it holds copy-vs-view-Copy1.ipynb: rename it to copy-vs-view.ipynb; nothing was "
            "recorded in the gradebook") in lines, r.output
    assert "1 graded, 0 already graded (skipped), 2 failed" in r.output
    course = load_course(root)
    scores = read_gradebook(course)
    for student in ("ada", "grace"):
        assert scores.get(student, "copy-vs-view").status == MISSING
    linus = scores.get("linus", "array-creation")
    assert linus.status == GRADED and linus.questions["why-arrays"] == 0 and linus.raw > 0, linus
    assert not (root / "autograded" / "ada").exists() and not (root / "autograded" / "grace").exists()

    r = cli("export", "--format", "csv")
    assert r.exit_code == 0, r.output
    rows = {row["student"]: row for row in csv.DictReader(io.StringIO((root / "exports" / "grades.csv").read_text()))}
    assert rows["grace"]["copy-vs-view/total"] == "missing" and rows["ada"]["copy-vs-view/total"] == "missing"
    assert float(rows["linus"]["array-creation/total"]) == linus.total
