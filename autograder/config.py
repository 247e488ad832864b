"""course.yml: the course's single source of truth, validated on load.

Everything else in the project (release, grading, checks, export, the nbgrader
configuration) reads the course through :func:`load_course`.  A file that does not
fit the schema raises :class:`CourseConfigError` whose message names the file, the
key (as a dotted path such as ``assignments[0].notebooks[0].questions[2].points``)
and what was expected.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

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
]

COURSE_FILE = "course.yml"
_ID = r"^[a-z0-9][a-z0-9_-]*$"
Ident = Annotated[str, Field(pattern=_ID, description="lower-case letters, digits, '-' and '_'")]
PyName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class CourseConfigError(ValueError):
    """course.yml is missing, unreadable or does not fit the schema."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Tolerance(_Strict):
    """Numeric tolerance: an answer passes where |a - ref| <= atol + rtol * |ref|."""

    rtol: float = Field(ge=0)
    atol: float = Field(ge=0)


class Question(_Strict):
    """One graded question: a solution cell ``id`` and its test cell ``id + '-test'``."""

    id: Ident
    points: float = Field(gt=0)
    names: list[PyName] = Field(min_length=1)
    title: str | None = None
    tolerance: Tolerance | None = None

    @property
    def test_id(self) -> str:
        """grade_id of the (locked, graded) test cell of this question."""
        return f"{self.id}-test"


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
        raise KeyError(f"assignment {self.id!r} has no notebook {name!r} (it has: {known})")

    @model_validator(mode="after")
    def _consistent(self) -> Assignment:
        seen: dict[str, str] = {}
        for nb in self.notebooks:
            for q in nb.questions:
                for gid in (q.id, q.test_id):
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
    cell_timeout: float = Field(gt=0, description="seconds one cell may run")
    notebook_timeout: float = Field(gt=0, description="seconds a whole notebook may run")
    memory_mb: int = Field(ge=256, description="address-space cap of the student process, MiB")
    max_processes: int = Field(ge=1, description="processes student code may have at once")
    max_output_kb: int = Field(ge=1, description="text one cell may print before it is cut, KiB")
    plots: Literal["jpeg", "png", "none"] = Field(
        "none",
        description="the pictures the grader draws into graded notebooks: none (the default and fastest; "
        "the checks read the plots' data, and feedback shows the pictures of the submitted notebook), "
        "72-dpi JPEG, or PNG as a stock kernel draws them",
    )


class CourseInfo(_Strict):
    id: Ident
    title: str


class Course(_Strict):
    """The validated content of course.yml, plus the folder it was read from."""

    course: CourseInfo
    data: DataSection
    tolerances: Tolerances
    grading: GradingLimits
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
        raise KeyError(msg)

    def tolerance(self, question: Question) -> Tolerance:
        return question.tolerance or self.tolerances.default

    def data_file(self, name: str) -> DataFile:
        for f in self.data.files:
            if f.name == name:
                return f
        raise KeyError(f"course.yml declares no data file {name!r}")

    # -- paths ---------------------------------------------------------------------
    @property
    def source_dir(self) -> Path:
        return self.root / "source"

    @property
    def release_dir(self) -> Path:
        return self.root / "release"

    def source_notebook(self, assignment: Assignment, notebook: Notebook) -> Path:
        return self.source_dir / assignment.id / notebook.filename

    def release_notebook(self, assignment: Assignment, notebook: Notebook) -> Path:
        return self.release_dir / assignment.id / notebook.filename

    def missing_notebooks(self) -> list[Path]:
        return [
            self.source_notebook(a, nb)
            for a in self.assignments
            for nb in a.notebooks
            if not self.source_notebook(a, nb).is_file()
        ]


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
