"""``course collect`` with notebooks the grader cannot read (made-up students, made here).

* A notebook the grader would score 0 (UTF-16, a byte order mark, no ``cells``) is
  taken with a warning giving the grader's own reason.
"""

from __future__ import annotations

import json

from autograder.collect import collect
from autograder.notebooks import NotebookError, read_notebook
from autograder.roster import import_roster

from .realclass import CANVAS_ROSTER, make_course, notebook_bytes


def roster_course(tmp_path, roster: str | None = CANVAS_ROSTER):
    """A course with no lms section (as the shipped course.yml), its roster imported."""
    course = make_course(tmp_path / "course")
    if roster is not None:
        (tmp_path / "roster.csv").write_text(roster)
        import_roster(course, tmp_path / "roster.csv")
    return course


def put(path, data: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_a_notebook_the_grader_cannot_read_is_taken_with_the_graders_reason(tmp_path):
    course = roster_course(tmp_path, roster=None)
    good = notebook_bytes("fine")
    no_cells = json.loads(good)
    del no_cells["cells"]
    src = tmp_path / "incoming"
    files = {
        "utf16": good.decode("utf-8").encode("utf-16"),  # a Windows editor's "Unicode"
        "bom": b"\xef\xbb\xbf" + good,
        "nocells": json.dumps(no_cells).encode(),
        "fine": good,
    }
    for student, data in files.items():
        put(src / student / "intro/arrays.ipynb", data)

    report = collect(course, src)
    assert {t.student for t in report.taken} == set(files)
    warned = {t.student: t.warning for t in report.warnings}
    assert set(warned) == {"utf16", "bom", "nocells"}
    assert "saved as UTF-16, not UTF-8" in warned["utf16"]
    assert "saved as UTF-8 with a byte order mark" in warned["bom"]
    assert "not a valid notebook" in warned["nocells"] and "cells" in warned["nocells"]
    for student, warning in warned.items():
        assert warning.endswith("; taken, the grader will score it 0")
        try:  # the grader's own reading gives the same reason
            read_notebook(course.folder("submitted", student, "intro") / "arrays.ipynb")
        except NotebookError as exc:
            assert warning.startswith(str(exc))
        else:
            raise AssertionError(f"the grader reads {student}'s notebook")
    assert "3 warnings" in report.summary()
