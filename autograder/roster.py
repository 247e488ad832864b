"""The class roster: who the students are, and how the LMS knows them.

``course roster import FILE.csv`` reads a roster and stores it where nbgrader keeps
students, the gradebook's ``student`` table (``id``, ``first_name``, ``last_name``,
``email``, ``lms_user_id``).  What that table has no column for (the LMS login, the SIS
user id, the section) is kept beside it in ``.course/roster.json`` (the course's private
folder, never committed), keyed by student id.  ``course roster list`` shows both.

Three layouts are read as they come (:func:`read_roster`):

* ``course``: this course's own columns (any case; spaces or underscores):
  ``student id`` (or ``id``), ``name`` (or ``first name`` and ``last name``),
  ``email``, ``lms user id``, ``lms login``, and optionally ``sis user id``, ``section``;
* ``canvas``: Canvas's gradebook export (Grades > Export): ``Student`` (``Last, First``),
  ``ID`` (Canvas's user id), ``SIS User ID``, ``SIS Login ID``, ``Section``, then the
  assignment columns (ignored); its ``Points Possible`` row is skipped and its test
  student ("Student, Test") refused;
* ``moodle``: Moodle's grades or participants export: ``First name``, ``Last name``,
  ``Email address``, optionally ``Username``, ``ID number``, ``Institution``,
  ``Department`` and grade columns (ignored).

The student id (nbgrader's, the folder name in ``submitted/``; on JupyterHub it must be
the hub user name) comes from the column ``id_from`` names: by default ``student id``
(course layout), ``SIS Login ID`` (Canvas) and ``Username``, else ``Email address``
(Moodle).

Decisions (held by ``tests/test_roster.py``):

* A row is refused, with its line number and reason, when it has no student id, an id
  that is not a safe folder name, an id or LMS user id, login or email that another row
  of the file (with other values) or another student of the gradebook already has
  (ambiguous), or is Canvas's test student.  The other rows are imported.
* Importing updates only the fields the file has columns for (a roster without emails
  keeps the emails already known), so importing twice, or a second file with other
  columns, is idempotent: the second run reports every row ``unchanged``.
* Once a class list is imported (:func:`roster_imported`), ``course collect`` takes
  only the roster's students from a folder, a zip or the exchange (an LMS download is
  always matched through the roster); a student who is new to the class is added by
  importing a file that lists them (the LMS's export again, or a CSV with a ``student
  id`` column).  nbgrader's student table also holds the students ``course autograde``
  met; without an import they are no roster, and collect takes any student.
* The file is untrusted: read with :func:`~autograder.fileio.read_untrusted` (at most
  :data:`MAX_ROSTER_BYTES`), UTF-8 (with or without a byte order mark), comma,
  semicolon or tab separated; names are shown with :func:`~autograder.display.visible`.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path

from .config import Course
from .display import visible
from .errors import BadInput, NotFound
from .fileio import NotRegular, TooLarge, atomic_write_text, read_untrusted

__all__ = ["Student", "Roster", "RosterRow", "RosterImport", "RosterError", "read_roster", "import_roster",
           "load_roster", "roster_imported", "MAX_ROSTER_BYTES", "LAYOUTS", "name_key"]

MAX_ROSTER_BYTES = 20 * 2**20
#: Where the fields nbgrader's student table has no column for are kept (below the course root).
EXTRA_FILE = Path(".course") / "roster.json"
LAYOUTS = ("course", "canvas", "moodle")
_STUDENT_ID = re.compile(r"^[A-Za-z0-9_@-][A-Za-z0-9._@-]{0,99}$")  # as collect.STUDENT_ID
#: Fields of the gradebook's student table, and those kept in EXTRA_FILE.
GRADEBOOK_FIELDS = ("first_name", "last_name", "email", "lms_user_id")
EXTRA_FIELDS = ("lms_login", "sis_user_id", "section")


class RosterError(BadInput):
    """A roster file that cannot be read at all (not CSV, no id column, unknown layout)."""


@dataclass(frozen=True)
class Student:
    """One student of the roster; "" for a field nobody gave."""

    id: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    lms_user_id: str = ""
    lms_login: str = ""
    sis_user_id: str = ""
    section: str = ""

    @property
    def name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)

    @property
    def sortable_name(self) -> str:
        """``Last, First`` (Canvas's ``Student`` column)."""
        if self.last_name and self.first_name:
            return f"{self.last_name}, {self.first_name}"
        return self.last_name or self.first_name


def name_key(name: str) -> str:
    """A name compared loosely: accents, case, punctuation and spacing ignored."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    return " ".join(re.sub(r"[^\w]+", " ", text).replace("_", " ").split())


@dataclass
class Roster:
    """The students of the course, and their LMS identities (:func:`load_roster`).

    ``imported``: whether a class list was ever imported (``course roster import``).
    nbgrader's student table also holds every student ``course autograde`` met, so a
    course that uses no roster has students too; only an imported roster makes
    ``course collect`` refuse a student who is not in it.
    """

    students: list[Student] = field(default_factory=list)
    imported: bool = False

    def __len__(self) -> int:
        return len(self.students)

    def __bool__(self) -> bool:
        return bool(self.students)

    def get(self, student_id: str) -> Student | None:
        return next((s for s in self.students if s.id == student_id), None)

    def find(self, field_name: str, value: str) -> list[Student]:
        """The students whose ``field_name`` equals ``value`` (emails and logins ignore case)."""
        if not value:
            return []
        loose = field_name in ("email", "lms_login")
        wanted = value.casefold() if loose else value
        return [s for s in self.students
                if (getattr(s, field_name).casefold() if loose else getattr(s, field_name)) == wanted]

    def by_name(self, name: str) -> list[Student]:
        """Students called ``name``, as ``First Last`` or ``Last First`` (see :func:`name_key`)."""
        key = name_key(name)
        if not key:
            return []
        return [s for s in self.students
                if key in (name_key(f"{s.first_name} {s.last_name}"), name_key(f"{s.last_name} {s.first_name}"))]

    def table(self):
        from rich.table import Table

        from .display import text

        table = Table(title=f"Roster: {len(self.students)} students", caption=(
            "id, names, email and LMS user id: nbgrader's gradebook (student table); "
            f"LMS login, SIS user id and section: {EXTRA_FILE}"))
        for col in ("student id", "name", "email", "LMS user id", "LMS login", "SIS user id", "section"):
            table.add_column(col)
        for s in self.students:
            table.add_row(*(text(v) for v in (s.id, s.sortable_name, s.email, s.lms_user_id, s.lms_login,
                                              s.sis_user_id, s.section)))
        return table


@dataclass(frozen=True)
class RosterRow:
    """One data row of a roster file: the student it describes (only the fields the file
    has columns for are in ``given``), or why it is refused."""

    line: int
    student: Student | None
    given: tuple[str, ...] = ()
    reason: str = ""
    skip: bool = False  # a row that describes no student (Canvas's Points Possible): not a refusal


@dataclass
class RosterImport:
    """What :func:`import_roster` did, row by row."""

    source: Path
    layout: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)
    skipped: list[tuple[int, str]] = field(default_factory=list)  # rows that describe no student (Points Possible)

    @property
    def failed(self) -> list[tuple[int, str]]:
        return self.refused

    def summary(self) -> str:
        lines = [f"roster {visible(self.source)} ({self.layout} layout): {len(self.added)} added, "
                 f"{len(self.updated)} updated, {len(self.unchanged)} unchanged, {len(self.refused)} refused; "
                 f"stored in the gradebook's student table and {EXTRA_FILE}"]
        lines += [f"  refused  line {line}: {visible(reason)}" for line, reason in self.refused]
        lines += [f"  skipped  line {line}: {visible(reason)}" for line, reason in self.skipped]
        return "\n".join(lines)


# --------------------------------------------------------------------------------------
# reading a file
# --------------------------------------------------------------------------------------
def _norm(header: str) -> str:
    return " ".join(re.sub(r"[_\-]+", " ", header.strip().strip("\ufeff")).casefold().split())


def _rows(data: bytes, source: Path) -> list[list[str]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RosterError(f"{visible(source)}: not UTF-8 text; export or save the roster as UTF-8 CSV") from None
    if "\x00" in text:
        raise RosterError(f"{visible(source)}: not a text file (NUL bytes)")
    first = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first.count)
    try:
        return [row for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]
    except csv.Error as exc:
        raise RosterError(f"{visible(source)}: not a readable CSV file ({exc})") from None


def _layout(headers: list[str]) -> str:
    names = set(headers)
    if {"student", "id", "sis login id"} <= names or {"student", "id", "sis user id"} <= names:
        return "canvas"
    if {"first name", "last name", "email address"} <= names:
        return "moodle"
    return "course"


_COURSE_COLUMNS = {
    "id": ("student id", "student", "id"),
    "name": ("name", "full name"),
    "first_name": ("first name", "given name"),
    "last_name": ("last name", "surname", "family name"),
    "email": ("email", "email address", "e mail"),
    "lms_user_id": ("lms user id", "lms id"),
    "lms_login": ("lms login", "login", "username"),
    "sis_user_id": ("sis user id", "sis id"),
    "section": ("section",),
}
_CANVAS_COLUMNS = {"name": ("student",), "lms_user_id": ("id",), "sis_user_id": ("sis user id",),
                   "lms_login": ("sis login id",), "section": ("section",)}
_MOODLE_COLUMNS = {"first_name": ("first name",), "last_name": ("last name",), "email": ("email address",),
                   "lms_login": ("username",), "sis_user_id": ("id number",)}
#: Where the student id comes from, per layout, in order of preference (field names).
_DEFAULT_ID = {"course": ("id",), "canvas": ("lms_login",), "moodle": ("lms_login", "email")}
ID_SOURCES = {"id": "student id", "lms_login": "login (Canvas: SIS Login ID; Moodle: Username)",
              "sis_user_id": "SIS user id (Moodle: ID number)", "lms_user_id": "LMS user id (Canvas: ID)",
              "email": "email"}


def _columns(layout: str, headers: list[str]) -> dict[str, int]:
    table = {"course": _COURSE_COLUMNS, "canvas": _CANVAS_COLUMNS, "moodle": _MOODLE_COLUMNS}[layout]
    found: dict[str, int] = {}
    for key, aliases in table.items():
        for alias in aliases:
            if alias in headers:
                found[key] = headers.index(alias)
                break
    return found


def _split_name(name: str) -> tuple[str, str]:
    """(first, last) of ``Last, First`` or ``First Last``."""
    name = " ".join(name.split())
    if "," in name:
        last, first = (p.strip() for p in name.split(",", 1))
        return first, last
    parts = name.rsplit(" ", 1)
    return (parts[0], parts[1]) if len(parts) == 2 else ("", parts[0])


def read_roster(path: Path, *, layout: str | None = None, id_from: str | None = None) -> tuple[str, list[RosterRow]]:
    """The layout and the rows of the roster file ``path`` (see the module docstring).

    ``layout``: ``course``, ``canvas`` or ``moodle`` (default: told from the headers);
    ``id_from``: the field that gives the student id (:data:`ID_SOURCES`).

    Raises RosterError (unreadable file, no header, no column for the student id).
    """
    path = Path(path)
    try:
        data = read_untrusted(path, max_bytes=MAX_ROSTER_BYTES)
    except FileNotFoundError:
        raise NotFound(f"{visible(path)}: no such roster file") from None
    except (NotRegular, TooLarge, OSError) as exc:
        raise RosterError(f"{visible(path)}: cannot be read ({exc})") from None
    rows = _rows(data, path)
    while rows and not any(c.strip() for c in rows[0]):
        rows.pop(0)
    if not rows:
        raise RosterError(f"{visible(path)}: empty; expected a header row and one row per student")
    headers = [_norm(h) for h in rows[0]]
    layout = layout or _layout(headers)
    if layout not in LAYOUTS:
        raise RosterError(f"unknown roster layout {layout!r} (one of: {', '.join(LAYOUTS)})")
    cols = _columns(layout, headers)
    if id_from is not None and id_from not in ID_SOURCES:
        raise RosterError(f"unknown id source {id_from!r} (one of: {', '.join(ID_SOURCES)})")
    id_fields = (id_from,) if id_from else _DEFAULT_ID[layout]
    id_field = next((f for f in id_fields if f in cols), None)
    if id_field is None:
        wanted = " or ".join(repr(ID_SOURCES[f]) for f in id_fields)
        raise RosterError(f"{visible(path)}: no column for the student id ({wanted}) in the {layout} layout; "
                          f"its columns are: {', '.join(visible(h) for h in rows[0])}")
    given = tuple(f for f in (*GRADEBOOK_FIELDS, *EXTRA_FIELDS) if f in cols
                  or (f in ("first_name", "last_name") and "name" in cols))
    out: list[RosterRow] = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        cell = {k: (row[i].strip() if i < len(row) else "") for k, i in cols.items()}
        out.append(_row(layout, number, cell, id_field, given))
    return layout, out


def _row(layout: str, line: int, cell: dict[str, str], id_field: str, given: tuple[str, ...]) -> RosterRow:
    if layout == "canvas":
        if cell.get("name", "").casefold() in ("points possible", "muted", "read only") and not cell.get("lms_user_id"):
            return RosterRow(line, None, (), "Canvas's points-possible row, not a student", skip=True)
        if name_key(cell.get("name", "")) in ("student test", "test student"):
            return RosterRow(line, None, (), "Canvas's test student (Student, Test): not a student of the class")
    values = {k: v for k, v in cell.items() if k in ("id", *GRADEBOOK_FIELDS, *EXTRA_FIELDS)}
    if "name" in cell and not (cell.get("first_name") or cell.get("last_name")):
        values["first_name"], values["last_name"] = _split_name(cell["name"])
    student_id = values.pop("id", "") if id_field == "id" else values.get(id_field, "")
    values.pop("id", None)
    if not student_id:
        return RosterRow(line, None, (), f"no student id (its {ID_SOURCES[id_field]} is empty)")
    if not _STUDENT_ID.match(student_id):
        return RosterRow(line, None, (), f"student id {student_id!r} is not a safe folder name "
                                         "(ASCII letters, digits, '-', '_', '.', '@'; not starting with '.')")
    for key, value in values.items():
        if len(value) > 128:
            return RosterRow(line, None, (), f"{key} of {student_id!r} is longer than 128 characters")
    return RosterRow(line, Student(student_id, **{k: values.get(k, "") for k in (*GRADEBOOK_FIELDS, *EXTRA_FIELDS)}),
                     given)


# --------------------------------------------------------------------------------------
# the stored roster
# --------------------------------------------------------------------------------------
def _extra_path(course: Course) -> Path:
    return course.root / EXTRA_FILE


def _read_extra(course: Course) -> dict[str, dict[str, str]]:
    path = _extra_path(course)
    try:
        data = json.loads(read_untrusted(path, max_bytes=MAX_ROSTER_BYTES * 2).decode("utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, NotRegular, TooLarge, RecursionError) as exc:
        raise RosterError(f"{path}: unreadable ({exc}); import the roster again") from None
    if not isinstance(data, dict) or not isinstance(data.get("students"), dict):
        raise RosterError(f"{path}: not a roster file of this course; import the roster again")
    return {str(k): {f: str(v.get(f, "")) for f in EXTRA_FIELDS} for k, v in data["students"].items()
            if isinstance(v, dict)}


def _write_extra(course: Course, extra: dict[str, dict[str, str]]) -> None:
    body = {"about": "LMS identities nbgrader's student table has no column for; written by `course roster import`",
            "students": {k: extra[k] for k in sorted(extra)}}
    atomic_write_text(_extra_path(course), json.dumps(body, indent=1, ensure_ascii=False) + "\n")


def _from_gradebook(gb, extra: dict[str, dict[str, str]]) -> list[Student]:
    out = []
    for s in sorted(gb.students, key=lambda s: s.id):
        more = extra.get(s.id, {})
        out.append(Student(s.id, s.first_name or "", s.last_name or "", s.email or "", s.lms_user_id or "",
                           **{f: more.get(f, "") for f in EXTRA_FIELDS}))
    return out


def roster_imported(course: Course) -> bool:
    """Whether a class list was ever imported into ``course`` (:attr:`Roster.imported`),
    known without opening the gradebook."""
    return _extra_path(course).is_file()


def load_roster(course: Course) -> Roster:
    """The course's roster: the gradebook's students with their side fields (empty
    without a gradebook); ``imported`` when :data:`EXTRA_FILE` exists (every import
    that stores a student writes it)."""
    from nbgrader.api import Gradebook

    from .gradebook import reporting_unavailable
    from .gradebook import db_url

    if not course.gradebook_file.is_file():
        return Roster()
    extra = _read_extra(course)
    with reporting_unavailable(course), Gradebook(db_url(course), course.course.id) as gb:
        return Roster(_from_gradebook(gb, extra), imported=roster_imported(course))


_UNIQUE = ("lms_user_id", "lms_login", "email")


def _key(field_name: str, value: str) -> str:
    return value.casefold() if field_name in ("email", "lms_login") else value


def _screen(rows: list[RosterRow], known: list[Student]) -> tuple[list[RosterRow], list[tuple[int, str]]]:
    """The rows to import, and the refused ones with reasons (see the module docstring)."""
    refused = [(r.line, r.reason) for r in rows if r.student is None and not r.skip]
    good = [r for r in rows if r.student is not None]
    by_id: dict[str, list[RosterRow]] = {}
    for r in good:
        by_id.setdefault(r.student.id, []).append(r)
    keep: list[RosterRow] = []
    for sid, group in by_id.items():
        if len({r.student for r in group}) > 1:
            lines = ", ".join(str(r.line) for r in group)
            refused += [(r.line, f"ambiguous: student id {sid!r} is on lines {lines} with different values")
                        for r in group]
        else:
            keep.append(group[0])
    # who holds each LMS user id, login and email, in the file and in the gradebook
    in_file: dict[tuple[str, str], list[RosterRow]] = {}
    in_book: dict[tuple[str, str], list[Student]] = {}
    for r in keep:
        for f in _UNIQUE:
            if getattr(r.student, f):
                in_file.setdefault((f, _key(f, getattr(r.student, f))), []).append(r)
    for s in known:
        for f in _UNIQUE:
            if getattr(s, f):
                in_book.setdefault((f, _key(f, getattr(s, f))), []).append(s)
    clean: list[RosterRow] = []
    for r in keep:
        reason = ""
        for f in _UNIQUE:
            value = getattr(r.student, f)
            if not value:
                continue
            others = [o for o in in_file.get((f, _key(f, value)), []) if o is not r]
            others_known = [s for s in in_book.get((f, _key(f, value)), []) if s.id != r.student.id]
            if others:
                reason = (f"ambiguous: {f.replace('_', ' ')} {value!r} of {r.student.id!r} is also that of "
                          f"{', '.join(repr(o.student.id) for o in others)} (line {others[0].line})")
            elif others_known:
                reason = (f"ambiguous: {f.replace('_', ' ')} {value!r} of {r.student.id!r} belongs to student "
                          f"{others_known[0].id!r} already in the gradebook")
            if reason:
                break
        if reason:
            refused.append((r.line, reason))
        else:
            clean.append(r)
    refused.sort()
    return clean, refused


def import_roster(course: Course, path: Path, *, layout: str | None = None,
                  id_from: str | None = None) -> RosterImport:
    """Read the roster file ``path`` and store its students (see the module docstring),
    holding the course's lock.

    Raises RosterError (unreadable file), NotFound (no such file), Busy (another run).
    """
    from nbgrader.api import Gradebook

    from .gradebook import reporting_unavailable
    from .lock import course_lock
    from .gradebook import db_url
    from .nbgrader_adapter import ensure_alembic_on_path

    found_layout, rows = read_roster(path, layout=layout, id_from=id_from)
    result = RosterImport(Path(path), found_layout)
    result.skipped = [(r.line, r.reason) for r in rows if r.skip]
    ensure_alembic_on_path()
    with course_lock(course, "roster import"):
        extra = _read_extra(course)
        with reporting_unavailable(course), Gradebook(db_url(course), course.course.id) as gb:
            known = _from_gradebook(gb, extra)
            clean, result.refused = _screen(rows, known)
            by_id = {s.id: s for s in known}
            for r in clean:
                old = by_id.get(r.student.id)
                merged = r.student if old is None else replace(old, **{f: getattr(r.student, f) for f in r.given})
                if old is None:
                    result.added.append(merged.id)
                elif merged == old:
                    result.unchanged.append(merged.id)
                    continue
                else:
                    result.updated.append(merged.id)
                gb.update_or_create_student(merged.id, **{f: getattr(merged, f) or None for f in GRADEBOOK_FIELDS})
                extra[merged.id] = {f: getattr(merged, f) for f in EXTRA_FIELDS}
        if result.added or result.updated or (clean and not _extra_path(course).is_file()):
            # also marks the roster as imported (Roster.imported), even when every row was unchanged
            _write_extra(course, {k: v for k, v in extra.items() if any(v.values())})
    return result
