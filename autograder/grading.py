"""Grading one notebook: run it in the sandbox, judge each question in this process.

This is the one grading path.  ``course check``, ``course autograde`` (locally or on
a dask cluster) and plain ``nbgrader autograde`` (through
:class:`autograder.nbgrader_adapter.SandboxedExecute`) all call
:meth:`NotebookGrader.grade`.

Every code cell runs, in order, in the student's sandboxed process.  At a question's
test cell the hidden-test block is removed (its visible checks run in the student's
process, where the student can read them anyway), the question's names are captured
just before the visible checks run, and the question is judged here, out of the
student's reach, from up to three runs of the student's own code:

1. ``own``: the notebook as the student ran it.  Its answer must be the reference
   answer (the reference recipe on the reference inputs).
2. ``reference``: when the own run fails and the question has inputs (names earlier
   answers define), the question's code runs again in a copy of the student's process
   taken at the question's boundary (just before its first cell of the student's),
   with the reference inputs put in place of the student's own.  Correct code after
   an earlier mistake keeps its points.
3. ``secret``: the question's code runs once more, in another copy, on a second input
   the student never sees (a perturbed image, a shifted header, other constants;
   a file input is replaced at its own path), and must give the reference recipe's
   answer for that input.  A pasted array, a typed number or a friend's printed
   result earns nothing.  The second input is drawn for each submission from its
   code (:func:`submission_salt`), except for the extraction's image questions, which
   share one for the course (see ``per_submission`` in :mod:`autograder.checks`).  A rule about *how* the answer is computed ("no Python
   loop") is checked on this run, from what the code did (lines run, numpy helpers
   that loop in Python, CPU time against numpy's own), on an input large enough to
   tell.

The question passes when (1 or 2) and 3 pass.  "The question's code" is the code
cells after the previous test cell from the first cell of the student's (the solution
cell, or a cell they added: helpers, copies of cells) to the last one; the copies are
taken just before the first of them, after the given cells before it have run.  A given
cell in between runs again too, and the inputs are put back after it (a given cell may
set an input to the notebook's value); a given cell that raises (a plot of a name an
earlier wrong answer left undefined) does not stop the rerun, as it did not stop the
notebook.  A cell the student added above the answer cell that binds an input's name
again (``peak_row = np.argmax(profile)`` once more) gets the input back after it.
Copies of the process end after their run; nothing they do (globals, files) reaches
the notebook's own process, whose later answers are judged the same way.

The test cell's outputs are then rebuilt so that nbgrader's own scoring rule
(:func:`nbgrader.utils.determine_grade`: an error output scores 0, otherwise full
points) gives the verdict: an error output when the question failed, none otherwise.
Anything the student's code printed to stderr and any ``execute_result`` in a test cell
are dropped, so a warning cannot zero a question and a printed number cannot claim
partial credit.
"""

from __future__ import annotations

import hashlib
import logging

import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from . import integrity
from .checks import Judge
from .config import Assignment, Course, Notebook, Question
from .nbmeta import grade_id, is_instructor_cell, strip_hidden_tests
from .results import MANUAL, NOT_RUN, NotebookResult, Outcome, Run
from .sandbox.limits import Limits
from .sandbox.runner import Session, Snapshot, Zygote, hidden_paths, make_workdir

log = logging.getLogger(__name__)

__all__ = ["GradedNotebook", "NotebookGrader", "course_secret"]

#: Python lines a question under the "no-loop" rule may run on its secret input.
LOOP_LINES = 500
#: Rounds one loop (a line run again in the same frame) of a question under the
#: "no-loop" rule may make on its secret input: a loop over a few names or axes, or a
#: few values printed, passes; one over chunks, rows or points of the input does not,
#: however few lines it runs.
LOOP_ROUNDS = 16
#: CPU time a "no-loop" answer may take: this many times numpy's own, plus SLACK seconds.
LOOP_CPU_FACTOR, LOOP_CPU_SLACK = 5.0, 0.03


#: Stands for the copy of the student's process that could not be made at a boundary.
NO_SNAPSHOT = object()


@dataclass
class GradedNotebook:
    """A notebook after grading: its cells with the grader's outputs, and the result."""

    nb: nbformat.NotebookNode
    result: NotebookResult


def course_secret(course: Course) -> bytes:
    """The course's secret (``.course/secret``, made on first use, readable by its owner
    only): the seed of every secret input."""
    path = course.state_dir / "secret"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # made meanwhile by another grading process
        return path.read_bytes()
    with os.fdopen(fd, "wb") as fh:
        fh.write(secrets.token_bytes(32))
    return path.read_bytes()


def _error_output(ename: str, message: str) -> dict:
    return nbformat.v4.new_output("error", ename=ename, evalue=message, traceback=[f"{ename}: {message}"])


def _first_error(outputs: list[dict]) -> str:
    for out in outputs:
        if out.get("output_type") == "error":
            value = out.get("evalue", "")
            return f"{out.get('ename', 'Error')}: {value}" if value else str(out.get("ename", "Error"))
    return ""


@dataclass
class _Plan:
    """Where each question's code is in the notebook."""

    questions: dict[str, Question]  # test cell grade id -> question
    start: dict[int, Question] = field(default_factory=dict)  # first code cell index -> question
    cells: dict[str, list[int]] = field(default_factory=dict)  # question id -> the code cells run again


def _plan(nb: nbformat.NotebookNode, notebook: Notebook) -> _Plan:
    """Each question's code: the code cells after the previous test cell up to its own,
    from the first cell of the student's (the solution cell, or a cell they added) to the
    last one, given cells in between included (the copy of the process is taken just
    before that first cell, after the given cells before it have run; given cells after
    the last one, such as a plot of the answer, are not run again)."""
    plan = _Plan({q.test_id: q for q in notebook.questions if not q.manual})
    span: list[int] = []
    for index, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code":
            continue
        q = plan.questions.get(grade_id(cell) or "")
        if q is None:
            span.append(index)
            continue
        students = [i for i in span if not is_instructor_cell(nb.cells[i])]
        cells = [i for i in span if students and students[0] <= i <= students[-1]]
        plan.start.setdefault(cells[0] if cells else index, q)
        plan.cells[q.id] = cells
        span = []
    return plan


class NotebookGrader:
    """Grades notebooks of one course; keeps a warm zygote between notebooks.

    Parameters
    ----------
    course : Course
        The validated course.
    data_path : Path or None
        The verified data file (copied into each sandbox, read by the checks).
    zygote : Zygote or None
        A warm process to fork student processes from; one is created on first use.
    plots : {"jpeg", "png", "none"} or None
        How the zygote it creates draws inline plots (see :class:`Zygote`); default:
        course.yml's ``grading.plots``.
    warm_up : bool
        Whether the zygote it creates warms the libraries up before forking.
    zygote_address : str or None
        The zygote it creates uses the shared warm process at this address.
    """

    def __init__(self, course: Course, *, data_path: Path | None = None, zygote: Zygote | None = None,
                 plots: str | None = None, warm_up: bool = True, zygote_address: str | None = None):
        self.course = course
        self.plots = plots or course.grading.plots
        self.warm_up = warm_up
        self.zygote_address = zygote_address
        self.data_path = Path(data_path) if data_path is not None else None
        self._zygote = zygote
        self.limits = Limits.from_grading(course.grading)
        self._judges: dict[str, Judge] = {}
        self._key: bytes | None = None

    @property
    def zygote(self) -> Zygote:
        if self._zygote is None:
            self._zygote = Zygote(hide=hidden_paths(self.course.root), plots=self.plots, warm_up=self.warm_up,
                                  address=self.zygote_address)
        return self._zygote

    def judge(self, assignment: Assignment) -> Judge:
        """The checks of ``assignment`` with their inputs (kept for the next notebook)."""
        if assignment.id not in self._judges:
            if self._key is None:
                self._key = course_secret(self.course)
            self._judges[assignment.id] = Judge(assignment.id, self.data_path, self._key)
        return self._judges[assignment.id]

    def close(self) -> None:
        if self._zygote is not None:
            self._zygote.close()
            self._zygote = None

    def __enter__(self) -> NotebookGrader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def sandbox_files(self) -> dict[str, Path]:
        """The files copied into every student process's working folder: the data file and
        ``course_data.py`` (the notebooks' one line to find it)."""
        files: dict[str, Path] = {}
        helper = self.course.root / "course_data.py"
        if helper.is_file():
            files["course_data.py"] = helper
        if self.data_path is not None:
            files[self.course.data.files[0].name] = self.data_path
        return files

    def grade(self, nb: nbformat.NotebookNode, assignment: Assignment, notebook: Notebook) -> GradedNotebook:
        """Run ``nb`` (whose test cells are the instructor's) and judge every question.

        ``nb`` is modified in place (outputs) and returned inside the result.
        """
        started = time.monotonic()
        g = self.course.grading
        integrity.reorder_tests(nb, notebook.questions)  # each test cell after its own question's code
        judge = self.judge(assignment).for_submission(submission_salt(nb))
        plan = _plan(nb, notebook)
        outcomes: dict[str, Outcome] = {}
        problems: list[str] = []
        deadline = started + g.notebook_timeout
        stopped = ""
        session = self.zygote.spawn(make_workdir(self.sandbox_files()), self.limits)
        snapshot: Snapshot | None = None
        figures_pending: list = []
        try:
            count = 0
            for index, cell in enumerate(nb.cells):
                if cell.get("cell_type") != "code":
                    continue
                question = plan.questions.get(grade_id(cell) or "")
                if stopped:
                    cell.outputs = [_error_output("NotRun", f"not run: {stopped}")] if question else []
                    cell.execution_count = None
                    if question:
                        outcomes[question.id] = Outcome.failed(question.id, question.points, f"not run: {stopped}",
                                                               status=NOT_RUN)
                    continue
                boundary = plan.start.get(index)
                if boundary is not None and _reruns(judge, boundary):
                    if isinstance(snapshot, Snapshot):
                        snapshot.close()
                    snapshot = session.snapshot(cell=index) or NO_SNAPSHOT
                count += 1
                code = strip_hidden_tests(cell.source) if question else cell.source
                remaining = deadline - time.monotonic()
                timeout = min(g.cell_timeout, max(remaining, 0.0))
                capture = list(dict.fromkeys([*question.names, *judge.spec(question.id).watch])) if question else None
                result = session.run(code, capture_names=capture, timeout=timeout, cell=index)
                if result.status == "timeout" and remaining < g.cell_timeout:
                    result.detail = f"the notebook ran longer than its limit of {g.notebook_timeout:g} s"
                cell.execution_count = count
                outputs = result.outputs
                if result.status != "ok":
                    stopped = f"the notebook stopped at cell {index + 1}: {result.detail}"
                    problems.append(stopped)
                    outputs = [*outputs, _error_output("CellTimeoutError" if result.status == "timeout"
                                                       else "DeadKernelError", result.detail)]
                if question is None:
                    cell.outputs = [nbformat.from_dict(o) for o in outputs]
                    continue
                figures_pending = result.figures
                kept = [o for o in outputs if o["output_type"] == "error" or
                        (o["output_type"] == "stream" and o["name"] == "stdout")]
                visible = _first_error(kept)
                # (an error of a given cell in the span is not this question's code's: it
                # fails on what an earlier wrong answer left, and the rerun goes past it)
                earlier = next((e for e in (_first_error(nb.cells[i].get("outputs", []))
                                            for i in plan.cells[question.id]
                                            if i != index and not is_instructor_cell(nb.cells[i])) if e), "")
                if visible and earlier.startswith("NotImplementedError"):  # the starter code, left as it was
                    visible = ("not answered yet: this question's cell still raises NotImplementedError (replace "
                               "`raise NotImplementedError()` with your code)")
                elif visible and earlier:  # the answer cell failed first: its error is the one to fix
                    visible = f"{earlier} (raised by this question's code, before its test cell: fix that first)"
                if result.status == "ok":
                    cells = _rerun_cells(nb, plan.cells[question.id], question)
                    outcome = self._judge_question(judge, question, result.values, figures_pending, visible,
                                                   session, snapshot, cells, deadline)
                else:
                    outcome = Outcome.failed(question.id, question.points, visible or result.detail)
                if isinstance(snapshot, Snapshot):
                    snapshot.close()
                snapshot = None
                if outcome.passed:
                    kept = [o for o in kept if o["output_type"] != "error"]
                    if any(not r.passed for r in outcome.runs):
                        kept.append(nbformat.v4.new_output("stream", name="stdout", text=_follow_through_note()))
                elif not any(o["output_type"] == "error" for o in kept) or outcome.message != visible:
                    kept.append(_error_output("AssertionError", outcome.message))
                cell.outputs = [nbformat.from_dict(o) for o in kept]
                outcomes[question.id] = outcome
        finally:
            if isinstance(snapshot, Snapshot):
                snapshot.close()
            session.close()
        for q in notebook.questions:
            if q.manual:  # a written answer: the autograder gives it nothing; a grader will
                outcomes[q.id] = Outcome(q.id, 0.0, q.points, MANUAL, "graded by hand by your instructor")
            elif q.id not in outcomes:
                msg = "the question's test cell is missing from the notebook"
                outcomes[q.id] = Outcome.failed(q.id, q.points, msg, status=NOT_RUN)
                problems.append(f"{q.id}: {msg}")
        ordered = [outcomes[q.id] for q in notebook.questions]
        return GradedNotebook(nb, NotebookResult(notebook.name, ordered, problems, time.monotonic() - started))

    def _judge_question(self, judge: Judge, question: Question, values: dict, figures: list, visible: str,
                        session: Session, snapshot: Snapshot | None, cells: list[dict], deadline: float) -> Outcome:
        """The question's verdict from its runs (see the module docstring)."""
        spec = judge.spec(question.id)
        tol = self.course.tolerance(question)
        own = judge.verdict(question, values, tolerance=tol, figures=figures, run="own", code=cells)
        values_right = own.passed  # the hidden check's word on the notebook's own values
        if visible:  # the question's own visible test speaks first
            own = Outcome.failed(question.id, question.points, visible)
        runs = [Run("own", own.passed)]
        verdict = own
        if snapshot is None:
            return verdict
        if snapshot is NO_SNAPSHOT:
            return Outcome.failed(question.id, question.points, "this question's code could not be run again to be "
                                  "checked: the notebook's process could not be copied (has the notebook used up its "
                                  f"{self.course.grading.max_processes} processes?)", runs=tuple(runs))
        timeout = max(min(self.course.grading.cell_timeout, deadline - time.monotonic()), 10.0)
        capture = list(dict.fromkeys([*question.names, *spec.watch]))
        if not own.passed and spec.inputs:
            copy = snapshot.fork()
            inject, _ = judge.injected(question.id, "reference")
            rerun = copy.rerun(cells, inject=inject, capture_names=capture, timeout=timeout,
                               forms="grid") if copy else None
            ref = self._rerun_verdict(judge, question, rerun, "reference", code=cells)
            runs.append(Run("reference", ref.passed))
            verdict = ref if ref.passed else own
        if verdict.passed and spec.secret is not None:
            inject, files = judge.injected(question.id, "secret")
            no_loop = "no-loop" in spec.rules
            rerun = snapshot.rerun(cells, inject=inject, files=files, capture_names=capture, timeout=timeout,
                                   trace=no_loop, trace_limit=LOOP_LINES, calibration=spec.speed_reference,
                                   cpu_limit=(LOOP_CPU_FACTOR, LOOP_CPU_SLACK),
                                   forms="own" if own.passed else "grid")  # (as the reference run, after it)
            if files and (rerun is None or rerun.status != "ok"):  # else the copy put them back itself
                session.restore_files(list(files))
            secret = self._rerun_verdict(judge, question, rerun, "secret", own_passed=own.passed, code=cells)
            if secret.passed and no_loop:
                secret = _loop_verdict(question, rerun, secret)
            runs.append(Run("secret", secret.passed))
            if not secret.passed:
                verdict = secret
        if verdict.passed and values_right:
            # only the visible test failed, on values that are right (it asks for more than
            # the grade does, such as a name kept for a plot): there was no earlier mistake,
            # so no follow-through note (an earlier answer differing)
            runs[0] = Run("own", True)
        return Outcome(question.id, verdict.points, question.points, verdict.status, verdict.message, tuple(runs))

    def _rerun_verdict(self, judge: Judge, question: Question, rerun, run: str, *, own_passed: bool = True,
                       code: list[dict] | None = None) -> Outcome:
        what = "on the correct inputs" if run == "reference" else "on a second input"
        if rerun is None or rerun.status != "ok":
            why = rerun.detail if rerun is not None else "the copy of your notebook could not be made"
            return Outcome.failed(question.id, question.points,
                                  f"this question's code, run again {what}, did not finish: {why}")
        # On a secret input of the course's (the extraction's image questions) neither an
        # error's text nor its kind is shown, nor a check's message other than its own
        # hints: code on that input can shape them (an exception class picked by a count,
        # an array of the input's length), and the input is the next submission's too.  A
        # secret input of this submission's own (drawn from its code) may be described:
        # a resubmission meets another one.
        own_secret = run == "secret" and judge.varies(question.id)
        if rerun.error and run == "secret" and not own_secret:
            return Outcome.failed(question.id, question.points,
                                  f"this question's code, run again {what}, raised an error (neither its kind nor its "
                                  "text is shown: code can make both from an input you do not see)")
        if rerun.error:  # on the correct inputs (which the notebook can compute itself) or its own secret one
            return Outcome.failed(question.id, question.points,
                                  f"this question's code, run again {what}, raised {_error_line(rerun.error)}")
        outcome = judge.verdict(question, rerun.values, tolerance=self.course.tolerance(question),
                                figures=rerun.figures, run=run, code=code)
        if outcome.passed or run != "secret":
            return outcome
        # What went wrong on a secret input of the course's is shown only in a check's own
        # words (a hint it marked public): other messages name the student's shapes,
        # types, counts and indices, which code can make from the secret input (see above).
        log.debug("%s: secret run failed: %s", question.id, outcome.message)
        detail = (f"On that input: {outcome.message}" if outcome.public or own_secret else
                  "Check that nothing in it is fixed to this notebook's data: a typed size, row, index or number, or "
                  "a shape written out")
        inputs = ", ".join(f"`{n}`" for n in judge.spec(question.id).inputs) or "the data file"
        opening = ("your answer is right for this notebook's data, but this question's code gives a wrong answer "
                   "when run again on a second input it has not seen: it must compute the answer from its inputs "
                   f"({inputs}), not repeat numbers, and not use a value you computed from them in another cell "
                   "(compute it in this question's cell)" if own_passed else
                   "this question's code gives a wrong answer when run again on a second input it has not seen "
                   f"(made from {inputs})")
        return Outcome.failed(question.id, question.points, f"{opening}. {detail}")


def _rerun_cells(nb: nbformat.NotebookNode, indices: list[int], question: Question) -> list[dict]:
    """The question's cells as a rerun takes them: each with its source, whether it is
    the instructor's (``given``), and whether it is a cell of the student's above the
    answer cell (``before_answer``: see :func:`autograder.sandbox.rerun.rerun`)."""
    answer = next((i for i in indices if grade_id(nb.cells[i]) == question.id), len(nb.cells))
    cells = []
    for i in indices:
        given = is_instructor_cell(nb.cells[i])
        cells.append({"code": nb.cells[i].source, "given": given, "before_answer": i < answer and not given})
    return cells


def _error_line(error: str) -> str:
    """A rerun's error on the correct inputs, as one short line."""
    line = " ".join(str(error).split())
    return line if len(line) <= 200 else line[:199] + "…"


def submission_salt(nb: nbformat.NotebookNode) -> bytes:
    """A digest of the student's code (the source of every code cell that is not the
    instructor's, in order): the per-submission part of the secret inputs' seed
    (:meth:`Judge.for_submission`).  The same code always meets the same secret inputs
    (whichever way the instructor's cells were restored: nbgrader's or this project's);
    a resubmission that changes any of it meets new ones, so a value carried out of an
    earlier secret run does not hold."""
    digest = hashlib.sha256()
    for cell in nb.cells:
        if cell.get("cell_type") == "code" and not is_instructor_cell(cell):
            digest.update(hashlib.sha256(str(cell.get("source", "")).encode("utf-8", "surrogatepass")).digest())
    return digest.digest()


def _reruns(judge: Judge, question: Question) -> bool:
    spec = judge.spec(question.id)
    return bool(spec.inputs or spec.secret is not None)


#: What the tracer of a "no-loop" run may report (:class:`autograder.sandbox.rerun.Tracer`).
TRACING_CALLS = frozenset({"sys.settrace", "sys.setprofile", "threading.settrace", "threading.setprofile"})
LOOPING_HELPERS = frozenset({"np.vectorize", "np.apply_along_axis", "np.frompyfunc", "np.fromiter", "map",
                             "itertools.starmap"})


def _listed(trace: dict, key: str) -> list:
    value = trace.get(key)
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _loop_verdict(question: Question, rerun, outcome: Outcome) -> Outcome:
    """The "no-loop" rule, from what the secret run's code did."""
    trace = rerun.trace or {}
    names = ", ".join(f"`{n}`" for n in question.names)
    # (the names come from the student's process: only ours are shown, or a forged reply
    # could carry the secret input out in a message)
    tampered = [t for t in _listed(trace, "tampered") if t in TRACING_CALLS]
    if tampered or not trace:  # (no report: the code ended the copy's tracing some other way)
        return Outcome.failed(question.id, question.points,
                              f"{names} must come from vectorized numpy operations with no Python loop, which the "
                              "grader checks by tracing the code as it runs; this question's code changed that "
                              f"tracing ({', '.join(tampered[:4]) or 'no trace came back'}), so the rule could not be "
                              "checked: remove those calls")
    def looped(how: str) -> Outcome:
        return Outcome.failed(question.id, question.points, f"{names} must come from vectorized numpy operations on "
                              f"whole arrays, with no Python loop; {how}")

    helpers = [h for h in _listed(trace, "helpers") if h in LOOPING_HELPERS]
    if helpers:
        return looped(f"this question's code used {', '.join(helpers)}, which calls a function once per element or "
                      "per row from Python (a loop in disguise)")
    lines = trace.get("lines") if isinstance(trace.get("lines"), int) else 0
    if lines > LOOP_LINES:
        return looped(f"run again on a larger input, this question's code (its cell, and any cell added between the "
                      f"previous question's check and it) ran more than {LOOP_LINES} lines of Python (a for or while "
                      "loop, a comprehension, or a function called per element)")
    rounds = trace.get("iterations") if isinstance(trace.get("iterations"), int) else 0
    if rounds > LOOP_ROUNDS:
        return looped(f"run again on a larger input, this question's code went round a loop (a for or while loop, or "
                      f"a comprehension: over chunks, rows or points) more than {LOOP_ROUNDS} times")
    reference = rerun.calibration
    if reference is not None and rerun.cpu > LOOP_CPU_FACTOR * reference + LOOP_CPU_SLACK:
        return Outcome.failed(question.id, question.points,
                              f"{names} must come from vectorized numpy operations on whole arrays; run again on a "
                              f"larger input, this question's code took more than {LOOP_CPU_FACTOR:g} times as long "
                              "as numpy's own operation: it works element by element in Python (map, list, sum or "
                              "similar)")
    return outcome


def _follow_through_note() -> str:
    return ("(graded on your code: your values here differ from the reference's because an earlier answer of yours "
            "does (a mistake, or an allowed variant such as another edge mode of the median filter); run again on "
            "the correct inputs and on a second input, this question's code gives the right answers, so it keeps "
            "its points)\n")
