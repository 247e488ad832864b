"""``course export``: the gradebook as a table, one row per student, in a chosen format.

Scores come from nbgrader's gradebook (:func:`autograder.gradebook.read_gradebook`),
never from files; maximum points come from course.yml.  The table
(:func:`grade_table`) has, in course.yml order::

    student,
    <assignment>/<question> ... , <assignment>/raw, <assignment>/penalty,
    <assignment>/total, <assignment>/status,                                 (per assignment)
    total, max_total

* A question's cell is the gradebook's score (the autograder's, or a grader's manual
  score, plus extra credit); ``raw`` adds them up, ``penalty`` is nbgrader's late
  penalty (0 when on time; see :mod:`autograder.late`), ``total`` is raw minus penalty.
* ``<assignment>/status`` is the gradebook's status (``graded``, ``missing``,
  ``not graded``, ``needs manual grading``); a missing submission's question, raw and
  total cells hold the text ``missing`` (never 0), its penalty is empty; a not-graded
  one's are empty.
* Late penalties are brought up to date first (a grader may have changed a score since
  grading: :func:`autograder.late.refresh_penalties`).
* ``total`` adds up the assignment totals that are numbers; ``max_total`` is the
  course's maximum.  Every student of the gradebook gets a row, sorted by id.

Formats are plug-ins (nbgrader's ``ExportPlugin`` is the model): a subclass of
:class:`ExportFormat` registered with :func:`register_format` is offered by
``course export --format`` at once.  The built-in ones are in
:mod:`autograder.export.formats` (csv, json) and :mod:`autograder.export.lms` (canvas,
moodle: the files those LMSs' grade imports take).  A course without a gradebook is an error
(:class:`~autograder.gradebook.NoGradebook`): exporting never creates one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..config import Course
from ..display import visible
from ..errors import BadInput
from ..gradebook import MISSING, read_gradebook
from . import formats, lms  # noqa: F401  (registers the built-in formats, and Canvas's and Moodle's)
from .base import FORMATS, ExportFormat, GradeTable, grade_table, register_format

__all__ = ["GradeTable", "ExportFormat", "ExportResult", "FORMATS", "register_format", "grade_table", "export_grades"]


@dataclass
class ExportResult:
    """What :func:`export_grades` wrote."""

    path: Path
    fmt: str
    grades: GradeTable
    extra_paths: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        return self.grades.columns

    @property
    def rows(self) -> list[dict]:
        return self.grades.rows

    @property
    def max_path(self) -> Path | None:
        """The companion file of maximum points (CSV), if one was written."""
        return self.extra_paths[0] if self.extra_paths else None

    def summary(self) -> str:
        missing = sum(1 for r in self.rows for k, v in r.items() if k.endswith("/status") and v == MISSING)
        text = (f"exported {len(self.rows)} students x {len(self.columns) - 1} columns to {visible(self.path)}"
                f" ({missing} missing submissions)")
        for extra in self.extra_paths:
            text += f"; also {visible(extra)}"
        return "\n  ".join([text, *self.notes])

    def table(self):
        """The totals as a rich Table (per-question columns are in the file)."""
        from rich.table import Table

        from ..display import text

        table = Table(title=text(f"Grades ({self.path})"))
        cols = ["student", *[c for c in self.columns if c.endswith(("/total", "/status"))], "total", "max_total"]
        for c in cols:
            table.add_column(c, justify="left" if c == "student" or c.endswith("/status") else "right")
        for r in self.rows:
            table.add_row(*[text("" if r[c] is None else r[c]) for c in cols])
        return table


def export_grades(course: Course, *, fmt: str = "csv", out: Path | None = None) -> ExportResult:
    """Write the gradebook's scores in format ``fmt``.

    Parameters
    ----------
    fmt : str
        A registered format's name (:data:`FORMATS`).
    out : Path, optional
        Output file; default ``exports/grades.<suffix>`` under the course root
        (``exports/grades-<format>.<suffix>`` for a format not named like its suffix,
        such as ``grades-canvas.csv``).

    Raises
    ------
    BadInput
        Unknown format.
    NoGradebook
        No gradebook.
    """
    try:
        exporter = FORMATS[fmt.lower()]
    except KeyError:
        raise BadInput(f"unknown export format {fmt!r} (use one of: {', '.join(FORMATS)})") from None
    default = f"grades.{exporter.suffix}" if exporter.name == exporter.suffix else f"grades-{exporter.name}.{exporter.suffix}"
    out = Path(out) if out is not None else course.exports_dir / default
    from ..late import has_schedule, refresh_penalties  # (late imports nbgrader: 2 s, not at `course --help`)

    if has_schedule(course) and course.gradebook_file.is_file():
        refresh_penalties(course)
    table = grade_table(course, read_gradebook(course))
    extra = exporter.write(course, table, out)
    return ExportResult(out, exporter.name, table, extra, exporter.notes(course, table))
