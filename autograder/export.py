"""``course export``: the gradebook as one CSV or JSON table, one row per student.

Scores come from nbgrader's gradebook, never from files: a question's score is the
``score`` of its ``<question>-test`` grade (the manual score if one was given, else the
autograder's, plus any extra credit).  Maximum points come from course.yml.

Columns, in course.yml order::

    student,
    <assignment>/<question> ... , <assignment>/total, <assignment>/status,   (per assignment)
    total, max_total

Decisions (held by ``tests/test_instructor_tools.py``):

* ``<assignment>/status`` is one of

  - ``graded``: every question has a score;
  - ``missing``: the gradebook has no submission of this assignment from the student;
    its question and total columns hold the text ``missing`` (never 0);
  - ``not graded``: submitted, but some question has neither an autograder nor a manual
    score (``auto_score`` is None: not autograded yet); those questions and the
    assignment total are left empty;
  - ``needs manual grading``: scored, but nbgrader flags a grade for a human and none
    was given; the scores are shown.

* ``total`` adds up the assignment totals that are numbers (a missing or not-graded
  assignment adds 0); ``max_total`` is the course's maximum (every assignment counts).
* Every student of the gradebook gets a row, sorted by id, even with no submission.
* CSV keeps a plain one-line header, so that spreadsheets and LMS imports read it
  directly.  Maximum points go in a companion file next to it,
  ``<name>.max.csv`` (e.g. ``grades.max.csv``): the same header and one row whose
  ``student`` is ``(max)``.  JSON is a list of objects with the same keys as the CSV,
  plus ``<assignment>/max`` (that assignment's maximum) in every object; scores are
  numbers, ``missing`` and empty cells are the strings ``"missing"`` and ``null``.
* Default output: ``exports/grades.csv`` or ``exports/grades.json`` under the course
  root.  Files are written to a temporary name and renamed.
* A course without ``gradebook.db`` is an error (:class:`FileNotFoundError`): exporting
  does not create an empty gradebook.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .config import Course

__all__ = [
    "ExportResult",
    "SubmissionScores",
    "GradebookScores",
    "read_gradebook",
    "export_grades",
    "gradebook_path",
    "GRADED",
    "MISSING",
    "NOT_GRADED",
    "NEEDS_MANUAL",
]

GRADED = "graded"
MISSING = "missing"
NOT_GRADED = "not graded"
NEEDS_MANUAL = "needs manual grading"
FORMATS = ("csv", "json")


@dataclass
class SubmissionScores:
    """One student's scores on one assignment, as the gradebook holds them."""

    student: str
    assignment: str
    status: str
    questions: dict[str, float | None] = field(default_factory=dict)  # question id -> score (None: no score)

    @property
    def total(self) -> float | None:
        """The assignment's total, or None when it is missing or not graded."""
        if self.status in (MISSING, NOT_GRADED):
            return None
        return sum(v for v in self.questions.values() if v is not None)


@dataclass
class GradebookScores:
    """Every student of the gradebook and every (student, assignment) of course.yml."""

    students: list[str]
    scores: dict[tuple[str, str], SubmissionScores]

    def get(self, student: str, assignment: str) -> SubmissionScores:
        return self.scores[(student, assignment)]


def gradebook_path(course: Course) -> Path | None:
    """The SQLite file behind ``db_url(course)`` (None for another kind of database)."""
    from .nbgrader_adapter import db_url

    url = db_url(course)
    prefix = "sqlite:///"
    return Path(url[len(prefix):]) if url.startswith(prefix) else None


def read_gradebook(course: Course) -> GradebookScores:
    """Read every score of the course's assignments from nbgrader's gradebook.

    Raises
    ------
    FileNotFoundError
        The gradebook file does not exist (nothing released or graded yet).
    """
    from nbgrader.api import Gradebook, MissingEntry

    from .nbgrader_adapter import db_url

    path = gradebook_path(course)
    if path is not None and not path.is_file():
        raise FileNotFoundError(f"{path}: no gradebook yet; run `course release` and `course autograde` first")
    scores: dict[tuple[str, str], SubmissionScores] = {}
    with Gradebook(db_url(course), course.course.id) as gb:
        students = sorted(s.id for s in gb.students)
        for a in course.assignments:
            try:
                gb.find_assignment(a.id)
                submissions = {sub.student.id: sub for sub in gb.assignment_submissions(a.id)}
            except MissingEntry:  # not released yet: nobody can have submitted it
                submissions = {}
            for student in students:
                sub = submissions.get(student)
                if sub is None:
                    scores[(student, a.id)] = SubmissionScores(student, a.id, MISSING,
                                                               {q.id: None for q in a.questions})
                    continue
                grades = {g.name: g for nb in sub.notebooks for g in nb.grades}
                questions: dict[str, float | None] = {}
                status = GRADED
                for q in a.questions:
                    g = grades.get(q.test_id)
                    if g is None or (g.auto_score is None and g.manual_score is None):
                        questions[q.id] = None
                        status = NOT_GRADED
                        continue
                    questions[q.id] = float(g.score)
                    if g.needs_manual_grade and g.manual_score is None and status == GRADED:
                        status = NEEDS_MANUAL
                scores[(student, a.id)] = SubmissionScores(student, a.id, status, questions)
    return GradebookScores(students, scores)


def _num(x: float) -> float | int:
    """A score as it should print: 2 rather than 2.0, no float noise."""
    x = round(float(x), 6)
    return int(x) if x.is_integer() else x


@dataclass
class ExportResult:
    """The exported table and where it was written."""

    path: Path
    fmt: str
    columns: list[str]
    rows: list[dict]
    max_points: dict[str, float]  # numeric column -> its maximum
    max_path: Path | None = None  # CSV only: the companion file of maximum points

    def summary(self) -> str:
        missing = sum(1 for r in self.rows for k, v in r.items() if k.endswith("/status") and v == MISSING)
        text = (f"exported {len(self.rows)} students x {len(self.columns) - 1} columns to {self.path}"
                f" ({missing} missing submissions)")
        if self.max_path is not None:
            text += f"; maximum points in {self.max_path}"
        return text

    def table(self):
        """The totals as a rich Table (per-question columns are in the file)."""
        from rich.table import Table

        table = Table(title=f"Grades ({self.path})")
        cols = ["student", *[c for c in self.columns if c.endswith(("/total", "/status"))], "total", "max_total"]
        for c in cols:
            table.add_column(c, justify="left" if c == "student" or c.endswith("/status") else "right")
        for r in self.rows:
            table.add_row(*["" if r[c] is None else str(r[c]) for c in cols])
        return table


def _build(course: Course, data: GradebookScores) -> tuple[list[str], list[dict], dict[str, float]]:
    columns = ["student"]
    max_points: dict[str, float] = {}
    for a in course.assignments:
        for q in a.questions:
            columns.append(f"{a.id}/{q.id}")
            max_points[f"{a.id}/{q.id}"] = _num(q.points)
        columns += [f"{a.id}/total", f"{a.id}/status"]
        max_points[f"{a.id}/total"] = _num(a.total)
    columns += ["total", "max_total"]
    max_total = _num(sum(a.total for a in course.assignments))
    max_points["total"] = max_total
    rows = []
    for student in data.students:
        row: dict = {"student": student}
        total = 0.0
        for a in course.assignments:
            s = data.get(student, a.id)
            for q in a.questions:
                v = s.questions.get(q.id)
                row[f"{a.id}/{q.id}"] = MISSING if s.status == MISSING else (None if v is None else _num(v))
            t = s.total
            row[f"{a.id}/total"] = MISSING if s.status == MISSING else (None if t is None else _num(t))
            row[f"{a.id}/status"] = s.status
            total += t or 0.0
        row["total"] = _num(total)
        row["max_total"] = max_total
        rows.append(row)
    return columns, rows, max_points


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _csv_text(columns: list[str], rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: "" if v is None else v for k, v in r.items()})
    return buf.getvalue()


def export_grades(course: Course, *, fmt: str = "csv", out: Path | None = None) -> ExportResult:
    """Write the gradebook's scores as ``fmt`` ("csv" or "json"); see the module docstring.

    Parameters
    ----------
    fmt : str
        ``"csv"`` (plus ``<name>.max.csv`` with maximum points) or ``"json"``.
    out : Path, optional
        Output file; default ``<course root>/exports/grades.<fmt>``.

    Raises
    ------
    ValueError
        Unknown format.
    FileNotFoundError
        No gradebook.
    """
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r} (use one of: {', '.join(FORMATS)})")
    out = Path(out) if out is not None else course.root / "exports" / f"grades.{fmt}"
    columns, rows, max_points = _build(course, read_gradebook(course))
    result = ExportResult(out, fmt, columns, rows, max_points)
    if fmt == "csv":
        _atomic_write(out, _csv_text(columns, rows))
        max_row = {c: max_points.get(c, "") for c in columns}
        max_row["student"] = "(max)"
        max_row["max_total"] = max_points["total"]
        result.max_path = out.with_name(f"{out.stem}.max.csv")
        _atomic_write(result.max_path, _csv_text(columns, [max_row]))
    else:
        maxima = {f"{a.id}/max": _num(a.total) for a in course.assignments}
        objects = []
        for r in rows:
            obj = {}
            for c in columns:
                obj[c] = r[c]
                if c.endswith("/status"):
                    aid = c[: -len("/status")]
                    obj[f"{aid}/max"] = maxima[f"{aid}/max"]
            objects.append(obj)
        _atomic_write(out, json.dumps(objects, indent=1) + "\n")
    return result
