"""The one place that talks to nbgrader.

* :func:`configure` fills an nbgrader config from course.yml; the repository's
  ``nbgrader_config.py`` calls it, so plain ``nbgrader ...`` commands and ``course ...``
  agree (course id, folders, the gradebook, the autograde preprocessors).
* :class:`SandboxedExecute` replaces nbgrader's ``Execute`` in the autograde
  preprocessors: the notebook runs in the sandbox and each question is checked in the
  grader's process (:mod:`autograder.grading`).
* :class:`AtomicSaveAutoGrades` is nbgrader's ``SaveAutoGrades`` with one commit per
  notebook instead of one per cell: a notebook's grades land together or not at all.
* :func:`sanitize` and :func:`finish` run nbgrader's own sanitize and post-execution
  preprocessors on one notebook, for ``course autograde``, which executes notebooks in
  parallel workers in between.
"""

from __future__ import annotations

import os
from pathlib import Path

from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode
from nbgrader.api import Gradebook
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    ClearOutput,
    DeduplicateIds,
    LimitOutput,
    NbGraderPreprocessor,
    OverwriteCells,
    OverwriteKernelspec,
    SaveAutoGrades,
)
from traitlets import Bool, Unicode
from traitlets.config import Config

from .config import Course, load_course
from .environment import ensure_alembic_on_path

__all__ = [
    "configure",
    "nbgrader_config",
    "ensure_alembic_on_path",
    "SandboxedExecute",
    "AtomicSaveAutoGrades",
    "sanitize",
    "finish",
    "db_url",
]

SANITIZE = [ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells, CheckCellMetadata]


def db_url(course: Course) -> str:
    return f"sqlite:///{(course.root / 'gradebook.db').resolve()}"


_GRADERS: dict = {}


def _grader_for(course_root: str, plots: str = ""):
    """One warm NotebookGrader per course for this process (plain nbgrader runs)."""
    if (course_root, plots) not in _GRADERS:
        from .data import ensure_data
        from .grading import NotebookGrader

        course = load_course(course_root)
        _GRADERS[course_root, plots] = NotebookGrader(course, data_path=ensure_data(course), plots=plots or None)
    return _GRADERS[course_root, plots]


class SandboxedExecute(NbGraderPreprocessor):
    """Run the notebook in the sandbox and check every question out of its reach."""

    course_root = Unicode("", help="folder holding course.yml (default: the nbgrader course root)").tag(config=True)
    warm = Bool(
        True,
        help="Fork every notebook's process from one warm process that imported numpy & co once. "
        "False starts a fresh interpreter for every notebook, as stock nbgrader starts a fresh kernel "
        "(the benchmark's baseline).",
    ).tag(config=True)
    plots = Unicode(
        "",
        help="How inline plots are drawn: 'jpeg' (72 dpi), 'png' (as a stock kernel; the benchmark's baseline) "
        "or 'none'; default: course.yml's grading.plots.",
    ).tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict):
        root = self.course_root or os.getcwd()
        grader = _grader_for(str(Path(root).resolve()), self.plots)
        info = resources["nbgrader"]
        assignment = grader.course.assignment(info["assignment"])
        notebook = assignment.notebook(info["notebook"])
        try:
            graded = grader.grade(nb, assignment, notebook)
        finally:
            if not self.warm:
                grader.close()  # the next notebook starts a fresh interpreter
        for problem in graded.problems:
            self.log.warning("%s/%s: %s", info.get("student", "?"), notebook.name, problem)
        return graded.nb, resources


class AtomicSaveAutoGrades(SaveAutoGrades):
    """nbgrader's SaveAutoGrades, committing once per notebook (or rolling back)."""

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict):
        self.notebook_id = resources["nbgrader"]["notebook"]
        self.assignment_id = resources["nbgrader"]["assignment"]
        self.student_id = resources["nbgrader"]["student"]
        self.db_url = resources["nbgrader"]["db_url"]
        self.gradebook = Gradebook(self.db_url)
        with self.gradebook:
            session = self.gradebook.db
            session.commit = session.flush  # per-cell commits become flushes
            try:
                nb, resources = NbGraderPreprocessor.preprocess(self, nb, resources)
            except BaseException:
                session.rollback()
                raise
            finally:
                del session.commit
            session.commit()
        return nb, resources


# nbgrader's stock list ends with CheckCellMetadata again; grading here changes outputs
# only (never metadata), so the check made in the sanitize step still holds.
FINISH = [LimitOutput, AtomicSaveAutoGrades, AssignLatePenalties]


def configure(c: Config, course_root: Path | str) -> Config:
    """Fill nbgrader config ``c`` from the course.yml in ``course_root``."""
    ensure_alembic_on_path()
    course = load_course(course_root, check_files=False)
    c.CourseDirectory.root = str(course.root)
    c.CourseDirectory.course_id = course.course.id
    c.CourseDirectory.db_url = db_url(course)
    c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]
    exchange = course.root / ".course" / "exchange"  # unused (no JupyterHub exchange), but nbgrader checks it
    exchange.mkdir(parents=True, exist_ok=True)
    c.Exchange.root = str(exchange)
    c.OverwriteCells.add_missing_cells = True
    c.Autograde.sanitize_preprocessors = SANITIZE
    c.Autograde.autograde_preprocessors = [SandboxedExecute, *FINISH]
    c.SandboxedExecute.course_root = str(course.root)
    c.Execute.timeout = int(course.grading.cell_timeout)
    c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
    c.GenerateFeedback.preprocessors = [
        "nbgrader.preprocessors.GetGrades",
        "nbgrader.preprocessors.ClearHiddenTests",
        "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    ]
    return c


def nbgrader_config(course: Course) -> Config:
    """A fresh nbgrader Config for ``course``."""
    return configure(Config(), course.root)


def _resources(course: Course, assignment: str, notebook: str, student: str) -> ResourcesDict:
    resources = ResourcesDict()
    resources["nbgrader"] = {"db_url": db_url(course), "assignment": assignment, "notebook": notebook, "student": student}
    return resources


def _run(preprocessors, nb: NotebookNode, resources: ResourcesDict, config: Config):
    for cls in preprocessors:
        pp = cls(config=config)
        if pp.enabled:
            nb, resources = pp(nb, resources)
    return nb, resources


def sanitize(course: Course, config: Config, nb: NotebookNode, assignment: str, notebook: str, student: str) -> NotebookNode:
    """nbgrader's sanitize step: clear outputs, deduplicate ids, restore the
    instructor's test cells and metadata from the gradebook (re-adding deleted ones)."""
    nb, _ = _run(SANITIZE, nb, _resources(course, assignment, notebook, student), config)
    _give_ids(nb)
    return nb


def _give_ids(nb: NotebookNode) -> None:
    """Every cell a unique ``id`` (required since nbformat 4.5): cells nbgrader re-adds
    have none, and a tampered notebook may repeat one."""
    from nbformat.corpus.words import generate_corpus_id

    if (nb.get("nbformat"), nb.get("nbformat_minor", 0)) >= (4, 5):
        seen: set[str] = set()
        for cell in nb.cells:
            if not cell.get("id") or cell["id"] in seen:
                cell["id"] = generate_corpus_id()
            seen.add(cell["id"])


def finish(course: Course, config: Config, nb: NotebookNode, assignment: str, notebook: str, student: str) -> NotebookNode:
    """nbgrader's steps after execution: limit output, save grades (one transaction),
    late penalties, metadata check."""
    nb, _ = _run(FINISH, nb, _resources(course, assignment, notebook, student), config)
    return nb
