"""``course autograde``: grade every collected submission, in parallel, into nbgrader's gradebook.

The instructor's process owns the gradebook and the course folders.  For each
submission it runs nbgrader's sanitize step (restoring the instructor's cells from the
gradebook), hands the notebook to a worker (a local process, or a dask worker with
``--scheduler``), and, when the graded notebook comes back, runs nbgrader's
post-execution steps (grades saved in one transaction per notebook) and writes
``autograded/<student>/<assignment>/``.  Workers hold no gradebook and write no course
file; each keeps a warm sandbox zygote, so library imports are paid once per worker,
not once per notebook.

Re-running is idempotent: a submission whose files have not changed since it was graded
is skipped (``--force`` regrades).  An interrupted batch resumes where it stopped,
because a submission is marked done only after its grades are committed.  One broken
submission is one failed line; the batch goes on.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import traceback
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from .config import Course, load_course
from .notebooks import read_notebook

__all__ = ["Submission", "SubmissionResult", "find_submissions", "autograde", "grade_job", "MARKER"]

MARKER = ".course-graded.json"


@dataclass(frozen=True)
class Submission:
    student: str
    assignment: str
    folder: Path


@dataclass
class SubmissionResult:
    """The outcome of grading one submission."""

    student: str
    assignment: str
    status: str  # graded | skipped | failed
    score: float = 0.0
    max_score: float = 0.0
    questions: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    error: str = ""
    seconds: float = 0.0


def find_submissions(course: Course, assignments: list[str] | None = None, students: list[str] | None = None) -> list[Submission]:
    """Submissions in ``submitted/<student>/<assignment>/``, filtered.

    Raises KeyError naming an unknown assignment or student.
    """
    root = course.root / "submitted"
    wanted = [course.assignment(a).id for a in assignments] if assignments else [a.id for a in course.assignments]
    present = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if students:
        unknown = [s for s in students if s not in present]
        if unknown:
            raise KeyError(f"no submissions from student(s) {', '.join(unknown)} in {root}")
        present = [s for s in present if s in students]
    out = []
    for student in present:
        for a in wanted:
            folder = root / student / a
            if folder.is_dir():
                out.append(Submission(student, a, folder))
    return out


def _fingerprint(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.is_symlink():
            h.update(str(p.relative_to(folder)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


# --------------------------------------------------------------------------------------
# worker side (a local process or a dask worker): trusted, no gradebook
# --------------------------------------------------------------------------------------
_WORKER: dict = {}


def grade_job(course_root: str, data_path: str | None, assignment_id: str, notebook_name: str, nb_json: str) -> dict:
    """Grade one sanitized notebook; returns the graded notebook and outcomes.

    Runs wherever the work is sent; keeps one warm grader per process.
    """
    from .data import ensure_data
    from .grading import NotebookGrader

    grader = _WORKER.get(course_root)
    if grader is None:
        course = load_course(course_root)
        path = Path(data_path) if data_path and Path(data_path).is_file() else ensure_data(course)
        grader = _WORKER[course_root] = NotebookGrader(course, data_path=path)
    assignment = grader.course.assignment(assignment_id)
    notebook = assignment.notebook(notebook_name)
    nb = nbformat.reads(nb_json, as_version=4)
    graded = grader.grade(nb, assignment, notebook)
    return {
        "nb": nbformat.writes(graded.nb),
        "questions": [asdict(q) for q in graded.questions],
        "problems": graded.problems,
        "seconds": graded.seconds,
        "pid": os.getpid(),
    }


def _worker_init() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the instructor's Ctrl-C is handled by the parent


# --------------------------------------------------------------------------------------
# the instructor's process
# --------------------------------------------------------------------------------------
class _Batch:
    """Bookkeeping of one submission while its notebooks are being graded."""

    def __init__(self, sub: Submission, notebooks: list[str], fingerprint: str):
        self.sub = sub
        self.pending = set(notebooks)
        self.graded: dict[str, nbformat.NotebookNode] = {}
        self.outcomes: list[dict] = []
        self.problems: list[str] = []
        self.fingerprint = fingerprint
        self.started = time.monotonic()
        self.error = ""


def autograde(course: Course, **options) -> list[SubmissionResult]:
    """Grade submissions into the gradebook; see :func:`_autograde` for the options.

    nbgrader's own ``update_or_create_submission`` makes SQLAlchemy warn about objects
    "not in session" (harmless, and not ours to fix): those warnings are silenced here.
    """
    import warnings

    from sqlalchemy.exc import SAWarning

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Object of type <Submitted", category=SAWarning)
        return _autograde(course, **options)


def _autograde(
    course: Course,
    *,
    assignments: list[str] | None = None,
    students: list[str] | None = None,
    jobs: int | None = None,
    scheduler: str | None = None,
    force: bool = False,
    on_result=None,
) -> list[SubmissionResult]:
    """Grade submissions into the gradebook; see the module docstring.

    Parameters
    ----------
    jobs : int, optional
        Local worker processes (default: one per core).
    scheduler : str, optional
        A dask.distributed scheduler address (or a ``Client``) to send the work to.
    on_result : callable, optional
        Called with each :class:`SubmissionResult` as it is final (progress display).
    """
    from nbgrader.api import Gradebook, MissingEntry

    from . import integrity, nbgrader_adapter
    from .data import ensure_data

    nbgrader_adapter.ensure_alembic_on_path()
    config = nbgrader_adapter.nbgrader_config(course)
    subs = find_submissions(course, assignments, students)
    with Gradebook(nbgrader_adapter.db_url(course), course.course.id) as gb:
        for a in {s.assignment for s in subs}:
            try:
                gb.find_assignment(a)
            except MissingEntry:
                raise KeyError(f"assignment {a!r} is not in the gradebook yet: run `course release {a}` first") from None
    data_path = ensure_data(course)
    results: list[SubmissionResult] = []

    def report(r: SubmissionResult) -> None:
        results.append(r)
        if on_result:
            on_result(r)

    todo: list[tuple[Submission, str]] = []
    for sub in subs:
        fp = _fingerprint(sub.folder)
        marker = course.root / "autograded" / sub.student / sub.assignment / MARKER
        if not force and marker.is_file():
            try:
                done = json.loads(marker.read_text())
            except ValueError:
                done = {}
            if done.get("fingerprint") == fp:
                report(SubmissionResult(sub.student, sub.assignment, "skipped", done.get("score", 0.0),
                                        done.get("max_score", 0.0), done.get("questions", {})))
                continue
        todo.append((sub, fp))
    if not todo:
        return results

    client = None
    if scheduler is not None:
        from distributed import Client

        client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
        submit = client.submit
        pool = None
    else:
        import multiprocessing

        workers = max(1, min(jobs or os.cpu_count() or 1, len(todo)))
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_init)
        submit = pool.submit

    futures: dict[Future, tuple[_Batch, str]] = {}
    batches: list[_Batch] = []
    try:
        with Gradebook(nbgrader_adapter.db_url(course), course.course.id) as gb:
            for sub, fp in todo:
                assignment = course.assignment(sub.assignment)
                batch = _Batch(sub, [nb.name for nb in assignment.notebooks], fp)
                batches.append(batch)
                try:
                    _register_submission(gb, sub)
                except Exception as exc:
                    batch.error = f"could not record the submission: {exc}"
                    batch.pending.clear()
                    continue
                for nbcfg in assignment.notebooks:
                    path = sub.folder / nbcfg.filename
                    try:
                        nb = read_notebook(path)
                        released = nbformat.read(course.release_notebook(assignment, nbcfg), as_version=4)
                        batch.problems += [f"{nbcfg.name}: {p}" for p in integrity.inspect(nb, released)]
                        nb = nbgrader_adapter.sanitize(course, config, nb, sub.assignment, nbcfg.name, sub.student)
                    except ValueError as exc:
                        batch.problems.append(f"{nbcfg.name}: {exc}; its questions score 0")
                        batch.pending.discard(nbcfg.name)
                        _zero_notebook(gb, sub, nbcfg.name)
                        batch.outcomes += [{"id": q.id, "points": 0.0, "max_points": q.points, "passed": False,
                                            "message": str(exc)} for q in nbcfg.questions]
                        continue
                    except Exception as exc:  # nbgrader refused the notebook
                        batch.problems.append(f"{nbcfg.name}: could not be prepared for grading ({exc}); its questions score 0")
                        batch.pending.discard(nbcfg.name)
                        _zero_notebook(gb, sub, nbcfg.name)
                        batch.outcomes += [{"id": q.id, "points": 0.0, "max_points": q.points, "passed": False,
                                            "message": "notebook could not be graded"} for q in nbcfg.questions]
                        continue
                    fut = submit(grade_job, str(course.root), str(data_path), sub.assignment, nbcfg.name, nbformat.writes(nb))
                    futures[fut] = (batch, nbcfg.name)
        for batch in batches:
            if not batch.pending:
                _finish_batch(course, config, batch, report)
        iterator = _completed(futures, client)
        for fut in iterator:
            batch, name = futures[fut]
            try:
                out = fut.result()
            except Exception as exc:
                batch.error = batch.error or f"{name}: grading failed: {type(exc).__name__}: {exc}"
                out = None
            if out is not None:
                batch.graded[name] = nbformat.reads(out["nb"], as_version=4)
                batch.outcomes += out["questions"]
                batch.problems += [f"{name}: {p}" for p in out["problems"]]
            batch.pending.discard(name)
            if not batch.pending:
                _finish_batch(course, config, batch, report)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        if client is not None and not hasattr(scheduler, "submit"):
            client.close()
    return results


def _completed(futures, client):
    if client is not None:
        from distributed import as_completed as dask_completed

        return dask_completed(list(futures))
    return as_completed(futures)


def _register_submission(gb, sub: Submission) -> None:
    gb.update_or_create_student(sub.student)
    ts_file = sub.folder / "timestamp.txt"
    timestamp = None
    if ts_file.is_file():
        from nbgrader.utils import parse_utc

        try:
            timestamp = parse_utc(ts_file.read_text().strip())
        except Exception:
            timestamp = None
    if timestamp is not None:
        gb.update_or_create_submission(sub.assignment, sub.student, timestamp=timestamp)
    else:
        gb.update_or_create_submission(sub.assignment, sub.student)


def _zero_notebook(gb, sub: Submission, notebook: str) -> None:
    """Score every grade of an unusable or missing notebook 0 (as nbgrader does for missing ones)."""
    nb = gb.find_submission_notebook(notebook, sub.assignment, sub.student)
    for grade in nb.grades:
        grade.auto_score = 0
        grade.needs_manual_grade = False
    gb.db.commit()


def _finish_batch(course: Course, config, batch: _Batch, report) -> None:
    from . import nbgrader_adapter

    sub = batch.sub
    out_dir = course.root / "autograded" / sub.student / sub.assignment
    result = SubmissionResult(sub.student, sub.assignment, "graded", problems=batch.problems)
    try:
        if batch.error:
            raise RuntimeError(batch.error)
        tmp = out_dir.with_name(out_dir.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        ts = sub.folder / "timestamp.txt"
        if ts.is_file():
            shutil.copyfile(ts, tmp / "timestamp.txt")
        for name, nb in batch.graded.items():
            nb = nbgrader_adapter.finish(course, config, nb, sub.assignment, name, sub.student)
            nbformat.write(nb, tmp / f"{name}.ipynb")
        result.questions = {o["id"]: float(o["points"]) for o in batch.outcomes}
        result.score = sum(result.questions.values())
        result.max_score = sum(float(o["max_points"]) for o in batch.outcomes)
        result.seconds = time.monotonic() - batch.started
        (tmp / MARKER).write_text(json.dumps({
            "fingerprint": batch.fingerprint,
            "score": result.score,
            "max_score": result.max_score,
            "questions": result.questions,
            "outcomes": batch.outcomes,
            "problems": batch.problems,
        }, indent=1))
        shutil.rmtree(out_dir, ignore_errors=True)
        tmp.rename(out_dir)
    except Exception as exc:
        result.status = "failed"
        result.error = str(exc) or traceback.format_exc(limit=2)
    report(result)
