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
  parallel workers in between; inside :func:`shared_gradebook` they all use the one
  gradebook connection ``course autograde`` holds open.
* :func:`configure` also sets nbgrader's late-submission plugin to
  :class:`autograder.late.CourseLatePenalty` with course.yml's policies, and nbgrader's
  exchange root to course.yml's ``exchange.root`` (a JupyterHub class).
* nbgrader's gradebook is reached through :func:`autograder.gradebook.db_url`, whose
  connections wait up to :data:`autograder.gradebook.GRADEBOOK_WAIT` seconds for a lock
  another program holds, then fail (see :func:`autograder.gradebook.unavailable`).

Two of nbgrader's per-notebook costs are cut here without changing what it does (about
40 ms of the instructor's process per notebook, measured): its metadata check builds a
fresh jsonschema validator, checking the schema itself first, for every cell (the
validator is now built once per schema: :class:`_CachedJsonschema`), and each of its
preprocessors opens its own gradebook (a new database engine, a schema check of every
table and a course lookup) for every notebook (:func:`shared_gradebook`).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode
from nbgrader.api import Gradebook, MissingEntry
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
from .gradebook import db_url
from .late import CourseLatePenalty, nbgrader_policies

__all__ = [
    "configure",
    "nbgrader_config",
    "ensure_alembic_on_path",
    "SandboxedExecute",
    "AtomicSaveAutoGrades",
    "sanitize",
    "finish",
    "shared_gradebook",
]

SANITIZE = [ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells, CheckCellMetadata]


class _CachedJsonschema:
    """Stands in for the ``jsonschema`` module in nbgrader's metadata validator.

    ``jsonschema.validate(instance, schema)`` checks ``schema`` against its metaschema
    and builds a validator on every call; nbgrader calls it for every cell of every
    notebook with the same schema.  Here the validator is built once per schema, and
    the verdict is the same: the best-matching ``ValidationError`` is raised.
    """

    def __init__(self) -> None:
        self._validators: dict[str, object] = {}

    def validate(self, instance, schema) -> None:
        import jsonschema

        key = json.dumps(schema, sort_keys=True)
        validator = self._validators.get(key)
        if validator is None:
            cls = jsonschema.validators.validator_for(schema)
            cls.check_schema(schema)
            validator = self._validators[key] = cls(schema)
        error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
        if error is not None:
            raise error


def _install_schema_cache() -> None:
    from nbgrader.nbgraderformat import common

    if not isinstance(common.jsonschema, _CachedJsonschema):
        common.jsonschema = _CachedJsonschema()


_install_schema_cache()


class _Delegating:
    """Stands in for a gradebook: what a subclass does not answer goes to ``self._gb``."""

    _gb: Gradebook

    def __getattr__(self, name: str):
        return getattr(self._gb, name)


class _Borrowed(_Delegating):
    """A gradebook lent to nbgrader's preprocessors: used as theirs, closed by its owner.

    The instructor's cells (``find_source_cell``, ``find_graded_cell``: what
    OverwriteCells asks for every cell of every notebook, about 2 ms a query) are read
    once per batch, as plain copies of their columns, into ``cells`` (shared by every
    lending of one :func:`shared_gradebook` block: ``course release``, which alone
    changes them, cannot run while a batch holds the course's lock).
    """

    def __init__(self, gb: Gradebook, cells: dict | None = None) -> None:
        self._gb = gb
        self._cells = {} if cells is None else cells

    def _instructor_cell(self, kind: str, name: str, notebook: str, assignment: str):
        key = (kind, name, notebook, assignment)
        if key not in self._cells:
            from types import SimpleNamespace

            from sqlalchemy import inspect

            row = getattr(self._gb, kind)(name, notebook, assignment)  # MissingEntry propagates, uncached
            self._cells[key] = SimpleNamespace(**{a.key: getattr(row, a.key)
                                                  for a in inspect(row).mapper.column_attrs})
        return self._cells[key]

    def find_source_cell(self, name: str, notebook: str, assignment: str):
        return self._instructor_cell("find_source_cell", name, notebook, assignment)

    def find_graded_cell(self, name: str, notebook: str, assignment: str):
        return self._instructor_cell("find_graded_cell", name, notebook, assignment)

    def __enter__(self) -> _Borrowed:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def close(self) -> None:
        pass


class _SubmissionGrades(_Delegating):
    """A gradebook whose ``find_grade``/``find_comment`` for one submitted notebook are
    answered from one query of that notebook's grades and comments (SaveAutoGrades
    asks for each graded cell); anything else goes to the gradebook itself."""

    def __init__(self, gb, notebook: str, assignment: str, student: str) -> None:
        self._gb = gb
        self._key = (notebook, assignment, student)
        try:
            submitted = gb.find_submission_notebook(notebook, assignment, student)
        except MissingEntry:
            self._grades, self._comments = {}, {}
        else:
            self._grades = {g.name: g for g in submitted.grades}
            self._comments = {c.name: c for c in submitted.comments}

    def _lookup(self, kind: str, found: dict, cell: str, *key: str):
        hit = found.get(cell) if key == self._key else None
        return hit if hit is not None else getattr(self._gb, kind)(cell, *key)

    def find_grade(self, grade_cell: str, notebook: str, assignment: str, student: str):
        return self._lookup("find_grade", self._grades, grade_cell, notebook, assignment, student)

    def find_comment(self, solution_cell: str, notebook: str, assignment: str, student: str):
        return self._lookup("find_comment", self._comments, solution_cell, notebook, assignment, student)


# the modules whose preprocessors open a Gradebook per notebook (and this one's AtomicSaveAutoGrades)
_GRADEBOOK_USERS = ("overwritecells", "overwritekernelspec", "latesubmissions", "saveautogrades")


@contextlib.contextmanager
def shared_gradebook(gb: Gradebook, url: str):
    """Within this block, nbgrader's preprocessors use ``gb`` (connected to ``url``)
    instead of opening a gradebook of their own for every notebook.

    Single-threaded use only (``course autograde``'s instructor process, which alone
    writes the gradebook).  A preprocessor asking for another database gets its own
    connection as before.
    """
    import importlib
    import sys

    real = Gradebook
    modules = [importlib.import_module(f"nbgrader.preprocessors.{m}") for m in _GRADEBOOK_USERS]
    modules.append(sys.modules[__name__])

    cells: dict = {}

    def lend(db_url: str, *args, **kwargs):
        return _Borrowed(gb, cells) if db_url == url and not args and not kwargs else real(db_url, *args, **kwargs)

    saved = [m.Gradebook for m in modules]
    for m in modules:
        m.Gradebook = lend
    try:
        yield gb
    finally:
        for m, original in zip(modules, saved):
            m.Gradebook = original


#: Seconds a gradebook statement waits for a lock that another program holds (the
#: formgrader saving, a ``sqlite3`` shell in a transaction) before it fails: SQLite
#: retries in the meantime (its busy timeout; its default is 5 s).
_GRADERS: dict = {}


def _grader_for(course_root: str, plots: str = "", warm: bool = True):
    """One NotebookGrader per course and settings for this process (plain nbgrader runs)."""
    key = (course_root, plots, warm)
    if key not in _GRADERS:
        import atexit

        from .data import ensure_data
        from .grading import NotebookGrader

        if not _GRADERS:  # stop the warm processes and remove their folders when nbgrader exits
            atexit.register(lambda: [g.close() for g in _GRADERS.values()])
        course = load_course(course_root)
        _GRADERS[key] = NotebookGrader(course, data_path=ensure_data(course), plots=plots or None, warm_up=warm)
    return _GRADERS[key]


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
        grader = _grader_for(str(Path(root).resolve()), self.plots, self.warm)
        info = resources["nbgrader"]
        assignment = grader.course.assignment(info["assignment"])
        notebook = assignment.notebook(info["notebook"])
        try:
            graded = grader.grade(nb, assignment, notebook)
        finally:
            if not self.warm:
                grader.close()  # the next notebook starts a fresh interpreter
        for problem in graded.result.problems:
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
            whole = self.gradebook
            try:
                self.gradebook = _SubmissionGrades(whole, self.notebook_id, self.assignment_id, self.student_id)
                nb, resources = NbGraderPreprocessor.preprocess(self, nb, resources)
            except BaseException:
                session.rollback()
                raise
            finally:
                del session.commit
                self.gradebook = whole
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
    c.CourseDirectory.db_url = db_url(course, wait=False)
    c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]
    if course.exchange is not None:  # a JupyterHub class: nbgrader's exchange (see autograder.exchange)
        c.Exchange.root = course.exchange.root
    else:  # unused (no JupyterHub exchange), but nbgrader checks it
        exchange = course.state_dir / "exchange"
        exchange.mkdir(parents=True, exist_ok=True)
        c.Exchange.root = str(exchange)
    # late penalties: nbgrader's AssignLatePenalties asks this plugin, which reads course.yml
    c.AssignLatePenalties.plugin_class = CourseLatePenalty
    c.CourseLatePenalty.policies = nbgrader_policies(course)
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
