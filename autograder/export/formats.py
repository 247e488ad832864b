"""The built-in export formats: ``csv`` and ``json``.

CSV cells are safe to open in a spreadsheet: a text cell that a spreadsheet would
run as a formula (it starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return) or read as a number or date (a student id such as ``0012`` or ``1e5``) is
written with a leading apostrophe, as OWASP recommends; scores stay numbers.

The files written for an LMS's grade import (:mod:`autograder.export.lms`) take only
the formula guard (:func:`formula_text`), and not on the identifiers and headers the
LMS matches: those are written exactly as the LMS gave them.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from ..config import Course
from ..fileio import atomic_write_text
from .base import ExportFormat, GradeTable, number, register_format

__all__ = ["CsvFormat", "JsonFormat", "spreadsheet_text", "formula_text", "csv_text"]

_FORMULA = ("=", "+", "-", "@", "\t", "\r")
_NUMBER_LIKE = re.compile(r"^\s*[+-]?(\d[\d,]*\.?\d*|\.\d+)([eE][+-]?\d+)?%?\s*$|^\s*\d{1,4}[-/.]\d{1,2}([-/.]\d{1,4})?\s*$")


def spreadsheet_text(value: str) -> str:
    """``value`` as a spreadsheet will show it, not run or convert it (see the module docstring)."""
    if value.startswith(_FORMULA) or _NUMBER_LIKE.match(value):
        return "'" + value
    return value


def formula_text(value: str) -> str:
    """``value`` with a leading apostrophe only if a spreadsheet would run it as a formula:
    it starts with one of ``= + - @``, a tab or a carriage return and is not a plain
    number (``-3``, ``+1.5``, ``0012001`` are left alone)."""
    if value.startswith(_FORMULA) and not _NUMBER_LIKE.match(value):
        return "'" + value
    return value


def csv_text(columns: list[str], rows: list[dict], *, exact: set[str] | None = None) -> str:
    """CSV of ``rows``: numbers as numbers, None as empty, text spreadsheet-safe.

    ``exact`` is for a file an LMS imports (see :mod:`autograder.export.lms`): the header
    and the columns it names are written exactly as given, other text only through the
    formula guard (:func:`formula_text`).
    """
    guard = spreadsheet_text if exact is None else formula_text
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([spreadsheet_text(c) for c in columns] if exact is None else columns)
    for r in rows:
        cells = []
        for c in columns:
            v = r.get(c)
            if v is None:
                cells.append("")
            elif exact is not None and c in exact:
                cells.append(str(v))
            elif isinstance(v, bool) or not isinstance(v, int | float):
                cells.append(guard(str(v)))
            else:
                cells.append(v)
        writer.writerow(cells)
    return buf.getvalue()


@register_format
class CsvFormat(ExportFormat):
    """A plain one-line header (spreadsheets and LMS imports read it directly); maximum
    points in a companion file ``<name>.max.csv``: the same header and one row whose
    ``student`` is ``(max)``."""

    name = "csv"
    suffix = "csv"
    help = "one row per student; maximum points in <name>.max.csv"

    def write(self, course: Course, table: GradeTable, out: Path) -> list[Path]:
        atomic_write_text(out, csv_text(table.columns, table.rows))
        max_row = {c: table.max_points.get(c) for c in table.columns}
        max_row["student"] = "(max)"
        max_row["max_total"] = table.max_points["total"]
        max_path = out.with_name(f"{out.stem}.max.csv")
        atomic_write_text(max_path, csv_text(table.columns, [max_row]))
        return [max_path]


@register_format
class JsonFormat(ExportFormat):
    """A list of objects with the table's keys, plus ``<assignment>/max`` in every object;
    scores are numbers, ``missing`` and empty cells the strings ``"missing"`` and ``null``."""

    name = "json"
    suffix = "json"
    help = "a list of objects, one per student, with each assignment's maximum"

    def write(self, course: Course, table: GradeTable, out: Path) -> list[Path]:
        maxima = {f"{a.id}/max": number(a.total) for a in course.assignments}
        objects = []
        for r in table.rows:
            obj = {}
            for c in table.columns:
                obj[c] = r[c]
                if c.endswith("/status"):
                    key = c[: -len("/status")] + "/max"
                    obj[key] = maxima[key]
            objects.append(obj)
        atomic_write_text(out, json.dumps(objects, indent=1) + "\n")
        return []
