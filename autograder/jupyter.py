"""``course check`` from inside JupyterLab, in one line of the notebook.

For self-learners and for classes whose instructors publish this repository: a cell
holding ::

    from autograder.jupyter import check; check()

shows, in its output, the same per-question report as ``course check NOTEBOOK``
(points, pass or fail, the student-facing message) as an HTML table.

How:

* The notebook is the one the kernel runs for: ipykernel puts the path JupyterLab gave
  the session in ``__session__`` (and the server in ``JPY_SESSION_NAME``); an explicit
  ``check("slicing.ipynb")`` overrides both.
* The saved file is graded, not the kernel's state.  If the kernel ran code that the
  saved file does not hold, and ran it after the file was last saved, the check shows
  no (stale) report but "your notebook has unsaved changes: save it (Ctrl+S) and run
  this again" (see :func:`unsaved_runs`).
* The grading runs in a separate process, ``python -m autograder.jupyter PATH`` (which
  calls :func:`autograder.selfcheck.check_notebook`, exactly as ``course check`` does,
  and prints the report as JSON): the student's kernel imports this module only, never
  the hidden checks, the reference solution or nbgrader.
* Where the course's grader is not there (no course.yml above the notebook, or an
  installation without the hidden checks, as in a graded class that does not publish
  them) the output says so in one sentence.
* Everything shown is HTML-escaped.

The check does nothing outside a Jupyter kernel (for instance when the grader runs a
notebook that still holds the line), and never starts itself recursively.
"""

from __future__ import annotations

import html
import importlib.util
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "SAVE_FIRST",
    "NOT_INSTALLED",
    "Row",
    "Report",
    "Notice",
    "check",
    "notebook_path",
    "run_check",
    "unsaved_runs",
]

SAVE_FIRST = "Your notebook has unsaved changes: save it (Ctrl+S) and run this again."
NOT_INSTALLED = ("The self-check is not installed here (it needs this course's repository, with course.yml and "
                 "its hidden checks), so the visible tests in each notebook are your check.")
NO_NOTEBOOK = ('check() cannot tell which notebook it runs in: give its file name, as in check("slicing.ipynb").')
NOT_IN_JUPYTER = "check() runs only in a Jupyter notebook's kernel: nothing to do here."

# set for the grading process: a notebook that still holds the line never checks itself again
_GUARD = "COURSE_SELFCHECK_RUNNING"
_TIMEOUT = 900  # seconds; course.yml's per-notebook limit is far below


# ---------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    """One question's verdict, as ``course check`` prints it."""

    id: str
    points: float
    max_points: float
    passed: bool
    message: str = ""
    manual: bool = False  # a written answer, waiting for a grader ("needs manual grading")

    @property
    def verdict(self) -> str:
        return "pass" if self.passed else "needs manual grading" if self.manual else "fail"


@dataclass
class Report:
    """What ``course check`` found for one notebook; renders itself as an HTML table."""

    assignment: str
    notebook: str
    rows: list[Row] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        return sum(r.points for r in self.rows)

    @property
    def max_score(self) -> float:
        return sum(r.max_points for r in self.rows)

    @property
    def full_marks(self) -> bool:
        """Every automatically graded question passed (as ``course check``'s exit status)."""
        auto = [r for r in self.rows if not r.manual]
        return bool(auto) and all(r.passed for r in auto)

    @classmethod
    def from_json(cls, data: dict) -> Report:
        rows = [Row(str(r["id"]), float(r["points"]), float(r["max_points"]), bool(r["passed"]), str(r.get("message", "")),
                    bool(r.get("manual", False))) for r in data["rows"]]
        return cls(str(data["assignment"]), str(data["notebook"]), rows, [str(p) for p in data.get("problems", [])])

    def to_json(self) -> dict:
        return {"assignment": self.assignment, "notebook": self.notebook, "problems": list(self.problems),
                "rows": [r.__dict__ for r in self.rows]}

    def _repr_html_(self) -> str:
        e = html.escape
        title = f"{self.assignment}/{self.notebook}: {self.score:g} / {self.max_score:g}"
        body = []
        for r in self.rows:
            colour = "#0a6b1f" if r.passed else "#5f5f5f" if r.manual else "#b00020"
            verdict = f'<td style="text-align:left;color:{colour};font-weight:bold">{r.verdict}</td>'
            body.append(f'<tr><td style="text-align:left">{e(r.id)}</td>'
                        f'<td style="text-align:right">{r.points:g}/{r.max_points:g}</td>{verdict}'
                        f'<td style="text-align:left;white-space:pre-wrap">{e(r.message)}</td></tr>')
        notes = "".join(f"<p>note: {e(p)}</p>" for p in self.problems)
        return ('<table class="course-check">'
                f'<caption style="text-align:left;font-weight:bold">{e(title)}</caption>'
                '<thead><tr><th scope="col" style="text-align:left">question</th>'
                '<th scope="col" style="text-align:right">points</th><th scope="col" style="text-align:left">result</th>'
                '<th scope="col" style="text-align:left">message</th></tr></thead>'
                f'<tbody>{"".join(body)}</tbody></table>{notes}')

    def __repr__(self) -> str:  # the text/plain form, for consoles and logs
        lines = [f"{self.assignment}/{self.notebook}: {self.score:g} / {self.max_score:g}"]
        width = max((len(r.id) for r in self.rows), default=0)
        for r in self.rows:
            lines.append(f"  {r.id:<{width}}  {r.points:g}/{r.max_points:g}  {r.verdict}  {r.message}")
        lines += [f"note: {p}" for p in self.problems]
        return "\n".join(lines)


@dataclass(frozen=True)
class Notice:
    """A sentence instead of a report (unsaved changes, nothing installed, an error)."""

    text: str
    kind: str = "info"  # "info", "warning" or "error"

    def _repr_html_(self) -> str:
        colour = {"info": "#1a4d8f", "warning": "#8a5300", "error": "#b00020"}[self.kind]
        return f'<p class="course-check-notice" style="color:{colour};font-weight:bold">{html.escape(self.text)}</p>'

    def __repr__(self) -> str:
        return self.text


# ---------------------------------------------------------------------------------
# which notebook, and is it saved?
# ---------------------------------------------------------------------------------
def notebook_path(explicit: str | os.PathLike | None = None, *, user_ns: dict | None = None,
                  environ: dict | None = None, cwd: Path | None = None) -> Path | None:
    """The notebook file this kernel runs for, or None if it cannot be told.

    ``explicit`` (relative to ``cwd``) wins; then ``__session__`` in the user namespace,
    then ``JPY_SESSION_NAME``: the server gives either an absolute path or one relative
    to its root, so a relative one is also looked for by its name in ``cwd`` (the
    notebook's folder, where JupyterLab starts the kernel).
    """
    cwd = Path.cwd() if cwd is None else Path(cwd)
    if explicit is not None:
        path = Path(explicit).expanduser()
        return (path if path.is_absolute() else cwd / path).resolve()
    environ = os.environ if environ is None else environ
    for value in ((user_ns or {}).get("__session__"), environ.get("JPY_SESSION_NAME")):
        if not isinstance(value, str) or not value.endswith(".ipynb"):
            continue
        path = Path(value).expanduser()
        for candidate in ((path,) if path.is_absolute() else (cwd / path, cwd / path.name)):
            if candidate.is_file():
                return candidate.resolve()
    return None


def _normal(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip("\n").splitlines()).strip()


def unsaved_runs(history: dict[int, str], saved_cells: list[tuple[str, int | None]], *, saved_at: float,
                 run_times: dict[int, float] | None = None, watching_since: float | None = None,
                 kernel_started: float | None = None, ignore: set[int] | frozenset = frozenset()) -> list[int]:
    """The runs (execution counts) whose code is not in the saved file and that came after its last save.

    Parameters
    ----------
    history
        The kernel's raw inputs by execution count (IPython's ``In``).
    saved_cells
        ``(source, execution_count)`` of each code cell of the saved notebook.
    saved_at
        When the file was last written (its mtime, seconds since the epoch).
    run_times
        When each run started, for the runs this module saw (it watches from the first
        check call on).
    watching_since
        When this module started watching: every run not in ``run_times`` came before.
    kernel_started
        When the kernel process started: every run came after.
    ignore
        Runs that do not count (the cell calling the check, earlier check calls).

    Notes
    -----
    Code run and then replaced or deleted before a save is not "unsaved": the file holds
    what replaced it.  So a run whose code is not in the file counts only if it came
    after the save: known exactly for the runs this module saw; for earlier ones, all
    came before a save made after the module was imported, all came after a save made
    before the kernel started, and otherwise those at or before the latest run the file
    shows (a cell whose count and code match the kernel's history: the save followed that
    run) came before it.  An edit that was neither run nor saved is invisible to the
    kernel.
    """
    run_times = run_times or {}
    in_file = {_normal(src) for src, _ in saved_cells}
    anchor = max((n for src, n in saved_cells if isinstance(n, int) and n not in ignore
                  and n in history and _normal(history[n]) == _normal(src)), default=0)
    stale = []
    for n, src in sorted(history.items()):
        if n in ignore or not _normal(src) or _normal(src) in in_file:
            continue
        if n in run_times:
            after_save = run_times[n] > saved_at
        elif watching_since is not None and saved_at >= watching_since:
            after_save = False
        elif kernel_started is not None and saved_at < kernel_started:
            after_save = True
        else:
            after_save = n > anchor
        if after_save:
            stale.append(n)
    return stale


def _code_cells(path: Path) -> list[tuple[str, int | None]]:
    with open(path, encoding="utf-8") as fh:
        nb = json.load(fh)
    cells = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            src = cell.get("source", "")
            cells.append(("".join(src) if isinstance(src, list) else str(src), cell.get("execution_count")))
    return cells


# ---------------------------------------------------------------------------------
# watching the kernel's runs (from the first check call on)
# ---------------------------------------------------------------------------------
_RUN_TIMES: dict[int, float] = {}  # execution count -> when it started
_CHECK_RUNS: set[int] = set()  # execution counts of the cells that called check()
_watching_since: float | None = None  # when _RUN_TIMES began


def _kernel_started() -> float | None:
    try:
        import psutil

        return psutil.Process().create_time()
    except Exception:  # noqa: BLE001 - without it the check relies on the other clues
        return None


def _watch(shell) -> None:
    """Record when each later run starts (the first check call starts watching)."""
    global _watching_since
    if _watching_since is not None:
        return

    def pre_run_cell(info=None) -> None:
        _RUN_TIMES[shell.execution_count] = time.time()

    shell.events.register("pre_run_cell", pre_run_cell)
    _watching_since = time.time()


# ---------------------------------------------------------------------------------
# the check
# ---------------------------------------------------------------------------------
def _course_root(notebook: Path, course_dir: str | os.PathLike | None) -> Path | None:
    if course_dir is not None:
        root = Path(course_dir).expanduser().resolve()
        return root if (root / "course.yml").is_file() else None
    for folder in (notebook.parent, *notebook.parent.parents):
        if (folder / "course.yml").is_file():
            return folder
    return None


def run_check(notebook: str | os.PathLike, *, course_dir: str | os.PathLike | None = None,
              assignment: str | None = None, timeout: float = _TIMEOUT) -> Report | Notice:
    """Grade the saved ``notebook`` as ``course check`` does, in a separate process."""
    notebook = Path(notebook).resolve()
    if not notebook.is_file():
        return Notice(f"{notebook} is not a file: save the notebook first (Ctrl+S), or give its file name.", "error")
    root = _course_root(notebook, course_dir)
    if root is None or importlib.util.find_spec("autograder.checks") is None:
        return Notice(NOT_INSTALLED, "warning")
    env = {**os.environ, _GUARD: "1"}
    cmd = [sys.executable, "-m", "autograder.jupyter", str(notebook), "--course-dir", str(root)]
    if assignment:
        cmd += ["--assignment", assignment]
    try:
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return Notice(f"The check did not finish within {timeout:g} s.", "error")
    try:
        data = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        data = {"error": (proc.stderr.strip().splitlines() or [f"the check failed (exit status {proc.returncode})"])[-1]}
    if "error" in data:
        return Notice(str(data["error"]), "error")
    return Report.from_json(data)


def check(notebook: str | os.PathLike | None = None, *, assignment: str | None = None,
          course_dir: str | os.PathLike | None = None) -> None:
    """Show the ``course check`` report of this notebook in the cell's output.

    Parameters
    ----------
    notebook
        The notebook's file; by default the one this kernel runs for.
    assignment
        The assignment, if the file was renamed (``course check --assignment``).
    course_dir
        The course repository; by default the nearest folder above the notebook that
        holds course.yml.
    """
    from IPython import get_ipython
    from IPython.display import display

    shell = get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None or os.environ.get(_GUARD):
        print(NOT_IN_JUPYTER)
        return
    _watch(shell)
    current = shell.execution_count
    _CHECK_RUNS.add(current)
    own = notebook_path(user_ns=shell.user_ns)
    path = own if notebook is None else notebook_path(notebook)
    if path is None:
        display(Notice(NO_NOTEBOOK, "error"))
        return
    if path == own and path.is_file():  # (another notebook's file has nothing to do with this kernel's runs)
        history = dict(enumerate(shell.history_manager.input_hist_raw))
        try:
            cells = _code_cells(path)
        except (OSError, ValueError) as exc:
            display(Notice(f"{path.name} cannot be read ({exc}): save it (Ctrl+S) and run this again.", "error"))
            return
        stale = unsaved_runs(history, cells, saved_at=path.stat().st_mtime, run_times=_RUN_TIMES,
                             watching_since=_watching_since, kernel_started=_kernel_started(),
                             ignore=_CHECK_RUNS | {0, current})
        if stale:
            display(Notice(SAVE_FIRST, "warning"))
            return
    display(run_check(path, course_dir=course_dir, assignment=assignment))


# ---------------------------------------------------------------------------------
# the grading process
# ---------------------------------------------------------------------------------
def _main(argv: list[str]) -> int:
    """``python -m autograder.jupyter NOTEBOOK [--course-dir DIR]``: the report as one JSON line."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m autograder.jupyter")
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--course-dir", type=Path, default=None)
    parser.add_argument("--assignment", default=None)
    args = parser.parse_args(argv)

    from .environment import skip_slow_optional_imports

    skip_slow_optional_imports()

    from course_data import DataUnavailable

    from .config import load_course
    from .errors import UserError
    from .results import MANUAL
    from .selfcheck import check_notebook

    try:
        course = load_course(args.course_dir)
        report = check_notebook(course, args.notebook, assignment_id=args.assignment)
    except (UserError, KeyError, ValueError, DataUnavailable, FileNotFoundError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(json.dumps({"error": str(msg)}))
        return 2
    result = report.result
    rows = [Row(o.question, float(o.points), float(o.max_points), bool(o.passed), o.message, o.status == MANUAL)
            for o in result.outcomes]
    print(json.dumps(Report(report.assignment, result.notebook, rows, list(report.problems)).to_json()))
    return 0 if report.full_marks else 1


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
