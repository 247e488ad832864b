"""Visible tests that teach: for every question of course.yml, a typical wrong answer is
caught by the question's own visible test cell, before the student submits.

Each source notebook runs top to bottom in one namespace (locally: visible tests are
plain asserts, no sandbox needed).  At a question's solution cell, every wrong answer of
:data:`WRONG` for it runs in a copy of the namespace instead of the solution, with the
cell's given lines kept; the wrong answer must run without error and the question's test
cell must then fail.  The table is keyed by question id and must cover course.yml:
a question added without a wrong answer here fails :func:`test_every_question_has_a_wrong_answer`.
Questions graded by hand have no visible test: their entry is :data:`BY_HAND`.
"""

from __future__ import annotations

import copy
import re
import sys
import types
import warnings

import matplotlib
import nbformat
import numpy as np
import pytest

from autograder.config import load_course

from .conftest import ROOT, needs_data

matplotlib.use("Agg")

BY_HAND = "graded by hand: no visible test"

# question id -> typical wrong answers (code that replaces the solution block)
WRONG: dict[str, list[str] | str] = {
    # array-creation
    "sine-loop": ["values = rng.random(N)\nsines_loop = []\nfor v in values:\n    sines_loop = [math.sin(v)]"],
    "sine-vectorized": ["sines_vec = np.sin(rng.random(N))"],
    "ranges": ["exptimes = np.array(exposure_list)\npixels = np.arange(511)\nwave = np.linspace(2900.0, 5700.0, 511)\n"
               "freqs = np.linspace(1e8, 1e11, 7)",
               "exptimes = np.array(exposure_list)\npixels = np.arange(511)\nwave = np.arange(2900.0, 5700.0, 5.49)\n"
               "freqs = np.logspace(8, 11, 7)",
               "exptimes = np.array(exposure_list)\npixels = np.arange(1, 512)\nwave = np.linspace(2900.0, 5700.0, 511)\n"
               "freqs = np.logspace(8, 11, 7)"],
    "grids-and-fills": ["yy, xx = np.mgrid[0:4, 0:6]\nflat = np.ones((512, 511))\ndq_good = np.zeros((512, 511))\n"
                        "sky = np.zeros_like(flat)"],
    "reshape": ["stamp = np.arange(20).reshape(5, 4)\nstamp_col = stamp.reshape(-1, 1)",
                "stamp = np.arange(20).reshape(4, 5)\nstamp_col = stamp.reshape(1, -1)"],
    "arithmetic": ["rate = counts / exptime\nsnr = counts / np.sqrt(counts)\ntwice_list = [2 * f for f in flux_list]\n"
                   "twice_array = flux * 2"],
    # broadcasting-ripple
    "ripple-grid": ["x = np.arange(-20, 20, 0.25).reshape(1, -1)\ny = x.reshape(-1, 1)"],
    "ripple-surface": ["r = np.sqrt(x**2 + y**2)\nz = np.cos(r) / r + 5"],
    "ripple-image": ["plt.figure()\nim = plt.imshow(z)"],
    "spectral-index-table": ["alpha_col = alpha.reshape(-1, 1)\ntable = (nu / 1.4e9) ** alpha_col"],
    # slicing
    "elements": ["pix = img[300, 254]\nlast_pix = img[-1, -1]"],
    "rows-and-columns": ["profile_300 = img[300, :]\nrow_254 = img[:, 254]"],
    "strided": ["err_samples = err[254, 10:199:3]", "err_samples = err[254, 10:200]"],
    "dq-block": ["dq_block = dq[251:253, 101:104]"],
    "better-spectrum": ["spectrum_src = img[250:260].mean(axis=0)"],
    # boolean-masks
    "compare": ["gt6 = a >= 6\nn_gt6 = gt6.sum()", "gt6 = a > 6\nn_gt6 = gt6.size"],
    "combine": ["between = (a > 6) | (a < 17)\noutside = ~between"],
    "bad-pixels": ["clean = sci\nclean[dq != 0] = np.nan"],
    "disk-mask": ["in_disk = (x - 10)**2 + (y - 15)**2 <= 10**2"],
    "zero-disk": ["z_disk = z\nz_disk[in_disk] = 0"],
    # copy-vs-view
    "alias-and-copy": ["same = frame\nbackup = frame"],
    "views": ["row = frame[1].copy()\ncol = frame[:, 2].copy()"],
    "new-arrays": ["doubled = frame * 2\npicked = frame > 30"],
    "predict": ["pred_spectrum = [5., 0., 0., 0., 34.]\npred_snapshot = [5., 8., 13., 21., 34., 55.]\n"
                "pred_window = [0., 0., 0.]\npred_bright = [21., 34., 55.]"],
    # longslit-extraction
    "read-data": ["with fits.open(path) as hdul:\n    img = hdul['SCI'].data\n    err = hdul['ERR'].data\n"
                  "    dq = hdul['DQ'].data"],
    "err-dq-images": ["err_lo, err_hi = err.min(), err.max()\nim_err = plt.imshow(err, origin='lower')\n"
                      "plt.figure()\nim_dq = plt.imshow(dq, origin='lower')",
                      "err_lo, err_hi = np.percentile(err, [1, 99])\nim_err = plt.imshow(err)\n"
                      "plt.figure()\nim_dq = plt.imshow(dq)"],
    "profile-and-spectrum": ["profile = img.sum(axis=0)\nspectrum_raw = img.sum(axis=1)",
                             "profile = img.mean(axis=1)\nspectrum_raw = img.sum(axis=0)"],
    "source-rows": ["peak_row = int(np.argmax(profile))\nspectrum_src = img[peak_row - 4 : peak_row + 5].sum(axis=0)",
                    "peak_row = int(np.argmax(profile))\nspectrum_src = img[peak_row - 5 : peak_row + 5].sum(axis=0)",
                    "peak_row = profile.max()\nspectrum_src = img[250:260].sum(axis=0)"],
    "cosmic-rays": ["img_sm = scipy.ndimage.median_filter(img, size=5)\nsigma = np.median(err)\n"
                    "bad = np.abs(img - img_sm) > 8 * sigma\nimg_cr = img\nimg_cr[bad] = img_sm[bad]\n"
                    "img_cr[230:280] = img[230:280]",
                    "img_sm = scipy.ndimage.median_filter(img, size=5)\nsigma = np.median(err)\n"
                    "bad = np.abs(img - img_sm) > 8 * sigma\nimg_cr = img.copy()\nimg_cr[bad] = img_sm[bad]"],
    "one-column-fit": ["bkg_rows = np.append(np.arange(10, 199), np.arange(300, 479))\n"
                       "col_fit = np.polyval(np.polyfit(bkg_rows, img_cr[bkg_rows, col], 2), np.arange(512))",
                       "r = np.arange(512)\nbkg_rows = ((r >= 10) & (r < 200)) | ((r >= 300) & (r < 480))\n"
                       "col_fit = np.zeros(512)",
                       "bkg_rows = np.append(np.arange(10, 200), np.arange(300, 480))\n"
                       "col_fit = np.polyfit(bkg_rows, img_cr[bkg_rows, col], 2)"],
    "background": ["coeffs = np.polyfit(bkg_rows, img_cr[bkg_rows], 1)\nrows = np.arange(512)[:, np.newaxis]\n"
                   "bkg = coeffs[0] * rows + coeffs[1]\nimg_bkg = img_cr - bkg",
                   "coeffs = np.polyfit(bkg_rows, img_cr[bkg_rows], 2)\nrows = np.arange(512)[:, np.newaxis]\n"
                   "bkg = coeffs[0] * rows**2 + coeffs[1] * rows + coeffs[2]\nimg_bkg = bkg - img_cr"],
    "final-spectrum": ["spectrum_final = img_bkg[peak_row - 4 : peak_row + 5].sum(axis=0)",
                       "spectrum_final = img_cr[peak_row - 4 : peak_row + 6].sum(axis=0)"],
    "wavelength": ["columns = np.arange(img.shape[1])\n"
                   "wavelength = hdr['CRVAL1'] + hdr['CD1_1'] * (columns - hdr['CRPIX1'])",
                   "columns = np.arange(img.shape[1])\n"
                   "wavelength = 1e-10 * (hdr['CRVAL1'] + hdr['CD1_1'] * (columns + 1 - hdr['CRPIX1']))"],
    "redshift": ["z_measured = 299792.458 * (wavelength[np.argmax(spectrum_final)] / 5006.84 - 1)",
                 "z_measured = wavelength[np.argmax(spectrum_final)] / 5006.84"],
    "redshift-offset": BY_HAND,
}

COURSE = load_course(ROOT, check_files=False)
QUESTIONS = {q.id: (a.id, q) for a in COURSE.assignments for q in a.questions}
SOLUTION = re.compile(r"### BEGIN SOLUTION\n.*?### END SOLUTION\n?", re.S)


def test_every_question_has_a_wrong_answer():
    missing = set(QUESTIONS) - set(WRONG)
    assert not missing, f"questions of course.yml with no typical wrong answer here: {sorted(missing)}"
    assert not set(WRONG) - set(QUESTIONS), "wrong answers of questions course.yml does not have"
    for qid, (_, q) in QUESTIONS.items():
        assert (WRONG[qid] == BY_HAND) == q.manual, qid
        assert q.manual or WRONG[qid], qid


def _copy_namespace(ns: dict) -> dict:
    out = {}
    for k, v in ns.items():
        if isinstance(v, types.ModuleType) or callable(v) and not isinstance(v, np.ndarray) or k == "__builtins__":
            out[k] = v
        else:
            try:
                out[k] = copy.deepcopy(v)
            except Exception:  # noqa: BLE001 - figures, files: shared as they are
                out[k] = v
    return out


def _run(src: str, ns: dict, where: str) -> None:
    src = "\n".join(line for line in src.splitlines() if not line.lstrip().startswith(("%", "!")))
    exec(compile(src, where, "exec"), ns)  # noqa: S102 - the course's own notebooks


@needs_data
@pytest.mark.parametrize("assignment", [a.id for a in COURSE.assignments])
def test_visible_tests_catch_a_typical_wrong_answer(assignment, tmp_path, monkeypatch, data_file):
    import matplotlib.pyplot as plt

    (tmp_path / data_file.name).symlink_to(data_file)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT))
    monkeypatch.delitem(sys.modules, "course_data", raising=False)
    a = COURSE.assignment(assignment)
    nb = nbformat.read(COURSE.source_notebook(a, a.notebooks[0]), as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code"]
    ns: dict = {"__name__": "__main__"}
    checked, escaped = set(), []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, cell in enumerate(cells):
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            wrong = WRONG.get(gid) if cell.metadata.get("nbgrader", {}).get("solution") else None
            if isinstance(wrong, list):
                test = next(c for c in cells[i + 1:] if c.metadata.get("nbgrader", {}).get("grade"))
                assert test.metadata.nbgrader.grade_id == f"{gid}-test"
                for code in wrong:
                    trial = _copy_namespace(ns)
                    plt.close("all")
                    # the wrong answer itself runs (it is wrong, not broken) ...
                    _run(SOLUTION.sub(lambda m, code=code: code + "\n", cell.source), trial, f"<{gid}: wrong>")
                    try:  # ... and the question's visible test cell says so
                        _run(test.source, trial, f"<{gid}-test>")
                    except Exception:  # noqa: BLE001 - an assertion, or an error on a wrong type
                        continue
                    escaped.append((gid, code))
                checked.add(gid)
                plt.close("all")
            _run(cell.source, ns, f"<cell {cell.get('id')}>")
    plt.close("all")
    assert not escaped, f"wrong answers the visible tests let through: {escaped}"
    assert checked == {q.id for q in a.questions if not q.manual}


@pytest.mark.parametrize("drawn, says", [
    ("plt.imshow(z, origin='lower')", "`im` is not defined: keep what plt.imshow returns"),
    ("im = plt.pcolormesh(z)", "`im` is a QuadMesh, not the image plt.imshow returns"),
    ("im = plt.contourf(z)", "`im` is a QuadContourSet, not the image plt.imshow returns"),
    ("im = plt.imshow(z, origin='lower')", None),
])
def test_the_image_test_names_what_is_wrong_with_im(drawn, says):
    """The drawing question's visible test says what it needs of ``im`` rather than
    failing with a NameError or an AttributeError (the grader itself looks at the figure:
    an image not kept in ``im`` still scores)."""
    import matplotlib.pyplot as plt

    a = COURSE.assignment("broadcasting-ripple")
    nb = nbformat.read(COURSE.source_notebook(a, a.notebooks[0]), as_version=4)
    test = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "ripple-image-test")
    x = np.arange(-20, 20, 0.25)
    ns = {"np": np, "plt": plt, "z": np.cos(np.hypot(x, x[:, None])) / (np.hypot(x, x[:, None]) + 5)}
    try:
        _run(drawn, ns, "<answer>")
        if says is None:
            _run(test.source, ns, "<ripple-image-test>")
        else:
            with pytest.raises(AssertionError, match=re.escape(says)):
                _run(test.source, ns, "<ripple-image-test>")
    finally:
        plt.close("all")
