"""Grading one notebook: run it in the sandbox, check each question in this process.

This is the one grading path.  ``course check``, ``course autograde`` (locally or on
a dask cluster) and plain ``nbgrader autograde`` (through
:class:`autograder.nbgrader_adapter.SandboxedExecute`) all call
:meth:`NotebookGrader.grade`.

For every code cell, in order, the cell's source is sent to the student process.  For
a question's test cell, the hidden block is removed first (its visible checks run in
the student process, where the student can read them anyway), the question's names are
captured just before the visible checks run, and the hidden check runs here, on the
captured values, against ``reference_solution``.  The test cell's outputs are then
rebuilt by the grader so that nbgrader's own scoring rule
(:func:`nbgrader.utils.determine_grade`: an error output scores 0, otherwise full
points) gives the verdict: an error output when the visible checks or the hidden check
failed, none otherwise.  Anything the student's code printed to stderr and any
``execute_result`` in a test cell are dropped, so a warning cannot zero a question and a
printed number cannot claim partial credit.

A check that "follows the recipe" compares a question's answer with the recipe applied
to the student's own earlier results (its ``uses``).  Those earlier results are the
values captured when *their* question was graded, not whatever the names hold later:
otherwise a student could, just before a test cell, replace an earlier (already graded)
result by a made-up one that agrees with a made-up answer (say, a doctored spectrum
whose lines give the published redshift).  A name no earlier question has captured is
taken as it is at the test cell.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .checks import run_question, spec_for
from .config import Assignment, Course, Notebook
from .nbmeta import grade_id, strip_hidden_tests
from .results import NOT_RUN, NotebookResult, Outcome
from .sandbox.limits import Limits
from .sandbox.runner import Zygote, hidden_paths, make_workdir

__all__ = ["GradedNotebook", "NotebookGrader"]


@dataclass
class GradedNotebook:
    """A notebook after grading: its cells with the grader's outputs, and the result."""

    nb: nbformat.NotebookNode
    result: NotebookResult


def _error_output(ename: str, message: str) -> dict:
    return nbformat.v4.new_output("error", ename=ename, evalue=message, traceback=[f"{ename}: {message}"])


def _first_error(outputs: list[dict]) -> str:
    for out in outputs:
        if out.get("output_type") == "error":
            value = out.get("evalue", "")
            return f"{out.get('ename', 'Error')}: {value}" if value else str(out.get("ename", "Error"))
    return ""


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
        Whether the zygote it creates warms the libraries up before forking (see
        :class:`Zygote`).
    zygote_address : str or None
        The zygote it creates uses the shared warm process at this address (see
        :class:`Zygote`'s ``address``).
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

    @property
    def zygote(self) -> Zygote:
        if self._zygote is None:
            self._zygote = Zygote(hide=hidden_paths(self.course.root), plots=self.plots, warm_up=self.warm_up,
                                  address=self.zygote_address)
        return self._zygote

    def close(self) -> None:
        if self._zygote is not None:
            self._zygote.close()
            self._zygote = None

    def __enter__(self) -> NotebookGrader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _sandbox_files(self) -> dict[str, Path]:
        files: dict[str, Path] = {}
        helper = self.course.root / "course_data.py"
        if helper.is_file():
            files["course_data.py"] = helper
        if self.data_path is not None:
            files[self.data_path.name if self.data_path.name.endswith(".fits.gz") else self.course.data.files[0].name] = self.data_path
        return files

    def grade(self, nb: nbformat.NotebookNode, assignment: Assignment, notebook: Notebook) -> GradedNotebook:
        """Run ``nb`` (whose test cells are the instructor's) and check every question.

        ``nb`` is modified in place (outputs) and returned inside the result.
        """
        started = time.monotonic()
        g = self.course.grading
        questions = {q.test_id: q for q in notebook.questions}
        solutions = {grade_id(c): c.get("source", "") for c in nb.cells if c.get("cell_type") == "code"}
        outcomes: dict[str, Outcome] = {}
        problems: list[str] = []
        deadline = started + g.notebook_timeout
        stopped = ""
        session = self.zygote.spawn(make_workdir(self._sandbox_files()), self.limits)
        figures_pending: list = []
        graded_values: dict = {}  # each question's own names, as captured at its test cell
        try:
            count = 0
            for index, cell in enumerate(nb.cells):
                if cell.get("cell_type") != "code":
                    continue
                gid = grade_id(cell)
                question = questions.get(gid) if gid else None
                if stopped:
                    cell.outputs = [_error_output("NotRun", f"not run: {stopped}")] if question else []
                    cell.execution_count = None
                    if question:
                        outcomes[question.id] = Outcome.failed(question.id, question.points, f"not run: {stopped}",
                                                               status=NOT_RUN)
                    continue
                count += 1
                code = cell.source
                names = None
                if question is not None:
                    code = strip_hidden_tests(code)
                    # a used name an earlier question captured is taken from then (below): not sent again
                    uses = [n for n in spec_for(assignment.id, question.id).uses if n not in graded_values]
                    names = list(dict.fromkeys([*question.names, *uses]))
                remaining = deadline - time.monotonic()
                timeout = min(g.cell_timeout, max(remaining, 0.0))
                result = session.run(code, capture_names=names, timeout=timeout, cell=index)
                if result.status == "timeout" and remaining < g.cell_timeout:
                    result.detail = f"the notebook ran longer than its limit of {g.notebook_timeout:g} s"
                cell.execution_count = count
                outputs = result.outputs
                if result.status != "ok":
                    stopped = f"the notebook stopped at cell {index + 1}: {result.detail}"
                    problems.append(stopped)
                    outputs = [*outputs, _error_output("CellTimeoutError" if result.status == "timeout" else "DeadKernelError", result.detail)]
                if question is None:
                    cell.outputs = [nbformat.from_dict(o) for o in outputs]
                    continue
                figures_pending = result.figures
                kept = [o for o in outputs if o["output_type"] == "error" or
                        (o["output_type"] == "stream" and o["name"] == "stdout")]
                message = _first_error(kept)
                passed = not message
                outcome = Outcome(question.id, question.points, question.points)
                if not passed:
                    outcome = outcome.failing(message)
                if result.status == "ok":
                    values = dict(result.values)
                    for name in spec_for(assignment.id, question.id).uses:
                        if name in graded_values and name not in question.names:
                            values[name] = graded_values[name]
                    graded_values.update({n: result.values[n] for n in question.names if n in result.values})
                    verdict = run_question(
                        assignment.id, question, values, tolerance=self.course.tolerance(question),
                        figures=figures_pending, source=solutions.get(question.id, ""), data_path=self.data_path,
                    )
                    if not verdict.passed:
                        kept.append(_error_output("AssertionError", verdict.message))
                        outcome = outcome.failing(verdict.message)
                cell.outputs = [nbformat.from_dict(o) for o in kept]
                outcomes[question.id] = outcome
        finally:
            session.close()
        for q in notebook.questions:
            if q.id not in outcomes:
                msg = "the question's test cell is missing from the notebook"
                outcomes[q.id] = Outcome.failed(q.id, q.points, msg, status=NOT_RUN)
                problems.append(f"{q.id}: {msg}")
        ordered = [outcomes[q.id] for q in notebook.questions]
        return GradedNotebook(nb, NotebookResult(notebook.name, ordered, problems, time.monotonic() - started))
