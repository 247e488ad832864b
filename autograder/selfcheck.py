"""``course check NOTEBOOK``: grade one notebook locally, exactly as the autograder would.

For students before they submit and for self-learners working alone.  The notebook is
read, the instructor's cells are put back as nbgrader's sanitize step would
(:func:`autograder.integrity.restore`), and it is graded by the same
:class:`~autograder.grading.NotebookGrader` that ``course autograde`` uses.  The report
shows, per question, the points, pass or fail and the visible message; it never shows
hidden-test source or expected values.  Nothing is written anywhere.

Because the report is a table, ``course check`` draws no pictures (``plots="none"``:
the figures' data are still checked), and it computes the reference reduction in a
thread while the student's notebook runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .config import Assignment, Course, Notebook, check_machine_limits
from .errors import NotFound
from .results import NotebookResult

__all__ = ["CheckReport", "find_notebook", "check_notebook"]


@dataclass
class CheckReport:
    """Per-question verdicts for one notebook: a :class:`NotebookResult` and where it came from."""

    path: Path
    assignment: str
    result: NotebookResult
    problems: list[str] = field(default_factory=list)

    @property
    def full_marks(self) -> bool:
        return self.result.full_marks

    def table(self):
        """The verdicts as a rich Table (messages shown with control characters visible, never as markup)."""
        from rich.table import Table

        from .display import text

        r = self.result
        t = Table(title=text(f"{self.assignment}/{r.notebook}: {r.score:g} / {r.max_score:g}"), title_justify="left")
        t.add_column("question")
        t.add_column("points", justify="right")
        t.add_column("result")
        t.add_column("message", overflow="fold")
        for o in r.outcomes:
            verdict = text("pass", style="green") if o.passed else text(o.status if o.status != "failed" else "fail",
                                                                        style="red")
            t.add_row(text(o.question), f"{o.points:g}/{o.max_points:g}", verdict, text(o.message, keep_newlines=True))
        return t


def find_notebook(course: Course, path: Path, assignment_id: str | None = None) -> tuple[Assignment, Notebook]:
    """Which assignment/notebook a file is, from its name (or ``assignment_id``)."""
    stem = Path(path).stem
    if assignment_id:
        a = course.assignment(assignment_id)
        return a, a.notebook(stem if stem in [n.name for n in a.notebooks] else a.notebooks[0].name)
    matches = [(a, nb) for a in course.assignments for nb in a.notebooks if nb.name == stem]
    if len(matches) == 1:
        return matches[0]
    names = ", ".join(f"{nb.filename} ({a.id})" for a in course.assignments for nb in a.notebooks)
    if not matches:
        raise NotFound(f"{Path(path).name} is not a notebook of this course (known: {names}); pass --assignment if you renamed it")
    raise NotFound(f"{Path(path).name} matches several assignments; pass --assignment")


def _quietly(func, *args) -> None:
    try:
        func(*args)
    except Exception:  # noqa: BLE001 - the check itself will meet (and report) the same error
        pass


def check_notebook(course: Course, path: Path, *, assignment_id: str | None = None, grader=None) -> CheckReport:
    """Grade the notebook at ``path``; raises ValueError/KeyError naming the problem
    (CourseConfigError when ``grading.memory_mb`` is more than this machine has)."""
    import threading

    from .sandbox.runner import Zygote, hidden_paths

    check_machine_limits(course)
    assignment, nbcfg = find_notebook(course, path, assignment_id)
    zygote = None
    if grader is None:
        # first of all, so that it imports numpy & co while we import, read and prepare;
        # no pictures: nobody sees them in a check; no warm-up: it serves one notebook
        zygote = Zygote(hide=hidden_paths(course.root), plots="none", warm_up=False)
        zygote.start()
    try:
        import nbformat

        from . import integrity
        from .data import ensure_data
        from .grading import NotebookGrader
        from .notebooks import read_notebook

        if grader is None:
            grader = NotebookGrader(course, zygote=zygote, plots="none")
        nb = read_notebook(Path(path))
        source = nbformat.read(course.source_notebook(assignment, nbcfg), as_version=4)
        released_path = course.release_notebook(assignment, nbcfg)
        problems = integrity.inspect(nb, nbformat.read(released_path, as_version=4)) if released_path.is_file() else []
        nb = integrity.restore(nb, source)
        if grader.data_path is None:
            grader.data_path = ensure_data(course)
        # the reference inputs, computed while the student's notebook runs (errors surface in the check)
        threading.Thread(target=_quietly, args=(grader.judge(assignment).reference,), daemon=True).start()
        graded = grader.grade(nb, assignment, nbcfg)
    finally:
        if zygote is not None:
            zygote.close()
    return CheckReport(Path(path), assignment.id, graded.result, problems + graded.result.problems)
