"""``course collect``: take students' notebooks into ``submitted/<student>/<assignment>/``.

:func:`collect` accepts three layouts, and a mix of the first and third in one folder:

1. a folder of ``<student>/<assignment>/<notebook>.ipynb`` (an assignment folder may
   also hold ``timestamp.txt``, which nbgrader reads as the submission time);
2. a ``.zip`` of such a folder, possibly wrapped in one top-level folder (a folder is a
   wrapper, not a student, when none of its sub-folders is an assignment id); read
   member by member without extracting anything outside ``dest``;
3. an LMS-style flat folder (or zip) of ``<student>_<notebook>.ipynb`` files: the
   notebook part is the LONGEST notebook name of course.yml that ends the file name
   after an underscore, and that name must belong to exactly one assignment, so
   student ids may contain underscores;
4. an LMS's own download (``lms="canvas"``, ``"moodle"`` or ``"pattern"``, or course.yml's
   ``lms.kind``): Canvas's submissions zip, Moodle's "download all submissions" zip or
   folder, or any LMS's files named as course.yml's ``lms.pattern`` says, read by the
   rules of :mod:`autograder.lms`: the student through the roster, the latest
   resubmission taken (the others refused as older), and the submission time written
   to ``timestamp.txt`` (nbgrader's), where the download gives one.

Decisions (the tests in ``tests/test_instructor_tools.py`` and ``tests/test_collect.py`` hold them):

* Taken: a ``<notebook>.ipynb`` whose assignment and notebook course.yml declares, and a
  plain ``timestamp.txt`` in an assignment folder, if a notebook of that assignment is
  taken with it or was collected before (a ``timestamp.txt`` alone is refused: a folder
  without a notebook is no submission, and would be graded 0).  A ``.ipynb`` the grader
  cannot read (:func:`autograder.notebooks.parse_notebook`, the grader's own reading:
  not valid JSON, not UTF-8 (UTF-16, a byte order mark), not a valid nbformat-4
  notebook, ``cells`` missing...) is still taken, because the grader scores it 0 with a
  reason the student sees; it is listed in :attr:`CollectReport.warnings` with that
  same reason.
* Refused (each with its reason, nothing written for it): unknown assignment, unknown
  notebook, any other file (wrong extension; other files in an assignment folder, sub
  folders, files directly in a student folder), a symbolic link (never followed),
  anything that is not a regular file, a student id that is not a safe folder name
  (:data:`STUDENT_ID`: ASCII letters, digits, ``- _ . @``, not starting with ``.``,
  at most 100 characters), an absolute or ``..`` path in a zip, a file over
  :data:`MAX_FILE_BYTES` (50 MB, in every layout; a zip member's size is checked as
  declared and again while reading; only that file is refused), and a zip whose files
  to take (what would be written, not the members refused) add up to more than
  :data:`MAX_TOTAL_BYTES` (10 GB; nothing is taken from it: a zip bomb).  A file that
  would replace a newer copy already in ``dest`` is refused as older; two files of one
  source for the same destination: the newer is taken, the other refused.
* A student not in the roster, once a class list was imported (``course roster
  import``; :func:`autograder.roster.roster_imported`), is refused per file in the
  folder, zip and flat layouts, as the exchange and the LMS downloads refuse one: the
  message names the student, the roster's closest id ("did you mean 'grace'?"), how
  to add a new student, or, for a file named as Canvas or Moodle name their downloads
  (``lovelaceada_1001_5001_slicing.ipynb``), the ``--lms`` option to use.  Without an
  imported roster every safe student id is taken (nbgrader's student table alone, which
  ``course autograde`` fills, is no roster), and the report notes files named as an
  LMS's download.
* ``__MACOSX/`` folders, ``.DS_Store``, ``Thumbs.db`` and ``.ipynb_checkpoints`` are
  *ignored* (listed, marked :attr:`Refused.ignored`), and do not count when looking
  for a wrapper folder.  A ``README`` (``.md``, ``.txt``, ``.rst``) at the top of the
  source, such as the example class's, is ignored too (but, as any top-level file, it
  means the source has no wrapper folder); any other top-level file that is not
  ``<student>_<notebook>.ipynb`` is refused.
* Every entry is its own failure: anything that goes wrong with one file or zip member
  (unreadable, a folder swapped for a link while collecting, a zip member that does not
  decompress, a disk that fills up while writing it) refuses that entry with its
  reason, and the others are still collected; no folder is left in ``dest`` for a file
  that was not taken.
* A folder is read without ever following a symbolic link between the check and the
  read: every folder on the way is opened with ``O_NOFOLLOW`` relative to its parent's
  descriptor, and the file with :func:`~autograder.fileio.read_untrusted`, so swapping
  a file or a folder for a link (to the instructor's solutions, say) or a FIFO while
  collecting refuses that entry.  Folders more than :data:`MAX_DEPTH` deep are not read.
* :attr:`CollectReport.failed`: the entries refused (not ignored) and the notebooks
  taken with a warning; ``course collect`` exits with status 1 when there are any.
* Idempotent: a destination file with the same bytes is left alone (``unchanged``);
  different bytes from a source at least as new replace it (``updated``).  Files are
  written to a temporary name inside their destination folder, then renamed, with the
  source's modification time (a zip member's date) so that "newer" keeps meaning the
  student's time.  Nothing is written outside ``dest``; a destination path through a
  symbolic link is refused.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import errno
import os
import re
import stat
import time
import zipfile
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .config import Course
from .display import visible
from .errors import BadInput
from .fileio import NotRegular, TooLarge, atomic_write_bytes, os_error_text, read_untrusted
from .lms import (MOODLE_TIME_EXAMPLES, SUBMITTED_COLUMN, LmsRules, download_hint, notebook_of, parse_name, resolve,
                  zip_member_time)
from .notebooks import MAX_NOTEBOOK_BYTES, NotebookError, parse_notebook

__all__ = [
    "CollectError",
    "CollectReport",
    "Taken",
    "Refused",
    "collect",
    "collect_submission_folders",
    "lms_rules",
    "safe_student_id",
    "STUDENT_ID",
    "MAX_FILE_BYTES",
    "MAX_TOTAL_BYTES",
    "MAX_DEPTH",
]

STUDENT_ID = re.compile(r"^[A-Za-z0-9_@-][A-Za-z0-9._@-]{0,99}$")
MAX_FILE_BYTES = MAX_NOTEBOOK_BYTES
#: The most one zip may bring into ``submitted/``: the files it would take (the newest of
#: each destination, every one within :data:`MAX_FILE_BYTES`), not what it holds.  Members
#: are read one at a time and never past MAX_FILE_BYTES (a member that lies about its size
#: is cut off), so memory is bounded by the per-file cap; this bounds the disk a zip bomb
#: (thousands of members of 50 MB, each compressed to almost nothing) could fill.  10 GB
#: is 10 times a download of 1000 students' 1 MB notebooks; a larger one is refused whole,
#: to be collected in parts.
MAX_TOTAL_BYTES = 10 * 1024**3
#: Folders below the source read at most (a wrapper, a student, an assignment: 3 are used).
MAX_DEPTH = 8
TIMESTAMP = "timestamp.txt"
#: nbgrader's exchange writes it beside a submission; its feedback release needs it.
SECRET = "submission_secret.txt"
_CLUTTER = {"__MACOSX", ".DS_Store", ".ipynb_checkpoints", "Thumbs.db"}
#: A README at the top of the source (the example class has one) is ignored; any other
#: file there that is not ``<student>_<notebook>.ipynb`` is refused.
_README = re.compile(r"README(\.(md|txt|rst))?", re.IGNORECASE)


class CollectError(BadInput):
    """The source cannot be collected at all (missing, unreadable zip, overlaps dest)."""


def safe_student_id(student: str) -> bool:
    """Whether ``student`` is usable as a folder name (see :data:`STUDENT_ID`)."""
    return bool(STUDENT_ID.match(student))


@dataclass(frozen=True)
class Taken:
    """One file taken into ``dest``.

    ``notebook`` is None for ``timestamp.txt``; ``status`` is ``new``, ``updated`` or
    ``unchanged``; ``warning`` is set for a notebook the grader cannot read (it scores it 0).
    """

    student: str
    assignment: str
    notebook: str | None
    source: str
    dest: Path
    status: str
    warning: str = ""


@dataclass(frozen=True)
class Refused:
    """One entry of the source that was not taken, and why.

    ``ignored`` marks clutter (``.DS_Store``, ``__MACOSX/``...): listed, not a failure.
    """

    source: str
    reason: str
    ignored: bool = False


@dataclass
class CollectReport:
    """What :func:`collect` took and refused."""

    source: Path
    dest: Path
    kind: str  # "folder" or "zip"
    taken: list[Taken] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # about the whole source (no submission times...)

    @property
    def warnings(self) -> list[Taken]:
        return [t for t in self.taken if t.warning]

    @property
    def ignored(self) -> list[Refused]:
        return [r for r in self.refused if r.ignored]

    @property
    def failed(self) -> list[Refused | Taken]:
        """What went wrong: entries refused (clutter aside) and notebooks taken with a warning."""
        return [r for r in self.refused if not r.ignored] + self.warnings

    @property
    def changed(self) -> list[Taken]:
        return [t for t in self.taken if t.status != "unchanged"]

    def count(self, status: str) -> int:
        return sum(t.status == status for t in self.taken)

    def summary(self) -> str:
        """The report, one line per entry not taken or taken with a warning; every name
        shown with its control characters visible (:func:`~autograder.display.visible`)."""
        notebooks = sum(t.notebook is not None for t in self.taken)
        refused = len(self.refused) - len(self.ignored)
        lines = [
            f"collected from {visible(self.source)} ({self.kind}) into {visible(self.dest)}: "
            f"{len(self.taken)} taken ({notebooks} notebooks; {self.count('new')} new, "
            f"{self.count('updated')} updated, {self.count('unchanged')} unchanged), "
            f"{refused} refused, {len(self.ignored)} ignored, {len(self.warnings)} warnings"
        ]
        lines += [f"  {'ignored' if r.ignored else 'refused'}  {visible(r.source)}: {visible(r.reason)}"
                  for r in self.refused]
        lines += [f"  warning  {visible(t.source)}: {visible(t.warning)}" for t in self.warnings]
        lines += [f"  note     {visible(n)}" for n in self.notes]
        return "\n".join(lines)

    def table(self):
        """The taken files as a rich Table (names are never read as markup)."""
        from rich.table import Table

        from .display import text

        table = Table(title=text(f"Collected from {self.source}"))
        for col in ("student", "assignment", "file", "status", "source"):
            table.add_column(col)
        for t in self.taken:
            status = f"{t.status} (warning: {t.warning})" if t.warning else t.status
            table.add_row(*(text(v) for v in (t.student, t.assignment, t.dest.name, status, t.source)))
        return table


# --------------------------------------------------------------------------------------
# a uniform view of the source's entries
# --------------------------------------------------------------------------------------
@dataclass
class _Entry:
    parts: tuple[str, ...]  # path relative to the (unwrapped) source root
    origin: tuple[str, ...]  # path relative to the source as given
    kind: str  # file | dir | symlink | other | deep (a folder too deep to read)
    size: int
    mtime: float
    read: Callable[[], bytes]
    when: dt.datetime | None = None  # the file's date (a zip member's, see autograder.lms.zip_member_time)


@dataclass
class _Candidate:
    student: str
    assignment: str
    notebook: str | None
    filename: str
    entry: _Entry
    rank: tuple = ()  # orders candidates for one destination: the highest wins (an LMS resubmission)
    when: dt.datetime | None = None  # the submission time an LMS download gives
    late: bool | None = None  # whether the LMS counted it late (Canvas)


def _read_limited(open_stream) -> bytes:
    with open_stream() as fh:
        data = fh.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise TooLarge(f"larger than {MAX_FILE_BYTES / 2**20:g} MB")
    return data


_FOLDER_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _open_folder(root_fd: int, parts: tuple[str, ...]) -> int:
    """A descriptor of the folder ``parts`` below ``root_fd``, opened one component at a
    time relative to the last, never through a symbolic link (ELOOP or ENOTDIR if one
    of them is a link now)."""
    fd = os.dup(root_fd)
    try:
        for part in parts:
            inner = os.open(part, _FOLDER_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = inner
    except BaseException:
        os.close(fd)
        raise
    return fd


def _read_below(root_fd: int, parts: tuple[str, ...]) -> bytes:
    """The file ``parts`` below ``root_fd``: no link followed on the way or at the end,
    a regular file only, at most :data:`MAX_FILE_BYTES`, all read from one descriptor."""
    try:
        folder = _open_folder(root_fd, parts[:-1])
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise NotRegular("a folder on its path is not a folder now (a symbolic link?)") from None
        raise
    try:
        return read_untrusted(parts[-1], max_bytes=MAX_FILE_BYTES, dir_fd=folder)
    finally:
        os.close(folder)


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISDIR(mode):
        return "dir"
    return "file" if stat.S_ISREG(mode) else "other"


def _folder_entries(root_fd: int, label: Callable[[tuple[str, ...]], str],
                    refused: list[Refused]) -> Iterator[_Entry]:
    """Every entry under the folder open as ``root_fd``, without following symbolic links
    (each folder is opened anew from the root: see :func:`_open_folder`)."""
    stack: list[tuple[str, ...]] = [()]
    while stack:
        prefix = stack.pop()
        try:
            fd = _open_folder(root_fd, prefix)
        except OSError as exc:
            refused.append(Refused(label(prefix) + "/", f"folder cannot be read ({exc.strerror or exc})"))
            continue
        try:
            with os.scandir(fd) as it:
                names = sorted(e.name for e in it)
            items = []
            for name in names:
                try:
                    items.append((name, os.stat(name, dir_fd=fd, follow_symlinks=False)))
                except OSError as exc:
                    refused.append(Refused(label((*prefix, name)), f"cannot be read ({exc.strerror or exc})"))
        except OSError as exc:
            refused.append(Refused(label(prefix) + "/", f"folder cannot be read ({exc.strerror or exc})"))
            continue
        finally:
            os.close(fd)
        for name, st in items:
            parts = (*prefix, name)
            kind = _kind(st.st_mode)
            if kind == "dir" and len(parts) >= MAX_DEPTH:
                kind = "deep"
            yield _Entry(parts, parts, kind, st.st_size, st.st_mtime, (lambda p=parts: _read_below(root_fd, p)),
                         dt.datetime.fromtimestamp(st.st_mtime, dt.timezone.utc))
            if kind == "dir":
                stack.append(parts)


def _zip_name_problem(name: str) -> str:
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "absolute path in the zip"
    if ".." in re.split(r"[\\/]", name):
        return "path traversal ('..') in the zip"
    if "\x00" in name:
        return "NUL character in the name"
    return ""


def _zip_entries(zf: zipfile.ZipFile, zip_path: Path, refused: list[Refused],
                 zone: dt.tzinfo = dt.timezone.utc) -> list[_Entry]:
    entries: list[_Entry] = []
    for info in zf.infolist():
        problem = _zip_name_problem(info.filename)
        if problem:
            refused.append(Refused(f"{zip_path.name}:{info.filename}", f"{problem}; not extracted"))
            continue
        parts = tuple(p for p in info.filename.replace("\\", "/").split("/") if p not in ("", "."))
        if not parts:
            continue
        ftype = stat.S_IFMT(info.external_attr >> 16)  # 0 when the zip records no Unix type
        if ftype == stat.S_IFLNK:
            kind = "symlink"
        elif info.is_dir() or ftype == stat.S_IFDIR:
            kind = "dir"
        elif ftype in (0, stat.S_IFREG):
            kind = "file"
        else:
            kind = "other"
        try:
            mtime = time.mktime((*info.date_time, 0, 0, -1))
        except (OverflowError, ValueError):
            mtime = 0.0
        entries.append(_Entry(parts, parts, kind, info.file_size, mtime,
                              (lambda i=info: _read_limited(lambda: zf.open(i))), zip_member_time(info, zone)))
    return entries


def _is_clutter(parts: tuple[str, ...]) -> bool:
    return bool(_CLUTTER.intersection(parts))


def _unwrap(entries: list[_Entry], assignment_ids: set[str]) -> list[_Entry]:
    """Drop one top-level wrapper folder (see the module docstring)."""
    significant = [e for e in entries if not _is_clutter(e.parts)]
    tops = {e.parts[0] for e in significant}
    if len(tops) != 1:
        return entries
    top = next(iter(tops))
    if any(len(e.parts) == 1 and e.kind != "dir" for e in significant):
        return entries  # a single file or link at the top
    below = [e for e in significant if len(e.parts) > 1]
    if not below or any(e.parts[1] in assignment_ids for e in below):
        return entries  # the single folder is a student folder
    return [_Entry(e.parts[1:], e.origin, e.kind, e.size, e.mtime, e.read, e.when)
            for e in entries if e.parts[0] == top and len(e.parts) > 1] + \
           [e for e in entries if e.parts[0] != top]


# --------------------------------------------------------------------------------------
# classification
# --------------------------------------------------------------------------------------
def _notebook_owners(course: Course) -> dict[str, list[str]]:
    owners: dict[str, list[str]] = {}
    for a in course.assignments:
        for nb in a.notebooks:
            owners.setdefault(nb.name, []).append(a.id)
    return owners


_UNSAFE = "is not a safe folder name (ASCII letters, digits, '-', '_', '.', '@'; not starting with '.')"


def _classify(course: Course, entries: list[_Entry], label: Callable[[tuple[str, ...]], str],
              refused: list[Refused], lms: LmsRules | None = None, only: str | None = None,
              exchange: bool = False) -> list[_Candidate]:
    ids = {a.id: a for a in course.assignments}
    owners = _notebook_owners(course)
    candidates: list[_Candidate] = []
    done: set[tuple[str, ...]] = set()  # folders refused as a whole (origin paths)

    def refuse_folder(e: _Entry, depth: int, reason: str, ignored: bool = False) -> None:
        cut = len(e.origin) - len(e.parts) + depth
        folder = e.origin[:cut]
        if folder not in done:
            done.add(folder)
            refused.append(Refused(label(folder) + "/", reason, ignored))

    def classify(e: _Entry) -> list[_Candidate]:
        if _is_clutter(e.parts):
            depth = next(i for i, p in enumerate(e.parts) if p in _CLUTTER) + 1
            if depth == len(e.parts) and e.kind != "symlink":
                refused.append(Refused(label(e.origin), "operating-system or Jupyter clutter, ignored", True))
            else:
                refuse_folder(e, depth, "operating-system or Jupyter clutter, ignored", True)
            return []
        if e.kind == "symlink":
            refused.append(Refused(label(e.origin), "symbolic link: refused, not followed"))
            return []
        if e.kind == "other":
            refused.append(Refused(label(e.origin), "not a regular file"))
            return []
        if e.kind == "deep":
            refused.append(Refused(label(e.origin) + "/", f"folder more than {MAX_DEPTH} levels deep: not read"))
            return []
        if lms is not None:  # an LMS download: its own naming rules (autograder.lms)
            return _classify_lms(course, e, label, refused, lms, only)
        if exchange:  # <student>/<assignment>/... as given by collect_submission_folders
            return _classify_exchange(ids[e.parts[1]], e, label, refused)
        if len(e.parts) == 1:  # a file at the top: the LMS flat layout
            return _classify_flat(e, label, owners, refused)
        student, assignment = e.parts[0], e.parts[1]
        if not safe_student_id(student):
            refuse_folder(e, 1, _hinted(f"student id {student!r} {_UNSAFE}", e.parts))
            return []
        if len(e.parts) == 2:
            refused.append(Refused(label(e.origin), f"file directly in the student folder {student!r}, "
                                                    "not in an assignment folder"))
            return []
        if assignment not in ids:
            refuse_folder(e, 2, f"unknown assignment {assignment!r} (course.yml declares: {', '.join(ids)})")
            return []
        if len(e.parts) > 3:
            refuse_folder(e, 3, "sub-folder of an assignment folder: ignored")
            return []
        filename = e.parts[2]
        if filename == TIMESTAMP:
            return [_Candidate(student, assignment, None, filename, e)]
        if not filename.endswith(".ipynb"):
            refused.append(Refused(label(e.origin), "not a notebook (only <notebook>.ipynb and timestamp.txt "
                                                    "are collected from an assignment folder)"))
            return []
        name = filename[: -len(".ipynb")]
        a = ids[assignment]
        if name not in {nb.name for nb in a.notebooks}:
            known = ", ".join(nb.filename for nb in a.notebooks)
            refused.append(Refused(label(e.origin), f"unknown notebook {filename!r} for assignment "
                                                    f"{assignment!r} (expected: {known})"))
            return []
        return [_Candidate(student, assignment, name, filename, e)]

    for e in sorted(entries, key=lambda e: e.parts):
        if e.kind == "dir":
            continue
        try:
            candidates += classify(e)
        except Exception as exc:  # noqa: BLE001 - one entry's problem; the others go on
            refused.append(Refused(label(e.origin), f"could not be classified ({type(exc).__name__}: {exc})"))
    return candidates


def _classify_exchange(a, e: _Entry, label, refused: list[Refused]) -> list[_Candidate]:
    """One file of a submission folder of nbgrader's exchange (see :func:`collect_submission_folders`)."""
    student, assignment, rest = e.parts[0], e.parts[1], e.parts[2:]
    if len(rest) != 1:
        refused.append(Refused(label(e.origin), "in a sub-folder of the submission: left in the exchange", True))
        return []
    filename = rest[0]
    if filename in (TIMESTAMP, SECRET):
        return [_Candidate(student, assignment, None, filename, e)]
    if filename.endswith(".ipynb") and filename[: -len(".ipynb")] in {nb.name for nb in a.notebooks}:
        return [_Candidate(student, assignment, filename[: -len(".ipynb")], filename, e)]
    refused.append(Refused(label(e.origin), "not a notebook of the assignment: left in the exchange", True))
    return []


def _classify_lms(course: Course, e: _Entry, label, refused: list[Refused], rules: LmsRules,
                  only: str | None) -> list[_Candidate]:
    """One entry of an LMS download (see :mod:`autograder.lms`)."""
    where = label(e.origin)
    f = parse_name(rules, e.parts)
    if isinstance(f, str):
        refused.append(Refused(where, f))
        return []
    if f.ignore:
        refused.append(Refused(where, f.ignore, True))
        return []
    assignments = [course.assignment(only)] if only else course.assignments
    owners: dict[str, list[str]] = {}
    for a in assignments:
        for nb in a.notebooks:
            owners.setdefault(nb.name, []).append(a.id)
    found = notebook_of(f.filename, set(owners))
    if found is None:
        known = ", ".join(f"{n}.ipynb" for n in sorted(owners))
        refused.append(Refused(where, f"{f.filename!r} is not a notebook of "
                                      f"{'assignment ' + repr(only) if only else 'course.yml'} (expected: {known})"))
        return []
    name, version = found
    if len(owners[name]) != 1:
        refused.append(Refused(where, f"notebook name {name!r} belongs to several assignments "
                                      f"({', '.join(owners[name])}); say which with --assignment"))
        return []
    who = resolve(rules, f)
    if isinstance(who, str):
        refused.append(Refused(where, who))
        return []
    return [_Candidate(who[0], owners[name][0], name, f"{name}.ipynb", e, rank=(version, *f.rank),
                       when=f.when or e.when, late=f.late)]


def _classify_flat(e: _Entry, label, owners: dict[str, list[str]], refused: list[Refused]) -> list[_Candidate]:
    filename = e.parts[0]
    where = label(e.origin)

    def refuse(reason: str) -> list[_Candidate]:
        refused.append(Refused(where, _hinted(reason, e.parts)))
        return []

    if _README.fullmatch(filename):  # the class's own notes beside the submissions, not an upload
        refused.append(Refused(where, "a README beside the submissions, ignored", True))
        return []
    if not filename.endswith(".ipynb"):
        return refuse("not a notebook (a flat LMS export holds <student>_<notebook>.ipynb files)")
    stem = filename[: -len(".ipynb")]
    matches = [n for n in owners if stem.endswith("_" + n) and len(stem) > len(n) + 1]
    if not matches:
        known = ", ".join(sorted(owners))
        return refuse(f"unknown notebook: the name is not <student>_<notebook>.ipynb for a notebook of course.yml "
                      f"({known})")
    name = max(matches, key=len)
    if len(owners[name]) != 1:
        return refuse(f"notebook name {name!r} belongs to several assignments ({', '.join(owners[name])}); use the "
                      "<student>/<assignment>/ layout")
    student = stem[: -len(name) - 1]
    if not safe_student_id(student):
        return refuse(f"student id {student!r} {_UNSAFE}")
    return [_Candidate(student, owners[name][0], name, f"{name}.ipynb", e)]


def _hinted(reason: str, parts: tuple[str, ...]) -> str:
    """``reason``, and :func:`autograder.lms.download_hint` for an entry named as an LMS's download."""
    hint = download_hint(parts)
    return f"{reason}; {hint}" if hint else reason


def _notebook_warning(data: bytes, filename: str) -> str:
    """Why the grader will score this notebook 0, read as it reads every submission
    (:func:`~autograder.notebooks.parse_notebook`: not JSON, not UTF-8, not a valid
    nbformat-4 notebook...); "" when it can read it."""
    try:
        parse_notebook(data, filename)  # (gives missing cell ids itself: nbformat has nothing to warn about)
    except NotebookError as exc:
        return f"{exc}; taken, the grader will score it 0"
    return ""


# --------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------
def _symlink_on_path(dest: Path, target: Path) -> Path | None:
    """The first component of ``target`` below ``dest`` that is a symbolic link."""
    current = dest
    for part in target.relative_to(dest).parts:
        current = current / part
        if current.is_symlink():
            return current
    return None


def collect(course: Course, source: Path, *, dest: Path | None = None, lms: str | None = None,
            worksheet: Path | None = None, assignment: str | None = None) -> CollectReport:
    """Copy submissions from ``source`` (folder or .zip) into ``dest``, holding the
    course's lock (:mod:`autograder.lock`); see :func:`_collect`."""
    from .lock import course_lock

    with course_lock(course, "collect"):
        return _collect(course, source, dest=dest, lms=lms, worksheet=worksheet, assignment=assignment)


def lms_rules(course: Course, kind: str, *, worksheet: Path | None = None) -> LmsRules:
    """The rules to read a download of LMS ``kind`` (canvas, moodle, pattern) for ``course``:
    its roster, course.yml's pattern, the zone of zip dates, Moodle's grading worksheet."""
    import re

    from .config import time_zone
    from .lms import read_worksheet
    from .roster import load_roster

    if kind not in ("canvas", "moodle", "pattern"):
        raise BadInput(f"unknown LMS {kind!r} (one of: canvas, moodle, pattern)")
    if kind == "pattern" and not course.lms.pattern:
        raise BadInput("--lms pattern needs course.yml's lms.pattern (a regular expression with named groups)")
    if worksheet is not None and kind != "moodle":
        raise BadInput("--worksheet is Moodle's grading worksheet: use it with --lms moodle")
    zone = time_zone(course.lms.zip_timezone or course.schedule.timezone)
    rules = LmsRules(kind, load_roster(course), re.compile(course.lms.pattern) if kind == "pattern" else None, zone)
    if worksheet is not None:
        rules.worksheet = read_worksheet(worksheet, zone=time_zone(course.schedule.timezone))
    return rules


def _collect(course: Course, source: Path, *, dest: Path | None = None, lms: str | None = None,
             worksheet: Path | None = None, assignment: str | None = None) -> CollectReport:
    """Copy submissions from ``source`` (folder or .zip) into ``dest``.

    Parameters
    ----------
    course : Course
        The course; its assignments and notebooks decide what is taken.
    source : Path
        A folder (``<student>/<assignment>/<notebook>.ipynb`` and/or flat
        ``<student>_<notebook>.ipynb`` files) or a ``.zip`` of one.
    dest : Path, optional
        Where submissions go; default ``submitted/`` in the course folder.
    lms : str, optional
        ``canvas``, ``moodle`` or ``pattern``: ``source`` is that LMS's download, read by
        its naming rules (:mod:`autograder.lms`; who through the roster, the newest
        resubmission wins, the submission time into ``timestamp.txt``); ``folder`` or
        None: the layouts above.
    worksheet : Path, optional
        Moodle's grading worksheet (participant ids and submission times).
    assignment : str, optional
        Take only this assignment's notebooks from an LMS download.

    Returns
    -------
    CollectReport
        Every file taken (new, updated or unchanged) and every entry refused, with why.

    Raises
    ------
    CollectError
        ``source`` does not exist, is not a folder or a readable zip, or overlaps ``dest``.
    """
    source = Path(source)
    dest = Path(dest) if dest is not None else course.folder("submitted")
    if not source.exists():
        raise CollectError(f"{visible(source)}: no such file or folder to collect from")
    src_res, dest_res = source.resolve(), dest.resolve()
    if src_res == dest_res or dest_res.is_relative_to(src_res) or src_res.is_relative_to(dest_res):
        raise CollectError(f"{visible(source)}: the source and the destination {visible(dest)} overlap; "
                           "collect from another folder")
    ids = {a.id for a in course.assignments}
    if assignment is not None:
        course.assignment(assignment)  # NotFound for an unknown one
    rules = lms_rules(course, lms, worksheet=worksheet) if lms not in (None, "folder") else None
    zone = rules.zone if rules is not None else dt.timezone.utc
    refused: list[Refused] = []
    zf = root_fd = None
    if source.is_dir():
        kind = "folder"

        def label(parts: tuple[str, ...]) -> str:
            return str(source.joinpath(*parts))
        try:
            root_fd = os.open(source, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            raise CollectError(f"{visible(source)}: the folder cannot be read ({exc.strerror or exc})") from None
        entries = list(_folder_entries(root_fd, label, refused))
    elif source.is_file() and zipfile.is_zipfile(source):
        kind = "zip"
        try:
            zf = zipfile.ZipFile(source)
        except (zipfile.BadZipFile, OSError) as exc:
            raise CollectError(f"{visible(source)}: not a readable zip file ({exc})") from None
        entries = _zip_entries(zf, source, refused, zone)

        def label(parts: tuple[str, ...]) -> str:
            return f"{source.name}:{'/'.join(parts)}"
    elif source.suffix.lower() == ".zip":
        raise CollectError(f"{visible(source)}: not a readable zip file")
    else:
        raise CollectError(f"{visible(source)}: neither a folder nor a zip file")
    max_total = MAX_TOTAL_BYTES if kind == "zip" else None
    try:
        if rules is not None:
            return _take(course, source, dest, f"{kind}, {rules.kind} download", _unwrap_lms(entries), label,
                         refused, rules, assignment, max_total=max_total)
        return _take(course, source, dest, kind, _unwrap(entries, ids), label, refused,
                     known=_roster_ids(course), max_total=max_total)
    finally:
        if zf is not None:
            zf.close()
        if root_fd is not None:
            os.close(root_fd)


def _roster_ids(course: Course) -> frozenset[str] | None:
    """The student ids of the roster, when a class list was imported (None: any student
    is taken; see :func:`autograder.roster.roster_imported`)."""
    from .roster import load_roster, roster_imported

    if not roster_imported(course):
        return None  # without opening the gradebook
    roster = load_roster(course)
    return frozenset(s.id for s in roster.students) if roster else None


def _unwrap_lms(entries: list[_Entry]) -> list[_Entry]:
    """Drop one top-level folder that wraps a whole LMS download (an unzipped Canvas zip
    in a folder of its own, a Moodle zip re-zipped), recognised by holding entries that
    follow no LMS naming themselves: a folder whose name does not end like Moodle's."""
    significant = [e for e in entries if not _is_clutter(e.parts)]
    tops = {e.parts[0] for e in significant}
    if len(tops) != 1 or any(len(e.parts) == 1 and e.kind != "dir" for e in significant):
        return entries
    top = next(iter(tops))
    if "_assignsubmission_" in top:
        return entries
    return [_Entry(e.parts[1:], e.origin, e.kind, e.size, e.mtime, e.read, e.when)
            for e in entries if e.parts[0] == top and len(e.parts) > 1] + \
           [e for e in entries if e.parts[0] != top]


def collect_submission_folders(course: Course, root: Path, folders: list[tuple[str, str, str]], *,
                               dest: Path | None = None, check_owner: bool = False,
                               known: Callable[[str], bool] | None = None) -> CollectReport:
    """Take submissions that are one folder each below ``root`` (nbgrader's exchange
    inbound folder), given as ``(student, assignment, folder name)``, through collect's
    checks: nothing followed through a link, only ``<notebook>.ipynb``, ``timestamp.txt``
    and ``submission_secret.txt`` taken (other files ignored: left where they are), the
    newest file wins.  Refused: a folder that is a link or not a folder, an unsafe
    student id, a student ``known`` says is unknown, and with ``check_owner`` a folder
    owned by another account than the student it names.  The caller holds the lock.
    """
    import pwd

    dest = Path(dest) if dest is not None else course.folder("submitted")
    root = Path(root)
    refused: list[Refused] = []
    entries: list[_Entry] = []

    def label(parts: tuple[str, ...]) -> str:
        return str(root.joinpath(*parts))

    fd = os.open(root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        for student, assignment, name in folders:
            where = label((name,))
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except OSError as exc:
                refused.append(Refused(where, f"cannot be read ({exc.strerror or exc})"))
                continue
            if not stat.S_ISDIR(st.st_mode):
                refused.append(Refused(where, "not a folder (a symbolic link?): refused, not followed"))
                continue
            if not safe_student_id(student):
                refused.append(Refused(where, f"student id {student!r} {_UNSAFE}"))
                continue
            if known is not None and not known(student):
                refused.append(Refused(where, _not_in_roster(student, (name,), None)))
                continue
            if check_owner:
                try:
                    owner = pwd.getpwuid(st.st_uid).pw_name
                except KeyError:
                    owner = f"uid {st.st_uid}"
                if owner != student:
                    refused.append(Refused(where, f"submitted as {student!r} by the account {owner!r}: refused "
                                                  "(course.yml exchange.check_owner)"))
                    continue
            try:
                folder_fd = _open_folder(fd, (name,))
            except OSError as exc:
                refused.append(Refused(where, f"cannot be read ({exc.strerror or exc})"))
                continue
            try:
                for e in _folder_entries(folder_fd, lambda parts, n=name: label((n, *parts)), refused):
                    entries.append(_Entry((student, assignment, *e.parts), (name, *e.parts), e.kind, e.size,
                                          e.mtime, (lambda p=(name, *e.parts): _read_below(fd, p)), e.when))
            finally:
                os.close(folder_fd)
        return _take(course, root, dest, "exchange", entries, label, refused, exchange=True)
    finally:
        os.close(fd)


def _take(course: Course, source: Path, dest: Path, kind: str, entries: list[_Entry],
          label: Callable[[tuple[str, ...]], str], refused: list[Refused], lms: LmsRules | None = None,
          only: str | None = None, exchange: bool = False, known: frozenset[str] | None = None,
          max_total: int | None = None) -> CollectReport:
    """Classify ``entries``, refuse what cannot be taken, and take the rest into ``dest``.

    ``known``: the roster's student ids, when a roster was imported (the plain layouts
    only: a student not in it is refused per file); ``max_total``: the most a zip may
    bring, over the files that would be taken (see :data:`MAX_TOTAL_BYTES`).
    """
    report = CollectReport(source, dest, kind, refused=refused)
    candidates = []
    suggestions: dict[str, str] = {}
    for c in _classify(course, entries, label, refused, lms, only, exchange):
        if c.entry.size > MAX_FILE_BYTES:
            refused.append(Refused(label(c.entry.origin), f"larger than {MAX_FILE_BYTES / 2**20:g} MB"))
        elif known is not None and c.student not in known:
            refused.append(Refused(label(c.entry.origin), _not_in_roster(c.student, c.entry.parts, known, suggestions)))
        else:
            candidates.append(c)
    if known is None and lms is None and not exchange:
        _note_lms_names(candidates, report)
    # one destination, several sources: keep the newest
    by_target: dict[tuple[str, str, str], list[_Candidate]] = {}
    order = {id(c): i for i, c in enumerate(candidates)}
    for c in candidates:
        by_target.setdefault((c.student, c.assignment, c.filename), []).append(c)
    for group in by_target.values():
        # the highest rank (an LMS's latest resubmission), then the newest, then the later one
        group.sort(key=lambda c: (c.rank, c.entry.mtime, order[id(c)]), reverse=True)
    if max_total is not None:
        total = sum(group[0].entry.size for group in by_target.values())
        if total > max_total:
            refused.append(Refused(str(source), f"the {len(by_target)} files to take from it add up to "
                                                f"{_size(total)}, over the {_size(max_total)} a zip may bring "
                                                "(a zip bomb?); nothing taken: collect the download in parts "
                                                "(one assignment or section at a time)"))
            return report
    chosen: dict[tuple[str, str], list[_Candidate]] = {}
    # notebooks first: a timestamp.txt is taken only into a folder that holds a notebook
    for (student, assignment, filename), group in sorted(by_target.items(), key=lambda kv: kv[1][0].notebook is None):
        for other in group[1:]:
            what = "a later resubmission" if other.rank != group[0].rank else "newer"
            refused.append(Refused(label(other.entry.origin), f"another file of this source, {label(group[0].entry.origin)}, "
                                                      f"is {what} and goes to the same place"))
        c = group[0]
        source_label = label(c.entry.origin)
        folder = dest / student / assignment
        if c.notebook is None and not _holds_notebook(course, folder, assignment):
            refused.append(Refused(source_label, f"no notebook of assignment {assignment!r} was taken from this "
                                                 f"submission (nor collected before): {filename} alone is not "
                                                 "a submission; not taken"))
            continue
        made = [p for p in (folder.parent, folder) if not p.exists()]
        try:
            outcome = _take_one(c, folder / filename, dest, source_label)
        except Exception as exc:  # noqa: BLE001 - one entry's problem; the others go on
            outcome = Refused(source_label, f"could not be taken ({type(exc).__name__}: {exc})")
        if isinstance(outcome, Refused):
            for p in reversed(made):  # no empty folder left for a file not taken: it is no submission
                with contextlib.suppress(OSError):
                    p.rmdir()
        (report.taken if isinstance(outcome, Taken) else refused).append(outcome)
        if isinstance(outcome, Taken):
            chosen.setdefault((student, assignment), []).append(c)
    if lms is not None:
        report.taken += _timestamps(course, dest, lms, chosen, label, report)
    report.taken.sort(key=lambda t: (t.student, t.assignment, t.dest.name))
    return report


#: How a student new to the class gets into the roster (collect's messages).
ADD_TO_ROSTER = ("a student new to the class is added with `course roster import FILE` (the LMS's export again, "
                 "or a CSV with a 'student id' column listing them), then collect again")


def _not_in_roster(student: str, parts: tuple[str, ...], known: Collection[str] | None,
                   suggestions: dict[str, str] | None = None) -> str:
    """Why a file of ``student``, who is not in the roster, is refused: an LMS's naming
    (:func:`autograder.lms.download_hint`), else the closest roster id if one is close,
    and how to add a new student.  ``suggestions`` caches the closest id per student."""
    reason = f"student {student!r} is not in the roster"
    if download_hint(parts):
        return _hinted(reason, parts)
    if known:
        if suggestions is None or student not in suggestions:
            folded = {k.casefold(): k for k in known}
            close = difflib.get_close_matches(student.casefold(), list(folded), n=1, cutoff=0.75)
            found = folded[close[0]] if close else ""
            if suggestions is not None:
                suggestions[student] = found
        else:
            found = suggestions[student]
        if found:
            reason += f" (did you mean {found!r}?)"
    return f"{reason}; not taken: {ADD_TO_ROSTER}"


def _note_lms_names(candidates: list[_Candidate], report: CollectReport) -> None:
    """Without a roster every student id is taken; say so when the names are an LMS's."""
    named = [c for c in candidates if c.notebook is not None and download_hint(c.entry.parts)]
    if named:
        n = len(named)
        report.notes.append(f"{n} notebook{'s' if n != 1 else ''} taken for students such as {named[0].student!r} "
                            f"{'are' if n != 1 else 'is'} named as an LMS's download names its files (no roster "
                            f"is imported to check students against); {download_hint(named[0].entry.parts)}, "
                            "after importing the roster (`course roster import`)")


def _size(n: int) -> str:
    """A number of bytes for messages: MB below a GB."""
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB" if n >= 2**20 else f"{n} bytes"


def _holds_notebook(course: Course, folder: Path, assignment: str) -> bool:
    """Whether ``folder`` (``submitted/<student>/<assignment>``) holds a notebook of the assignment."""
    return any((folder / nb.filename).is_file() for nb in course.assignment(assignment).notebooks)


def _submission_time(course: Course, lms: LmsRules, assignment: str, group: list[_Candidate]) -> dt.datetime | None:
    """When a submission of an LMS download was made (see :mod:`autograder.lms`)."""
    if lms.kind == "moodle":
        if lms.worksheet is None:
            return None
        times = [row.submitted for c in group
                 for row in [lms.worksheet.rows.get(_participant(c, lms))] if row is not None and row.submitted]
        return max(times) if times else None
    times = [c.when for c in group if c.when is not None]
    if not times:
        return None
    when = max(times)
    due = course.due_date(course.assignment(assignment))
    late = [c.late for c in group if c.late is not None]
    if lms.kind == "canvas" and due is not None and late:
        if not any(late) and when > due:
            when = due  # Canvas says on time: its zip's date is when the zip was made
        elif any(late) and when <= due:
            when = due + dt.timedelta(seconds=1)  # Canvas says late
    return when


def _unread_time(lms: LmsRules, group: list[_Candidate]) -> str:
    """Why a Moodle submission has no time although its worksheet row has one: the text
    is not a date :func:`autograder.lms.read_worksheet` can read; "" otherwise."""
    if lms.kind != "moodle" or lms.worksheet is None:
        return ""
    for c in group:
        row = lms.worksheet.rows.get(_participant(c, lms))
        if row is not None and row.submitted is None and row.submitted_text:
            return (f"the grading worksheet's {SUBMITTED_COLUMN!r} is {row.submitted_text!r}, not a date this "
                    f"course can read (such as {MOODLE_TIME_EXAMPLES}); no submission time recorded: download the "
                    "worksheet again with Moodle's language set to English")
    return ""


def _participant(c: _Candidate, lms: LmsRules) -> str:
    f = parse_name(lms, c.entry.parts)
    return f.key if not isinstance(f, str) else ""


def _timestamps(course: Course, dest: Path, lms: LmsRules, chosen: dict, label, report: CollectReport) -> list[Taken]:
    """nbgrader's ``timestamp.txt`` for every submission taken from an LMS download.

    The rule (what decides lateness, so it must not depend on when or how often the
    instructor downloads):

    * A submission whose notebooks taken now are all ``unchanged`` (the same bytes as in
      ``submitted/``) keeps the time already recorded in its ``timestamp.txt``, whatever
      this download says: Canvas and Moodle date their zip members when they make the zip
      (Canvas's ``lib/content_zipper.rb`` writes entries without a date of their own;
      Moodle's ``downloader.php`` likewise), so a later download of the same file would
      otherwise move it later (a larger penalty, or on-time work made late), and an older
      one back.  The collect report says when a download dates such submissions otherwise.
    * A new or changed submission (any notebook ``new`` or ``updated``), or one with no
      readable recorded time, gets the time the LMS gives for it
      (:func:`_submission_time`): Canvas, the member's date bounded by its ``LATE`` mark
      (at most the due date when not marked late, after it when marked); Moodle, the
      grading worksheet's *Last modified (submission)*; a pattern's ``timestamp`` group.
    """
    taken = []
    unknown = kept = 0
    changed = {(t.student, t.assignment) for t in report.taken if t.notebook is not None and t.status != "unchanged"}
    for (student, assignment), group in chosen.items():
        when = _submission_time(course, lms, assignment, group)
        if when is None:
            unread = _unread_time(lms, group)
            if unread:
                report.refused.append(Refused(f"{label(group[0].entry.origin)} (time)", unread))
            else:
                unknown += 1
            continue
        text = when.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
        target = dest / student / assignment / TIMESTAMP
        source_label = f"{label(group[0].entry.origin)} (time)"
        status = "new"
        same_files = (student, assignment) not in changed
        try:
            if target.is_file() and not target.is_symlink():
                old = target.read_text(encoding="utf-8", errors="replace").strip()
                if old == text or (same_files and _readable_time(old)):
                    kept += old != text
                    taken.append(Taken(student, assignment, None, source_label, target, "unchanged"))
                    continue
                status = "updated"
            elif target.exists() or target.is_symlink() or _symlink_on_path(dest, target) is not None:
                report.refused.append(Refused(source_label, f"destination {target} is not a plain file; not written"))
                continue
            atomic_write_bytes(target, (text + "\n").encode())
        except OSError as exc:
            report.refused.append(Refused(source_label, f"could not be written ({os_error_text(exc, target)})"))
            continue
        taken.append(Taken(student, assignment, None, source_label, target, status))
    if kept:
        report.notes.append(f"{kept} unchanged submission{'s keep' if kept != 1 else ' keeps'} the submission time "
                            "recorded when first collected; this download dates them otherwise (an LMS dates the "
                            "files of its zip when it makes the zip)")
    if unknown and lms.kind == "moodle" and lms.worksheet is not None:
        report.notes.append(f"no submission time for {unknown} submissions: the grading worksheet gives none for "
                            f"them (its {SUBMITTED_COLUMN!r} is empty or '-')")
    elif unknown and lms.kind == "moodle":
        report.notes.append(f"no submission time for {unknown} submissions: Moodle dates the files of its zip when "
                            "it makes the zip, not when they were submitted; pass its grading worksheet "
                            "(--worksheet) to take the submission times")
    elif unknown:
        report.notes.append(f"no submission time for {unknown} submissions (the download gives none)")
    return taken


def _readable_time(text: str) -> bool:
    """Whether a recorded ``timestamp.txt`` holds a time nbgrader can read: its own reading
    (``CourseDirectory.get_existing_timestamp``: the text stripped, then ``parse_utc``)."""
    from nbgrader.utils import parse_utc  # already imported: an LMS download loaded the roster through nbgrader

    text = text.strip()
    if not text:
        return False
    try:
        parse_utc(text)
    except (ValueError, OverflowError):  # dateutil's ParserError is a ValueError
        return False
    return True


def _take_one(c: _Candidate, target: Path, dest: Path, source_label: str) -> Taken | Refused:
    """Read one candidate and write it to ``target``: what was taken, or why not."""
    link = _symlink_on_path(dest, target)
    if link is not None:
        return Refused(source_label, f"destination {link} is a symbolic link; not written")
    try:
        data = c.entry.read()
    except NotRegular as exc:
        return Refused(source_label, f"{exc}: refused, not followed")
    except TooLarge as exc:
        return Refused(source_label, str(exc))
    except OSError as exc:
        return Refused(source_label, f"could not be read ({exc.strerror or exc})")
    except Exception as exc:  # noqa: BLE001 - a zip member that does not decompress, a lying size...
        return Refused(source_label, f"could not be read ({type(exc).__name__}: {exc})")
    warning = _notebook_warning(data, target.name) if c.notebook is not None else ""
    if target.is_file():
        if target.read_bytes() == data:
            return Taken(c.student, c.assignment, c.notebook, source_label, target, "unchanged", warning)
        if target.stat().st_mtime > c.entry.mtime:
            return Refused(source_label, f"older than the copy already in {target}; kept that one")
        status = "updated"
    elif target.exists():
        return Refused(source_label, f"destination {target} exists and is not a file; not written")
    else:
        status = "new"
    try:
        atomic_write_bytes(target, data, mtime=c.entry.mtime if c.entry.mtime > 0 else None)
    except OSError as exc:  # a full disk, a read-only folder: this file is not taken
        return Refused(source_label, f"could not be written ({os_error_text(exc, target)})")
    return Taken(c.student, c.assignment, c.notebook, source_label, target, status, warning)
