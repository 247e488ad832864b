"""The pieces every export format shares: the table, the format base class, the registry."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import Course
from ..gradebook import MISSING, GradebookScores

__all__ = ["GradeTable", "ExportFormat", "FORMATS", "register_format", "grade_table", "number"]


@dataclass
class GradeTable:
    """The export's table: column names, one dict per student, each numeric column's maximum."""

    columns: list[str]
    rows: list[dict]
    max_points: dict[str, float | int]


class ExportFormat:
    """One export format.  Subclasses set :attr:`name`, :attr:`suffix`, :attr:`help`
    and implement :meth:`write`."""

    name: str = ""
    suffix: str = ""
    help: str = ""

    def write(self, course: Course, table: GradeTable, out: Path) -> list[Path]:
        """Write ``table`` to ``out`` (and any companion files); the extra files written."""
        raise NotImplementedError

    def notes(self, course: Course, table: GradeTable) -> list[str]:
        """What the user should know about this export (left-out columns or rows); [] by default."""
        return []


#: The registered formats, by name, in the order they were registered.
FORMATS: dict[str, ExportFormat] = {}


def register_format(cls: type[ExportFormat]) -> type[ExportFormat]:
    """Class decorator: offer ``cls`` as ``course export --format <cls.name>``."""
    if not cls.name or cls.name in FORMATS:
        raise ValueError(f"export format {cls.name!r} is unnamed or registered twice")
    FORMATS[cls.name] = cls()
    return cls


def number(x: float) -> float | int:
    """A score as it should print: 2 rather than 2.0, no float noise."""
    x = round(float(x), 6)
    return int(x) if x.is_integer() else x


def grade_table(course: Course, data: GradebookScores) -> GradeTable:
    """The table of every student's scores (see the module docstring)."""
    columns = ["student"]
    max_points: dict[str, float | int] = {}
    for a in course.assignments:
        for q in a.questions:
            columns.append(f"{a.id}/{q.id}")
            max_points[f"{a.id}/{q.id}"] = number(q.points)
        columns += [f"{a.id}/raw", f"{a.id}/penalty", f"{a.id}/total", f"{a.id}/status"]
        max_points[f"{a.id}/raw"] = max_points[f"{a.id}/total"] = number(a.total)
    columns += ["total", "max_total"]
    max_total = number(sum(a.total for a in course.assignments))
    max_points["total"] = max_total
    rows = []
    for student in data.students:
        row: dict = {"student": student}
        total = 0.0
        for a in course.assignments:
            s = data.get(student, a.id)
            for q in a.questions:
                v = s.questions.get(q.id)
                row[f"{a.id}/{q.id}"] = MISSING if s.status == MISSING else (None if v is None else number(v))
            t, raw = s.total, s.raw
            row[f"{a.id}/raw"] = MISSING if s.status == MISSING else (None if raw is None else number(raw))
            row[f"{a.id}/penalty"] = None if s.status == MISSING else number(s.penalty)
            row[f"{a.id}/total"] = MISSING if s.status == MISSING else (None if t is None else number(t))
            row[f"{a.id}/status"] = s.status
            total += t or 0.0
        row["total"] = number(total)
        row["max_total"] = max_total
        rows.append(row)
    return GradeTable(columns, rows, max_points)
