"""The assignments as notebooks: source scores full marks, release scores 0, release/ is
exactly what generation produces, and nothing secret reaches students."""

from __future__ import annotations

import re

import nbformat
import pytest
from click.testing import CliRunner

from autograder import integrity
from autograder.cli import main
from autograder.config import load_course

from .conftest import ROOT, copy_course, needs_data

NOTEBOOKS = [(a.id, nb.name) for a in load_course(ROOT, check_files=False).assignments for nb in a.notebooks]


def _grade(grader, course, path, assignment_id):
    a = course.assignment(assignment_id)
    nbcfg = a.notebooks[0]
    source = nbformat.read(course.source_notebook(a, nbcfg), as_version=4)
    nb = integrity.restore(nbformat.read(path, as_version=4), source)
    return grader.grade(nb, a, nbcfg)


@needs_data
@pytest.mark.slow
@pytest.mark.parametrize(("assignment", "name"), NOTEBOOKS)
def test_source_notebook_scores_full_marks(grader, course, assignment, name):
    graded = _grade(grader, course, ROOT / "source" / assignment / f"{name}.ipynb", assignment)
    manual = {q.id: q.points for q in course.assignment(assignment).questions if q.manual}
    # written answers wait for a grader ("needs manual grading"); every other question has full marks
    assert [(q.question, q.message) for q in graded.result.outcomes if not q.passed and q.question not in manual] == []
    assert {q.question for q in graded.result.outcomes if q.status == "needs manual grading"} == set(manual)
    assert graded.result.full_marks
    assert graded.result.score == course.assignment(assignment).total - sum(manual.values())
    assert graded.result.problems == []


@needs_data
@pytest.mark.slow
@pytest.mark.parametrize(("assignment", "name"), NOTEBOOKS)
def test_release_notebook_scores_zero_without_crashing(grader, course, assignment, name):
    graded = _grade(grader, course, ROOT / "release" / assignment / f"{name}.ipynb", assignment)
    assert graded.result.score == 0
    assert len(graded.result.outcomes) == len(course.assignment(assignment).questions)
    # every question failed for a reason the student can read, and the notebook ran to the end
    assert all(q.message for q in graded.result.outcomes)
    assert not any("stopped" in p for p in graded.result.problems)


SOLUTION_RE = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)
HIDDEN_RE = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*\n?", re.S | re.M)


def _solution_lines(source_nb) -> set[str]:
    """Lines that occur only inside solution or hidden-test blocks of the source notebook."""
    lines, public = set(), set()
    for cell in source_nb.cells:
        for block in SOLUTION_RE.findall(cell.source):
            lines |= {ln.strip() for ln in block.splitlines() if len(ln.strip()) > 12}
        for block in HIDDEN_RE.findall(cell.source):
            lines |= {ln.strip() for ln in block.splitlines()[1:-1] if len(ln.strip()) > 12}
        rest = HIDDEN_RE.sub("", SOLUTION_RE.sub("", cell.source))
        public |= {ln.strip() for ln in rest.splitlines()}
    return lines - public


@pytest.mark.parametrize(("assignment", "name"), NOTEBOOKS)
def test_release_has_no_solution_or_hidden_test_text(assignment, name):
    source = nbformat.read(ROOT / "source" / assignment / f"{name}.ipynb", as_version=4)
    text = (ROOT / "release" / assignment / f"{name}.ipynb").read_text()
    assert "### BEGIN SOLUTION" not in text and "### BEGIN HIDDEN TESTS" not in text
    released = nbformat.reads(text, as_version=4)
    release_lines = {ln.strip() for c in released.cells for ln in c.source.splitlines()}
    secret = _solution_lines(source)
    assert secret, "the source notebook should have solution lines"
    assert secret & release_lines == set()


def test_release_is_exactly_what_generation_produces(tmp_path):
    from autograder.config import load_course
    from autograder.release import release

    root = copy_course(tmp_path / "course")
    release(load_course(root))
    for committed in sorted((ROOT / "release").rglob("*")):
        if committed.is_file():
            fresh = root / "release" / committed.relative_to(ROOT / "release")
            assert fresh.read_bytes() == committed.read_bytes(), f"{committed} is out of date: run `course release`"
    fresh_files = {p.relative_to(root / "release") for p in (root / "release").rglob("*") if p.is_file()}
    committed_files = {p.relative_to(ROOT / "release") for p in (ROOT / "release").rglob("*") if p.is_file()}
    assert fresh_files == committed_files


@needs_data
@pytest.mark.slow
def test_course_check_cli_full_marks_zero_and_no_hidden_text():
    runner = CliRunner()
    a = load_course(ROOT, check_files=False).assignment("longslit-extraction")
    manual = sum(q.points for q in a.questions if q.manual)
    assert manual > 0  # the written answer: exit status 0 without it, "needs manual grading" shown
    source = ROOT / "source" / "longslit-extraction" / "extraction.ipynb"
    ok = runner.invoke(main, ["--course-dir", str(ROOT), "check", str(source)])
    assert ok.exit_code == 0, ok.output
    assert f"{a.total - manual:g} / {a.total:g}" in ok.output
    assert "needs manual grading" in ok.output
    zero = runner.invoke(main, ["--course-dir", str(ROOT), "check",
                                str(ROOT / "release" / "longslit-extraction" / "extraction.ipynb")])
    assert zero.exit_code == 1
    assert f"0 / {a.total:g}" in zero.output
    secret = _solution_lines(nbformat.read(source, as_version=4))
    for out in (ok.output, zero.output):
        assert "HIDDEN" not in out
        assert not any(line in out for line in secret)


def test_course_check_bad_input_is_named(tmp_path):
    runner = CliRunner()
    empty = tmp_path / "extraction.ipynb"
    empty.write_text("")
    r = runner.invoke(main, ["--course-dir", str(ROOT), "check", str(empty)])
    assert r.exit_code == 2 and "extraction.ipynb is empty" in r.output
    other = tmp_path / "homework.ipynb"
    other.write_text("{}")
    r = runner.invoke(main, ["--course-dir", str(ROOT), "check", str(other)])
    assert r.exit_code == 2 and "homework.ipynb is not a notebook of this course" in r.output
    v3 = tmp_path / "slicing.ipynb"
    v3.write_text('{"nbformat": 3, "nbformat_minor": 0, "worksheets": [], "metadata": {}}')
    r = runner.invoke(main, ["--course-dir", str(ROOT), "check", str(v3)])
    assert r.exit_code == 2 and "not an nbformat 4 notebook" in r.output
    r = runner.invoke(main, ["--course-dir", str(ROOT), "check", str(tmp_path / "missing.ipynb")])
    assert r.exit_code == 2


def _with_answer(path, grade_id, transform):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.source = transform(cell.source)
    return nb


@needs_data
@pytest.mark.slow
@pytest.mark.parametrize(
    ("grade_id", "transform"),
    [
        # the workshop's scipy.signal.medfilt instead of scipy.ndimage's median filter
        ("cosmic-rays", lambda s: s.replace('img_sm = scipy.ndimage.median_filter(img, size=5, mode="constant")',
                                            "import scipy.signal\nimg_sm = scipy.signal.medfilt(img, 5)")),
        # a loop of polyfit over columns instead of one vectorized fit
        ("background", lambda s: s.replace(
            "coeffs = np.polyfit(bkg_rows, img_cr[bkg_rows], 2)",
            "coeffs = np.array([np.polyfit(bkg_rows, img_cr[bkg_rows, c], 2) for c in range(img_cr.shape[1])]).T")),
        # warnings on stderr (a RuntimeWarning and a UserWarning) never zero a question by themselves
        ("read-data", lambda s: s + "\nimport warnings\nwarnings.warn('just saying')\nnp.log(np.zeros(3))\n"),
    ],
    ids=["medfilt", "polyfit-loop", "warnings"],
)
def test_valid_alternatives_and_warnings_keep_full_marks(grader, course, grade_id, transform):
    a = course.assignment("longslit-extraction")
    path = ROOT / "source" / "longslit-extraction" / "extraction.ipynb"
    nb = _with_answer(path, grade_id, transform)
    assert nb != nbformat.read(path, as_version=4)
    graded = grader.grade(integrity.restore(nb, nbformat.read(path, as_version=4)), a, a.notebooks[0])
    assert graded.result.full_marks, [(q.question, q.message) for q in graded.result.outcomes if not q.passed]
    if grade_id == "read-data":
        cell = next(c for c in graded.nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "read-data")
        assert any(o.get("name") == "stderr" for o in cell.outputs)  # the warning was shown, and cost nothing


@needs_data
def test_plot_setting_changes_pictures_never_scores(course, data_file):
    """course.yml's grading.plots: no picture at all with ``none`` (the default), 72-dpi
    JPEG with ``jpeg``; the figure checks (the ripple's origin) read the plot's data
    either way."""
    from autograder.grading import NotebookGrader

    def images(nb):
        return [k for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                for k in o.get("data", {}) if k.startswith("image/")]

    cases = [("broadcasting-ripple", "ada"), ("broadcasting-ripple", "grace"), ("longslit-extraction", "grace")]
    assert course.grading.plots == "none"
    with NotebookGrader(course, data_path=data_file, plots="none") as bare, \
            NotebookGrader(course, data_path=data_file, plots="jpeg") as grader:
        for assignment_id, student in cases:
            a = course.assignment(assignment_id)
            nbcfg = a.notebooks[0]
            nb = nbformat.read(ROOT / "examples" / "submissions" / student / assignment_id / nbcfg.filename, as_version=4)
            drawn = grader.grade(nbformat.from_dict(nb), a, nbcfg)
            undrawn = bare.grade(nbformat.from_dict(nb), a, nbcfg)
            assert images(drawn.nb) and set(images(drawn.nb)) == {"image/jpeg"}
            assert images(undrawn.nb) == []
            assert [q.points for q in drawn.result.outcomes] == [q.points for q in undrawn.result.outcomes]


def _run_in_sandbox(cells: list[str], *, plots: str) -> list:
    """Run ``cells`` in order in one fresh student process (its warm process started without warm-up); their outcomes."""
    from autograder.sandbox.limits import Limits
    from autograder.sandbox.runner import Zygote, make_workdir

    with Zygote(plots=plots, warm_up=False) as zygote:
        session = zygote.spawn(make_workdir({}), Limits())
        try:
            return [session.run(code, timeout=60) for code in cells]
        finally:
            session.close()


@pytest.mark.parametrize("plots", ["none", "jpeg", "png"])
def test_plot_cells_are_drawn_only_for_a_picture(plots):
    """pyplot redraws every open figure after each cell (its IPython hook); with no PNG
    to match a stock kernel's, that drawing is skipped (it was most of a plot cell's
    time): with ``none`` a figure is never drawn, with ``jpeg`` once, for its picture;
    ``png`` draws as a stock kernel does (the redraw, then the picture's own passes)."""
    results = _run_in_sandbox(["import matplotlib.pyplot as plt\ndraws = []",
                               "fig, ax = plt.subplots()\nfig.canvas.mpl_connect('draw_event', lambda e: draws.append(1))\n"
                               "ax.plot([1, 2, 3])\nax.set_title('a line')",
                               "print(len(draws))"], plots=plots)
    assert [r.status for r in results] == ["ok"] * 3
    printed = "".join(o.get("text", "") for o in results[2].outputs if o.get("name") == "stdout")
    pictures = [k for o in results[1].outputs for k in o.get("data", {}) if k.startswith("image/")]
    draws = int(printed)
    assert draws >= 2 if plots == "png" else draws == {"none": 0, "jpeg": 1}[plots], draws
    assert pictures == ({"none": [], "jpeg": ["image/jpeg"], "png": ["image/png"]}[plots])


def test_tracebacks_are_plain_and_name_the_line():
    """An error shows in the standard Python layout (IPython's "Plain"): the cell and line,
    that line's source, each library frame's file and line, and the error; no IPython
    "Context" arrows (that layout parses every library file the traceback passes through,
    in every student process).  A student's own ``%xmode`` still applies."""
    results = _run_in_sandbox(["import numpy as np\nq = [1, 'a']\nnp.percentile(np.arange(5.0), q)",
                               "%xmode Context",
                               "x = 1\nassert x == 2, 'x should be 2'"], plots="none")
    assert [r.status for r in results] == ["ok"] * 3
    (plain,) = [o for o in results[0].outputs if o["output_type"] == "error"]
    text = "\n".join(plain["traceback"])
    assert text.startswith("Traceback (most recent call last)"), text
    assert "line 3" in text and "np.percentile(np.arange(5.0), q)" in text
    assert "numpy" in text and "in percentile" in text  # the library frame: file, line and function
    assert plain["ename"] == "TypeError" and "---->" not in text
    (context,) = [o for o in results[2].outputs if o["output_type"] == "error"]
    assert context["ename"] == "AssertionError" and "---->" in "\n".join(context["traceback"])


def test_plot_setting_is_validated(tmp_path):
    from autograder.config import CourseConfigError, load_course

    dest = copy_course(tmp_path / "c")
    text = (dest / "course.yml").read_text()
    assert "  plots: none " in text
    (dest / "course.yml").write_text(text.replace("  plots: none ", "  plots: gif "))
    with pytest.raises(CourseConfigError, match="plots"):
        load_course(dest)
