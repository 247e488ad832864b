"""The instructor's side of ``course autograde``: what to grade, and the gradebook.

Runs in the instructor's process only, which alone writes the gradebook and the
course's folders.  For each submission of ``submitted/<student>/<assignment>/``:

1. :func:`plan` skips it when its :class:`~autograder.results.SubmissionRecord` says
   it was graded from the same files under the same settings (:func:`settings_of`);
2. :func:`prepare` records it in the gradebook and runs nbgrader's sanitize step on
   each notebook (the instructor's cells put back from the gradebook), yielding one
   job per notebook for the executor;
3. :func:`finish` runs nbgrader's post-execution steps on the graded notebooks (one
   transaction per notebook), writes them with the record into a fresh folder, and
   swaps that folder into ``autograded/<student>/<assignment>/`` in one step.  A grade
   a grader gave by hand stays while its answer is unchanged and is withdrawn (needs
   grading again) when a resubmission changed it (:func:`_review_hand_grades`).

A submission folder holding none of its assignment's notebooks fails before it is
recorded (:func:`_no_notebook`): it stays missing, rather than graded 0.

A submission is marked done only after its grades are committed, so an interrupted
batch resumes where it stopped.  Whatever goes wrong with one submission (a notebook
nbgrader refuses, files that cannot be written, a full disk) fails that submission
only, with a one-line reason.  A gradebook that another program keeps locked past the
wait (:data:`autograder.gradebook.GRADEBOOK_WAIT`) fails the submission that met
it, and then every remaining one at once with the same line (:class:`GradebookGate`),
rather than each waiting in turn.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import nbformat

from ..config import Assignment, Course
from ..errors import NotFound
from ..fileio import atomic_write_bytes, atomic_write_text, replace_dir
from ..gradebook import unavailable
from ..notebooks import read_notebook
from ..results import Outcome, RecordError, SubmissionRecord

__all__ = ["Submission", "SubmissionResult", "find_submissions", "plan", "prepare", "finish", "settings_of",
           "Pending", "GradebookGate"]


@dataclass(frozen=True)
class Submission:
    """One student's submission of one assignment, in ``submitted/``."""

    student: str
    assignment: str
    folder: Path


@dataclass
class SubmissionResult:
    """The outcome of grading one submission, for the command's summary.

    ``status``: ``graded``, ``skipped`` (graded before from the same files and
    settings; its scores are the gradebook's) or ``failed`` (``error`` says why).
    """

    student: str
    assignment: str
    status: str
    score: float = 0.0
    max_score: float = 0.0
    questions: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    error: str = ""
    seconds: float = 0.0


def find_submissions(course: Course, assignments: list[str] | None = None,
                     students: list[str] | None = None) -> list[Submission]:
    """Submissions in ``submitted/<student>/<assignment>/``, filtered.

    Raises NotFound naming an unknown assignment or student.
    """
    root = course.folder("submitted")
    wanted = [course.assignment(a).id for a in assignments] if assignments else [a.id for a in course.assignments]
    present = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if students:
        unknown = [s for s in students if s not in present]
        if unknown:
            raise NotFound(f"no submissions from student(s) {', '.join(unknown)} in {root}")
        present = [s for s in present if s in students]
    return [Submission(s, a, course.folder("submitted", s, a)) for s in present for a in wanted
            if course.folder("submitted", s, a).is_dir()]


def fingerprint(folder: Path) -> str:
    """A digest of the files of a submission folder (links are not followed)."""
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.is_symlink():
            h.update(str(p.relative_to(folder)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def settings_of(course: Course, assignment: Assignment) -> str:
    """A digest of everything a grade of ``assignment`` depends on besides the
    submission: course.yml's grading limits, tolerances and the assignment's questions,
    its source notebooks, the data file, and the code of the checks and the reference.
    (Not its due date, late policy or LMS id: those change penalties and exports, not grades.)"""
    graded = assignment.model_dump(exclude={"due", "late", "lms_id"})
    return _settings(course.root, json.dumps([course.grading.model_dump(), course.tolerances.model_dump(),
                                              graded, course.data.model_dump()],
                                             sort_keys=True, default=str),
                     tuple(str(course.source_notebook(assignment, nb)) for nb in assignment.notebooks))


@cache
def _settings(root: Path, text: str, notebooks: tuple[str, ...]) -> str:
    import importlib.util

    from .. import checks

    # reference_solution's folder, found as this process would import it, without
    # importing it (it imports the scientific stack: 1.3 s of this process's start)
    reference = importlib.util.find_spec("reference_solution")
    folders = [Path(checks.__file__).parent]
    if reference is not None and reference.submodule_search_locations:
        folders += [Path(p) for p in reference.submodule_search_locations]
    h = hashlib.sha256(text.encode())
    for folder in folders:
        for path in sorted(folder.glob("*.py")):
            h.update(path.name.encode())
            h.update(path.read_bytes())
    for nb in notebooks:
        h.update(Path(nb).read_bytes())
    return h.hexdigest()


def plan(course: Course, subs: list[Submission], *, force: bool, gb) -> tuple[list[tuple[Submission, str]],
                                                                               list[SubmissionResult]]:
    """Split ``subs`` into those to grade (with their fingerprints) and the results of
    those to skip (graded before from the same files under the same settings)."""
    todo, skipped = [], []
    for sub in subs:
        fp = fingerprint(sub.folder)
        if not force:
            try:
                record = SubmissionRecord.read(course.folder("autograded", sub.student, sub.assignment))
            except (FileNotFoundError, RecordError):
                record = None
            if (record is not None and record.fingerprint == fp
                    and record.settings == settings_of(course, course.assignment(sub.assignment))):
                skipped.append(_from_gradebook(gb, sub, record))
                continue
        todo.append((sub, fp))
    return todo, skipped


def _from_gradebook(gb, sub: Submission, record: SubmissionRecord) -> SubmissionResult:
    """The result of a skipped submission, with its scores as the gradebook has them now."""
    from nbgrader.api import MissingEntry

    questions = {o.question: o.points for o in record.outcomes}
    try:
        graded = {g.name: g for nb in gb.find_submission(sub.assignment, sub.student).notebooks for g in nb.grades}
    except MissingEntry:
        graded = {}
    for qid in questions:
        g = graded.get(f"{qid}-test") or graded.get(qid)  # a question graded by hand: its own cell
        if g is not None and g.score is not None:
            questions[qid] = float(g.score)
    return SubmissionResult(sub.student, sub.assignment, "skipped", sum(questions.values()), record.max_score,
                            questions, list(record.problems))


class GradebookGate:
    """The batch's open gradebook, and whether it can still be used.

    :meth:`failed` is called after any error in a step that used the gradebook: it
    rolls the session back (so the next submission starts clean) and, when the error
    says the gradebook is locked by another program, full or read-only, closes the
    gate: :attr:`reason` is then set, and every remaining submission fails at once
    with it.
    """

    def __init__(self, course: Course, gb):
        self.course, self.gb = course, gb
        self.reason = ""

    def failed(self, exc: BaseException) -> str:
        """Roll back after ``exc``; the one-line reason if the gradebook is unusable, else ""."""
        with contextlib.suppress(Exception):
            self.gb.db.rollback()
        problem = unavailable(exc, self.course)
        if problem is None:
            return ""
        self.reason = f"not graded: {problem}"
        return self.reason


class Pending:
    """One submission while its notebooks are being graded."""

    def __init__(self, sub: Submission, notebooks: list[str], fp: str, settings: str):
        self.sub = sub
        self.waiting = set(notebooks)
        self.graded: dict[str, nbformat.NotebookNode] = {}
        self.outcomes: dict[str, list[Outcome]] = {}
        self.problems: list[str] = []
        self.fingerprint = fp
        self.settings = settings
        self.started = time.monotonic()
        self.error = ""

    def done(self, name: str, out) -> None:
        """Take a notebook's result from the executor (grade_job's dict or an exception)."""
        if isinstance(out, BaseException):
            self.error = self.error or f"{name}: grading failed: {type(out).__name__}: {_first_line(out)}"
        elif out is not None:
            try:
                self.graded[name] = nbformat.from_dict(json.loads(out["nb"]))
                self.outcomes[name] = [Outcome.from_json(o) for o in out["result"]["outcomes"]]
                self.problems += [f"{name}: {p}" for p in out["result"]["problems"]]
            except Exception as exc:  # noqa: BLE001 - (a graded notebook too deep to read back, say): this submission
                self.error = self.error or f"{name}: its graded copy could not be read ({type(exc).__name__}: {exc})"
        self.waiting.discard(name)


def prepare(course: Course, config, gate: GradebookGate, todo: list[tuple[Submission, str]], data_path: Path):
    """Yield ``(pending, notebook name, grade_job args or None)`` for every notebook.

    A notebook that cannot be graded at all (unreadable, refused by nbgrader) scores 0
    here and comes with None args; a submission that cannot even be recorded (or meets
    a gradebook that cannot be used) comes once, with name None, or with None args for
    its remaining notebooks.
    """
    from .. import integrity, nbgrader_adapter

    @cache
    def instructor(assignment_id: str, notebook: str):
        """The source and release notebooks, read once per batch."""
        a = course.assignment(assignment_id)
        nbcfg = a.notebook(notebook)
        return (nbformat.read(course.source_notebook(a, nbcfg), as_version=4),
                nbformat.read(course.release_notebook(a, nbcfg), as_version=4))

    gb = gate.gb
    for sub, fp in todo:
        assignment = course.assignment(sub.assignment)
        pending = Pending(sub, [nb.name for nb in assignment.notebooks], fp, settings_of(course, assignment))
        pending.error = gate.reason or _no_notebook(course, sub)
        if not pending.error:
            try:
                _register(gb, sub)
            except Exception as exc:  # noqa: BLE001 - reported on this submission; the batch goes on
                pending.error = gate.failed(exc) or f"could not record the submission: {_first_line(exc)}"
        if pending.error:
            pending.waiting.clear()
            yield pending, None, None
            continue
        for nbcfg in assignment.notebooks:
            if pending.error:  # the gradebook failed on an earlier notebook: nothing more to do
                yield pending, nbcfg.name, None
                continue
            try:
                nb = read_notebook(sub.folder / nbcfg.filename, within=course.folder("submitted"))
                source, released = instructor(assignment.id, nbcfg.name)
                pending.problems += [f"{nbcfg.name}: {p}" for p in integrity.inspect(nb, released)]
                # the instructor's cells first: nbgrader's sanitize step crashes on some
                # tampering (duplicated or unknown grade ids, a graded solution cell...)
                nb = integrity.restore(nb, source)
                nb = nbgrader_adapter.sanitize(course, config, nb, sub.assignment, nbcfg.name, sub.student)
            except Exception as exc:  # noqa: BLE001 - unreadable (NotebookError) or refused by nbgrader
                pending.error = gate.failed(exc)
                if not pending.error:
                    _zero_unusable(gate, pending, nbcfg, exc)
                yield pending, nbcfg.name, None
                continue
            yield pending, nbcfg.name, (str(course.root), str(data_path), sub.assignment, nbcfg.name, json.dumps(nb))


def _no_notebook(course: Course, sub: Submission) -> str:
    """Why ``sub`` is no submission, or "": its folder holds none of the assignment's
    notebooks (made by hand: ``course collect`` takes no folder without one), so there
    is nothing to grade, and a 0 recorded for it would be exported as the student's grade.
    The submission then fails, with nothing written to the gradebook or ``autograded/``:
    it stays missing (or keeps what an earlier grading recorded).  With one of several
    notebooks missing, the submission is graded, the missing one scoring 0."""
    assignment = course.assignment(sub.assignment)
    expected = [nb.filename for nb in assignment.notebooks]
    if any(os.path.lexists(sub.folder / name) for name in expected):
        return ""
    try:
        others = sorted(p.name for p in sub.folder.iterdir() if p.name.endswith(".ipynb"))
    except OSError:
        others = []
    where = sub.folder.relative_to(course.root) if sub.folder.is_relative_to(course.root) else sub.folder
    names = f"no {expected[0]}" if len(expected) == 1 else "none of " + ", ".join(expected)
    reason = f"no notebook to grade: {where}/ holds {names}"
    if len(others) == 1 and len(expected) == 1:
        reason += f"; it holds {others[0]}: rename it to {expected[0]}"
    elif others:
        reason += f"; it holds {', '.join(others)}: rename the student's notebook to its name in course.yml"
    return reason + "; nothing was recorded in the gradebook"


def _first_line(exc: BaseException) -> str:
    """An exception's message, first line only (SQLAlchemy's go on with the SQL)."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _zero_unusable(gate: GradebookGate, pending: Pending, nbcfg, exc: BaseException) -> None:
    """A notebook that cannot be graded: its questions score 0, with the reason."""
    reason = str(exc) if isinstance(exc, ValueError) else f"could not be prepared for grading ({_first_line(exc)})"
    pending.problems.append(f"{nbcfg.name}: {reason}; its questions score 0")
    pending.outcomes[nbcfg.name] = [Outcome.failed(q.id, q.points, reason) for q in nbcfg.questions]
    try:
        _zero_notebook(gate.gb, pending.sub, nbcfg.name)
    except Exception as err:  # noqa: BLE001 - reported on this submission; the batch goes on
        pending.error = gate.failed(err) or f"{nbcfg.name}: its score of 0 could not be saved ({_first_line(err)})"


def _register(gb, sub: Submission) -> None:
    from nbgrader.utils import parse_utc

    gb.update_or_create_student(sub.student)
    timestamp = None
    ts_file = sub.folder / "timestamp.txt"
    if ts_file.is_file():
        try:
            timestamp = parse_utc(ts_file.read_text().strip())
        except Exception:  # noqa: BLE001 - an unreadable time is no time
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


def finish(course: Course, config, pending: Pending, gate: GradebookGate | None = None) -> SubmissionResult:
    """Save the grades of a fully graded submission and write ``autograded/``; its result.

    The graded files are written into a fresh folder beside ``autograded/<student>/<assignment>``
    (a unique name: runs never share it) that then replaces it in one step
    (:func:`~autograder.fileio.replace_dir`): the previous graded copy is never deleted
    first, and stays if anything fails.
    """
    from .. import nbgrader_adapter

    sub = pending.sub
    assignment = course.assignment(sub.assignment)
    result = SubmissionResult(sub.student, sub.assignment, "graded", problems=pending.problems)
    out_dir = course.folder("autograded", sub.student, sub.assignment)
    tmp = None
    saved = False  # whether the grades are in the gradebook
    try:
        if pending.error or (gate is not None and gate.reason):
            raise _Unfinished(pending.error or gate.reason)
        finished, regrade = {}, []
        for name, nb in pending.graded.items():
            # (outside a batch, without its open gradebook, there is nothing to review:
            # opening the gradebook here could race another finish creating it)
            by_hand = _hand_grades(gate.gb, sub, name) if gate is not None else {}
            finished[name] = nbgrader_adapter.finish(course, config, nb, sub.assignment, name, sub.student)
            if by_hand:
                regrade += _review_hand_grades(gate.gb, course, sub, name, finished[name], by_hand)
        saved = True
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{sub.assignment}.", suffix=".partial", dir=out_dir.parent))
        ts = sub.folder / "timestamp.txt"
        if ts.is_file():
            atomic_write_bytes(tmp / "timestamp.txt", ts.read_bytes())
        for name, nb in finished.items():
            atomic_write_text(tmp / f"{name}.ipynb", nbformat.writes(nb))
        outcomes = [o for nb in assignment.notebooks for o in pending.outcomes.get(nb.name, [])]
        record = SubmissionRecord(sub.student, sub.assignment, pending.fingerprint, pending.settings,
                                  outcomes, pending.problems)
        record.write(tmp)
        replace_dir(tmp, out_dir)
        tmp = None
        result.problems = [*regrade, *pending.problems]  # for the instructor only: not in the record
        result.questions = {o.question: o.points for o in outcomes}
        result.score, result.max_score = record.score, record.max_score
        result.seconds = time.monotonic() - pending.started
    except Exception as exc:  # noqa: BLE001 - reported on this submission; the batch goes on
        result.status = "failed"
        result.error = _failure(exc, gate, out_dir, saved)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    pending.graded.clear()  # written out: the notebooks need not stay in memory
    return result


def _hand_grades(gb, sub: Submission, notebook: str) -> dict[str, bool]:
    """The grades of ``notebook`` that a grader scored (a manual score), each with its
    ``needs_manual_grade`` flag as it is before nbgrader's save step (which raises it on
    every one of them: see :func:`_review_hand_grades`)."""
    from nbgrader.api import MissingEntry

    try:
        nb = gb.find_submission_notebook(notebook, sub.assignment, sub.student)
    except MissingEntry:
        return {}
    return {g.name: bool(g.needs_manual_grade) for g in nb.grades if g.manual_score is not None}


def _review_hand_grades(gb, course: Course, sub: Submission, notebook: str, graded: nbformat.NotebookNode,
                        by_hand: dict[str, bool]) -> list[str]:
    """After nbgrader's save step regraded a notebook, decide what its hand grades are worth.

    nbgrader's ``SaveAutoGrades`` sets ``needs_manual_grade`` on every grade that has a
    manual score whenever the notebook is autograded again (its formgrader then lists
    it for review), but keeps the score (left so, ``course`` reads it as a hand grade
    awaiting review: :mod:`autograder.gradebook`).  The
    rule here, nbgrader's own ``compute_checksum`` deciding whether a cell changed (the
    measure its save step uses to tell an answered cell from the released one):

    * the answer unchanged since the grader scored it (the answer cell of a written
      answer; for an autograded question's test cell, the student's cells the question
      is judged from, after the previous graded cell), compared with the graded copy
      in ``autograded/`` that the formgrader showed: the hand grade stands, and the flag
      goes back to what it was (a ``--force`` or a new time does not undo grading);
    * the answer changed: the hand grade no longer applies to it.  Its manual score,
      extra credit and the grader's comment on the answer are withdrawn and the flag
      stays, so that the question "needs manual grading" everywhere (export, report's
      ``manual.csv``, feedback, the formgrader), with the autograder's score if it has one;
    * no graded copy to compare with: nbgrader's flag stays (the formgrader lists it,
      and export, report and feedback show it awaiting review) and the hand grade is kept.

    Returns one line per hand grade that needs a grader again, for the instructor.
    """
    try:
        previous = nbformat.read(course.folder("autograded", sub.student, sub.assignment) / f"{notebook}.ipynb",
                                 as_version=4)
    except Exception:  # noqa: BLE001 - no (readable) graded copy: nothing to compare with
        previous = None
    notes = []
    nb = gb.find_submission_notebook(notebook, sub.assignment, sub.student)
    grades = {g.name: g for g in nb.grades}
    comments = {c.name: c for c in nb.comments}
    for name, flagged in by_hand.items():
        grade = grades.get(name)
        if grade is None or grade.manual_score is None:
            continue
        question = name.removesuffix("-test")
        if previous is None:
            notes.append(f"{notebook}: {question}: graded by hand, and no earlier graded copy to tell whether "
                         "the answer changed: left flagged for review in the formgrader")
            continue
        before, now = _answer(previous, name), _answer(graded, name)
        if before is not None and before == now:
            grade.needs_manual_grade = flagged
            continue
        notes.append(f"{notebook}: {question}: the answer changed since it was graded by hand "
                     f"({grade.manual_score:g} points): its hand grade is withdrawn; grade it again")
        grade.manual_score = None
        grade.extra_credit = None
        grade.needs_manual_grade = True
        for cell in (now or before or {}).keys():
            if cell in comments:
                comments[cell].manual_comment = None
    gb.db.commit()
    return notes


def _answer(nb: nbformat.NotebookNode, grade_id: str) -> dict[str, str] | None:
    """What a graded cell's score judges in ``nb``: the cell itself when it is the answer
    (a written answer), else the student's cells since the previous graded cell (the
    question's solution cell, cells they added); each as nbgrader's checksum, keyed by
    its grade id (a cell the student added: by its position).  None: no such cell."""
    from nbgrader.utils import compute_checksum, is_grade, is_locked, is_solution

    def checksum(cell) -> str:
        source = cell.get("source", "")
        cell = nbformat.from_dict({**cell, "source": source if isinstance(source, str) else "".join(source)})
        if "grade_id" in cell.get("metadata", {}).get("nbgrader", {}):
            return compute_checksum(cell)
        return hashlib.sha256(f"{cell.cell_type}\0{cell.source}".encode()).hexdigest()

    cells = nb.cells
    at = next((i for i, c in enumerate(cells)
               if is_grade(c) and c.metadata.nbgrader.get("grade_id") == grade_id), None)
    if at is None:
        return None
    if is_solution(cells[at]):
        return {grade_id: checksum(cells[at])}
    start = at
    while start > 0 and not is_grade(cells[start - 1]):
        start -= 1
    return {cells[i].metadata.get("nbgrader", {}).get("grade_id") or f"#{i - start}": checksum(cells[i])
            for i in range(start, at)
            if not is_locked(cells[i]) and (cells[i].cell_type == "code" or is_solution(cells[i]))}


class _Unfinished(RuntimeError):
    """A submission that failed before :func:`finish` (its message is the reason)."""


def _failure(exc: BaseException, gate: GradebookGate | None, out_dir: Path, saved: bool) -> str:
    """The one-line reason a submission failed in :func:`finish`."""
    if isinstance(exc, _Unfinished):
        return str(exc)
    reason = gate.failed(exc) if gate is not None else ""
    if not reason and isinstance(exc, OSError):  # a full disk, a read-only folder
        reason = f"{out_dir} could not be written ({exc.strerror or exc})"
    elif not reason:
        reason = _first_line(exc) if str(exc) else traceback.format_exc(limit=2)
    if saved:
        reason += "; its grades are saved in the gradebook (run `course autograde` again to write its graded files)"
    return reason

