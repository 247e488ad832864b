"""Helpers for the tests of running a real class: tiny courses and gradebooks made in tmp_path.

Nothing here is real student data: every name, id and e-mail is made up.
"""

from __future__ import annotations

import copy
import datetime as dt
import warnings
from pathlib import Path

import nbformat
import yaml

from autograder.config import parse_course

# A class in an LMS (tests/test_lms.py, tests/test_resubmission.py): its due date and its
# Canvas gradebook export (the roster).
UTC = dt.timezone.utc
DUE = dt.datetime(2026, 3, 6, 22, 59, tzinfo=UTC)  # 2026-03-06 23:59 in Berlin

CANVAS_ROSTER = (
    "Student,ID,SIS User ID,SIS Login ID,Section\n"
    "    Points Possible,,,,\n"
    '"Lovelace, Ada",1001,S1,ada,A\n'
    '"Noether, Emmy",1002,S2,emmy,A\n'
    '"Hopper, Grace",1003,S3,grace,B\n'
    '"Curie, Marie",1004,S4,marie,B\n'
)

ROOT = Path(__file__).resolve().parents[1]

#: Two assignments: one autograded notebook, and one with a question graded by hand.
ASSIGNMENTS = [
    {"id": "intro", "title": "Intro", "total": 5, "notebooks": [
        {"name": "arrays", "questions": [
            {"id": "make-array", "points": 2, "names": ["a"]},
            {"id": "slice-it", "points": 3, "names": ["b"]},
        ]},
    ]},
    {"id": "essay", "title": "Essay and code", "total": 6, "notebooks": [
        {"name": "essay", "questions": [
            {"id": "compute", "points": 2, "names": ["c"]},
            {"id": "explain", "points": 4, "manual": True, "rubric": "names the axis; says why"},
        ]},
    ]},
]


def course_data(**extra) -> dict:
    real = yaml.safe_load((ROOT / "course.yml").read_text())
    data = {
        "course": {"id": "tiny-class", "title": "A tiny class"},
        "data": real["data"],
        "tolerances": real["tolerances"],
        "grading": real["grading"],
        "assignments": copy.deepcopy(ASSIGNMENTS),
    }
    for key, value in extra.items():
        if key == "assignment_settings":  # {assignment id: {due:, late:, lms_id:}}
            for a in data["assignments"]:
                a.update(value.get(a["id"], {}))
        else:
            data[key] = value
    return data


_TEMPLATE: list[Path] = []


def _empty_gradebook() -> Path:
    """An empty gradebook made once per test process (creating one runs alembic: seconds)."""
    if not _TEMPLATE:
        import atexit
        import shutil
        import tempfile

        from nbgrader.api import Gradebook

        folder = Path(tempfile.mkdtemp(prefix="realclass-gradebook-"))
        atexit.register(shutil.rmtree, folder, True)
        with Gradebook(f"sqlite:///{folder / 'gradebook.db'}", "tiny-class"):
            pass
        _TEMPLATE.append(folder / "gradebook.db")
    return _TEMPLATE[0]


def make_course(root: Path, *, with_gradebook: bool = True, **extra):
    """A course folder at ``root`` with course.yml (no notebooks), an empty gradebook,
    and its Course."""
    import shutil

    root.mkdir(parents=True, exist_ok=True)
    data = course_data(**extra)
    (root / "course.yml").write_text(yaml.safe_dump(data, sort_keys=False))
    if with_gradebook:
        shutil.copyfile(_empty_gradebook(), root / "gradebook.db")
    for a in data["assignments"]:  # placeholders, so that the commands find the source notebooks
        for nb in a["notebooks"]:
            path = root / "source" / a["id"] / f"{nb['name']}.ipynb"
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                nbformat.write(nbformat.v4.new_notebook(), path)
    return parse_course(data, root.resolve(), check_files=False)


def gradebook(course):
    from nbgrader.api import Gradebook

    from autograder.gradebook import db_url

    return Gradebook(db_url(course), course.course.id)


def release_in_gradebook(course) -> None:
    """Every assignment, notebook and graded cell in the gradebook, as `course release` does
    (without notebooks); due dates from course.yml."""
    from autograder.late import sync_due_dates

    with gradebook(course) as gb:
        for a in course.assignments:
            gb.update_or_create_assignment(a.id)
            for nb in a.notebooks:
                gb.update_or_create_notebook(nb.name, a.id)
                for q in nb.questions:
                    kind = "markdown" if q.manual else "code"
                    gb.update_or_create_grade_cell(q.grade_cell, nb.name, a.id, max_score=q.points, cell_type=kind)
                    gb.update_or_create_solution_cell(q.id, nb.name, a.id)  # comments hang on solution cells
        sync_due_dates(course, gb)


def submit(course, student: str, assignment: str, scores: dict[str, float | None],
           timestamp: dt.datetime | None = None) -> None:
    """A graded submission in the gradebook: autograder scores per question id (None:
    not scored, as nbgrader leaves a written answer), then nbgrader's late penalty step."""
    from sqlalchemy.exc import SAWarning

    from autograder.late import refresh_penalties

    a = course.assignment(assignment)
    with gradebook(course) as gb, warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=SAWarning)
        gb.update_or_create_student(student)
        kwargs = {"timestamp": timestamp.astimezone(dt.timezone.utc).replace(tzinfo=None)} if timestamp else {}
        gb.update_or_create_submission(assignment, student, **kwargs)
        for nb in a.notebooks:
            for q in nb.questions:
                g = gb.find_grade(q.grade_cell, nb.name, assignment, student)
                g.auto_score = scores.get(q.id)
                g.needs_manual_grade = g.auto_score is None
        gb.db.commit()
        refresh_penalties(course, gb=gb)


def notebook_bytes(tag: str = "") -> bytes:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(f"a = 1  # {tag}", id="cell-1"))
    return nbformat.writes(nb).encode()
