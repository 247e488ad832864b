"""course.yml: the course's single source of truth, validated on load.

Everything else in the project (release, grading, checks, export, the nbgrader
configuration) reads the course through :func:`load_course`.  A file that does not
fit the schema raises :class:`CourseConfigError` whose message names the file, the
key (as a dotted path such as ``assignments[0].notebooks[0].questions[2].points``)
and what was expected.
"""

from __future__ import annotations

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


class Assignment(_Strict):
    id: Ident
    title: str
    notebooks: list[Notebook] = Field(min_length=1)
    total: float = Field(gt=0)

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
    assignments: list[Assignment] = Field(min_length=1)
    root: Path = Field(default=Path("."), exclude=True)

    @model_validator(mode="after")
    def _unique_ids(self) -> Course:
        ids = [a.id for a in self.assignments]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate assignment id(s): {', '.join(dupes)}")
        return self

    # -- lookups -------------------------------------------------------------------
    def assignment(self, assignment_id: str) -> Assignment:
        for a in self.assignments:
            if a.id == assignment_id:
                return a
        known = ", ".join(a.id for a in self.assignments)
        msg = f"unknown assignment {assignment_id!r}; course.yml declares: {known}"
        raise NotFound(msg)

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
