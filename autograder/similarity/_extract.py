"""Which cells of a submission are the student's own code, per question.

A code cell of a submitted notebook is the student's when it is

* a solution cell: its ``grade_id`` is one the release notebook has on a solution cell
  (``metadata.nbgrader.solution`` true); its question is that ``grade_id``, and it is
  the student's answer whatever its own metadata now says;
* a cell the student added: no nbgrader metadata (and not a copy of one of the
  release notebook's own plain code cells, such as the plotting cells), nbgrader
  metadata without a ``grade_id``, or a ``grade_id`` the release notebook does not
  have.  It belongs to the question of the nearest solution or test cell above it,
  or to :data:`OTHER` when there is none.

Everything else is never read: markdown and raw cells, and every cell whose
``grade_id`` the release notebook has for a test, locked or task cell (whatever the
student did to its content).  A cell that contains ``### BEGIN HIDDEN TESTS`` (a
student who had the instructor's source notebook) is dropped wherever it is, so
hidden-test text can never reach a report.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ._normalize import GivenCode, given_code

__all__ = ["OTHER", "Release", "StudentCell", "read_release", "read_submission", "student_cells", "NotebookError"]

OTHER = "(other)"
HIDDEN_MARK = "### BEGIN HIDDEN TESTS"
MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024
MAX_CELL_CHARS = 50_000  # longer cells are cut: nothing a student writes by hand is that long


class NotebookError(ValueError):
    """A notebook that cannot be read; the message says why, in plain words."""


@dataclass(frozen=True)
class StudentCell:
    """One code cell the student wrote: its position, question and source."""

    index: int
    question: str
    source: str
    added: bool


@dataclass
class Release:
    """What the release notebook says about one notebook of an assignment."""

    questions: list[str]  # question ids in notebook order (the solution cells' grade_ids)
    solution_ids: set[str]
    test_ids: dict[str, str]  # grade_id of a test cell -> its question
    known_ids: set[str]  # every grade_id of the release notebook
    plain_cells: set[str]  # sources (stripped) of code cells without nbgrader metadata
    given: GivenCode = field(default_factory=GivenCode)


def _meta(cell: dict) -> dict | None:
    """The cell's nbgrader metadata: None if absent, {} if not a mapping."""
    metadata = cell.get("metadata")
    if not isinstance(metadata, dict) or "nbgrader" not in metadata:
        return None
    m = metadata["nbgrader"]
    return m if isinstance(m, dict) else {}


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    if isinstance(src, list):
        src = "".join(s for s in src if isinstance(s, str))
    return src if isinstance(src, str) else ""


def _load(path: Path) -> dict:
    """JSON of a notebook file, checked to be a notebook-4-shaped mapping."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise NotebookError(f"cannot be read ({exc.strerror or exc})") from None
    if not raw.strip():
        raise NotebookError("is empty (0 bytes)")
    if len(raw) > MAX_NOTEBOOK_BYTES:
        raise NotebookError(f"is larger than {MAX_NOTEBOOK_BYTES // 2**20} MB")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise NotebookError(f"is not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("nbformat") != 4:
        version = data.get("nbformat") if isinstance(data, dict) else None
        raise NotebookError(f"is not an nbformat 4 notebook (nbformat={version!r})")
    cells = data.get("cells")
    if not isinstance(cells, list) or not all(isinstance(c, dict) for c in cells):
        raise NotebookError("is not a valid notebook: 'cells' is not a list of cells")
    return data


def read_release(path: Path) -> Release:
    """The :class:`Release` of a release notebook."""
    data = _load(path)
    release = Release([], set(), {}, set(), set())
    sources = []
    for cell in data["cells"]:
        if cell.get("cell_type") != "code":
            m = _meta(cell)
            if m and isinstance(m.get("grade_id"), str):
                release.known_ids.add(m["grade_id"])
            continue
        src = _source(cell)
        sources.append(src)
        m = _meta(cell)
        if m is None:
            release.plain_cells.add(src.strip())
            continue
        gid = m.get("grade_id")
        if not isinstance(gid, str):
            continue
        release.known_ids.add(gid)
        if m.get("solution"):
            release.questions.append(gid)
            release.solution_ids.add(gid)
    for gid in release.known_ids - release.solution_ids:
        question = gid.removesuffix("-test")
        if question != gid and question in release.solution_ids:
            release.test_ids[gid] = question
    release.given = given_code(sources)
    return release


def read_submission(path: Path, *, within: Path) -> dict:
    """The JSON of a submitted notebook; :class:`NotebookError` if it is unusable.

    A symbolic link (the file, or a folder between ``within`` and it) is refused: it
    could point at the instructor's source notebook.
    """
    if path.is_symlink():
        raise NotebookError("is a symbolic link, not a notebook file")
    try:
        rel = path.relative_to(within)
    except ValueError:
        raise NotebookError(f"is not inside {within}") from None
    if Path(os.path.realpath(path)) != Path(os.path.realpath(within)) / rel:
        raise NotebookError("is reached through a symbolic link, not a folder of its own")
    if not path.is_file():
        raise NotebookError("is missing" if not path.exists() else "is not a regular file")
    return _load(path)


def student_cells(data: dict, release: Release) -> list[StudentCell]:
    """The student's own code cells of a submitted notebook (see the module docstring)."""
    out: list[StudentCell] = []
    current = OTHER
    for index, cell in enumerate(data["cells"]):
        m = _meta(cell)
        gid = m.get("grade_id") if m else None
        gid = gid if isinstance(gid, str) else None
        if gid in release.solution_ids:
            current = gid
        elif gid in release.test_ids:
            current = release.test_ids[gid]
        if cell.get("cell_type") != "code":
            continue
        src = _source(cell)
        if HIDDEN_MARK in src:
            continue
        if gid is not None and gid in release.known_ids:
            if gid in release.solution_ids:  # the student's answer, whatever its metadata now says
                out.append(StudentCell(index, gid, src[:MAX_CELL_CHARS], added=False))
            continue  # the instructor's cell: never compared, never shown
        if m is None and src.strip() in release.plain_cells:
            continue  # a plain cell of the release, as given
        if src.strip():
            out.append(StudentCell(index, current, src[:MAX_CELL_CHARS], added=True))
    return out
