"""autograder.jupyter: the one-line check in a notebook, without a browser.

(tests/browser/test_lab_check.py runs it in JupyterLab.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest

from autograder import jupyter
from autograder.jupyter import NOT_INSTALLED, SAVE_FIRST, Notice, Report, Row, notebook_path, run_check, unsaved_runs

from .conftest import ROOT, copy_course, needs_data

# -- which notebook ---------------------------------------------------------------------------


def test_notebook_path_explicit_session_and_environment(tmp_path):
    nb = tmp_path / "work" / "slicing.ipynb"
    nb.parent.mkdir()
    nb.write_text("{}")
    assert notebook_path("slicing.ipynb", cwd=nb.parent) == nb.resolve()  # explicit, relative to the notebook's folder
    assert notebook_path(nb, user_ns={"__session__": "elsewhere.ipynb"}) == nb.resolve()  # explicit wins
    assert notebook_path(user_ns={"__session__": str(nb)}, environ={}) == nb.resolve()  # absolute session path
    # a path relative to the server's root: found by its name in the kernel's folder
    assert notebook_path(user_ns={}, environ={"JPY_SESSION_NAME": "work/slicing.ipynb"}, cwd=nb.parent) == nb.resolve()
    assert notebook_path(user_ns={"__session__": "console-1-abcd"}, environ={}, cwd=nb.parent) is None  # a console
    assert notebook_path(user_ns={"__session__": str(tmp_path / "gone.ipynb")}, environ={}, cwd=tmp_path) is None


# -- is the file what the kernel ran? ---------------------------------------------------------
SETUP = "import numpy as np\nimg = np.zeros((4, 4))"
OLD = "# YOUR CODE HERE\nraise NotImplementedError()"
NEW = "pix = img[1, 2]"


def history(*sources: str) -> dict[int, str]:
    return {0: "", **{i: s for i, s in enumerate(sources, start=1)}}


def test_ran_but_not_saved_is_stale():
    # the file as released (no counts), saved before this kernel started; the kernel ran an answer
    saved = [(SETUP, None), (OLD, None)]
    assert unsaved_runs(history(SETUP, NEW), saved, saved_at=100, kernel_started=200) == [2]
    # same, with the times of the runs known
    assert unsaved_runs(history(SETUP, NEW), saved, saved_at=100, run_times={1: 150, 2: 160}) == [2]


def test_saved_after_running_is_not_stale():
    saved = [(SETUP, 1), (NEW, 2)]
    assert unsaved_runs(history(SETUP, NEW), saved, saved_at=300, kernel_started=200) == []
    # whitespace at line ends and around the cell does not matter
    assert unsaved_runs(history(SETUP + "\n", NEW + "  \n"), saved, saved_at=300, kernel_started=200) == []


def test_replaced_code_is_not_stale_once_saved():
    # ran the stub (2), then the answer in the same cell (3), then saved: the stub is no longer in the file
    saved = [(SETUP, 1), (NEW, 3)]
    assert unsaved_runs(history(SETUP, OLD, NEW), saved, saved_at=300, kernel_started=200) == []
    # ... but a run after the last run the file shows, whose code it does not hold, is
    later = history(SETUP, OLD, NEW, "pix = img[2, 1]")
    assert unsaved_runs(later, saved, saved_at=300, kernel_started=200) == [4]


def test_deleted_scratch_cell_does_not_ask_for_saving_forever():
    # a scratch cell run last (3) and deleted; then the file was saved
    saved = [(SETUP, 1), (NEW, 2)]
    runs = history(SETUP, NEW, "print(img)")
    # first check: the time of run 3 is unknown and it is after the last run the file shows: save first
    assert unsaved_runs(runs, saved, saved_at=300, kernel_started=200, watching_since=400) == [3]
    # after saving again (the module now watches since 400): every earlier run came before this save
    assert unsaved_runs(runs, saved, saved_at=500, kernel_started=200, watching_since=400) == []


def test_restart_and_run_all_after_an_edit_is_stale():
    # counts in the file from an earlier kernel; this kernel ran the edited cell again at the same count
    saved = [(SETUP, 1), (NEW, 2), ("x = 1", 3)]
    runs = history(SETUP, "pix = img[2, 1]", "x = 1")
    assert unsaved_runs(runs, saved, saved_at=100, kernel_started=200) == [2]


def test_check_calls_do_not_count():
    saved = [(SETUP, 1)]
    runs = history(SETUP, "from autograder.jupyter import check; check()", "check()")
    assert unsaved_runs(runs, saved, saved_at=100, kernel_started=200, ignore={2, 3}) == []


# -- what it shows ----------------------------------------------------------------------------
def test_report_renders_an_escaped_table():
    report = Report("slicing", "slicing", [
        Row("elements", 1, 1, True),
        Row("rows<b>", 0, 2, False, "AssertionError: `x` should be <script>alert(1)</script> & so on"),
    ], ["cell 'a' was <deleted>"])
    page = report._repr_html_()
    assert "<script>" not in page and "<b>" not in page and "<deleted>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; so on" in page and "rows&lt;b&gt;" in page
    assert "<caption" in page and "slicing/slicing: 1 / 3" in page
    assert page.count("<tr>") == 3 and ">pass<" in page and ">fail<" in page
    assert report.score == 1 and report.max_score == 3 and not report.full_marks
    assert "rows<b>   0/2  fail" in repr(report)
    assert Report.from_json(json.loads(json.dumps(report.to_json()))) == report
    assert Notice("a <b> c")._repr_html_().count("&lt;b&gt;") == 1


def test_a_written_answer_waiting_for_a_grader_is_not_a_failure():
    report = Report("longslit-extraction", "extraction", [
        Row("redshift", 2, 2, True),
        Row("redshift-offset", 0, 2, False, "graded by hand by your instructor", manual=True),
    ])
    assert report.full_marks and report.score == 2 and report.max_score == 4
    assert ">needs manual grading<" in report._repr_html_() and ">fail<" not in report._repr_html_()
    assert "redshift-offset  0/2  needs manual grading" in repr(report)
    assert Report.from_json(json.loads(json.dumps(report.to_json()))) == report


# -- the check itself -------------------------------------------------------------------------
def write_notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, path)
    return path


def test_without_the_course_it_says_so_in_one_sentence(tmp_path, monkeypatch):
    nb = write_notebook(tmp_path / "slicing.ipynb", SETUP)  # no course.yml above it
    notice = run_check(nb)
    assert notice == Notice(NOT_INSTALLED, "warning")
    assert NOT_INSTALLED.count(". ") == 0 and NOT_INSTALLED.endswith(".")  # one sentence
    # a course folder, but an installation without the hidden checks
    root = tmp_path / "course"
    root.mkdir()
    (root / "course.yml").write_text("course: {}\n")
    real_find_spec = jupyter.importlib.util.find_spec
    monkeypatch.setattr(jupyter.importlib.util, "find_spec",
                        lambda name, *a: None if name == "autograder.checks" else real_find_spec(name, *a))
    assert run_check(write_notebook(root / "slicing.ipynb", SETUP)) == Notice(NOT_INSTALLED, "warning")


def test_errors_of_the_grading_process_are_shown(tmp_path):
    root = copy_course(tmp_path / "course")
    notice = run_check(write_notebook(root / "renamed.ipynb", SETUP))
    assert isinstance(notice, Notice) and notice.kind == "error"
    assert "renamed.ipynb is not a notebook of this course" in notice.text
    assert run_check(root / "missing.ipynb").kind == "error"


def test_importing_it_loads_nothing_of_the_grader():
    code = ("import sys, autograder.jupyter; print(sorted(m for m in sys.modules if m.startswith("
            "('autograder.checks', 'autograder.grading', 'autograder.selfcheck', 'reference_solution', 'nbgrader'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


class FakeShell:
    """What check() uses of ipykernel's shell."""

    def __init__(self, user_ns: dict, inputs: list[str]) -> None:
        self.kernel = object()
        self.user_ns = user_ns
        self.history_manager = types.SimpleNamespace(input_hist_raw=["", *inputs])
        self.execution_count = len(inputs)
        self.events = types.SimpleNamespace(register=lambda name, fn: None)


@pytest.fixture
def shown(monkeypatch):
    import IPython
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    monkeypatch.setattr(jupyter, "_RUN_TIMES", {})
    monkeypatch.setattr(jupyter, "_CHECK_RUNS", set())
    monkeypatch.setattr(jupyter, "_watching_since", None)
    monkeypatch.setattr(jupyter, "run_check", lambda path, **kw: Report("slicing", path.stem, [Row("q", 1, 1, True)]))
    return shown


def fake_kernel(monkeypatch, nb: Path, inputs: list[str]) -> None:
    import IPython

    monkeypatch.setattr(IPython, "get_ipython", lambda: FakeShell({"__session__": str(nb)}, inputs))
    monkeypatch.delenv("COURSE_SELFCHECK_RUNNING", raising=False)


def test_check_in_a_kernel_asks_to_save_then_reports(tmp_path, monkeypatch, shown):
    nb = write_notebook(tmp_path / "slicing.ipynb", SETUP, OLD)
    os.utime(nb, (0, 0))  # saved long before the kernel started
    fake_kernel(monkeypatch, nb, [SETUP, NEW, "check()"])
    jupyter.check()
    assert shown == [Notice(SAVE_FIRST, "warning")]
    write_notebook(nb, SETUP, NEW, "check()")  # saved now, after every run
    shown.clear()
    jupyter.check()
    assert len(shown) == 1 and isinstance(shown[0], Report) and shown[0].notebook == "slicing"


def test_check_outside_a_notebook_kernel_does_nothing(tmp_path, monkeypatch, shown, capsys):
    jupyter.check()  # no IPython at all (as here)
    nb = write_notebook(tmp_path / "slicing.ipynb", SETUP)
    fake_kernel(monkeypatch, nb, [SETUP, "check()"])
    monkeypatch.setenv("COURSE_SELFCHECK_RUNNING", "1")  # inside the grading process it started
    jupyter.check()
    assert shown == []
    assert capsys.readouterr().out.count(jupyter.NOT_IN_JUPYTER) == 2


def test_check_without_a_known_notebook_asks_for_its_name(monkeypatch, shown):
    import IPython

    monkeypatch.setattr(IPython, "get_ipython", lambda: FakeShell({}, ["check()"]))
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.delenv("COURSE_SELFCHECK_RUNNING", raising=False)
    jupyter.check()
    assert shown == [Notice(jupyter.NO_NOTEBOOK, "error")]


# -- the same report as `course check` -------------------------------------------------------
@needs_data
@pytest.mark.slow
def test_same_report_as_course_check(tmp_path, course, grader):
    from autograder.selfcheck import check_notebook

    root = copy_course(tmp_path / "course")
    nb = root / "work" / "slicing.ipynb"
    nb.parent.mkdir()
    nb.write_bytes((ROOT / "examples/submissions/grace/slicing/slicing.ipynb").read_bytes())
    report = run_check(nb)
    assert isinstance(report, Report), report
    expected = check_notebook(course, nb, grader=grader)
    assert [(r.id, r.points, r.max_points, r.passed, r.message) for r in report.rows] == \
        [(o.question, o.points, o.max_points, o.passed, o.message) for o in expected.result.outcomes]
    assert report.score == 5 and report.max_score == 9
    assert "both ends included, are 3 rows and 4 columns" in report._repr_html_()


@needs_data
@pytest.mark.slow
def test_a_notebook_holding_the_line_grades_the_same(tmp_path, course, grader):
    from autograder.selfcheck import check_notebook

    nb = nbformat.read(ROOT / "examples/submissions/grace/slicing/slicing.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("from autograder.jupyter import check; check()"))
    path = tmp_path / "slicing.ipynb"
    nbformat.write(nb, path)
    report = check_notebook(course, path, grader=grader)
    assert report.result.score == 5 and report.result.max_score == 9
