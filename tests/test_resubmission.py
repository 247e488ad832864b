"""A submission collected or graded again: what it keeps and what it loses.

* Its time: an LMS download collected again holding the same file (same bytes) keeps the
  submission time recorded when it was first collected; a changed file takes the new
  download's time (autograder/collect.py ``_timestamps``).
* Its hand grades: a written answer whose text changed since a grader scored it needs
  grading again; an unchanged one keeps its grade (autograder/autograde/batch.py).

Made-up students and notebooks only.
"""

from __future__ import annotations

import datetime as dt
import struct
import zipfile

import pytest
from click.testing import CliRunner
from nbgrader.utils import parse_utc

from autograder.collect import collect
from autograder.roster import import_roster

from .conftest import copy_course, needs_data
from .realclass import CANVAS_ROSTER, DUE, UTC, make_course, notebook_bytes



def _canvas_download(path, made: dt.datetime, files: dict[str, bytes]) -> None:
    """A Canvas submissions zip made at ``made``: Canvas dates every member then."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=made.timetuple()[:6])
            info.extra = struct.pack("<HHBI", 0x5455, 5, 1, int(made.timestamp()))
            zf.writestr(info, data)


def _time(course, student: str) -> dt.datetime:
    text = (course.folder("submitted", student, "intro") / "timestamp.txt").read_text()
    return parse_utc(text).replace(tzinfo=UTC)


def test_a_canvas_download_collected_again_keeps_an_unchanged_submissions_time(tmp_path):
    course = make_course(tmp_path / "course", schedule={"timezone": "Europe/Berlin"},
                         assignment_settings={"intro": {"due": "2026-03-06 23:59"}},
                         lms={"kind": "canvas"})
    (tmp_path / "roster.csv").write_text(CANVAS_ROSTER)
    import_roster(course, tmp_path / "roster.csv")
    grace = "hoppergrace_LATE_1003_5010_arrays.ipynb"  # late, attachment 5010: the same file in every download
    first, later, older = (DUE + dt.timedelta(days=2), DUE + dt.timedelta(days=5), DUE + dt.timedelta(days=1))
    _canvas_download(tmp_path / "d1.zip", first, {grace: notebook_bytes("grace"),
                                                  "lovelaceada_1001_5020_arrays.ipynb": notebook_bytes("ada")})
    collect(course, tmp_path / "d1.zip", lms="canvas")
    assert _time(course, "grace") == first and _time(course, "ada") == DUE  # not marked late: at most the due date

    # three days later, the instructor downloads again to pick up ada's resubmission
    _canvas_download(tmp_path / "d2.zip", later, {grace: notebook_bytes("grace"),
                                                  "lovelaceada_LATE_1001_5021_arrays-1.ipynb": notebook_bytes("ada 2")})
    report = collect(course, tmp_path / "d2.zip", lms="canvas")
    assert _time(course, "grace") == first  # the same file: its recorded time stays (was: the new zip's date)
    assert _time(course, "ada") == later  # a new file: the time this download gives it
    stamps = {t.student: t.status for t in report.taken if t.notebook is None}
    assert stamps == {"grace": "unchanged", "ada": "updated"}
    assert any("1 unchanged submission keeps the submission time" in n for n in report.notes)
    assert not report.failed

    # an older download collected afterwards moves nothing either
    _canvas_download(tmp_path / "d0.zip", older, {grace: notebook_bytes("grace")})
    report = collect(course, tmp_path / "d0.zip", lms="canvas")
    assert _time(course, "grace") == first
    assert {t.status for t in report.taken} == {"unchanged"}


# --------------------------------------------------------------------------------------
# hand grades and resubmissions (a real autograde of the extraction, whose last question
# is a written answer graded by hand)
# --------------------------------------------------------------------------------------
@pytest.mark.slow
@needs_data
def test_a_hand_grade_stays_with_its_answer_and_not_with_a_changed_one(tmp_path):
    import csv
    import json

    from nbgrader.api import Gradebook

    from autograder.cli import main

    root = copy_course(tmp_path / "course")
    example = json.loads((root / "examples/submissions/ada/longslit-extraction/extraction.ipynb").read_text())
    inbox = 0

    def cli(*args):
        r = CliRunner().invoke(main, ["--course-dir", str(root), *args], terminal_width=200)
        assert r.exit_code == 0, r.output + repr(r.exception)
        return r.output

    def resubmit(**sources):
        """ada hands in the example notebook with these cells' sources (by grade id)."""
        nonlocal inbox
        inbox += 1
        nb = json.loads(json.dumps(example))
        for cell in nb["cells"]:
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if grade_id in sources:
                cell["source"] = sources[grade_id]
        path = tmp_path / f"in{inbox}" / "ada" / "longslit-extraction" / "extraction.ipynb"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(nb))
        cli("collect", str(path.parents[2]))
        cli("autograde", "longslit-extraction")

    def grade(cell: str):
        with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
            g = gb.find_grade(cell, "extraction", "longslit-extraction", "ada")
            c = gb.find_comment(cell.removesuffix("-test"), "extraction", "longslit-extraction", "ada")
            return g.manual_score, g.needs_manual_grade, c.comment

    def exported() -> dict:
        cli("export")
        with open(root / "exports" / "grades.csv", newline="") as fh:
            return next(r for r in csv.DictReader(fh) if r["student"] == "ada")

    def waiting() -> set:
        cli("report")
        with open(root / "reports" / "manual.csv", newline="") as fh:
            return {(r["student"], r["question"]) for r in csv.DictReader(fh)}

    def page() -> str:
        cli("feedback", "longslit-extraction", "--student", "ada")
        return (root / "feedback" / "ada" / "longslit-extraction" / "feedback.html").read_text()

    cli("release", "longslit-extraction")
    resubmit()
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:  # as the formgrader saves a grade and a comment
        for cell, score, comment in (("redshift-offset", 2.0, "Good: the zero point of the nominal WCS."),
                                     ("read-data-test", 1.5, "Half a point off: hard-coded HDU index.")):
            g = gb.find_grade(cell, "extraction", "longslit-extraction", "ada")
            g.manual_score, g.needs_manual_grade = score, False
            gb.find_comment(cell.removesuffix("-test"), "extraction", "longslit-extraction", "ada").manual_comment = comment
        gb.db.commit()
    row = exported()
    assert (row["longslit-extraction/redshift-offset"], row["longslit-extraction/status"]) == ("2", "graded")

    # a resubmission that changes another question's code only: both hand grades stand
    code = "".join(next(c["source"] for c in example["cells"]
                        if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "cosmic-rays"))
    resubmit(**{"cosmic-rays": code + "\n# checked again\n"})
    assert grade("redshift-offset") == (2.0, False, "Good: the zero point of the nominal WCS.")
    assert grade("read-data-test") == (1.5, False, "Half a point off: hard-coded HDU index.")
    row = exported()
    assert (row["longslit-extraction/redshift-offset"], row["longslit-extraction/read-data"],
            row["longslit-extraction/status"]) == ("2", "1.5", "graded")
    assert ("ada", "redshift-offset") not in waiting()

    # the written answer changes, and so does the code of the question whose score was overridden
    read = "".join(next(c["source"] for c in example["cells"]
                        if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "read-data"))
    resubmit(**{"redshift-offset": "I don't know.", "read-data": read + "\n# my own comment\n"})
    assert grade("redshift-offset") == (None, True, None)
    manual, flagged, comment = grade("read-data-test")
    assert (manual, flagged) == (None, True) and comment != "Half a point off: hard-coded HDU index."
    row = exported()
    assert row["longslit-extraction/redshift-offset"] == ""  # not counted
    assert row["longslit-extraction/read-data"] == "2"  # the autograder's score, to be reviewed
    assert row["longslit-extraction/status"] == "needs manual grading"
    assert {("ada", "redshift-offset"), ("ada", "read-data")} <= waiting()
    html = page()
    assert "Good: the zero point of the nominal WCS." not in html
    assert "Half a point off" not in html
    assert "needs manual grading" in html
