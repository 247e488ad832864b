"""Grades back to the LMS: ``course export --format canvas`` and ``--format moodle``.

Both write one row per student of the roster (:mod:`autograder.roster`) with each
assignment's final total (the gradebook's, after nbgrader's late penalty); a missing or
not yet graded submission is an empty cell, which both LMSs import as "no change".

``canvas``: the CSV Canvas's Gradebook > Import takes, in the layout of Canvas's own
    gradebook export (``lib/gradebook_exporter.rb``): the columns ``Student`` (``Last,
    First``), ``ID`` (Canvas's user id: the roster's LMS user id), ``SIS User ID``,
    ``SIS Login ID``, ``Section``, then one column per assignment named
    ``<title> (<Canvas assignment id>)``, course.yml's ``lms_id``: Canvas matches the
    column to its assignment by that id.  The second row is Canvas's ``Points Possible``
    row.  Only assignments with an ``lms_id`` are exported (the others are named in the
    notes), and only students Canvas can match (an LMS user id, SIS user id or login).
``moodle``: a CSV for Moodle's Grades > Import > CSV file: ``First name``, ``Last name``,
    ``ID number``, ``Email address`` (the identifiers Moodle's import maps to its users:
    map ``Email address`` to "Email address", or ``ID number`` to "ID number"), then one
    column per assignment named by its ``lms_id`` (the grade item's name in Moodle) or
    its title, to be mapped to that grade item.

Identifiers are written exactly as the LMS gave them.  Both importers compare them as
text: Canvas finds the student by ``ID``, ``SIS User ID`` or ``SIS Login ID``, and the
assignment by the id in the column's name; Moodle's import maps the column chosen
("Email address" or "ID number") to its users and each other column, by its name, to a
grade item.  So the header row and those id columns (Canvas's ``ID``, ``SIS User ID``,
``SIS Login ID``; Moodle's ``ID number``, ``Email address``) get no spreadsheet guard at
all: an apostrophe before ``0012001`` or ``48213`` would make them match nothing.  The
other text cells (names, section), which the importers do not match, get only the
formula guard (:func:`~autograder.export.formats.formula_text`: a leading apostrophe
before a cell a spreadsheet would run as a formula, never before a plain number).
These files are for the LMS; ``exports/grades.csv`` is the one to open in a
spreadsheet.
"""

from __future__ import annotations

from pathlib import Path

from ..config import Course
from ..errors import BadInput
from ..fileio import atomic_write_text
from ..gradebook import MISSING
from .base import ExportFormat, GradeTable, number, register_format
from .formats import csv_text

__all__ = ["CanvasFormat", "MoodleFormat", "CANVAS_ID_COLUMNS", "MOODLE_ID_COLUMNS"]

CANVAS_ID_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
MOODLE_ID_COLUMNS = ["First name", "Last name", "ID number", "Email address"]
#: The columns each importer matches as text: written exactly as the LMS gave them.
CANVAS_EXACT = {"ID", "SIS User ID", "SIS Login ID"}
MOODLE_EXACT = {"ID number", "Email address"}


def _score(row: dict, assignment: str):
    value = row.get(f"{assignment}/total")
    return None if value in (None, MISSING) else value


def _roster(course: Course):
    from ..roster import load_roster

    roster = load_roster(course)
    if not roster:
        raise BadInput("the roster is empty: import the class list first (`course roster import FILE.csv`); "
                       "the LMS matches grades to students by the ids it holds")
    return roster


@register_format
class CanvasFormat(ExportFormat):
    name = "canvas"
    suffix = "csv"
    help = "Canvas's gradebook import: Student, ID, SIS User ID, SIS Login ID, Section, '<title> (<id>)' columns"

    def notes(self, course: Course, table: GradeTable) -> list[str]:
        from ..display import visible

        left = [a.id for a in course.assignments if not a.lms_id]
        out = [f"not exported (no lms_id in course.yml): {', '.join(left)}"] if left else []
        unmatched = [s.id for s in _roster(course).students if not (s.lms_user_id or s.sis_user_id or s.lms_login)]
        if unmatched:
            out.append(f"left out, Canvas could not match them (no LMS user id, SIS id or login in the roster): "
                       f"{', '.join(visible(s) for s in unmatched)}")
        return out

    def write(self, course: Course, table: GradeTable, out: Path) -> list[Path]:
        chosen = [a for a in course.assignments if a.lms_id]
        if not chosen:
            raise BadInput("no assignment of course.yml has an lms_id: Canvas needs its assignment id in each "
                           "column's name ('Title (12345)'); add lms_id: 12345 to the assignments to export")
        roster = _roster(course)
        rows_by_student = {r["student"]: r for r in table.rows}
        columns = CANVAS_ID_COLUMNS + [f"{a.title} ({a.lms_id})" for a in chosen]
        points = {c: None for c in CANVAS_ID_COLUMNS} | {"Student": "    Points Possible"}
        points |= {f"{a.title} ({a.lms_id})": number(a.total) for a in chosen}
        rows = [points]
        for s in roster.students:
            if not (s.lms_user_id or s.sis_user_id or s.lms_login):
                continue  # (named in the notes)
            graded = rows_by_student.get(s.id, {})
            row = {"Student": s.sortable_name or s.id, "ID": s.lms_user_id or None,
                   "SIS User ID": s.sis_user_id or None, "SIS Login ID": s.lms_login or None,
                   "Section": s.section or None}
            row |= {f"{a.title} ({a.lms_id})": _score(graded, a.id) for a in chosen}
            rows.append(row)
        atomic_write_text(out, csv_text(columns, rows, exact=CANVAS_EXACT))
        return []


@register_format
class MoodleFormat(ExportFormat):
    name = "moodle"
    suffix = "csv"
    help = "Moodle's grade import: First name, Last name, ID number, Email address, one column per grade item"

    def write(self, course: Course, table: GradeTable, out: Path) -> list[Path]:
        roster = _roster(course)
        rows_by_student = {r["student"]: r for r in table.rows}
        items = [(a, a.lms_id or a.title) for a in course.assignments]
        columns = MOODLE_ID_COLUMNS + [name for _, name in items]
        rows = []
        for s in roster.students:
            graded = rows_by_student.get(s.id, {})
            row = {"First name": s.first_name or None, "Last name": s.last_name or None,
                   "ID number": s.sis_user_id or None, "Email address": s.email or None}
            row |= {name: _score(graded, a.id) for a, name in items}
            rows.append(row)
        atomic_write_text(out, csv_text(columns, rows, exact=MOODLE_EXACT))
        return []
