"""course.yml: the course's single source of truth, validated on load.

Everything else in the project (release, grading, checks, export, the nbgrader
configuration) reads the course through :func:`load_course`.  A file that does not
fit the schema raises :class:`CourseConfigError` whose message names the file, the
key (as a dotted path such as ``assignments[0].notebooks[0].questions[2].points``)
and what was expected.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import BadInput, NotFound

__all__ = [
    "CourseConfigError",
    "Course",
    "Assignment",
    "Notebook",
    "Question",
    "Tolerance",
    "DataFile",
    "GradingLimits",
    "LatePolicy",
    "Schedule",
    "LmsSettings",
    "ExchangeSettings",
    "parse_when",
    "time_zone",
    "find_course_root",
    "load_course",
    "machine_memory_mb",
    "check_machine_limits",
]

COURSE_FILE = "course.yml"
#: The course folder's steps, in nbgrader's names and order.
STEPS = ("source", "release", "submitted", "autograded", "feedback")
#: The steps that hold one folder per student.
PER_STUDENT = ("submitted", "autograded", "feedback")
_ID = r"^[a-z0-9][a-z0-9_-]*$"
Ident = Annotated[str, Field(pattern=_ID, description="lower-case letters, digits, '-' and '_'")]
PyName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class CourseConfigError(BadInput):
    """course.yml is missing, unreadable or does not fit the schema."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Tolerance(_Strict):
    """Numeric tolerance: an answer passes where |a - ref| <= atol + rtol * |ref|."""

    rtol: float = Field(ge=0)
    atol: float = Field(ge=0)


class Question(_Strict):
    """One graded question.

    An autograded question (the default) has a solution cell ``id`` and a locked, graded
    test cell ``id + '-test'``, and ``names``: the variables its hidden check reads.  A
    ``manual`` question is a written answer graded by hand in nbgrader's formgrader: one
    cell ``id``, both the answer and the graded cell (nbgrader's "manually graded
    answer"), no names and no hidden check; it scores nothing until a grader gives it
    points ("needs manual grading"), and ``rubric`` tells graders what earns them.
    """

    id: Ident
    points: float = Field(gt=0)
    names: list[PyName] = []
    title: str | None = None
    tolerance: Tolerance | None = None
    manual: bool = False
    rubric: str | None = None

    @model_validator(mode="after")
    def _kind(self) -> Question:
        if self.manual and (self.names or self.tolerance):
            raise ValueError(f"question {self.id!r} is graded by hand (manual: true): it takes no names or tolerance")
        if not self.manual and not self.names:
            raise ValueError(f"question {self.id!r} needs names: the variables its hidden check reads")
        if self.rubric and not self.manual:
            raise ValueError(f"question {self.id!r}: a rubric is for questions graded by hand (manual: true)")
        return self

    @property
    def test_id(self) -> str:
        """grade_id of the (locked, graded) test cell of an autograded question."""
        return f"{self.id}-test"

    @property
    def grade_cell(self) -> str:
        """grade_id of the cell nbgrader scores: the test cell, or a manual answer itself."""
        return self.id if self.manual else self.test_id


class Notebook(_Strict):
    name: Ident
    questions: list[Question] = Field(min_length=1)

    @property
    def filename(self) -> str:
        return f"{self.name}.ipynb"

    @property
    def points(self) -> float:
        return sum(q.points for q in self.questions)


class LatePolicy(_Strict):
    """What a late submission costs (course.yml ``schedule.late``, or an assignment's ``late``).

    ``policy``: ``none`` (nothing), ``zero`` (the whole score) or ``percent``
    (``percent_per_day`` of the score for every day or part of a day after the due
    date, at most ``max_percent``).  A submission at most ``grace_minutes`` after the
    due date is not late.  Applied by nbgrader's late-submission plugin mechanism
    (:class:`autograder.late.CourseLatePenalty`).
    """

    policy: Literal["none", "zero", "percent"] = "none"
    percent_per_day: float | None = Field(None, gt=0, le=100, allow_inf_nan=False)
    max_percent: float = Field(100, gt=0, le=100, allow_inf_nan=False)
    grace_minutes: float = Field(0, ge=0, le=7 * 24 * 60, allow_inf_nan=False)

    @model_validator(mode="after")
    def _consistent(self) -> LatePolicy:
        if self.policy == "percent" and self.percent_per_day is None:
            raise ValueError("policy 'percent' needs percent_per_day (the share of the score taken per day late)")
        if self.policy != "percent" and self.percent_per_day is not None:
            raise ValueError(f"percent_per_day is for policy 'percent', not {self.policy!r}")
        return self


_WHEN = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})[ T](\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*"
                   r"(Z|UTC|[+-]\d{2}:?\d{2}|[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+)*)?\s*$")


def time_zone(name: str) -> dt.tzinfo:
    """The time zone called ``name`` (an IANA name, or UTC); ValueError naming it if unknown."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if name in ("UTC", "Z"):
        return dt.timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as Europe/Berlin, or UTC)") from None


def parse_when(value: str | dt.datetime, *, zone: str = "UTC") -> dt.datetime:
    """A date and time from course.yml, as an aware datetime.

    ``value`` is ``YYYY-MM-DD HH:MM[:SS]`` followed by nothing (the time is in ``zone``),
    an offset (``+01:00``, ``Z``) or a time zone name (``Europe/Berlin``, ``UTC``); or a
    datetime (YAML reads ``2026-03-06 23:59:00`` as one; a naive one is in ``zone``).
    Raises ValueError saying what is expected.
    """
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=time_zone(zone))
    m = _WHEN.match(str(value))
    if not m:
        raise ValueError(f"{value!r} is not a date and time: write YYYY-MM-DD HH:MM, optionally followed by "
                         "an offset (+01:00) or a time zone (Europe/Berlin)")
    day, clock, tz = m.groups()
    try:
        when = dt.datetime.fromisoformat(f"{day}T{'0' + clock if clock[1] == ':' else clock}")
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a date and time ({exc})") from None
    if tz and (tz[0] in "+-"):
        hours, minutes = int(tz[1:3]), int(tz[-2:])
        offset = dt.timedelta(hours=hours, minutes=minutes)
        return when.replace(tzinfo=dt.timezone(offset if tz[0] == "+" else -offset))
    return when.replace(tzinfo=time_zone(tz or zone))


class Assignment(_Strict):
    id: Ident
    title: str
    notebooks: list[Notebook] = Field(min_length=1)
    total: float = Field(gt=0)
    due: str | dt.datetime | None = Field(
        None, description="due date: YYYY-MM-DD HH:MM, in schedule.timezone unless an offset or zone follows")
    late: LatePolicy | None = Field(None, description="late policy of this assignment (default: schedule.late)")
    lms_id: str | None = Field(
        None, min_length=1, max_length=200,
        description="the assignment in the LMS: Canvas's assignment id (12345), Moodle's grade item name")

    @property
    def points(self) -> float:
        return sum(nb.points for nb in self.notebooks)

    @property
    def questions(self) -> list[Question]:
        return [q for nb in self.notebooks for q in nb.questions]

    def notebook(self, name: str) -> Notebook:
        for nb in self.notebooks:
            if nb.name == name:
                return nb
        known = ", ".join(nb.name for nb in self.notebooks)
        raise NotFound(f"assignment {self.id!r} has no notebook {name!r} (it has: {known})")

    @model_validator(mode="after")
    def _consistent(self) -> Assignment:
        seen: dict[str, str] = {}
        for nb in self.notebooks:
            for q in nb.questions:
                for gid in {q.id, q.grade_cell}:
                    if gid in seen:
                        msg = f"duplicate grade id {gid!r} in assignment {self.id!r} (notebooks {seen[gid]!r} and {nb.name!r}); grade ids must be unique"
                        raise ValueError(msg)
                    seen[gid] = nb.name
        names = [nb.name for nb in self.notebooks]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate notebook name in assignment {self.id!r}: {names}")
        if abs(self.points - self.total) > 1e-9:
            msg = f"the questions' points add up to {self.points:g} but total is {self.total:g}"
            raise ValueError(msg)
        return self


class DataFile(_Strict):
    """A data file the course needs, with where to fetch it and how to verify it."""

    name: str = Field(pattern=r"^[A-Za-z0-9._-]+$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(gt=0)
    url: str = Field(pattern=r"^https?://")
    archive_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    member: str | None = None


class DataSection(_Strict):
    search_dirs: list[str] = []
    files: list[DataFile] = Field(min_length=1)


class Tolerances(_Strict):
    default: Tolerance


class GradingLimits(_Strict):
    """course.yml's ``grading``: what a student's notebook may use, and what is drawn.

    Every value is bounded (finite, and within what a grading machine can give), so
    that a typo cannot pass validation and then make every notebook fail; the sandbox
    reads them through :class:`autograder.sandbox.limits.Limits`.  Whether
    ``memory_mb`` fits the machine that grades is checked when grading starts
    (:func:`check_machine_limits`), not on load: course.yml is read on other machines.
    """

    cell_timeout: float = Field(gt=0, le=3600, allow_inf_nan=False, description="seconds one cell may run")
    notebook_timeout: float = Field(gt=0, le=86400, allow_inf_nan=False, description="seconds a whole notebook may run")
    memory_mb: int = Field(ge=256, le=1 << 20, description="address-space cap of the student process, MiB")
    max_processes: int = Field(ge=1, le=4096, description="processes student code may have at once")
    max_output_kb: int = Field(ge=1, le=65536, description="text one cell may print before it is cut, KiB")
    file_size_mb: int = Field(256, ge=1, le=16384,
                              description="largest file the student's code may write, and the size of its "
                                          "in-memory working folder, MiB")
    open_files: int = Field(256, ge=32, le=65536, description="file descriptors the student's process may hold")
    max_image_kb: int = Field(4096, ge=1, le=65536, description="largest image one output may hold, KiB")
    max_images_kb: int = Field(12288, ge=1, le=262144, description="images one cell may show in all, KiB")
    max_outputs: int = Field(400, ge=1, le=10000, description="outputs one cell may show")
    max_errors: int = Field(10, ge=1, le=1000, description="error outputs kept per cell")
    plots: Literal["jpeg", "png", "none"] = Field(
        "none",
        description="the pictures the grader draws into graded notebooks: none (the default and fastest; "
        "the checks read the plots' data, and feedback shows the pictures of the submitted notebook), "
        "72-dpi JPEG, or PNG as a stock kernel draws them",
    )

    @model_validator(mode="after")
    def _consistent(self) -> GradingLimits:
        if self.max_images_kb < self.max_image_kb:
            raise ValueError(f"max_images_kb ({self.max_images_kb}) is below max_image_kb ({self.max_image_kb}): "
                             "one image would not fit in a cell's budget")
        return self


class SimilaritySettings(_Strict):
    """course.yml's ``similarity``: when ``course similarity`` flags a pair of students."""

    threshold: float = Field(0.7, gt=0, le=1, allow_inf_nan=False,
                             description="pairs scoring at least this are flagged (0..1; see README, Similar code)")


class Schedule(_Strict):
    """course.yml's ``schedule``: the time zone of due dates, and the default late policy."""

    timezone: str = Field("UTC", description="IANA time zone of due dates written without one")
    late: LatePolicy = LatePolicy()

    @model_validator(mode="after")
    def _known_zone(self) -> Schedule:
        time_zone(self.timezone)
        return self


#: The identity groups an LMS file-name pattern may name (one is needed), and the others.
PATTERN_IDENTITIES = ("student_id", "login", "lms_user_id", "participant", "email")
PATTERN_OTHERS = ("file_id", "timestamp", "late", "version", "name", "first_name", "last_name")


class LmsSettings(_Strict):
    """course.yml's ``lms``: what ``course collect`` expects from an LMS download.

    ``kind``: ``canvas`` (Canvas's "Download Submissions" zip), ``moodle`` (Moodle's
    "Download all submissions" zip or folder) or ``pattern`` (any other LMS: ``pattern``
    is a regular expression with named groups, nbgrader's ZipCollect convention: one
    identity group among student_id, login, lms_user_id, participant, email, and
    ``file_id``; optionally ``timestamp``, ``late``, ``version``).  ``zip_timezone``: the
    zone of zip member dates that carry none (default: schedule.timezone).
    """

    kind: Literal["canvas", "moodle", "pattern"] | None = None
    pattern: str | None = Field(None, max_length=2000)
    zip_timezone: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> LmsSettings:
        if self.zip_timezone is not None:
            time_zone(self.zip_timezone)
        if self.kind == "pattern" and not self.pattern:
            raise ValueError("kind 'pattern' needs pattern: a regular expression with named groups")
        if self.pattern is not None:
            if self.kind != "pattern":
                raise ValueError("pattern is for kind 'pattern'")
            try:
                groups = set(re.compile(self.pattern).groupindex)
            except re.error as exc:
                raise ValueError(f"pattern is not a regular expression: {exc}") from None
            unknown = groups - set(PATTERN_IDENTITIES) - set(PATTERN_OTHERS)
            if unknown:
                raise ValueError(f"pattern has unknown named group(s) {', '.join(sorted(unknown))} "
                                 f"(known: {', '.join(PATTERN_IDENTITIES + PATTERN_OTHERS)})")
            if "file_id" not in groups or not groups & set(PATTERN_IDENTITIES):
                raise ValueError("pattern needs a (?P<file_id>...) group and one identity group: "
                                 + ", ".join(PATTERN_IDENTITIES))
        return self


class ExchangeSettings(_Strict):
    """course.yml's ``exchange``: nbgrader's exchange of a JupyterHub class.

    ``root`` is the exchange folder every student can write to (nbgrader's
    ``Exchange.root``; JupyterHub deployments usually use /srv/nbgrader/exchange).
    ``check_owner``: refuse a submission whose folder belongs to another account than
    the student it names (turn off where every student's server runs as one user, as
    in docker-based hubs where everyone is ``jovyan``).
    """

    root: str = Field(min_length=1)
    check_owner: bool = True

    @model_validator(mode="after")
    def _absolute(self) -> ExchangeSettings:
        if not os.path.isabs(self.root):
            raise ValueError(f"root must be an absolute path, got {self.root!r}")
        return self


class CourseInfo(_Strict):
    id: Ident
    title: str


class Course(_Strict):
    """The validated content of course.yml, plus the folder it was read from."""

    course: CourseInfo
    data: DataSection
    tolerances: Tolerances
    grading: GradingLimits
    similarity: SimilaritySettings = SimilaritySettings()
    schedule: Schedule = Schedule()
    lms: LmsSettings = LmsSettings()
    exchange: ExchangeSettings | None = None
    assignments: list[Assignment] = Field(min_length=1)
    root: Path = Field(default=Path("."), exclude=True)

    @model_validator(mode="after")
    def _unique_ids(self) -> Course:
        ids = [a.id for a in self.assignments]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate assignment id(s): {', '.join(dupes)}")
        for i, a in enumerate(self.assignments):
            try:
                self.due_date(a)
            except ValueError as exc:
                raise ValueError(f"assignments[{i}].due: {exc}") from None
        return self

    # -- lookups -------------------------------------------------------------------
    def assignment(self, assignment_id: str) -> Assignment:
        for a in self.assignments:
            if a.id == assignment_id:
                return a
        known = ", ".join(a.id for a in self.assignments)
        msg = f"unknown assignment {assignment_id!r}; course.yml declares: {known}"
        raise NotFound(msg)

    def due_date(self, assignment: Assignment) -> dt.datetime | None:
        """The assignment's due date as an aware datetime (None: no due date)."""
        if assignment.due is None:
            return None
        return parse_when(assignment.due, zone=self.schedule.timezone)

    def late_policy(self, assignment: Assignment) -> LatePolicy:
        """The assignment's late policy (its own, else schedule.late)."""
        return assignment.late or self.schedule.late

    def tolerance(self, question: Question) -> Tolerance:
        return question.tolerance or self.tolerances.default

    def data_file(self, name: str) -> DataFile:
        for f in self.data.files:
            if f.name == name:
                return f
        raise NotFound(f"course.yml declares no data file {name!r}")

    # -- the course folder ------------------------------------------------------------
    # nbgrader's layout (its CourseDirectory.format_path): source/<assignment>,
    # release/<assignment>, and <step>/<student>/<assignment> for the steps that hold
    # students' work.  Every module asks here instead of spelling the folders out.
    def folder(self, step: str, student: str | None = None, assignment: str | None = None) -> Path:
        """The folder of ``step`` (see :data:`STEPS`), of one student, of one assignment.

        >>> course.folder("autograded", "ada", "slicing")   # root/autograded/ada/slicing
        >>> course.folder("release", assignment="slicing")  # root/release/slicing
        """
        if step not in STEPS:
            raise ValueError(f"unknown course folder {step!r} (one of: {', '.join(STEPS)})")
        path = self.root / step
        if step in PER_STUDENT and student is not None:
            path = path / student
        elif step not in PER_STUDENT and student is not None:
            raise ValueError(f"{step}/ holds no per-student folders")
        return path / assignment if assignment is not None else path

    def notebook_path(self, step: str, assignment: Assignment, notebook: Notebook, student: str | None = None) -> Path:
        """Where ``notebook`` of ``assignment`` is at ``step`` (of ``student`` for the steps
        that hold students' work)."""
        return self.folder(step, student, assignment.id) / notebook.filename

    @property
    def source_dir(self) -> Path:
        return self.folder("source")

    @property
    def release_dir(self) -> Path:
        return self.folder("release")

    def source_notebook(self, assignment: Assignment, notebook: Notebook) -> Path:
        return self.notebook_path("source", assignment, notebook)

    def release_notebook(self, assignment: Assignment, notebook: Notebook) -> Path:
        return self.notebook_path("release", assignment, notebook)

    @property
    def gradebook_file(self) -> Path:
        """nbgrader's gradebook (SQLite)."""
        return self.root / "gradebook.db"

    @property
    def exports_dir(self) -> Path:
        return self.root / "exports"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    @property
    def state_dir(self) -> Path:
        """The course's private working folder (locks, the exchange of a course without
        JupyterHub, scratch space); never shown to students."""
        return self.root / ".course"

    def missing_notebooks(self) -> list[Path]:
        return [
            self.source_notebook(a, nb)
            for a in self.assignments
            for nb in a.notebooks
            if not self.source_notebook(a, nb).is_file()
        ]


_CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


def machine_memory_mb() -> int | None:
    """This machine's physical memory in MiB, or its container's (control group) limit
    if that is lower; None where it cannot be told."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None
    for path in _CGROUP_LIMITS:
        try:
            limit = Path(path).read_text().strip()
        except OSError:
            continue
        if limit.isdigit():
            total = min(total, int(limit))
    return total // 2**20


def check_machine_limits(course: Course, *, filename: str = COURSE_FILE) -> None:
    """Raise :class:`CourseConfigError` naming ``grading.memory_mb`` when it is more than
    this machine can give (:func:`machine_memory_mb`): every notebook would then be
    graded under a cap the machine cannot honour.  Called when ``course autograde``
    (grading locally) and ``course check`` start."""
    available = machine_memory_mb()
    wanted = course.grading.memory_mb
    if available is not None and wanted > available:
        raise CourseConfigError(f"{filename}: grading.memory_mb: {wanted} MiB is more than this machine's memory "
                                f"({available} MiB); set it to at most {available}")


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _describe(err: dict) -> str:
    kind = err["type"]
    got = err.get("input")
    if kind == "extra_forbidden":
        return "unknown key (not part of the course.yml schema)"
    if kind == "missing":
        return "required key is missing"
    if kind == "string_pattern_mismatch":
        return f"expected {err['ctx'].get('pattern')!s}-shaped text, got {got!r}"
    msg = err["msg"]
    msg = re.sub(r"^Value error, ", "", msg)
    if got is not None and not isinstance(got, dict | list):
        msg += f" (got {got!r})"
    return msg


def parse_course(data: object, root: Path, *, filename: str = COURSE_FILE, check_files: bool = True) -> Course:
    """Validate already-parsed YAML ``data``; see :func:`load_course`."""
    if not isinstance(data, dict):
        msg = f"{filename}: expected a mapping with keys course, data, tolerances, grading, assignments; got {type(data).__name__}"
        raise CourseConfigError(msg)
    try:
        course = Course.model_validate({**data, "root": root})
    except ValidationError as exc:
        lines = [f"{filename}: {_loc(e['loc'])}: {_describe(e)}" for e in exc.errors()]
        raise CourseConfigError("\n".join(lines)) from None
    if check_files:
        missing = course.missing_notebooks()
        if missing:
            lines = []
            for a in course.assignments:
                for i, nb in enumerate(a.notebooks):
                    path = course.source_notebook(a, nb)
                    if path in missing:
                        ai = course.assignments.index(a)
                        lines.append(
                            f"{filename}: assignments[{ai}].notebooks[{i}].name: "
                            f"notebook {path.relative_to(root)} does not exist"
                        )
            raise CourseConfigError("\n".join(lines))
    return course


def find_course_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: cwd) holding course.yml."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / COURSE_FILE).is_file():
            return folder
    msg = f"no {COURSE_FILE} found in {here} or any folder above it; run this inside the course repository or pass --course-dir"
    raise CourseConfigError(msg)


def load_course(root: Path | str | None = None, *, check_files: bool = True) -> Course:
    """Read and validate ``course.yml`` in ``root`` (default: found from the cwd upwards).

    Raises
    ------
    CourseConfigError
        With one line per problem: file, key path, and what was expected.
    """
    root = find_course_root() if root is None else Path(root).resolve()
    path = root / COURSE_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CourseConfigError(f"{path}: file not found") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CourseConfigError(f"{path.name}: not valid YAML: {exc}") from None
    return parse_course(data, root, filename=path.name, check_files=check_files)
