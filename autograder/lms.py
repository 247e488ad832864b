"""How LMSs name the files of a submissions download, and who each file belongs to.

``course collect DOWNLOAD --lms canvas|moodle|pattern`` (or course.yml's ``lms.kind``)
reads the download through these rules; :mod:`autograder.collect` does the rest (safe
reads, the newest file wins, nothing written outside ``submitted/``).  Each rule below is
the LMS's own, read from its source code:

Canvas ("Download Submissions"; ``lib/content_zipper.rb``)
    One file per uploaded attachment, at the top of the zip:
    ``<name>[_LATE]_<user id>_<attachment id>_<file>``.  ``<name>`` is the student's
    sortable name ("Last, First") lower-cased with everything but letters, digits and
    ``_`` removed (``lovelaceada``); ``LATE`` (older Canvas: ``late``; any case here) marks
    work Canvas counted late; ``<user id>`` is Canvas's user id (the ``ID`` column of its
    gradebook export: the roster's LMS user id); ``<file>`` is the name the student
    uploaded, where Canvas appends ``-1``, ``-2``... before the extension when the
    student uploads a file of the same name again (a resubmission).  With anonymous
    grading the name is ``anon_<id>``: nobody can be matched, and such files are refused.
Moodle ("Download all submissions"; ``mod/assign/classes/downloader.php``)
    One folder per student and submission plugin:
    ``<Full Name>_<participant id>_assignsubmission_file[_]/<file>`` (the trailing ``_``
    in Moodle before 4.1), or, with "Download submissions in folders" off, flat files
    ``<Full Name>_<participant id>_assignsubmission_file_<file>``.  ``_`` in names
    becomes a space; the participant id is Moodle's per-assignment identifier (the
    ``Participant 12345`` of its grading worksheet), not the user id.  Online-text
    folders (``assignsubmission_onlinetext``) hold no notebook and are ignored.
Any other LMS (``lms.kind: pattern``)
    ``lms.pattern`` is a regular expression with named groups, nbgrader's ZipCollect
    convention: one identity group (``student_id``, ``login``, ``lms_user_id``,
    ``participant`` or ``email``), ``file_id`` (the notebook's file name), optionally
    ``timestamp`` (read with dateutil, in ``lms.zip_timezone``), ``late`` and
    ``version`` (a number: the highest wins).  It is matched against the file's path in
    the download (``folder/file`` for a file in a folder).

Who: identities are looked up in the roster (:mod:`autograder.roster`): Canvas's user id
against the LMS user id; Moodle's participant id through the grading worksheet when one
is given (``--worksheet``: its ``Identifier``, ``Email address`` and ``ID number``
columns), else its full name against the roster's names (first and last, in either
order, accents and case ignored); a pattern's group against the field it names.  No
match, or more than one, refuses the file with the reason.

When (nbgrader's ``timestamp.txt``): the zip member's date (exact when the zip records
Info-ZIP's UTC time field, else its local date read in ``lms.zip_timezone``, default
``schedule.timezone``), or for a folder the file's modification time; a pattern's
``timestamp`` group wins.  Canvas and Moodle date their zip members when they make the
zip, not when the student submitted (both write entries without a date of their own),
so:

* Canvas: its ``LATE`` mark decides whether the work was late: work it did not mark late
  gets at most the due date; work it marked late at least one second after it, the
  member's date otherwise (an upper bound of the real time: download soon after the due
  date).
* Moodle: the grading worksheet's ``Last modified (submission)`` column (in
  ``schedule.timezone``) gives the real time.  Moodle writes it in the language of the
  one who downloads the worksheet; English ones are read (UK and US order, 12- or
  24-hour, with or without weekday and seconds) and ISO 8601.  A time in another form
  is refused for its file, quoting it (the notebook is taken, without a time); without
  a worksheet no time is recorded (no lateness) and the collect report says so.

A submission already collected whose notebook is the same file in a later download keeps
the time recorded when it was first collected (``collect._timestamps``): downloading again
moves nobody's time; only a new or changed notebook takes the new download's time.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

from .display import visible
from .errors import BadInput
from .fileio import NotRegular, TooLarge, read_untrusted
from .roster import Roster

__all__ = ["LmsFile", "LmsRules", "Worksheet", "WorksheetRow", "parse_name", "resolve", "notebook_of",
           "read_worksheet", "zip_member_time", "download_hint", "KINDS"]

KINDS = ("canvas", "moodle", "pattern")
CANVAS_RE = re.compile(r"^(?P<name>\w*?)(?:_(?P<late>late))?_(?P<user>\d+)_(?P<attachment>\d+)_(?P<file>.+)$",
                       re.IGNORECASE)
CANVAS_ANON_RE = re.compile(r"^(?:late_)?anon_[A-Za-z0-9]+_\d+_.+$", re.IGNORECASE)
MOODLE_FOLDER_RE = re.compile(r"^(?P<name>.+?)_(?P<participant>\d+)_assignsubmission_(?P<plugin>[a-z]+)_?$")
MOODLE_FLAT_RE = re.compile(r"^(?P<name>.+?)_(?P<participant>\d+)_assignsubmission_(?P<plugin>[a-z]+)_(?P<file>.+)$")
VERSION_RE = re.compile(r"^(?P<stem>.+)-(?P<version>\d+)$")


@dataclass(frozen=True)
class LmsFile:
    """One file of an LMS download, as its name describes it.

    ``field``/``key``: the roster field the identity is matched against and its value
    (``participant`` for Moodle's per-assignment id); ``name``: the student's name as
    the LMS wrote it; ``filename``: the file's name as the student uploaded it (Canvas's
    ``-N`` kept: see :func:`notebook_of`); ``late``: the LMS's own verdict (None: it
    says nothing); ``rank``: orders the files of one student and notebook, the newest
    last; ``when``: a time the name gives (pattern's ``timestamp``).
    """

    kind: str
    field: str
    key: str
    name: str
    filename: str
    late: bool | None = None
    rank: tuple = ()
    when: dt.datetime | None = None
    ignore: str = ""  # a reason this entry is not a submitted file at all (Moodle's online text)


@dataclass
class LmsRules:
    """What ``course collect`` needs to read one LMS download."""

    kind: str
    roster: Roster
    pattern: re.Pattern | None = None
    zone: dt.tzinfo = dt.timezone.utc
    worksheet: Worksheet | None = None
    notes: list[str] = field(default_factory=list)


def parse_name(rules: LmsRules, parts: tuple[str, ...]) -> LmsFile | str:
    """The :class:`LmsFile` of the entry at ``parts`` (its path in the download), or the
    reason it does not follow the LMS's naming."""
    if rules.kind == "canvas":
        return _canvas(parts)
    if rules.kind == "moodle":
        return _moodle(parts)
    return _pattern(rules, parts)


def _canvas(parts: tuple[str, ...]) -> LmsFile | str:
    if len(parts) != 1:
        return "in a folder: Canvas puts every file at the top of its zip"
    name = parts[0]
    if CANVAS_ANON_RE.match(name):
        return ("anonymous grading: Canvas names no student (anon_<id>); turn anonymous grading off "
                "before downloading, or collect these by hand")
    m = CANVAS_RE.match(name)
    if not m:
        return "not Canvas's naming <name>[_LATE]_<user id>_<attachment id>_<file>"
    return LmsFile("canvas", "lms_user_id", m["user"], m["name"], m["file"], late=m["late"] is not None,
                   rank=(int(m["attachment"]),))


def _moodle(parts: tuple[str, ...]) -> LmsFile | str:
    if len(parts) == 1:
        m = MOODLE_FLAT_RE.match(parts[0])
        if not m:
            return "not Moodle's naming <Full Name>_<participant id>_assignsubmission_file_<file>"
        filename = m["file"]
    else:
        m = MOODLE_FOLDER_RE.match(parts[0])
        if not m:
            return "not Moodle's folder naming <Full Name>_<participant id>_assignsubmission_file_/"
        if len(parts) > 2:
            return "in a sub-folder of the student's Moodle folder: only files at its top are collected"
        filename = parts[1]
    ignore = "" if m["plugin"] == "file" else f"Moodle's {m['plugin']} submission, not a file: ignored"
    return LmsFile("moodle", "participant", m["participant"], m["name"], filename, ignore=ignore)


_PATTERN_FIELDS = {"student_id": "id", "login": "lms_login", "lms_user_id": "lms_user_id",
                   "participant": "participant", "email": "email"}


def _pattern(rules: LmsRules, parts: tuple[str, ...]) -> LmsFile | str:
    path = "/".join(parts)
    m = rules.pattern.match(path) if rules.pattern is not None else None
    if not m:
        return f"does not match course.yml's lms.pattern {rules.pattern.pattern if rules.pattern else ''!r}"
    groups = {k: v for k, v in m.groupdict().items() if v is not None}
    identity = next((k for k in _PATTERN_FIELDS if groups.get(k)), None)
    if identity is None or not groups.get("file_id"):
        return "lms.pattern matched without an identity or a file_id"
    when = None
    if groups.get("timestamp"):
        when = _parse_time(groups["timestamp"], rules.zone)
        if when is None:
            return f"timestamp {groups['timestamp']!r} in the name is not a date and time"
    version = int(groups["version"]) if groups.get("version", "").isdigit() else 0
    name = " ".join(p for p in (groups.get("first_name"), groups.get("last_name")) if p) or groups.get("name", "")
    late = bool(groups["late"]) if "late" in m.groupdict() else None
    return LmsFile("pattern", _PATTERN_FIELDS[identity], groups[identity], name,
                   groups["file_id"].rsplit("/", 1)[-1], late=late, rank=(version,), when=when)


def _parse_time(text: str, zone: dt.tzinfo) -> dt.datetime | None:
    from dateutil.parser import ParserError, parse

    try:
        when = parse(text.replace("_", " "))
    except (ParserError, ValueError, OverflowError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=zone)


def download_hint(parts: tuple[str, ...]) -> str:
    """For an entry of a folder or zip collected without ``--lms`` (at ``parts``): a hint
    when it is named as Canvas or Moodle names the files of their downloads, "" otherwise.
    (Such a name read as ``<student>_<notebook>.ipynb`` gives student ids such as
    ``lovelaceada_1001_5001``.)"""
    if len(parts) == 1 and (CANVAS_RE.match(parts[0]) or CANVAS_ANON_RE.match(parts[0])):
        return ("the name looks like a Canvas download (<name>[_LATE]_<user id>_<attachment id>_<file>): "
                "use --lms canvas (or lms.kind: canvas in course.yml)")
    if MOODLE_FLAT_RE.match(parts[0]) if len(parts) == 1 else MOODLE_FOLDER_RE.match(parts[0]):
        return ("the name looks like a Moodle download (<Full Name>_<participant id>_assignsubmission_file_...): "
                "use --lms moodle (or lms.kind: moodle in course.yml)")
    return ""


def notebook_of(filename: str, known: set[str]) -> tuple[str, int] | None:
    """The notebook ``filename`` is a copy of, and its resubmission number: ``slicing.ipynb``
    is (slicing, 0), Canvas's ``slicing-2.ipynb`` (slicing, 2); None if it is none of
    ``known`` (an exact name wins: a notebook may itself end in ``-2``)."""
    if not filename.endswith(".ipynb"):
        return None
    stem = filename[: -len(".ipynb")]
    if stem in known:
        return stem, 0
    m = VERSION_RE.match(stem)
    if m and m["stem"] in known:
        return m["stem"], int(m["version"])
    return None


def resolve(rules: LmsRules, f: LmsFile) -> str | tuple[str]:
    """The student id of ``f`` (a 1-tuple), or the reason it cannot be told."""
    roster = rules.roster
    who = f"{visible(f.key)}" + (f" ({visible(f.name)})" if f.name else "")
    if not roster:
        return ("the roster is empty: import the class list first (`course roster import`, e.g. the LMS's "
                "gradebook export)")
    if f.field == "participant":
        return _moodle_student(rules, f, who)
    if f.field == "id":
        found = [roster.get(f.key)] if roster.get(f.key) else []
    else:
        found = roster.find(f.field, f.key)
    label = {"lms_user_id": "LMS user id", "lms_login": "login", "email": "email", "id": "student id"}[f.field]
    if not found:
        return f"{rules.kind}: {label} {who} is not in the roster"
    if len(found) > 1:
        return f"{rules.kind}: {label} {who} is ambiguous: students {', '.join(s.id for s in found)}"
    return (found[0].id,)


def _moodle_student(rules: LmsRules, f: LmsFile, who: str) -> str | tuple[str]:
    roster = rules.roster
    row = rules.worksheet.rows.get(f.key) if rules.worksheet is not None else None
    if row is not None:
        for field_name, value in (("email", row.email), ("sis_user_id", row.id_number)):
            found = roster.find(field_name, value)
            if len(found) == 1:
                return (found[0].id,)
        found = roster.by_name(row.full_name)
        if len(found) == 1:
            return (found[0].id,)
        return (f"moodle: participant {who} is {visible(row.email or row.full_name)} in the worksheet, "
                "who is not (or not only once) in the roster")
    if rules.worksheet is not None:
        return f"moodle: participant {who} is not in the grading worksheet"
    found = roster.by_name(f.name)
    if len(found) == 1:
        return (found[0].id,)
    if not found:
        return (f"moodle: participant {who}: nobody of that name in the roster (pass Moodle's grading "
                "worksheet with --worksheet to match by email)")
    return (f"moodle: participant {who}: {len(found)} students of that name in the roster "
            f"({', '.join(s.id for s in found)}); pass Moodle's grading worksheet with --worksheet")


# --------------------------------------------------------------------------------------
# Moodle's grading worksheet
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WorksheetRow:
    """One participant of the worksheet; ``submitted_text`` is its ``Last modified
    (submission)`` as written ("" or "-": none), ``submitted`` that time when it could
    be read (see :func:`_moodle_time`), else None."""

    participant: str
    full_name: str
    email: str
    id_number: str
    submitted: dt.datetime | None
    submitted_text: str = ""


@dataclass
class Worksheet:
    """Moodle's grading worksheet (Assignment > "Download grading worksheet")."""

    rows: dict[str, WorksheetRow]


#: The column of Moodle's grading worksheet that says when each submission was made.
SUBMITTED_COLUMN = "Last modified (submission)"
# Moodle writes it with userdate() in the language of whoever downloads the worksheet:
# its langconfig's strftimedaydatetime, with the day and the 12-hour hour unpadded.
# English (lang/en): '%A, %d %B %Y, %I:%M %p', "Tuesday, 10 March 2026, 1:05 AM"; US
# English (lang/en_us): '%A, %B %d, %Y, %I:%M %p', "Tuesday, March 10, 2026, 1:05 AM";
# also read: 24-hour times, abbreviated names, no weekday, seconds, and (as before) a
# day-first 06/03/2026.  Commas and an "at" are dropped before these are tried.
_DAYS = ("%A ", "%a ", "")
_DATES = ("%d %B %Y", "%B %d %Y", "%d %b %Y", "%b %d %Y", "%d/%m/%Y")
_TIMES = ("%I:%M %p", "%I:%M:%S %p", "%H:%M", "%H:%M:%S")
_MOODLE_TIME_FORMATS = tuple(f"{day}{date} {time}" for day in _DAYS for date in _DATES for time in _TIMES)
#: What the worksheet's dates may look like, for messages.
MOODLE_TIME_EXAMPLES = "'Tuesday, 10 March 2026, 1:05 AM', 'Tuesday, March 10, 2026, 1:05 AM' or '2026-03-10 01:05'"


def _moodle_time(text: str, zone: dt.tzinfo) -> dt.datetime | None:
    """A worksheet's date: one of the English forms above, or ISO 8601 (``2026-03-10
    01:05[:00]``, a ``T`` and a UTC offset allowed); None if it is none of them."""
    text = " ".join(text.split())
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        pass
    else:
        return when if when.tzinfo is not None else when.replace(tzinfo=zone)
    text = " ".join(w for w in text.replace(",", " ").split() if w.casefold() != "at")
    for fmt in _MOODLE_TIME_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).replace(tzinfo=zone)
        except ValueError:
            continue
    return None


def read_worksheet(path: Path, *, zone: dt.tzinfo) -> Worksheet:
    """Moodle's grading worksheet: participant id -> email, ID number, name and the
    submission's time (its ``Last modified (submission)``, read in ``zone``; a time that
    cannot be read is kept as text, and ``course collect`` refuses it for its file).

    Raises BadInput for a file that is not one.
    """
    try:
        text = read_untrusted(Path(path), max_bytes=20 * 2**20).decode("utf-8-sig")
    except FileNotFoundError:
        raise BadInput(f"{visible(path)}: no such worksheet") from None
    except (OSError, NotRegular, TooLarge, UnicodeDecodeError) as exc:
        raise BadInput(f"{visible(path)}: cannot be read as a UTF-8 CSV ({exc})") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    headers = {(h or "").strip().casefold(): h for h in (reader.fieldnames or [])}
    if "identifier" not in headers:
        raise BadInput(f"{visible(path)}: not Moodle's grading worksheet (no Identifier column)")

    def col(row, name):
        key = headers.get(name)
        return (row.get(key) or "").strip() if key else ""

    rows = {}
    for row in reader:
        m = re.search(r"(\d+)\s*$", col(row, "identifier"))
        if not m:
            continue
        submitted = col(row, SUBMITTED_COLUMN.casefold())
        if submitted == "-":
            submitted = ""
        rows[m.group(1)] = WorksheetRow(m.group(1), col(row, "full name"), col(row, "email address"),
                                        col(row, "id number"), _moodle_time(submitted, zone) if submitted else None,
                                        submitted)
    return Worksheet(rows)


# --------------------------------------------------------------------------------------
# zip member dates
# --------------------------------------------------------------------------------------
def zip_member_time(info, zone: dt.tzinfo) -> dt.datetime | None:
    """A zip member's date: Info-ZIP's UTC time field (0x5455) when present, else its
    DOS date and time read in ``zone``; None if it has none that makes sense."""
    extra = info.extra or b""
    i = 0
    while i + 4 <= len(extra):
        tag, size = struct.unpack("<HH", extra[i:i + 4])
        body = extra[i + 4:i + 4 + size]
        if tag == 0x5455 and len(body) >= 5 and body[0] & 1:
            (mtime,) = struct.unpack("<I", body[1:5])
            return dt.datetime.fromtimestamp(mtime, dt.timezone.utc)
        i += 4 + size
    try:
        return dt.datetime(*info.date_time).replace(tzinfo=zone)
    except (TypeError, ValueError):
        return None
