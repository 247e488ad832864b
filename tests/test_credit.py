"""Defensible credit: every point is earned by code that computes the answer.

Whole notebooks graded by :class:`autograder.grading.NotebookGrader`, the way
``course autograde`` grades them: each question is judged from the student's own run,
a rerun of the question's code on the correct inputs (when the own run fails) and a
rerun on a secret second input (see :mod:`autograder.grading`).  Asserted here:

* numbers typed, pasted or set to zeros earn nothing; an early mistake costs only its
  own question;
* injected values written to disk or to a global and read back later gain nothing;
* the rule "no Python loop" is judged on what ran (``%time``, helpers in other cells,
  duplicated cells, ``np.vectorize``, ``map``, reuse of an earlier loop's result all
  lose the question; a vectorised answer under ``%time`` keeps it);
* grading is deterministic;
* valid code that reuses what the notebook already has keeps its points: earlier answers
  (``N``, ``sines_loop``, ``gt6``, ``same``), the data file read again (the secret run
  puts a matching file in its place, and the real one is back afterwards), a plot beside
  a vectorised answer, predictions typed under a timing magic or unpacked;
* answers fixed by the wording alone lose their question when typed out.
"""

from __future__ import annotations

import copy

import nbformat
import numpy as np
import pytest

from autograder import integrity
from autograder.nbmeta import grade_id
from autograder.results import MANUAL

pytestmark = pytest.mark.slow


def _cells(nb) -> dict:
    return {grade_id(c): c for c in nb.cells if grade_id(c)}


def _solution(course, assignment_id: str, question: str) -> str:
    a = course.assignment(assignment_id)
    nb = nbformat.read(course.source_notebook(a, a.notebooks[0]), as_version=4)
    src = _cells(nb)[question].source
    return src.replace("### BEGIN SOLUTION\n", "").replace("### END SOLUTION\n", "").replace("### END SOLUTION", "")


def notebook(course, assignment_id: str, *, replace: dict | None = None, before: dict | None = None):
    """The release notebook answered with the solutions, with some answers replaced and
    some cells added before given cells (as a student's notebook, then sanitized)."""
    a = course.assignment(assignment_id)
    source = nbformat.read(course.source_notebook(a, a.notebooks[0]), as_version=4)
    nb = nbformat.read(course.release_notebook(a, a.notebooks[0]), as_version=4)
    cells = _cells(nb)
    for q in a.questions:
        cells[q.id].source = (replace or {}).get(q.id, _solution(course, assignment_id, q.id))
    for gid, code in (before or {}).items():
        at = nb.cells.index(_cells(nb)[gid])
        nb.cells.insert(at, nbformat.v4.new_code_cell(code))
    return integrity.restore(nb, source)


def grade(grader, course, assignment_id, nb):
    a = course.assignment(assignment_id)
    result = grader.grade(copy.deepcopy(nb), a, a.notebooks[0]).result
    return {o.question: o for o in result.outcomes}


def lost(outcomes) -> set[str]:
    """The questions that lost their points (a written answer waiting for a grader is not lost)."""
    return {q for q, o in outcomes.items() if not o.passed and o.status != MANUAL}


EXTRACTION = "longslit-extraction"


@pytest.fixture(scope="module")
def honest(grader, course):
    return grade(grader, course, EXTRACTION, notebook(course, EXTRACTION))


def test_honest_notebook_passes_every_run(honest):
    assert lost(honest) == set()
    for o in honest.values():
        if o.status == MANUAL:
            continue
        assert [r.kind for r in o.runs] == ["own", "secret"] and all(r.passed for r in o.runs), o.question


def test_zeros_of_the_right_shape_earn_nothing(grader, course):
    zeros = {
        "read-data": "img = np.zeros((512, 511)); err = np.zeros((512, 511)); dq = np.zeros((512, 511), dtype=np.int16)",
        "err-dq-images": "err_lo = 0.0; err_hi = 0.0\nim_err = plt.imshow(np.zeros((512, 511)), origin='lower')\n"
                         "im_dq = plt.imshow(np.zeros((512, 511)), origin='lower')",
        "profile-and-spectrum": "profile = np.zeros(512); spectrum_raw = np.zeros(511)",
        "source-rows": "peak_row = 0; spectrum_src = np.zeros(511)",
        "cosmic-rays": "img_sm = np.zeros((512, 511)); sigma = 0.0\nbad = np.zeros((512, 511), bool); img_cr = np.zeros((512, 511))",
        "one-column-fit": "bkg_rows = np.r_[10:200, 300:480]; col_fit = np.zeros(512)",
        "background": "bkg = np.zeros((512, 511)); img_bkg = np.zeros((512, 511))",
        "final-spectrum": "spectrum_final = np.zeros(511)",
        "wavelength": "wavelength = np.zeros(511)\nplt.plot(wavelength, spectrum_final)",
        "redshift": "z_measured = 0.0",
    }
    outcomes = grade(grader, course, EXTRACTION, notebook(course, EXTRACTION, replace=zeros))
    assert lost(outcomes) == {q for q, o in outcomes.items() if o.status != MANUAL}


def test_an_early_mistake_costs_only_its_question(grader, course):
    read = _solution(course, EXTRACTION, "read-data").replace('.data.astype(float)\n', '.data.astype(float) * 1.5\n', 1)
    outcomes = grade(grader, course, EXTRACTION, notebook(course, EXTRACTION, replace={"read-data": read}))
    assert lost(outcomes) == {"read-data"}
    for q in ("profile-and-spectrum", "cosmic-rays", "final-spectrum"):  # credited on the correct inputs
        assert [(r.kind, r.passed) for r in outcomes[q].runs] == [("own", False), ("reference", True),
                                                                  ("secret", True)], q


@pytest.mark.parametrize("question, wrong, scratch_before", [
    # source-rows raises, so spectrum_src is never defined; a given plot of it follows
    ("source-rows", "peak_row = np.max(profile)\nspectrum_src = img[peak_row - 4 : peak_row + 6].sum(axis=0)",
     ("extraction-given-3", 'print("peak row:", peak_row)')),
    # one-column-fit left unanswered after bkg_rows, so col_fit is never defined
    ("one-column-fit", "bkg_rows = np.append(np.arange(10, 200), np.arange(300, 480))\nraise NotImplementedError()",
     ("extraction-given-5", 'print(bkg_rows.size, "background rows")')),
])
def test_a_scratch_cell_after_an_early_failure_costs_no_later_question(grader, course, question, wrong,
                                                                        scratch_before):
    """A cell the student adds just after a test cell starts the next question's code, so
    the given plot cells after it run again with that question; a given cell that fails
    on what the early failure left undefined must not stop the rerun, nor be called this
    question's code."""
    at, scratch = scratch_before
    nb = notebook(course, EXTRACTION, replace={question: wrong}, before={at: scratch})
    outcomes = grade(grader, course, EXTRACTION, nb)
    assert lost(outcomes) == {question}, {q: o.message for q, o in outcomes.items() if not o.passed}
    for q, o in outcomes.items():
        assert q == question or "raised by this question's code" not in o.message, (q, o.message)


@pytest.mark.parametrize("scratch", ["peak_row = int(np.argmax(profile))", "img_bkg = img_cr - bkg",
                                     "peak_row = int(np.argmax(profile))\nimg_bkg = img_cr - bkg\n"
                                     "print(peak_row, img_bkg.shape)"])
def test_a_cell_added_above_the_answer_that_recomputes_an_input_keeps_the_question(grader, course, scratch):
    """The same values computed again in a cell of the student's above the answer cell:
    the reruns give the question its inputs back after that cell."""
    outcomes = grade(grader, course, EXTRACTION, notebook(course, EXTRACTION, before={"final-spectrum": scratch}))
    assert lost(outcomes) == set(), {q: o.message for q, o in outcomes.items() if not o.passed}
    assert all(r.passed for r in outcomes["final-spectrum"].runs), outcomes["final-spectrum"].runs


def test_an_answer_that_only_works_on_the_notebooks_own_input_still_fails_after_an_added_cell(grader, course):
    """The input given back after an added cell is the run's, so a cell above the answer
    that pins an input to the notebook's own value (a typed row) still loses the question."""
    outcomes = grade(grader, course, EXTRACTION, notebook(course, EXTRACTION,
                                                          before={"final-spectrum": "band = slice(250, 260)"},
                                                          replace={"final-spectrum":
                                                                   "spectrum_final = img_bkg[band].sum(axis=0)"}))
    assert lost(outcomes) == {"final-spectrum"}


@pytest.fixture(scope="module")
def reference(data_file) -> dict:
    """The extraction's reference state on the course file (the values a student sees printed)."""
    from autograder.checks import Judge

    return Judge(EXTRACTION, data_file, b"x").reference()


def test_pasted_and_typed_answers_earn_nothing(grader, course, reference):
    spectrum = reference["spectrum_final"]
    pasted = "spectrum_final = np.array([" + ", ".join(repr(float(v)) for v in spectrum) + "])"
    typed_z = _solution(course, EXTRACTION, "redshift") + "\nz_measured = 0.02867\n"
    # the nucleus's row and band, the fitted column and the display limits typed as numbers
    typed_row = "peak_row = 254\nspectrum_src = img[250:260].sum(axis=0)"
    typed_col = _solution(course, EXTRACTION, "one-column-fit").replace("col]", "100]")
    limits = np.percentile(reference["err"], [1, 99])
    typed_limits = _solution(course, EXTRACTION, "err-dq-images").replace(
        "err_lo, err_hi = np.percentile(err, [1, 99])", f"err_lo, err_hi = {limits[0]!r}, {limits[1]!r}")
    # sigma typed (a flipped error image has the same median: it passed)
    sigma = float(np.median(reference["err"]))
    typed_sigma = _solution(course, EXTRACTION, "cosmic-rays").replace("sigma = np.median(err)", f"sigma = {sigma!r}")
    typed = {"final-spectrum": pasted, "redshift": typed_z, "source-rows": typed_row, "one-column-fit": typed_col,
             "err-dq-images": typed_limits, "cosmic-rays": typed_sigma}
    assert typed_col != _solution(course, EXTRACTION, "one-column-fit") and "percentile" not in typed_limits
    assert "np.median" not in typed_sigma
    outcomes = grade(grader, course, EXTRACTION, notebook(course, EXTRACTION, replace=typed))
    assert lost(outcomes) == set(typed)
    for q in typed:
        assert [(r.kind, r.passed) for r in outcomes[q].runs] == [("own", True), ("secret", False)], q
        assert "second input" in outcomes[q].message


def test_a_redshift_is_measured_on_the_spectrum_it_is_given(grader, course, reference):
    """The peak's column typed (read off an output) earns nothing: the secret run moves the
    lines; measuring on the header's WCS through ``hdr`` is measuring on this file's axis
    (it failed while the secret run stretched ``wavelength`` and left ``hdr`` as it was)."""
    column = int(np.argmax(reference["spectrum_final"]))
    typed_column = f"z_measured = float(wavelength[{column}] / rest_lines['[O III] 5007'] - 1)"
    on_header = """i = int(np.argmax(spectrum_final))
w = spectrum_final[i - 2 : i + 3]
pix = np.sum(np.arange(i - 2, i + 3) * w) / np.sum(w)
lam = hdr["CRVAL1"] + hdr["CD1_1"] * (pix + 1 - hdr["CRPIX1"])
z_measured = float(lam / rest_lines["[O III] 5007"] - 1)"""
    head = 'rest_lines = {"[O III] 5007": 5006.84, "[O III] 4959": 4958.91, "H-beta": 4861.33}\n'
    typed = grade(grader, course, EXTRACTION, notebook(course, EXTRACTION, replace={"redshift": head + typed_column}))
    assert lost(typed) == {"redshift"}
    assert [(r.kind, r.passed) for r in typed["redshift"].runs] == [("own", True), ("secret", False)]
    measured = grade(grader, course, EXTRACTION, notebook(course, EXTRACTION, replace={"redshift": head + on_header}))
    assert lost(measured) == set(), measured["redshift"].message


def test_injected_values_written_to_disk_or_globals_gain_nothing(grader, course):
    """Cosmic rays done wrong (img_cr = img: no cleaning).  The background code is right
    and saves the img_cr it is given to disk and to a global; a cell before the final
    spectrum reads them back into img_cr/img_bkg.  Nothing a rerun writes reaches the
    notebook's own process or a later rerun, so the score is the one the same notebook
    gets without the leaking lines: an injected value never raises a score."""
    wrong_cr = "import scipy.signal\nimg_sm = scipy.signal.medfilt(img, 5)\nsigma = np.median(err)\n" \
               "bad = np.abs(img - img_sm) > 8 * sigma\nimg_cr = img.copy()"
    background = _solution(course, EXTRACTION, "background")
    leaking = background + "\nnp.save('leak.npy', img_cr)\nimport builtins\nbuiltins.LEAK = img_cr\n"
    read_back = ("import os, builtins\n"
                 "if os.path.exists('leak.npy'):\n    img_cr = np.load('leak.npy')\n"
                 "if hasattr(builtins, 'LEAK'):\n    img_cr = builtins.LEAK\n"
                 "img_bkg = img_cr - bkg")
    plain = grade(grader, course, EXTRACTION, notebook(course, EXTRACTION, replace={"cosmic-rays": wrong_cr},
                                                       before={"final-spectrum": read_back}))
    leaky = grade(grader, course, EXTRACTION, notebook(course, EXTRACTION,
                                                       replace={"cosmic-rays": wrong_cr, "background": leaking},
                                                       before={"final-spectrum": read_back}))
    assert "cosmic-rays" in lost(plain)
    assert {q: o.points for q, o in leaky.items()} == {q: o.points for q, o in plain.items()}
    assert sum(o.points for o in leaky.values()) < 16


def test_grading_is_deterministic(grader, course, honest):
    again = grade(grader, course, EXTRACTION, notebook(course, EXTRACTION))
    assert {q: (o.points, o.message, o.runs) for q, o in again.items()} == \
        {q: (o.points, o.message, o.runs) for q, o in honest.items()}


# ------------------------------------------------------------- rules about *how*
AC = "array-creation"
LOOPS = {
    "a loop behind %time": {"replace": {"sine-vectorized": "%time sines_vec = np.array([math.sin(v) for v in values])"}},
    "a loop in a helper defined in another cell": {
        "replace": {"sine-vectorized": "sines_vec = my_sines(values)"},
        "before": {"sine-vectorized": "def my_sines(a):\n    out = []\n    for v in a:\n        out.append(math.sin(v))\n"
                                      "    return np.array(out)"}},
    "a loop in the first copy of a duplicated cell": {
        "before": {"sine-vectorized": "sines_vec = np.array([math.sin(v) for v in values])"},
        "replace": {"sine-vectorized": "sines_vec = sines_vec * 1.0"}},
    "np.vectorize(math.sin)": {"replace": {"sine-vectorized": "sines_vec = np.vectorize(math.sin)(values)"}},
    "map(math.sin, ...)": {"replace": {"sine-vectorized": "sines_vec = np.array(list(map(math.sin, values)))"}},
    "reuse of the loop's result": {"replace": {"sine-vectorized": "sines_vec = np.array(sines_loop)"}},
    "a loop beside a %timeit": {"replace": {"sine-vectorized": "%timeit np.sin(values)\n"
                                                               "sines_vec = np.array([math.sin(v) for v in values])"}},
}


@pytest.mark.parametrize("case", list(LOOPS), ids=list(LOOPS))
def test_evading_the_no_loop_rule_loses_the_question(grader, course, case):
    outcomes = grade(grader, course, AC, notebook(course, AC, **LOOPS[case]))
    assert lost(outcomes) == {"sine-vectorized"}, {q: o.message for q, o in outcomes.items() if not o.passed}
    assert [(r.kind, r.passed) for r in outcomes["sine-vectorized"].runs] == [("own", True), ("secret", False)]


@pytest.mark.parametrize("code", ["%time sines_vec = np.sin(values)", "sines_vec = np.sin(np.asarray(values))",
                                  "%%time\nsines_vec = np.sin(values)\nprint(sines_vec[:3])",
                                  "sines_vec = np.sin(values.astype(np.float32)).astype(float)",
                                  # the section times a loop against one call: IPython's %timeit
                                  # runs its code hundreds of times (once when graded)
                                  "%timeit np.sin(values)\nsines_vec = np.sin(values)",
                                  "%timeit -n 1000 -r 7 np.sin(values)\nsines_vec = np.sin(values)",
                                  "sines_vec = np.sin(values)\n_t = %timeit -o -q np.sin(values)"])
def test_vectorised_answers_keep_the_question(grader, course, code):
    outcomes = grade(grader, course, AC, notebook(course, AC, replace={"sine-vectorized": code}))
    assert lost(outcomes) == set(), {q: o.message for q, o in outcomes.items() if not o.passed}


def test_a_vectorised_answer_slow_only_on_its_first_run_keeps_the_question(grader, course):
    """The no-loop rule's CPU time: the question's first run on its secret input pays for
    fresh memory (every new image-sized array), the yardstick is the faster of two runs;
    a run over the limit is timed once more and the faster counts (vectorised answers
    lost points on some runs and not others).  Here the first run alone burns CPU inside
    one C call (no Python line, no loop the tracer sees)."""
    code = "if '_warmed' not in globals():\n    _warmed = sum(range(30_000_000))\nsines_vec = np.sin(values)"
    outcomes = grade(grader, course, AC, notebook(course, AC, replace={"sine-vectorized": code}))
    assert lost(outcomes) == set(), {q: o.message for q, o in outcomes.items() if not o.passed}


@pytest.mark.parametrize("surface", [
    "r = np.sqrt(x**2 + y**2)\nz = np.cos(r) / (r + 5)",  # the prose's formula: right on the correct grid
    "r = np.sqrt(x**2 + y[:, np.newaxis]**2)\nz = np.cos(r) / (r + 5)",  # the 1-D y made a column here
    "X, Y = np.meshgrid(x, y)\nr = np.sqrt(X**2 + Y**2)\nz = np.cos(r) / (r + 5)",
])
def test_a_grid_left_one_dimensional_costs_only_the_grid(grader, course, surface):
    """A wrong ripple-grid (x and y both 1-D) loses that question only: the surface's code
    is run on the correct grid as a row and a column (not turned 1-D again to look like
    the notebook's own), and the no-loop rule's yardstick computes the whole surface."""
    grid = "x = np.linspace(-20, 20, 161)\ny = np.linspace(-20, 20, 161)"
    outcomes = grade(grader, course, RIPPLE, notebook(course, RIPPLE, replace={"ripple-grid": grid,
                                                                                "ripple-surface": surface}))
    assert lost(outcomes) == {"ripple-grid"}, {q: o.message for q, o in outcomes.items() if not o.passed}


def test_typed_constants_lose_their_questions(grader, course):
    typed = {"ranges": "exptimes = np.array([720, 720, 360, 1200])\npixels = np.arange(511)\n"
                       "wave = np.linspace(2900.0, 5700.0, 511)\nfreqs = np.logspace(8, 11, 7)",
             "arithmetic": "rate = np.array([1200.0, 4500.0, 800.0, 15000.0]) / 720\nsnr = counts / np.sqrt(counts)\n"
                           "twice_list = flux_list * 2\ntwice_array = flux * 2"}
    outcomes = grade(grader, course, AC, notebook(course, AC, replace=typed))
    assert lost(outcomes) == {"ranges", "arithmetic"}
    assert np.all([not o.runs[-1].passed for q, o in outcomes.items() if q in typed])


# the ripple surface: "one expression of x and y", no loop (the title: "without a single loop")
RIPPLE = "broadcasting-ripple"
RIPPLE_LOOPS = {
    "a loop over rows": "r = np.empty(np.broadcast_shapes(x.shape, y.shape))\nfor i in range(r.shape[0]):\n"
                        "    r[i] = np.sqrt(x[0] ** 2 + y[i, 0] ** 2)\nz = np.cos(r) / (r + 5)",
    "a comprehension over points": "r = np.array([[np.sqrt(a * a + b * b) for a in x.ravel()] for b in y.ravel()])\n"
                                   "z = np.cos(r) / (r + 5)",
    "np.vectorize": "r = np.vectorize(lambda a, b: math.sqrt(a * a + b * b))(x, y)\nz = np.cos(r) / (r + 5)",
}


@pytest.mark.parametrize("case", list(RIPPLE_LOOPS), ids=list(RIPPLE_LOOPS))
def test_a_ripple_computed_with_a_loop_loses_the_surface(grader, course, case):
    outcomes = grade(grader, course, RIPPLE, notebook(course, RIPPLE, replace={"ripple-surface": RIPPLE_LOOPS[case]},
                                                      before={"ripple-surface": "import math"}))
    assert lost(outcomes) == {"ripple-surface"}, {q: o.message for q, o in outcomes.items() if not o.passed}
    assert [(r.kind, r.passed) for r in outcomes["ripple-surface"].runs] == [("own", True), ("secret", False)]


@pytest.mark.parametrize("code", ["r = np.hypot(x, y)\nz = np.cos(r) / (r + 5)",
                                  "%time r = np.sqrt(x**2 + y**2)\nz = np.cos(r) / (r + 5)",
                                  "r = np.sqrt(np.square(x) + np.square(y))\nz = np.cos(r) / np.add(r, 5)",
                                  # one call of the function with the whole array: not a loop
                                  "r = np.sqrt(x**2 + y**2)\n"
                                  "z = np.piecewise(r, [r >= 0], [lambda t: np.cos(t) / (t + 5)])"])
def test_a_broadcast_ripple_keeps_the_surface(grader, course, code):
    outcomes = grade(grader, course, RIPPLE, notebook(course, RIPPLE, replace={"ripple-surface": code}))
    assert lost(outcomes) == set(), {q: o.message for q, o in outcomes.items() if not o.passed}


@pytest.mark.parametrize(("code", "kept"), [
    ("pix = img[254, 300]\nlast_pix = img[511, 510]", False),  # the prose: negative indices, any size
    ("pix = img[254, 300]\nlast_pix = img[img.shape[0] - 1, img.shape[1] - 1]", True),
])
def test_the_last_pixel_is_found_whatever_the_size_of_the_image(grader, course, code, kept):
    outcomes = grade(grader, course, "slicing", notebook(course, "slicing", replace={"elements": code}))
    assert lost(outcomes) == (set() if kept else {"elements"}), {q: o.message for q, o in outcomes.items()}


# ----------------------------------------------------------------------------------
# Valid code that reuses what the notebook already has (found by grading hand-written
# variants): the reruns put in place a world consistent with the second input.

@pytest.mark.parametrize("code", [
    "sines_vec = np.sin(values)\nprint(np.allclose(sines_vec, sines_loop))",  # the notebook's own test, printed
    "sines_vec = np.empty(N)\nnp.sin(values, out=sines_vec)",  # sized from N, filled in place
    "sines_vec = np.sin(values)\nassert len(sines_vec) == len(sines_loop)",
    # a picture beside the answer is drawing, not computing: it does not count against "one call"
    "sines_vec = np.sin(values)\nimport matplotlib.pyplot as plt\nplt.plot(sines_vec[:100])\nplt.show()",
    "sines_vec = np.sin(values)\nimport matplotlib.pyplot as plt\nplt.hist(sines_vec, bins=50)\nplt.show()",
])
def test_the_vectorised_sine_may_use_the_notebooks_earlier_names(grader, course, code):
    outcomes = grade(grader, course, AC, notebook(course, AC, replace={"sine-vectorized": code},
                                                  before={"sine-vectorized": "import math"}))
    assert lost(outcomes) == set(), {q: o.message for q, o in outcomes.items() if not o.passed}


def test_a_loop_in_worker_processes_loses_the_vectorised_sine(grader, course):
    """The CPU of the question's worker processes counts as its own."""
    helper = "import math\ndef _chunk(c):\n    return np.array([math.sin(v) for v in c])"
    code = ("from multiprocessing import Pool\nwith Pool(2) as _p:\n"
            "    sines_vec = np.concatenate(_p.map(_chunk, np.array_split(values, 2)))")
    outcomes = grade(grader, course, AC, notebook(course, AC, replace={"sine-vectorized": code},
                                                  before={"sine-loop": helper}))
    assert lost(outcomes) == {"sine-vectorized"}, {q: o.message for q, o in outcomes.items() if not o.passed}
    assert "times as long" in outcomes["sine-vectorized"].message


def test_the_combined_mask_may_reuse_the_first_mask(grader, course):
    for code in ("between = gt6 & (a < 17)\noutside = ~between",
                 "between = np.logical_and(gt6, a < 17)\noutside = ~gt6 | (a >= 17)"):
        outcomes = grade(grader, course, "boolean-masks", notebook(course, "boolean-masks", replace={"combine": code}))
        assert lost(outcomes) == set(), (code, {q: o.message for q, o in outcomes.items() if not o.passed})


def test_views_and_new_arrays_may_use_the_second_name_of_frame(grader, course):
    replace = {"views": "row = same[1]\ncol = same[:, 2]",
               "new-arrays": "doubled = same * 2\npicked = backup[backup > 30]"}
    outcomes = grade(grader, course, "copy-vs-view", notebook(course, "copy-vs-view", replace=replace))
    assert lost(outcomes) == set(), {q: o.message for q, o in outcomes.items() if not o.passed}


@pytest.mark.parametrize("code", [
    "%%time\npred_spectrum = [5., 0., 0., 0., 34., -1.]\npred_snapshot = [5., 8., 13., 21., 34., 55.]\n"
    "pred_window = [0., 0., 0.]\npred_bright = [21., 34., 55.]",
    "%time pred_spectrum = [5., 0., 0., 0., 34., -1.]\npred_snapshot = [5., 8., 13., 21., 34., 55.]\n"
    "pred_window = [0., 0., 0.]\npred_bright = [21., 34., 55.]",
    "pred_spectrum, pred_snapshot = [5., 0., 0., 0., 34., -1.], [5., 8., 13., 21., 34., 55.]\n"
    "pred_window, pred_bright = [0., 0., 0.], [21., 34., 55.]",
    "pred_spectrum = [5.] + [0.] * 3 + [34., -1.]\npred_snapshot = [5., 8., 13., 21., 34., 55.]\n"
    "pred_window = [0., 0., 0.]\npred_bright = (21.,) + (34., 55.)",
])
def test_predictions_typed_under_a_magic_or_unpacked_count(grader, course, code):
    outcomes = grade(grader, course, "copy-vs-view", notebook(course, "copy-vs-view", replace={"predict": code}))
    assert lost(outcomes) == set(), {q: o.message for q, o in outcomes.items() if not o.passed}


def test_the_data_file_is_the_real_one_again_after_a_second_input_run(grader, course):
    """The second-input run of the read-data question puts another file at the data
    file's path; the notebook's own later cells read the real file again, and
    ``fetch()`` accepts the second file inside that run."""
    read = ("from course_data import fetch\npath = fetch()\nwith fits.open(path) as hdul:\n"
            "    img = hdul['SCI'].data.astype(float)\n    err = hdul['ERR'].data.astype(float)\n"
            "    dq = hdul['DQ'].data.astype(np.int16)")
    wave = ("from course_data import fetch\nhdr = fits.getheader(fetch(), 'SCI')\n"
            "assert np.array_equal(fits.getdata(path, 'SCI'), img)\n"
            "columns = np.arange(img.shape[1])\n"
            "wavelength = hdr['CRVAL1'] + hdr['CD1_1'] * (columns + 1 - hdr['CRPIX1'])\n"
            "plt.plot(wavelength, spectrum_final)\nplt.show()")
    outcomes = grade(grader, course, EXTRACTION,
                     notebook(course, EXTRACTION, replace={"read-data": read, "wavelength": wave}))
    assert lost(outcomes) == set(), {q: o.message for q, o in outcomes.items() if not o.passed}


@pytest.mark.parametrize(("aid", "question", "code"), [
    (AC, "reshape", "stamp = np.array([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11, 12, 13, 14], [15, 16, 17, 18, 19]])\n"
                    "stamp_col = stamp.reshape(-1, 1)"),
    (AC, "reshape", "%time stamp = np.fromstring('0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19', sep=' ')"
                    ".astype(int).reshape(4, 5)\nstamp_col = stamp.reshape(-1, 1)"),
    (AC, "grids-and-fills", "yy = np.array([[0] * 6, [1] * 6, [2] * 6, [3] * 6])\nxx = np.array([[0, 1, 2, 3, 4, 5]] * 4)\n"
                            "flat = np.ones((512, 511))\ndq_good = np.zeros((512, 511), dtype=np.int16)\n"
                            "sky = np.zeros_like(flat)"),
    (AC, "ranges", "exptimes = np.array(exposure_list)\npixels = np.arange(511)\nwave = np.linspace(2900.0, 5700.0, 511)\n"
                   "freqs = np.array([1.00000000e+08, 3.16227766e+08, 1.00000000e+09, 3.16227766e+09, 1.00000000e+10,"
                   " 3.16227766e+10, 1.00000000e+11])"),
    # split into short lists, or in an f-string that is not only shown (it is evaluated)
    (AC, "reshape", "r0 = [0, 1, 2, 3, 4]\nr1 = [5, 6, 7, 8, 9]\nr2 = [10, 11, 12, 13, 14]\nr3 = [15, 16, 17, 18, 19]\n"
                    "stamp = np.array([r0, r1, r2, r3])\nstamp_col = stamp.reshape(-1, 1)"),
    (AC, "reshape", "stamp = np.array(eval(f'[[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11, 12, 13, 14], "
                    "[15, 16, 17, 18, 19]]'))\nstamp_col = stamp.reshape(-1, 1)"),
])
def test_answers_fixed_by_the_wording_typed_out_earn_nothing(grader, course, aid, question, code):
    """No input can change these answers, so a typed-out one is told from a computed
    one by the code as it ran (magics' code included)."""
    outcomes = grade(grader, course, aid, notebook(course, aid, replace={question: code}))
    assert lost(outcomes) == {question}, {q: o.message for q, o in outcomes.items() if not o.passed}
    assert "types out" in outcomes[question].message


def test_a_question_that_reads_the_file_again_is_graded_on_the_second_file(grader, course):
    """Reading ``img`` or ``err`` from the file again inside a later question's cell
    (instead of using the names) is valid: the secret run puts a file holding the
    secret images at the data file's path, so the re-read gets the same second input."""
    replace = {q: reread + _solution(course, EXTRACTION, q) for q, reread in (
        ("err-dq-images", "err = fits.getdata(path, 'ERR').astype(float)\ndq = fits.getdata(path, 'DQ')\n"),
        ("cosmic-rays", "img = fits.getdata(path, 'SCI').astype(float)\n"),
        ("profile-and-spectrum", "img = fits.getdata(path, 'SCI').astype(float)\n"))}
    outcomes = grade(grader, course, EXTRACTION, notebook(course, EXTRACTION, replace=replace))
    assert lost(outcomes) == set(), {q: o.message for q, o in outcomes.items() if not o.passed}
    for q in replace:
        assert [(r.kind, r.passed) for r in outcomes[q].runs] == [("own", True), ("secret", True)]


# ----------------------------------------------------------------------------------
# Found by a third round of hand-written variants.

@pytest.mark.parametrize("code", [
    "sines_vec = np.sin(values)\nassert np.allclose(sines_vec[:5], sines_loop[:5])",  # the visible test's line
    "sines_vec = np.sin(values)\nassert np.allclose(sines_vec, sines_loop), 'vector and loop differ'",
])
def test_the_vectorised_sine_may_assert_it_matches_the_loop(grader, course, code):
    outcomes = grade(grader, course, AC, notebook(course, AC, replace={"sine-vectorized": code}))
    assert lost(outcomes) == set(), {q: o.message for q, o in outcomes.items() if not o.passed}


@pytest.mark.parametrize(("aid", "question", "note"), [
    (AC, "ranges", "print('pixels 0..510 (511), wave 2900-5700 A (511 points), freqs 1e8-1e11 Hz (7)')"),
    (AC, "grids-and-fills", "print('int16 uses 2 bytes, float64 uses 8, so 512 x 511 x 2 vs 512 x 511 x 8')"),
    (AC, "reshape", "'''rows 0-4, 5-9, 10-14, 15-19'''\nprint(f'expected: rows 0-4, 5-9, 10-14, 15-19 {stamp.shape}')"),
    (RIPPLE, "ripple-grid", "plt.title('x: -20 to 20 in steps of 0.25, 161 points; shapes (1, 161), (161, 1)')"),
])
def test_numbers_in_text_that_is_only_shown_are_not_a_typed_answer(grader, course, aid, question, note):
    outcomes = grade(grader, course, aid, notebook(course, aid, replace={
        question: _solution(course, aid, question) + "\nimport matplotlib.pyplot as plt\n" + note}))
    assert lost(outcomes) == set(), {q: o.message for q, o in outcomes.items() if not o.passed}


def test_a_surface_written_for_a_one_dimensional_x_keeps_its_points(grader, course):
    """The prose accepts x of shape (161,): the secret grid is put in place in that form."""
    outcomes = grade(grader, course, RIPPLE, notebook(course, RIPPLE, replace={
        "ripple-grid": "x = np.linspace(-20, 20, 161)\ny = x[:, np.newaxis]",
        "ripple-surface": "r = np.sqrt(x[np.newaxis, :]**2 + y**2)\nz = np.cos(r) / (r + 5)",
        "ripple-image": _solution(course, RIPPLE, "ripple-image") + "\nplt.contour(x.ravel(), y.ravel(), z, levels=[0])"}))
    assert lost(outcomes) == set(), {q: o.message for q, o in outcomes.items() if not o.passed}
    assert [(r.kind, r.passed) for r in outcomes["ripple-surface"].runs] == [("own", True), ("secret", True)]


def test_a_row_loop_inside_numpy_loses_the_surface(grader, course):
    """np.apply_along_axis calls its function once per row from Python (numpy 2 hides
    the Python function behind a dispatcher written in C)."""
    code = "r = np.apply_along_axis(np.sqrt, 1, x**2 + y**2)\nz = np.apply_along_axis(np.cos, 1, r) / (r + 5)"
    outcomes = grade(grader, course, RIPPLE, notebook(course, RIPPLE, replace={"ripple-surface": code}))
    assert lost(outcomes) == {"ripple-surface"}, {q: o.message for q, o in outcomes.items() if not o.passed}
    assert "np.apply_along_axis" in outcomes["ripple-surface"].message


def test_nothing_a_rerun_raises_or_reports_shows_a_secret_input_the_course_shares(grader, course):
    """The extraction's image questions share one secret input for the course: an
    error's text or kind, or a check's message on it (a size, a shape, a type named
    after it), would carry it to the next submission, so none is shown."""
    mark = "_own_total = float(img.sum())\n"  # in read-data: known at the next question's boundary
    secret = "if float(img.sum()) != _own_total:\n"
    probes = {
        "raise": secret + "    raise RuntimeError(f'size={img.size} total={img.sum():.0f}')\n",
        "shape": "",
        "type": "",
        # the kind of error, picked by a number of the input from Python's own exception classes
        "class": "import builtins\n" + secret +
                 "    _k = sorted(n for n, c in vars(builtins).items() if isinstance(c, type) and issubclass(c, BaseException))\n"
                 "    raise BaseException.__new__(getattr(builtins, _k[int(img.sum()) % len(_k)]))\n",
    }
    answer = "profile = img.sum(axis=1)\nspectrum_raw = img.sum(axis=0)\n"
    probes["shape"] = answer + secret + "    profile = np.zeros(int(img.sum()) % 1000 + 1000)\n"
    probes["type"] = answer + secret + "    profile = type(f'T{int(img.sum())}x', (), {})()\n"
    read = _solution(course, EXTRACTION, "read-data") + "\n" + mark
    for name, code in probes.items():
        code = code if name in ("shape", "type") else code + answer
        outcomes = grade(grader, course, EXTRACTION, notebook(course, EXTRACTION, replace={
            "read-data": read, "profile-and-spectrum": code}))
        assert lost(outcomes) == {"profile-and-spectrum"}, (name, {q: o.message for q, o in outcomes.items()
                                                                   if not o.passed})
        message = outcomes["profile-and-spectrum"].message
        assert not any(ch.isdigit() for ch in message), (name, message)
        assert not any(n in message for n in ("Error", "Exception", "Warning", "Exit", "Interrupt")), (name, message)


def test_what_went_wrong_on_a_submissions_own_secret_input_is_shown(grader, course):
    """A secret input drawn for this submission (from its code) holds for this code only:
    the error the question's code raised on it is shown, to help the student."""
    code = "gt6 = a > 6\nn_gt6 = gt6.sum()\nif a.size != 20:\n    raise RuntimeError(f'this code assumed 20 values, got {a.size}')"
    outcomes = grade(grader, course, "boolean-masks", notebook(course, "boolean-masks", replace={"compare": code}))
    assert lost(outcomes) == {"compare"}
    assert "RuntimeError: this code assumed 20 values, got" in outcomes["compare"].message


def test_typed_out_background_rows_lose_the_one_column_fit(grader, course):
    rows = ", ".join(str(r) for r in [*range(10, 200), *range(300, 480)])
    code = _solution(course, EXTRACTION, "one-column-fit").replace("bkg_rows = ", f"bkg_rows = np.array([{rows}])  # ", 1)
    outcomes = grade(grader, course, EXTRACTION, notebook(course, EXTRACTION, replace={"one-column-fit": code}))
    assert lost(outcomes) == {"one-column-fit"}, {q: o.message for q, o in outcomes.items() if not o.passed}
    assert "types out" in outcomes["one-column-fit"].message


def test_subtracting_the_background_in_place_from_img_cr_loses_the_question(grader, course):
    """``img_bkg = img_cr`` then ``-=`` changes img_cr too (the copy-or-view trap the
    notebook warns of); the visible test fails in the student's own notebook."""
    code = _solution(course, EXTRACTION, "background").replace("img_bkg = img_cr - bkg", "img_bkg = img_cr\nimg_bkg -= bkg")
    assert "img_bkg -= bkg" in code
    outcomes = grade(grader, course, EXTRACTION, notebook(course, EXTRACTION, replace={"background": code}))
    assert "background" in lost(outcomes), {q: o.message for q, o in outcomes.items() if not o.passed}


def test_files_the_notebook_writes_are_its_own_again_after_each_rerun(grader, course):
    """A student decompresses the data file with gzip into a file of their own in a cell
    that the read-data question's reruns run again (on the second input, a gzip file
    too); a later cell of the notebook's own run finds that file as the notebook wrote
    it, not as the rerun left it."""
    unzip = ("import gzip, shutil\nwith gzip.open(path, 'rb') as src, open('plain.fits', 'wb') as dst:\n"
             "    shutil.copyfileobj(src, dst)")
    read = ("with fits.open('plain.fits') as hdul:\n    img = hdul['SCI'].data.astype(float)\n"
            "    err = hdul['ERR'].data.astype(float)\n    dq = hdul['DQ'].data.astype(np.int16)")
    check = "assert np.array_equal(fits.getdata('plain.fits', 'SCI').astype(float), img), 'plain.fits was changed'"
    nb = notebook(course, EXTRACTION, replace={"read-data": read},
                  before={"read-data": unzip, "err-dq-images": check})
    outcomes = grade(grader, course, EXTRACTION, nb)
    assert lost(outcomes) == set(), {q: o.message for q, o in outcomes.items() if not o.passed}
    assert [(r.kind, r.passed) for r in outcomes["read-data"].runs] == [("own", True), ("secret", True)]


def test_a_decompressed_copy_made_only_when_missing_is_made_again_from_the_second_file(grader, course):
    """A read-data cell that decompresses the data file once ("if it is missing") and
    reads the copy: its secret run meets the folder as it was before the cell ran, so
    the copy is made from the second input file, and the notebook's own copy is back
    afterwards for its later cells."""
    read = ("import gzip, os, shutil\nif not os.path.exists('3c120_stis.fits'):\n"
            "    with gzip.open(path) as src, open('3c120_stis.fits', 'wb') as dst:\n"
            "        shutil.copyfileobj(src, dst)\n"
            "with fits.open('3c120_stis.fits') as hdul:\n    img = hdul['SCI'].data.astype(float)\n"
            "    err = hdul['ERR'].data.astype(float)\n    dq = hdul['DQ'].data.astype(np.int16)")
    check = ("assert np.array_equal(fits.getdata('3c120_stis.fits', 'SCI').astype(float), img), 'the copy was changed'\n"
             "assert not os.path.exists('.course-later'), os.listdir('.')")
    nb = notebook(course, EXTRACTION, replace={"read-data": read}, before={"err-dq-images": check})
    outcomes = grade(grader, course, EXTRACTION, nb)
    assert lost(outcomes) == set(), {q: o.message for q, o in outcomes.items() if not o.passed}
    assert [(r.kind, r.passed) for r in outcomes["read-data"].runs] == [("own", True), ("secret", True)]


def test_what_a_dying_copy_set_aside_is_put_back_for_the_notebook(grader, course):
    """A copy that ends itself (here: on seeing the second input) while the notebook's
    decompressed copy is set aside: the notebook's own process puts it back."""
    read = ("import gzip, os, shutil\nwith gzip.open(path) as src, open('3c120_stis.fits', 'wb') as dst:\n"
            "    shutil.copyfileobj(src, dst)\n"
            "if os.environ.get('COURSE_DATA_SECOND_INPUT'):\n    os.kill(os.getpid(), 9)\n"
            "with fits.open('3c120_stis.fits') as hdul:\n    img = hdul['SCI'].data.astype(float)\n"
            "    err = hdul['ERR'].data.astype(float)\n    dq = hdul['DQ'].data.astype(np.int16)")
    check = "assert os.path.exists('3c120_stis.fits') and not os.path.exists('.course-later'), os.listdir('.')"
    outcomes = grade(grader, course, EXTRACTION, notebook(course, EXTRACTION, replace={"read-data": read},
                                                          before={"profile-and-spectrum": check}))
    assert lost(outcomes) == {"read-data"}, {q: o.message for q, o in outcomes.items() if not o.passed}


def _masks(grader, course, *, replace: dict, before: dict) -> dict:
    """The outcomes of the boolean-masks notebook with these answers replaced and cells added."""
    return grade(grader, course, "boolean-masks", notebook(course, "boolean-masks", replace=replace, before=before))


def test_a_file_a_secret_run_leaves_in_dev_shm_does_not_reach_the_notebook(grader, course):
    """/dev/shm is a writable tmpfs the notebook's process and its copies share: a copy
    tidies it like the working folder and /tmp (else a secret run could leave its input
    there for the notebook's own run to print)."""
    from autograder.sandbox import isolation

    if isolation.best_mode() == "limits":
        pytest.skip("resource limits only: /dev/shm is the machine's, not the notebook's own")
    leak = ("gt6 = a > 6\nn_gt6 = gt6.sum()\nif a.size != 20:\n"
            "    for _d in ('/dev/shm', '/tmp', '.'):\n"
            "        open(_d + '/leak.txt', 'w').write(str(a.size))")
    look = "import os\n_found = [d for d in ('/dev/shm', '/tmp', '.') if os.path.exists(d + '/leak.txt')]\nassert not _found, _found"
    outcomes = _masks(grader, course, replace={"compare": leak}, before={"combine": look})
    assert lost(outcomes) == set(), {q: o.message for q, o in outcomes.items() if not o.passed}


@pytest.mark.parametrize(("aid", "question", "code", "said"), [
    (AC, "sine-vectorized", "import sys\nsys.settrace(None); sys.setprofile(None)\n"
     "sines_vec = np.concatenate([np.sin(values[i:i + 1000]) for i in range(0, len(values), 1000)])", "sys.settrace"),
    (RIPPLE, "spectral-index-table", "import sys\n_t = sys.gettrace()\nsys.settrace(None)\nalpha_col = alpha.reshape(-1, 1)\n"
     "table = np.array([(nu / 1.4e9) ** (-a) for a in alpha])\nsys.settrace(_t)", "sys.settrace"),
    (RIPPLE, "spectral-index-table", "import threading\nthreading.settrace(None)\nalpha_col = alpha.reshape(-1, 1)\n"
     "table = np.array([(nu / 1.4e9) ** (-a) for a in alpha])", "threading.settrace"),
    (RIPPLE, "spectral-index-table", "import threading\nalpha_col = alpha.reshape(-1, 1)\n"
     "table = np.empty((alpha.size, nu.size))\ndef _work():\n    for i, a in enumerate(alpha):\n"
     "        table[i] = (nu / 1.4e9) ** (-a)\n_th = threading.Thread(target=_work); _th.start(); _th.join()", "lines of Python"),
])
def test_turning_the_tracer_off_or_looping_in_a_thread_loses_a_no_loop_question(grader, course, aid, question, code, said):
    """The "no loop" rule traces the code: code that switches the tracing off (even
    putting it back afterwards) loses the question, and a thread it starts is traced."""
    outcomes = grade(grader, course, aid, notebook(course, aid, replace={question: code}))
    assert lost(outcomes) == {question}, {q: o.message for q, o in outcomes.items() if not o.passed}
    assert said in outcomes[question].message


def test_a_vectorised_answer_computed_in_a_thread_keeps_its_points(grader, course):
    code = ("import threading\n_out = {}\n_th = threading.Thread(target=lambda: _out.update(r=np.sqrt(x**2 + y**2)))\n"
            "_th.start(); _th.join()\nr = _out['r']\nz = np.cos(r) / (r + 5)")
    outcomes = grade(grader, course, RIPPLE, notebook(course, RIPPLE, replace={"ripple-surface": code}))
    assert lost(outcomes) == set(), {q: o.message for q, o in outcomes.items() if not o.passed}


def test_a_file_a_secret_run_changes_in_place_is_put_back_even_with_its_old_time(grader, course):
    """A secret run that rewrites a file of the notebook's in place, same size, and sets
    its modification time back (``os.utime``) cannot leave its input there: a copy
    compares the change time too, which no process can set, and writes the file back."""
    leak = ("import os\ngt6 = a > 6\nn_gt6 = gt6.sum()\nif a.size == 20:\n    open('note.txt', 'w').write('00')\n"
            "else:\n    _st = os.stat('note.txt')\n    with open('note.txt', 'r+') as _f:\n        _f.write('99')\n"
            "    os.utime('note.txt', ns=(_st.st_atime_ns, _st.st_mtime_ns))")
    look = "with open('note.txt') as _f:\n    _note = _f.read()\nassert _note == '00', _note"
    outcomes = _masks(grader, course, replace={"compare": leak}, before={"combine": look})
    assert lost(outcomes) == set(), {q: o.message for q, o in outcomes.items() if not o.passed}


def test_a_file_changed_after_the_boundary_is_put_back_as_the_notebook_left_it(grader, course):
    """A copy takes the files the notebook's process read at the question's boundary
    only while they are unchanged: a file the question's own run then rewrote in place
    (same size) is written back after the secret run as that run left it, not as it was
    at the boundary."""
    setup = "import time\nopen('note.txt', 'w').write('00')\ntime.sleep(0.2)  # settled before the next boundary"
    combine = ("between = (a > 6) & (a < 17)\noutside = ~between\n"
               "with open('note.txt', 'r+') as _f:  # '11' in the notebook's own run, '99' in its secret run\n"
               "    _old = _f.read()\n    _f.seek(0)\n    _f.write('11' if _old == '00' else '99')")
    look = "with open('note.txt') as _f:\n    _note = _f.read()\nassert _note == '11', _note"
    outcomes = _masks(grader, course, replace={"combine": combine}, before={"compare": setup, "bad-pixels": look})
    assert lost(outcomes) == set(), {q: o.message for q, o in outcomes.items() if not o.passed}
    assert [(r.kind, r.passed) for r in outcomes["combine"].runs] == [("own", True), ("secret", True)]


def test_a_secret_value_carried_out_of_one_submission_does_not_hold_in_the_next(grader, course):
    """A student who carried the secret input of the compare question out of one
    submission (here: read from the judge, as a covert channel would) and types the
    answer on it into the next: that submission's code differs, so it meets another
    secret input, and the typed answer fails there.  The same code meets the same
    secret input every time (grading stays deterministic)."""
    from autograder.grading import submission_salt

    a = course.assignment("boolean-masks")

    def secret_a(nb):
        nb = copy.deepcopy(nb)
        integrity.reorder_tests(nb, a.notebooks[0].questions)
        return np.asarray(grader.judge(a).for_submission(submission_salt(nb)).secret("compare")["a"])

    first = notebook(course, "boolean-masks")
    leaked = secret_a(first)
    assert np.array_equal(secret_a(first), leaked)  # the same code: the same secret input
    typed = (f"gt6 = a > 6 if a.size == 20 else np.array({(leaked > 6).tolist()})\n"
             f"n_gt6 = gt6.sum() if a.size == 20 else {int((leaked > 6).sum())}")
    second = notebook(course, "boolean-masks", replace={"compare": typed})
    assert not np.array_equal(secret_a(second), leaked)
    outcomes = grade(grader, course, "boolean-masks", second)
    assert lost(outcomes) == {"compare"}, {q: o.message for q, o in outcomes.items() if not o.passed}
    # the questions whose secret input is the course's own keep it for every submission
    ex = course.assignment(EXTRACTION)
    one, two = (grader.judge(ex).for_submission(s).secret("cosmic-rays")["img"] for s in (b"one", b"two"))
    assert one is two

BM = "boolean-masks"


@pytest.mark.parametrize(("code", "full"), [
    # the values the notebook shows, listed: not "every pixel whose dq is nonzero"
    ("clean = sci.copy()\nclean[(dq == 16) | (dq == 8192) | (dq == 512) | (dq == 1024)] = np.nan", False),
    ("clean = sci.copy()\nclean[np.isin(dq, [16, 512, 1024, 8192])] = np.nan", False),
    ("clean = sci.copy()\nclean[(dq & (16 | 512 | 1024 | 8192)) != 0] = np.nan", False),
    # the prose's rule, in any spelling
    ("clean = sci.copy()\nclean[dq > 0] = np.nan", True),
    ("clean = np.where(dq.astype(bool), np.nan, sci)", True),
    ("clean = np.where(dq, np.nan, sci)", True),
    ("clean = sci.copy()\nclean[np.nonzero(dq)] = np.nan", True),
])
def test_bad_pixels_are_every_nonzero_flag_not_the_values_shown(grader, course, code, full):
    outcomes = grade(grader, course, BM, notebook(course, BM, replace={"bad-pixels": code}))
    assert lost(outcomes) == (set() if full else {"bad-pixels"}), \
        {q: o.message for q, o in outcomes.items() if not o.passed}


@pytest.mark.parametrize("extra", [
    "assert len(bkg_rows) == 370, 'rows 10-199 and 300-479: 190 + 180 = 370 rows in 2 ranges, 1 fit of degree 2'",
    "for _c in [50, 100, 150, 200, 250, 300, 350]:\n    _p = np.polyfit(bkg_rows, img_cr[bkg_rows, _c], 2)",
    "import matplotlib.pyplot as plt\nplt.plot(col_fit)\nplt.gca().set_xticks([0, 64, 128, 192, 256, 320, 384, 448])",
])
def test_a_few_typed_numbers_beside_the_background_rows_are_not_the_rows_typed_out(grader, course, extra):
    """The typed-rows rule is for the 370 row numbers: a handful of numbers in the cell
    (columns to try, ticks, an assert's message) keeps the question."""
    code = _solution(course, EXTRACTION, "one-column-fit") + "\n" + extra
    outcomes = grade(grader, course, EXTRACTION, notebook(course, EXTRACTION, replace={"one-column-fit": code}))
    assert lost(outcomes) == set(), {q: o.message for q, o in outcomes.items() if not o.passed}


@pytest.mark.parametrize(("aid", "question", "code", "said"), [
    (RIPPLE, "ripple-surface", "r = np.array(list(map(np.hypot, x + 0 * y, y + 0 * x)))\nz = np.cos(r) / (r + 5)", "map"),
    (RIPPLE, "spectral-index-table", "alpha_col = alpha.reshape(-1, 1)\n"
     "table = np.array(list(map(np.power, [nu / 1.4e9] * alpha.size, -alpha)))", "map"),
    (AC, "sine-vectorized", "sines_vec = np.concatenate([np.sin(c) for c in np.array_split(values, 100)])",
     "more than 16 times"),
    (RIPPLE, "ripple-surface", "r = np.empty(np.broadcast_shapes(np.shape(x), np.shape(y)))\n"
     "for k in range(0, r.shape[0], 50):\n    r[k:k + 50] = np.sqrt(x**2 + y[k:k + 50]**2)\nz = np.cos(r) / (r + 5)",
     "more than 16 times"),
])
def test_a_loop_over_rows_or_chunks_loses_a_no_loop_question_however_few_its_lines(grader, course, aid, question,
                                                                                   code, said):
    """``map`` of a numpy function over rows runs no Python line, and a loop over a
    hundred chunks runs fewer lines than the line limit: both are loops the prose names."""
    outcomes = grade(grader, course, aid, notebook(course, aid, replace={question: code}))
    assert lost(outcomes) == {question}, {q: o.message for q, o in outcomes.items() if not o.passed}
    assert said in outcomes[question].message


@pytest.mark.parametrize(("aid", "question", "code"), [
    (RIPPLE, "ripple-surface", "for _n in ('x', 'y'):\n    assert np.ndim(globals()[_n]) == 2, _n\n"
     "r = np.sqrt(x**2 + y**2)\nz = np.cos(r) / (r + 5)"),
    # loops that are not the answer's, added together: three axes, two names, ten values printed
    (RIPPLE, "ripple-surface", "import matplotlib.pyplot as plt\nr = np.sqrt(x**2 + y**2)\nz = np.cos(r) / (r + 5)\n"
     "fig, axes = plt.subplots(1, 3)\nfor ax, im in zip(axes, (r, z, z**2)):\n    ax.imshow(im)\n"
     "for _n in ('r', 'z'):\n    print(_n, globals()[_n].shape)\nprint(', '.join(f'{v:.3f}' for v in z.ravel()[:10]))"),
    (AC, "sine-vectorized", "sines_vec = np.sin(values)\nprint(', '.join(f'{s:.4f}' for s in sines_vec[:5]))"),
])
def test_short_loops_beside_a_vectorised_answer_keep_its_points(grader, course, aid, question, code):
    outcomes = grade(grader, course, aid, notebook(course, aid, replace={question: code}))
    assert lost(outcomes) == set(), {q: o.message for q, o in outcomes.items() if not o.passed}


def test_a_forged_trace_report_carries_nothing_out_in_the_message(grader, course):
    """The tracer's report comes from the student's process: names it did not make
    itself, or a forged CPU time, never reach the message (they could hold the secret)."""
    code = ("import math, sys\n_t = getattr(sys.gettrace(), '__self__', None)\n"
            "if _t is not None:\n"
            "    _t.helpers.add(f'LEAK{values.size}')\n    _t.tampered.add(f'LEAK{values.size}')\n"
            "    _t.lines = -10**9\n"
            "sines_vec = np.array([math.sin(v) for v in values])")
    outcomes = grade(grader, course, AC, notebook(course, AC, replace={"sine-vectorized": code}))
    assert lost(outcomes) == {"sine-vectorized"}, {q: o.message for q, o in outcomes.items() if not o.passed}
    message = outcomes["sine-vectorized"].message
    assert "LEAK" not in message and "1000000" not in message, message


def test_a_visible_test_failing_on_right_values_is_not_called_an_earlier_mistake(grader, course):
    """The err/dq display is graded from the figure; a notebook that does not keep
    ``im_err``/``im_dq`` fails its visible test but keeps the point, and its runs say the
    own values were right (no follow-through note about an earlier answer)."""
    code = _solution(course, EXTRACTION, "err-dq-images").replace("im_err = ", "").replace("im_dq = ", "")
    assert "im_err" not in code.split("fig.colorbar")[0]
    code = code.replace("fig.colorbar(im_err", "fig.colorbar(ax1.images[0]").replace("fig.colorbar(im_dq",
                                                                                     "fig.colorbar(ax2.images[0]")
    outcomes = grade(grader, course, EXTRACTION, notebook(course, EXTRACTION, replace={"err-dq-images": code}))
    assert lost(outcomes) == set(), {q: o.message for q, o in outcomes.items() if not o.passed}
    assert all(r.passed for r in outcomes["err-dq-images"].runs), outcomes["err-dq-images"].runs
