"""``course autograde``: grade every collected submission, in parallel, into nbgrader's gradebook.

Which code runs where:

============================  ==========================================================
process                       what it does (module)
============================  ==========================================================
the instructor's (this one)   plans the batch, sanitizes each notebook, writes the
                              gradebook and ``autograded/`` (:mod:`.batch`)
local workers or dask         grade one notebook each: run it in the sandbox, check every
workers                       question (:mod:`.worker`, started by :mod:`.executor`)
the warm sandbox process      imported numpy & co once; forks one student process per
                              notebook (:mod:`autograder.sandbox.kernel`)
a student process             runs one notebook's cells, isolated (never sees the checks)
============================  ==========================================================

Re-running is idempotent: a submission graded before from the same files under the
same settings is skipped (``force`` regrades); an interrupted batch resumes without
regrading what is done; a broken submission is one failed line and the batch goes on;
each notebook's grades are written to the gradebook in one transaction.  Only one
``collect``/``autograde``/``release`` works on a course at a time
(:mod:`autograder.lock`).  Before anything starts, ``grading.memory_mb`` is checked
against this machine's memory when grading locally
(:func:`autograder.config.check_machine_limits`).  A gradebook locked by another
program for longer than the wait is one line: for the run when it is locked at the
start (nothing is graded), else on each submission it stops (see :mod:`.batch`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

from ..config import Course, check_machine_limits
from ..errors import NotFound
from ..gradebook import db_url, reporting_unavailable
from ..lock import course_lock
from .batch import Submission, SubmissionResult, find_submissions

__all__ = ["Submission", "SubmissionResult", "find_submissions", "autograde", "summary_table"]


def autograde(
    course: Course,
    *,
    assignments: list[str] | None = None,
    students: list[str] | None = None,
    jobs: int | None = None,
    scheduler=None,
    force: bool = False,
    on_result: Callable[[SubmissionResult], None] | None = None,
) -> list[SubmissionResult]:
    """Grade submissions into the gradebook; see the module docstring.

    Parameters
    ----------
    assignments, students : list of str, optional
        Only these (default: every assignment of course.yml, every student who submitted).
    jobs : int, optional
        Local worker processes (default: one per core).
    scheduler : str or distributed.Client, optional
        A dask.distributed scheduler address (or a client) to send the work to.
    force : bool
        Regrade submissions graded before from the same files and settings.
    on_result : callable, optional
        Called with each :class:`SubmissionResult` as soon as it is final (progress).

    Raises
    ------
    NotFound
        An unknown assignment or student, or an assignment not released yet.
    Busy
        Another run is working on this course.
    CourseConfigError
        ``grading.memory_mb`` is more than this machine has (grading locally).
    GradebookUnavailable
        The gradebook is locked by another program (or unusable) when the run starts.
    """
    from sqlalchemy.exc import SAWarning

    if scheduler is None:
        check_machine_limits(course)
    with course_lock(course, "autograde"), warnings.catch_warnings():
        # nbgrader's update_or_create_submission makes SQLAlchemy warn about objects
        # "not in session": harmless, and not ours to fix
        warnings.filterwarnings("ignore", message="Object of type <Submitted", category=SAWarning)
        # started first, so that the warm sandbox process and the fork server import
        # their libraries while this process imports nbgrader and reads the gradebook
        zygote = _start_local_sandbox(course) if scheduler is None else None
        try:
            return _grade(course, zygote, assignments=assignments, students=students, jobs=jobs,
                          scheduler=scheduler, force=force, on_result=on_result)
        finally:
            if zygote is not None:
                zygote.close()


def _start_local_sandbox(course: Course):
    """Start the local workers' shared warm sandbox process and their fork server (both
    import in the background); returns the sandbox process's Zygote."""
    from ..sandbox.runner import Zygote, hidden_paths
    from .executor import worker_context

    zygote = Zygote(hide=hidden_paths(course.root), plots=course.grading.plots, share=True)
    zygote.start()
    if worker_context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()
    return zygote


def _grade(course: Course, zygote, *, assignments, students, jobs, scheduler, force, on_result):
    from nbgrader.api import Gradebook, MissingEntry

    from .. import nbgrader_adapter
    from ..data import ensure_data
    from ..late import sync_due_dates
    from . import batch
    from .executor import DaskExecutor, LocalExecutor, local_workers

    results: list[SubmissionResult] = []

    def report(r: SubmissionResult) -> None:
        results.append(r)
        if on_result:
            on_result(r)

    nbgrader_adapter.ensure_alembic_on_path()
    config = nbgrader_adapter.nbgrader_config(course)
    subs = find_submissions(course, assignments, students)
    url = db_url(course)
    with reporting_unavailable(course), Gradebook(url, course.course.id) as gb:
        for a in sorted({s.assignment for s in subs}):
            try:
                gb.find_assignment(a)
            except MissingEntry:
                raise NotFound(f"assignment {a!r} is not in the gradebook yet: run `course release {a}` first") from None
        sync_due_dates(course, gb)  # nbgrader's late penalties compare with the gradebook's due dates
        todo, skipped = batch.plan(course, subs, force=force, gb=gb)
    for r in skipped:
        report(r)
    if not todo:
        return results
    data_path = ensure_data(course)
    if scheduler is not None:
        executor = DaskExecutor(scheduler=scheduler)
    else:
        executor = LocalExecutor(workers=local_workers(jobs, len(todo)), zygote_address=zygote.address)
    with executor:
        with reporting_unavailable(course):
            gb = Gradebook(url, course.course.id)
        with gb, nbgrader_adapter.shared_gradebook(gb, url):
            gate = batch.GradebookGate(course, gb)
            jobs_iter = _jobs(batch.prepare(course, config, gate, todo, data_path), course, config, gate, report)
            for (pending, name), out in executor.run(jobs_iter):
                pending.done(name, out)
                if not pending.waiting:
                    report(batch.finish(course, config, pending, gate))
    return results


def _jobs(prepared, course, config, gate, report):
    """The executor's jobs: notebooks with work to do.  Notebooks without (unreadable
    ones) are done here, and a submission all of whose notebooks are done is finished
    at once."""
    from . import batch

    for pending, name, args in prepared:
        if args is not None:
            yield (pending, name), args
            continue
        if name is not None:
            pending.done(name, None)
        if not pending.waiting:
            report(batch.finish(course, config, pending, gate))


def summary_table(results: list[SubmissionResult]):
    """The results of a run as a rich Table (names are never read as markup)."""
    from rich.table import Table

    from ..display import text

    t = Table(title="autograde summary", title_justify="left")
    for col in ("student", "assignment", "status", "score", "problems"):
        t.add_column(col)
    for r in sorted(results, key=lambda r: (r.assignment, r.student)):
        t.add_row(text(r.student), text(r.assignment), r.status, f"{r.score:g}/{r.max_score:g}",
                  text("; ".join(r.problems)[:200]))
    return t
