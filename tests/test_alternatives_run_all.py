"""Every allowed alternative runs through Run All of its whole notebook.

A valid answer must keep its points *and* leave the notebook working: the given cells
after it (plots, timings, later questions) use the student's names, so an answer that
the checks accept but the given cells cannot use (a boolean mask for ``bkg_rows`` used
as x values, for instance) would stop a student's Run All.  Here the source notebook,
with one solution replaced by an alternative the prose allows, is graded as
``course autograde`` grades it (the warm grader of conftest: every cell runs in the
sandbox, in order): no cell may end with an error, and every automatically graded
question keeps full marks.  A few alternatives per notebook, to stay fast; the checks'
own tests (tests/test_checks_*.py) cover many more, question by question.
"""

from __future__ import annotations

import re

import nbformat
import pytest

from autograder import integrity
from autograder.config import load_course

from .conftest import ROOT, needs_data

pytestmark = [needs_data, pytest.mark.slow]

COURSE = load_course(ROOT, check_files=False)
SOLUTION = re.compile(r"### BEGIN SOLUTION\n.*?### END SOLUTION\n?", re.S)

# (assignment, question, what the prose allows, code replacing the solution block)
ALTERNATIVES = [
    ("array-creation", "reshape", "setting .shape (deprecated, still accepted)",
     "stamp = np.arange(20)\nstamp.shape = (4, 5)\nstamp_col = stamp.reshape(20, 1)"),
    ("array-creation", "ranges", "np.asarray and an explicit start",
     "exptimes = np.asarray(exposure_list)\npixels = np.arange(0, 511)\nwave = np.linspace(2900, 5700, num=511)\n"
     "freqs = 10.0 ** np.linspace(8, 11, 7)"),
    ("broadcasting-ripple", "ripple-grid", "float32 coordinates (the same quarter steps)",
     "x = np.arange(-20, 20.25, 0.25, dtype=np.float32).reshape(1, -1)\ny = x.reshape(-1, 1)"),
    ("broadcasting-ripple", "ripple-grid", "a full grid from np.meshgrid",
     "x, y = np.meshgrid(np.linspace(-20, 20, 161), np.linspace(-20, 20, 161))"),
    ("broadcasting-ripple", "ripple-image", "the object-oriented interface",
     "fig, ax = plt.subplots(figsize=(5, 4))\nim = ax.imshow(z, origin='lower', extent=(-20, 20, -20, 20))\n"
     "fig.colorbar(im, ax=ax)"),
    ("slicing", "better-spectrum", "np.sum with the columns spelled out",
     "spectrum_src = np.sum(img[250:260, :], axis=0)"),
    ("slicing", "rows-and-columns", "a row without its colon",
     "profile_300 = img[:, 300]\nrow_254 = img[254]"),
    ("boolean-masks", "zero-disk", "np.where (a new array)", "z_disk = np.where(in_disk, 0, z)"),
    ("boolean-masks", "compare", "np.count_nonzero", "gt6 = a > 6\nn_gt6 = np.count_nonzero(gt6)"),
    ("copy-vs-view", "alias-and-copy", "np.copy", "same = frame\nbackup = np.copy(frame)"),
    ("copy-vs-view", "new-arrays", "np.nonzero", "doubled = 2 * frame\npicked = frame[np.nonzero(frame > 30)]"),
    ("longslit-extraction", "read-data", "float32 images",
     "with fits.open(path) as hdul:\n    img = hdul['SCI'].data.astype(np.float32)\n"
     "    err = hdul['ERR'].data.astype(np.float32)\n    dq = hdul['DQ'].data.astype(np.int32)"),
    ("longslit-extraction", "err-dq-images", "two figures, np.quantile",
     "err_lo, err_hi = np.quantile(err, [0.01, 0.99])\nplt.figure()\n"
     "im_err = plt.imshow(err, origin='lower', vmin=err_lo, vmax=err_hi)\nplt.colorbar()\nplt.figure()\n"
     "im_dq = plt.imshow(dq, origin='lower')\nplt.colorbar()"),
    ("longslit-extraction", "cosmic-rays", "the workshop's scipy.signal.medfilt and np.where",
     "import scipy.signal\nimg_sm = scipy.signal.medfilt(img, 5)\nsigma = np.median(err)\n"
     "bad = np.abs(img - img_sm) / sigma > 8\nimg_cr = np.where(bad, img_sm, img)\nimg_cr[230:280] = img[230:280]"),
    ("longslit-extraction", "one-column-fit", "np.concatenate",
     "bkg_rows = np.concatenate([np.arange(10, 200), np.arange(300, 480)])\n"
     "col_fit = np.polyval(np.polyfit(bkg_rows, img_cr[bkg_rows, col], 2), np.arange(img_cr.shape[0]))"),
    ("longslit-extraction", "one-column-fit", "np.r_ and Polynomial.fit",
     "from numpy.polynomial import Polynomial\nbkg_rows = np.r_[10:200, 300:480]\n"
     "col_fit = Polynomial.fit(bkg_rows, img_cr[bkg_rows, col], 2)(np.arange(512))"),
    ("longslit-extraction", "background", "a loop of polyfit over the columns",
     "bkg = np.empty_like(img_cr)\nfor c in range(img_cr.shape[1]):\n"
     "    bkg[:, c] = np.polyval(np.polyfit(bkg_rows, img_cr[bkg_rows, c], 2), np.arange(img_cr.shape[0]))\n"
     "img_bkg = img_cr - bkg"),
]


def _with_alternative(source, question: str, code: str):
    nb = nbformat.from_dict(source)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == question)
    cell.source, n = SOLUTION.subn(lambda m: code + "\n", cell.source)
    assert n == 1, question
    return nb


def _errors(nb) -> list[str]:
    """The cells of a graded notebook whose run ended with an error (a test cell the grader
    marked failed included)."""
    return [c.get("id") or c.metadata.get("nbgrader", {}).get("grade_id", "?")
            for c in nb.cells if c.cell_type == "code"
            and any(o.get("output_type") == "error" for o in c.get("outputs", []))]


@pytest.mark.parametrize(("assignment", "question", "label", "code"), ALTERNATIVES,
                         ids=[f"{a}/{q}: {label}" for a, q, label, _ in ALTERNATIVES])
def test_alternative_runs_through_run_all(grader, course, assignment, question, label, code):
    a = course.assignment(assignment)
    source = nbformat.read(course.source_notebook(a, a.notebooks[0]), as_version=4)
    nb = _with_alternative(source, question, code)
    graded = grader.grade(integrity.restore(nb, source), a, a.notebooks[0])
    assert _errors(graded.nb) == [], label
    assert graded.result.full_marks, [(o.question, o.message) for o in graded.result.outcomes if not o.passed]
    assert not any("stopped" in p for p in graded.result.problems)


def test_an_answer_that_breaks_later_cells_is_seen(grader, course):
    """The check above would notice: bkg_rows as a boolean mask (refused by the check, and
    named so in the prose) makes the given plot and timing cells fail."""
    a = course.assignment("longslit-extraction")
    source = nbformat.read(course.source_notebook(a, a.notebooks[0]), as_version=4)
    nb = _with_alternative(source, "one-column-fit",
                           "bkg_rows = np.isin(np.arange(512), np.r_[10:200, 300:480])\n"
                           "col_fit = np.polyval(np.polyfit(np.flatnonzero(bkg_rows), img_cr[bkg_rows, col], 2), "
                           "np.arange(512))")
    graded = grader.grade(integrity.restore(nb, source), a, a.notebooks[0])
    given = [c.get("id") for c in graded.nb.cells if c.cell_type == "code"
             and not c.metadata.get("nbgrader", {}).get("grade")
             and any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert given, "the boolean mask should break a given cell that uses bkg_rows as x values"
    assert {o.question for o in graded.result.outcomes if not o.passed} >= {"one-column-fit"}
