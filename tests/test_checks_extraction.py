"""Hidden checks of ``longslit-extraction``, driven like the grader drives them.

A "student" is emulated by :func:`student`: it runs the reduction step by step in one
namespace, the way the notebook does, and judges every question right after the step
that defines its names, from the same runs the grader makes (see
:mod:`autograder.grading`): its own run, a rerun of the question's step with the
reference inputs in place of the student's (when the own run fails), and a rerun on
the question's secret input, each from a copy of the namespace taken before the step.
A case changes one step, and everything after it is recomputed from the changed
values, as in a real notebook.  Then:

* the right answer passes every question, on every run, with an empty message;
* every wrong answer fails its own question with a message that names the variable and
  shows no expected value, and (unless stated) every other question still passes;
* every valid alternative passes every question;
* the source notebook, executed top to bottom in one namespace, passes its visible test
  cells and every hidden check.
"""

from __future__ import annotations

import copy
import gzip
import io
import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import scipy.ndimage  # noqa: E402
import scipy.signal  # noqa: E402
from astropy.io import fits  # noqa: E402

from autograder.checks import FILE, Judge, spec_for  # noqa: E402
from autograder.config import load_course  # noqa: E402
from autograder.results import Run  # noqa: E402
from autograder.sandbox.capture import local_figures, local_value  # noqa: E402

DATA = Path(os.environ.get("COURSE_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data")) / "3c120_stis.fits.gz"
pytestmark = pytest.mark.skipif(not DATA.is_file(), reason=f"course data file not found at {DATA}")

ASSIGNMENT = "longslit-extraction"
NOTEBOOK = ROOT / "source" / ASSIGNMENT / "extraction.ipynb"
ORDER = [q.id for q in load_course(ROOT, check_files=False).assignment(ASSIGNMENT).questions if not q.manual]
REST = {"[O III] 5007": 5006.84, "[O III] 4959": 4958.91, "H-beta": 4861.33}


# ------------------------------------------------------------------------ plumbing
@pytest.fixture(scope="module")
def course():
    return load_course(ROOT, check_files=False)


@pytest.fixture(scope="module")
def questions(course):
    a = course.assignment(ASSIGNMENT)
    return {q.id: (q, course.tolerance(q)) for q in a.questions}


@pytest.fixture(scope="module")
def judge():
    return Judge(ASSIGNMENT, DATA, b"the tests' own secret")


@pytest.fixture(scope="module")
def ref(judge):
    return judge.reference()["extraction"]


@pytest.fixture(scope="module")
def raw():
    """The file's arrays as read (big-endian) and the SCI header, read once."""
    with fits.open(DATA) as hdul:
        return {"SCI": hdul["SCI"].data.copy(), "ERR": hdul["ERR"].data.copy(), "DQ": hdul["DQ"].data.copy(),
                "hdr": hdul["SCI"].header.copy()}


def verdict(judge, questions, qid, ns, figures=None, run="own"):
    """One question's hidden check on the names of ``ns``, as the grader captures them."""
    q, tol = questions[qid]
    names = list(dict.fromkeys([*q.names, *spec_for(ASSIGNMENT, qid).watch]))
    return judge.verdict(q, {n: local_value(n, ns) for n in names}, tolerance=tol, figures=figures or [], run=run)


def _file_of(inputs: dict, raw: dict) -> dict:
    """The data file a run reads: the secret one when the run has one."""
    data = inputs.get(FILE + "3c120_stis.fits.gz")
    if data is None:
        return raw
    assert data[:2] == b"\x1f\x8b", "the secret file is gzipped, as the course file is"
    with fits.open(io.BytesIO(gzip.decompress(data))) as hdul:
        return {"SCI": hdul["SCI"].data.copy(), "ERR": hdul["ERR"].data.copy(), "DQ": hdul["DQ"].data.copy(),
                "hdr": hdul["SCI"].header.copy()}


def spectrum_figure(x, y):
    """The figures a student who plots ``y`` against ``x`` leaves for the grader."""
    plt.close("all")
    fig, ax = plt.subplots()
    ax.plot(x, y)
    ax.set_xlabel("wavelength [Angstrom]")
    figs = local_figures(plt)
    plt.close(fig)
    return figs


def image_figure(err, dq, *, origin="lower", transpose=False):
    """The figures a student who draws ``err`` and ``dq`` with imshow leaves for the grader."""
    plt.close("all")
    fig, (ax1, ax2) = plt.subplots(1, 2)
    ax1.imshow(err.T if transpose else err, origin=origin)
    ax2.imshow(dq, origin=origin)
    figs = local_figures(plt)
    plt.close(fig)
    return figs


def measure_z(wavelength, spectrum):
    """The notebook's redshift method (peak, then centroids above a linear continuum)."""
    peak = np.argmax(spectrum)
    z_rough = wavelength[peak] / REST["[O III] 5007"] - 1
    zs = []
    for rest in REST.values():
        i = int(np.argmin(np.abs(wavelength - rest * (1 + z_rough))))
        i += int(np.argmax(spectrum[i - 2 : i + 3])) - 2
        w, f = wavelength[i - 3 : i + 4], spectrum[i - 3 : i + 4]
        net = f - np.linspace(f[0], f[-1], f.size)
        zs.append(float(np.sum(w * net) / np.sum(net) / rest - 1))
    return float(np.mean(zs))


# --------------------------------------------------------------- the default steps
def s_read(ns, raw):
    return {"img": raw["SCI"].astype(float), "err": raw["ERR"].astype(float), "dq": raw["DQ"].astype(np.int16)}


def s_profile(ns, raw):
    return {"profile": ns["img"].sum(axis=1), "spectrum_raw": ns["img"].sum(axis=0)}


def s_err_dq(ns, raw):
    err, dq = ns["err"], ns["dq"]
    err_lo, err_hi = np.percentile(err, [1, 99])
    return {"err_lo": err_lo, "err_hi": err_hi, "_figures": image_figure(err, dq)}


def s_source(ns, raw):
    peak_row = int(np.argmax(ns["profile"]))
    return {"peak_row": peak_row, "spectrum_src": ns["img"][peak_row - 4 : peak_row + 6].sum(axis=0)}


def cosmic(img, err, smooth=lambda a: scipy.signal.medfilt(a, 5)):
    img_sm = smooth(img)
    sigma = np.median(err)
    bad = np.abs(img - img_sm) > 8 * sigma
    img_cr = img.copy()
    img_cr[bad] = img_sm[bad]
    img_cr[230:280] = img[230:280]
    return {"img_sm": img_sm, "sigma": sigma, "bad": bad, "img_cr": img_cr}


def s_cosmic(ns, raw):
    return cosmic(ns["img"], ns["err"])


def fit_bkg(img_cr, rows, deg=2):
    coeffs = np.polyfit(rows, img_cr[rows], deg)
    r = np.arange(img_cr.shape[0])[:, np.newaxis]
    return sum(c * r ** (deg - k) for k, c in enumerate(coeffs))


def s_one_column(ns, raw):
    col = ns.setdefault("col", 100)  # the given cell before the answer (a rerun puts its own col in place)
    rows = np.append(np.arange(10, 200), np.arange(300, 480))
    col_fit = np.polyval(np.polyfit(rows, ns["img_cr"][rows, col], 2), np.arange(ns["img_cr"].shape[0]))
    return {"bkg_rows": rows, "col_fit": col_fit}


def s_background(ns, raw):
    bkg = fit_bkg(ns["img_cr"], ns["bkg_rows"])
    return {"bkg": bkg, "img_bkg": ns["img_cr"] - bkg}


def s_final(ns, raw):
    p = ns["peak_row"]
    return {"spectrum_final": ns["img_bkg"][p - 4 : p + 6].sum(axis=0)}


def s_wavelength(ns, raw):
    h = raw["hdr"]
    wl = h["CRVAL1"] + h["CD1_1"] * (np.arange(ns["img"].shape[1]) + 1 - h["CRPIX1"])
    return {"wavelength": wl, "_figures": spectrum_figure(wl, ns["spectrum_final"])}


def s_redshift(ns, raw):
    return {"z_measured": measure_z(ns["wavelength"], ns["spectrum_final"])}


STEPS = {"read-data": s_read, "err-dq-images": s_err_dq, "profile-and-spectrum": s_profile, "source-rows": s_source,
         "cosmic-rays": s_cosmic, "one-column-fit": s_one_column, "background": s_background, "final-spectrum": s_final, "wavelength": s_wavelength, "redshift": s_redshift}


class Judged:
    """A question's verdict, with the runs that made it (as the grader combines them)."""

    def __init__(self, outcome, runs):
        self.passed, self.message, self.runs = outcome.passed, outcome.message, runs


def _run(step, ns, raw):
    try:  # a step that raises is a notebook cell that stopped with an error
        ns.update(step(ns, raw))
    except Exception:
        pass


def student(questions, raw, changes=None, judge=None):
    """Run the reduction with ``changes`` (qid -> step(ns, raw) -> dict, applied after
    the default step of that question); judge each question when its names exist, from
    its own run and its reruns on the reference and the secret inputs."""
    judge = judge or JUDGE
    changes = changes or {}
    ns: dict = {}
    results = {}
    for qid in ORDER:
        steps = [s for s in (STEPS[qid], changes.get(qid)) if s is not None]
        spec = judge.spec(qid)
        before = copy.deepcopy(ns)
        for step in steps:
            _run(step, ns, raw)
        own = verdict(judge, questions, qid, ns, ns.pop("_figures", None))
        outcome, runs = own, [Run("own", own.passed)]
        for kind in (["reference"] if not own.passed and spec.inputs else []) + (["secret"] if spec.secret else []):
            if kind == "secret" and not outcome.passed:
                break
            inputs = judge.secret(qid) if kind == "secret" else judge.reference()
            again = copy.deepcopy(before)
            again.update({n: copy.deepcopy(inputs[n]) for n in spec.inputs})
            for step in steps:
                _run(step, again, _file_of(inputs, raw) if kind == "secret" else raw)
            result = verdict(judge, questions, qid, again, again.pop("_figures", None), run=kind)
            runs.append(Run(kind, result.passed))
            if kind == "reference" and result.passed or kind == "secret" and not result.passed:
                outcome = result
        results[qid] = Judged(outcome, runs)
    return results


JUDGE = Judge(ASSIGNMENT, DATA, b"the tests' own secret") if DATA.is_file() else None


@pytest.fixture(scope="module")
def right(questions, raw):
    return student(questions, raw)


# ----------------------------------------------------------------- the right answer
def test_secret_inputs_differ_from_the_reference_and_are_stable(judge):
    """Every question with a secret has one that changes its answer, the same each time."""
    again = Judge(ASSIGNMENT, DATA, b"the tests' own secret")
    other = Judge(ASSIGNMENT, DATA, b"another course")
    for qid in ORDER:
        spec = judge.spec(qid)
        assert spec.secret is not None, qid
        secret, base = judge.secret(qid), judge.reference()
        changed = [k for k in secret if k not in base or not _same(secret[k], base[k])]
        assert changed, qid
        assert all(_same(again.secret(qid)[k], secret[k]) for k in changed), qid
        assert any(not _same(other.secret(qid)[k], secret[k]) for k in changed), qid


def _same(a, b) -> bool:
    if isinstance(a, bytes | dict) or isinstance(b, bytes | dict):
        return a == b
    return np.array_equal(np.asarray(a), np.asarray(b))


def test_right_answer_passes_every_question(right):
    assert set(right) == set(ORDER)
    for qid, res in right.items():
        assert res.passed, f"{qid}: {res.message}"
        assert res.message == ""
        assert [r.kind for r in res.runs] == ["own", "secret"] and all(r.passed for r in res.runs), qid


def test_every_question_has_a_check_and_course_entry(questions):
    assert [qid for qid, (q, _) in questions.items() if not q.manual] == ORDER
    for qid in ORDER:
        spec_for(ASSIGNMENT, qid)


# -------------------------------------------------------------------- wrong answers
def _no_copy(ns, raw):
    """img_cr = img (no copy): the cleaning changes img too."""
    img_cr = ns["img"]
    bad = ns["bad"]
    img_cr[bad] = ns["img_sm"][bad]
    img_cr[230:280] = img_cr[230:280]
    return {"img_cr": img_cr}


def _cosmic_with(**kw):
    """Redo the cosmic-ray step with one ingredient changed (and the rest from it)."""

    def step(ns, raw):
        img = ns["img"]
        img_sm = kw.get("smooth", lambda a: scipy.signal.medfilt(a, 5))(img)
        sigma = kw.get("sigma", lambda e: np.median(e))(ns["err"])
        bad = kw.get("mask", lambda i, s, sg: np.abs(i - s) > 8 * sg)(img, img_sm, sigma)
        img_cr = kw.get("clean", _clean)(img, img_sm, bad)
        return {"img_sm": img_sm, "sigma": sigma, "bad": bad, "img_cr": img_cr}

    return step


def _clean(img, img_sm, bad):
    img_cr = img.copy()
    img_cr[bad] = img_sm[bad]
    img_cr[230:280] = img[230:280]
    return img_cr


def _clean_unprotected(img, img_sm, bad):
    img_cr = img.copy()
    img_cr[bad] = img_sm[bad]
    return img_cr


def _clean_zero(img, img_sm, bad):
    img_cr = img.copy()
    img_cr[bad] = 0.0
    img_cr[230:280] = img[230:280]
    return img_cr


def _mask_protected(img, img_sm, sigma):
    bad = np.abs(img - img_sm) > 8 * sigma
    bad[230:280] = False
    return bad


def _bkg_with(fit=None, subtract=None):
    def step(ns, raw):
        r = np.r_[10:200, 300:480]
        bkg = fit_bkg(ns["img_cr"], r) if fit is None else fit(ns["img_cr"])
        img_bkg = ns["img_cr"] - bkg if subtract is None else subtract(ns["img_cr"], bkg)
        return {"bkg": bkg, "img_bkg": img_bkg}

    return step


BKG_ROWS = np.r_[10:200, 300:480]


def _col_fit_with(fit):
    """The one-column fit done another way: ``fit(img_cr, col)`` gives col_fit."""
    return lambda ns, raw: {"col_fit": fit(ns["img_cr"], ns["col"])}


def _col_poly(img_cr, col, rows=BKG_ROWS, deg=2, at=None):
    at = np.arange(img_cr.shape[0]) if at is None else at
    return np.polyval(np.polyfit(rows, img_cr[rows, col], deg), at)


def _source_band(first, stop, func="sum"):
    """spectrum_src from a typed band of rows (and the right peak_row)."""
    return {"source-rows": lambda ns, raw: {"spectrum_src": getattr(ns["img"][first:stop], func)(axis=0)}}


def _wl(func, plot=True):
    def step(ns, raw):
        wl = func(raw["hdr"], ns)
        figs = spectrum_figure(np.asarray(wl, dtype=float), ns["spectrum_final"]) if plot else []
        return {"wavelength": wl, "_figures": figs}

    return step


def _wl_by_hand(h, ns, *, one_based=True):
    i = np.arange(511) + (1 if one_based else 0)
    return h["CRVAL1"] + h["CD1_1"] * (i - h["CRPIX1"])


def _wcs_values(h):
    from astropy.wcs import WCS, FITSFixedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        w = WCS(h).sub([1])
    return w.pixel_to_world_values(np.arange(511))  # metres


def _wl_quantity(h, ns):
    import astropy.units as u

    return _wcs_values(h) * u.m


# (question, label, {qid: step}, variable the message must name, questions allowed to fail too)
WRONG = [
    ("read-data", "img big-endian as read", {"read-data": lambda ns, raw: {"img": raw["SCI"].copy()},
                                              "cosmic-rays": lambda ns, raw: cosmic(ns["img"].astype(float), ns["err"])},
     "img", ()),
    ("read-data", "err big-endian as read", {"read-data": lambda ns, raw: {"err": raw["ERR"].copy()}}, "err", ()),
    ("read-data", "dq converted to float", {"read-data": lambda ns, raw: {"dq": raw["DQ"].astype(float)}}, "dq", ()),
    ("read-data", "ERR read as img", {"read-data": lambda ns, raw: {"img": raw["ERR"].astype(float)}}, "img", None),
    ("read-data", "img as a masked array",
     {"read-data": lambda ns, raw: {"img": np.ma.masked_invalid(raw["SCI"].astype(float))}}, "img", None),
    ("read-data", "img transposed", {"read-data": lambda ns, raw: {"img": raw["SCI"].astype(float).T}}, "img", None),
    ("profile-and-spectrum", "profile along the wrong axis",
     {"profile-and-spectrum": lambda ns, raw: {"profile": ns["img"].sum(axis=0)}}, "profile", ()),
    ("profile-and-spectrum", "names swapped",
     {"profile-and-spectrum": lambda ns, raw: {"profile": ns["img"].sum(axis=0), "spectrum_raw": ns["img"].sum(axis=1)}},
     "profile", ()),
    ("profile-and-spectrum", "mean instead of sum",
     {"profile-and-spectrum": lambda ns, raw: {"spectrum_raw": ns["img"].mean(axis=0)}}, "spectrum_raw", ()),
    ("profile-and-spectrum", "spectrum as a list",
     {"profile-and-spectrum": lambda ns, raw: {"spectrum_raw": [float(c.sum()) for c in ns["img"].T]}},
     "spectrum_raw", ()),
    ("profile-and-spectrum", "NaN in the profile",
     {"profile-and-spectrum": lambda ns, raw: {"profile": np.where(np.arange(512) == 7, np.nan, ns["img"].sum(1))}},
     "profile", ()),
    ("err-dq-images", "minimum and maximum",
     {"err-dq-images": lambda ns, raw: {"err_lo": ns["err"].min(), "err_hi": ns["err"].max()}}, "err_lo", ()),
    ("err-dq-images", "fractions given to np.percentile",
     {"err-dq-images": lambda ns, raw: dict(zip(("err_lo", "err_hi"), np.percentile(ns["err"], [0.01, 0.99])))},
     "err_lo", ()),
    ("err-dq-images", "limits typed in",
     {"err-dq-images": lambda ns, raw: {"err_lo": 4.0, "err_hi": 40.0}}, "err_lo", ()),
    ("err-dq-images", "origin upper",
     {"err-dq-images": lambda ns, raw: {"_figures": image_figure(ns["err"], ns["dq"], origin="upper")}}, "err", ()),
    ("err-dq-images", "err transposed",
     {"err-dq-images": lambda ns, raw: {"_figures": image_figure(ns["err"], ns["dq"], transpose=True)}}, "err", ()),
    ("err-dq-images", "no figure", {"err-dq-images": lambda ns, raw: {"_figures": []}}, "err", ()),
    ("source-rows", "the peak's value, not its row",
     {"source-rows": lambda ns, raw: {"peak_row": float(ns["profile"].max())}}, "peak_row", ()),
    ("source-rows", "the peak row typed in", {"source-rows": lambda ns, raw: {"peak_row": 254}}, "peak_row", ()),
    ("source-rows", "the band typed in", _source_band(250, 260), "spectrum_src", ()),
    ("source-rows", "slice end one short", _source_band(250, 259), "spectrum_src", ()),
    ("source-rows", "wrong axis", {"source-rows": lambda ns, raw: {"spectrum_src": ns["img"][:, 250:260].sum(1)}},
     "spectrum_src", ()),
    ("source-rows", "mean of the rows", _source_band(250, 260, "mean"), "spectrum_src", ()),
    ("source-rows", "masked array",
     {"source-rows": lambda ns, raw: {"spectrum_src": np.ma.masked_invalid(ns["img"][250:260].sum(0))}},
     "spectrum_src", ()),
    ("cosmic-rays", "no copy: img_cr = img", {"cosmic-rays": _no_copy}, "img_cr", ()),
    ("cosmic-rays", "sigma = mean(err)", {"cosmic-rays": _cosmic_with(sigma=np.mean)}, "sigma", ()),
    ("cosmic-rays", "sigma per column", {"cosmic-rays": _cosmic_with(sigma=lambda e: np.median(e, axis=0))},
     "sigma", ()),
    ("cosmic-rays", "sigma as a one-element array",
     {"cosmic-rays": lambda ns, raw: {"sigma": np.array([np.median(ns["err"])])}}, "sigma", ()),
    ("cosmic-rays", "3x3 median", {"cosmic-rays": _cosmic_with(smooth=lambda a: scipy.signal.medfilt(a, 3))},
     "img_sm", ()),
    ("cosmic-rays", "one-sided cut", {"cosmic-rays": _cosmic_with(mask=lambda i, s, sg: (i - s) > 8 * sg)}, "bad", ()),
    ("cosmic-rays", "5 sigma cut", {"cosmic-rays": _cosmic_with(mask=lambda i, s, sg: np.abs(i - s) > 5 * sg)},
     "bad", ()),
    ("cosmic-rays", "protected rows removed from the mask", {"cosmic-rays": _cosmic_with(mask=_mask_protected)},
     "bad", ()),
    ("cosmic-rays", "mask as integers", {"cosmic-rays": lambda ns, raw: {"bad": ns["bad"].astype(int)}}, "bad", ()),
    ("cosmic-rays", "rows 230..279 not protected", {"cosmic-rays": _cosmic_with(clean=_clean_unprotected)},
     "img_cr", ()),
    ("cosmic-rays", "bad pixels set to 0", {"cosmic-rays": _cosmic_with(clean=_clean_zero)}, "img_cr", ()),
    ("one-column-fit", "slice ends excluded",
     {"one-column-fit": lambda ns, raw: {"bkg_rows": np.r_[10:199, 300:479]}}, "bkg_rows", ()),
    ("one-column-fit", "rows as floats",
     {"one-column-fit": lambda ns, raw: {"bkg_rows": BKG_ROWS.astype(float)}}, "bkg_rows", ()),
    ("one-column-fit", "rows as a boolean mask",
     {"one-column-fit": lambda ns, raw: {"bkg_rows": np.isin(np.arange(512), BKG_ROWS)}}, "bkg_rows", ()),
    ("one-column-fit", "straight line", {"one-column-fit": _col_fit_with(lambda a, c: _col_poly(a, c, deg=1))},
     "col_fit", ()),
    ("one-column-fit", "fit over all rows",
     {"one-column-fit": _col_fit_with(lambda a, c: _col_poly(a, c, rows=np.arange(512)))}, "col_fit", ()),
    ("one-column-fit", "coefficients, not the fit",
     {"one-column-fit": _col_fit_with(lambda a, c: np.polyfit(BKG_ROWS, a[BKG_ROWS, c], 2))}, "col_fit", ()),
    ("one-column-fit", "fit only at the background rows",
     {"one-column-fit": _col_fit_with(lambda a, c: _col_poly(a, c, at=BKG_ROWS))}, "col_fit", ()),
    ("one-column-fit", "column typed in", {"one-column-fit": _col_fit_with(lambda a, c: _col_poly(a, 100))},
     "col_fit", ()),
    ("background", "straight-line fit", {"background": _bkg_with(fit=lambda a: fit_bkg(a, np.r_[10:200, 300:480], 1))},
     "bkg", ()),
    ("background", "fit over all rows", {"background": _bkg_with(fit=lambda a: fit_bkg(a, np.arange(512)))}, "bkg", ()),
    ("background", "coefficients, not the model",
     {"background": _bkg_with(fit=lambda a: np.polyfit(np.r_[10:200, 300:480], a[np.r_[10:200, 300:480]], 2),
                              subtract=lambda a, b: a - fit_bkg(a, np.r_[10:200, 300:480]))}, "bkg", ()),
    ("background", "model only at the background rows",
     {"background": _bkg_with(fit=lambda a: fit_bkg(a, np.r_[10:200, 300:480])[np.r_[10:200, 300:480]],
                              subtract=lambda a, b: a - fit_bkg(a, np.r_[10:200, 300:480]))}, "bkg", ()),
    ("background", "subtraction reversed", {"background": _bkg_with(subtract=lambda a, b: b - a)}, "img_bkg", None),
    ("background", "transposed model",
     {"background": lambda ns, raw: {"bkg": np.ascontiguousarray(ns["bkg"].T)}}, "bkg", ()),
    ("final-spectrum", "slice end one short",
     {"final-spectrum": lambda ns, raw: {"spectrum_final": ns["img_bkg"][250:259].sum(0)}}, "spectrum_final", ()),
    ("final-spectrum", "wrong axis",
     {"final-spectrum": lambda ns, raw: {"spectrum_final": ns["img_bkg"][:, 250:260].sum(1)}}, "spectrum_final", None),
    ("final-spectrum", "mean of the rows",
     {"final-spectrum": lambda ns, raw: {"spectrum_final": ns["img_bkg"][250:260].mean(0)}}, "spectrum_final", ()),
    ("final-spectrum", "background not subtracted",
     {"final-spectrum": lambda ns, raw: {"spectrum_final": ns["img_cr"][250:260].sum(0)}}, "spectrum_final", ()),
    # (a redshift measured against rest wavelengths in Angstrom on a metre axis is wrong too)
    ("wavelength", "metres from astropy.wcs", {"wavelength": _wl(lambda h, ns: _wcs_values(h))}, "wavelength",
     ("redshift",)),
    ("wavelength", "0-based pixels", {"wavelength": _wl(lambda h, ns: _wl_by_hand(h, ns, one_based=False))},
     "wavelength", ()),
    ("wavelength", "an astropy Quantity", {"wavelength": _wl(_wl_quantity)}, "wavelength", None),
    ("wavelength", "no plot", {"wavelength": _wl(_wl_by_hand, plot=False)}, "wavelength", ()),
    ("wavelength", "spectrum plotted against column",
     {"wavelength": lambda ns, raw: {"_figures": spectrum_figure(np.arange(511.0), ns["spectrum_final"])}},
     "wavelength", ()),
    ("redshift", "published value typed in", {"redshift": lambda ns, raw: {"z_measured": 0.0330}}, "z_measured", ()),
    ("redshift", "velocity in km/s",
     {"redshift": lambda ns, raw: {"z_measured": 299792.458 * measure_z(ns["wavelength"], ns["spectrum_final"])}},
     "z_measured", ()),
    ("redshift", "line misidentified as H-beta",
     {"redshift": lambda ns, raw: {"z_measured": ns["wavelength"][np.argmax(ns["spectrum_final"])] / 4861.33 - 1}},
     "z_measured", ()),
    ("redshift", "one z per line",
     {"redshift": lambda ns, raw: {"z_measured": np.array([0.0288, 0.0287, 0.0284])}}, "z_measured", ()),
    ("redshift", "NaN", {"redshift": lambda ns, raw: {"z_measured": float("nan")}}, "z_measured", ()),
]


def _secrets(ref, qid):
    """Text that would give the expected answer of ``qid`` away."""
    vals = {
        "read-data": [],
        "profile-and-spectrum": [float(np.max(ref.profile)), float(np.max(ref.spectrum_raw))],
        "err-dq-images": [float(v) for v in np.percentile(ref.err, [1, 99])],
        "source-rows": [float(np.max(ref.spectrum_src))],
        "one-column-fit": [],
        "cosmic-rays": [ref.sigma, float(ref.bad.sum())],
        "background": [],
        "final-spectrum": [float(np.max(ref.spectrum_final))],
        "wavelength": [float(ref.wavelength[0]), float(ref.wavelength[-1])],
        "redshift": [ref.z],
    }[qid]
    out = [f"{v:.4g}" for v in vals] + [f"{v:.3g}" for v in vals if abs(v) < 100]
    if qid in ("background", "one-column-fit"):
        out += ["199", "479", "300"]
    if qid in ("source-rows", "final-spectrum"):
        out += [str(ref.peak_row), "250", "259"]
    if qid == "redshift":
        out += ["0.029", "0.028", "0.033"]
    if qid == "wavelength":
        out += ["4300", "258.7", "5.492"]
    return out


@pytest.mark.parametrize(("qid", "label", "changes", "name", "others"), WRONG, ids=[f"{w[0]}: {w[1]}" for w in WRONG])
def test_wrong_answer_fails_its_own_question(questions, raw, ref, qid, label, changes, name, others):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # mean of a NaN-free array etc.; the student's own code
        results = student(questions, raw, changes)
    res = results[qid]
    assert not res.passed, f"{label}: passed"
    assert f"`{name}`" in res.message, res.message
    for secret in _secrets(ref, qid):
        assert secret not in res.message, (secret, res.message)
    if others is not None:
        failed = {q for q, r in results.items() if not r.passed and q != qid}
        assert failed <= set(others), {q: results[q].message for q in failed}


# ---------------------------------------------------------------------- messages
@pytest.mark.parametrize(
    ("qid", "changes", "words"),
    [
        ("read-data", {"read-data": lambda ns, raw: {"img": raw["SCI"].copy()},
                       "cosmic-rays": lambda ns, raw: cosmic(ns["img"].astype(float), ns["err"])}, "big-endian"),
        ("read-data", {"read-data": lambda ns, raw: {"img": raw["ERR"].astype(float)}}, "ERR extension"),
        ("read-data", {"read-data": lambda ns, raw: {"img": raw["SCI"].astype(float).T}}, "transposed"),
        ("profile-and-spectrum",
         {"profile-and-spectrum": lambda ns, raw: {"profile": ns["img"].sum(axis=0)}}, "wrong axis"),
        ("profile-and-spectrum",
         {"profile-and-spectrum": lambda ns, raw: {"profile": ns["img"].sum(axis=0),
                                                    "spectrum_raw": ns["img"].sum(axis=1)}}, "swapped"),
        ("profile-and-spectrum", {"profile-and-spectrum": lambda ns, raw: {"spectrum_raw": ns["img"].mean(axis=0)}},
         "mean"),
        ("err-dq-images", {"err-dq-images": lambda ns, raw: dict(zip(("err_lo", "err_hi"),
                                                                     np.percentile(ns["err"], [0.01, 0.99])))},
         "percents"),
        ("err-dq-images", {"err-dq-images": lambda ns, raw: {"_figures": image_figure(ns["err"], ns["dq"],
                                                                                      origin="upper")}}, "origin"),
        ("source-rows", {"source-rows": lambda ns, raw: {"peak_row": float(ns["profile"].max())}}, "np.argmax"),
        ("source-rows", _source_band(250, 259), "slice"),
        ("cosmic-rays", {"cosmic-rays": _no_copy}, "copy"),
        ("cosmic-rays", {"cosmic-rays": _cosmic_with(sigma=np.mean)}, "median"),
        ("cosmic-rays", {"cosmic-rays": _cosmic_with(mask=lambda i, s, sg: (i - s) > 8 * sg)}, "np.abs"),
        ("cosmic-rays", {"cosmic-rays": _cosmic_with(mask=_mask_protected)}, "protect"),
        ("cosmic-rays", {"cosmic-rays": _cosmic_with(clean=_clean_unprotected)}, "rows 230..279"),
        ("cosmic-rays", {"cosmic-rays": _cosmic_with(clean=_clean_zero)}, "not by 0"),
        ("one-column-fit", {"one-column-fit": lambda ns, raw: {"bkg_rows": np.r_[10:199, 300:479]}}, "b + 1"),
        ("one-column-fit", {"one-column-fit": lambda ns, raw: {"bkg_rows": np.isin(np.arange(512), BKG_ROWS)}},
         "boolean mask"),
        ("one-column-fit", {"one-column-fit": _col_fit_with(lambda a, c: _col_poly(a, c, deg=1))}, "straight-line"),
        ("one-column-fit", {"one-column-fit": _col_fit_with(lambda a, c: np.polyfit(BKG_ROWS, a[BKG_ROWS, c], 2))},
         "coefficients"),
        ("background", {"background": _bkg_with(fit=lambda a: fit_bkg(a, np.r_[10:200, 300:480], 1))}, "straight-line"),
        ("background", {"background": _bkg_with(fit=lambda a: fit_bkg(a, np.arange(512)))}, "every row"),
        ("background", {"background": _bkg_with(subtract=lambda a, b: b - a)}, "sign"),
        ("final-spectrum", {"final-spectrum": lambda ns, raw: {"spectrum_final": ns["img_bkg"][250:259].sum(0)}},
         "slice"),
        ("wavelength", {"wavelength": _wl(lambda h, ns: _wcs_values(h))}, "metres"),
        ("wavelength", {"wavelength": _wl(lambda h, ns: _wl_by_hand(h, ns, one_based=False))}, "1-based"),
        ("wavelength", {"wavelength": _wl(_wl_quantity)}, "to_value"),
        ("wavelength", {"wavelength": _wl(_wl_by_hand, plot=False)}, "plot"),
        ("redshift", {"redshift": lambda ns, raw: {"z_measured": 0.0330}}, "published"),
        ("redshift", {"redshift": lambda ns, raw: {"z_measured": 8700.0}}, "km/s"),
    ],
)
def test_likely_mistakes_get_a_hint(questions, raw, qid, changes, words):
    res = student(questions, raw, changes)[qid]
    assert not res.passed
    assert words in res.message, res.message


# ---------------------------------------------------------------- valid alternatives
def _ndimage(mode):
    return {"cosmic-rays": lambda ns, raw: cosmic(ns["img"], ns["err"],
                                                  lambda a: scipy.ndimage.median_filter(a, size=5, mode=mode))}


def _float32(ns, raw):
    return {"img": raw["SCI"].astype(np.float32), "err": raw["ERR"].astype(np.float32)}


def _where_clean(ns, raw):
    img_cr = np.where(ns["bad"], ns["img_sm"], ns["img"])
    img_cr[230:280] = ns["img"][230:280]
    return {"img_cr": img_cr}


def _loop_fit(ns, raw):
    rows = np.r_[10:200, 300:480]
    img_cr = ns["img_cr"]
    bkg = np.empty_like(img_cr)
    every = np.arange(img_cr.shape[0])
    for col in range(img_cr.shape[1]):
        bkg[:, col] = np.polyval(np.polyfit(rows, img_cr[rows, col], 2), every)
    return {"bkg_rows": rows, "bkg": bkg, "img_bkg": img_cr - bkg}


def _lstsq_fit(ns, raw):
    rows = np.arange(10, 480)
    rows = rows[(rows < 200) | (rows >= 300)]
    design = np.vander(np.arange(512.0), 3)
    coeffs, *_ = np.linalg.lstsq(design[rows], ns["img_cr"][rows], rcond=None)
    bkg = design @ coeffs
    return {"bkg_rows": list(rows[::-1]), "bkg": bkg, "img_bkg": ns["img_cr"] - bkg}


def _polynomial_fit(img_cr, col):
    from numpy.polynomial import Polynomial

    return Polynomial.fit(BKG_ROWS, img_cr[BKG_ROWS, col], 2)(np.arange(img_cr.shape[0]))


def _lstsq_column(img_cr, col):
    design = np.vander(np.arange(img_cr.shape[0], dtype=np.float32), 3)
    coeffs, *_ = np.linalg.lstsq(design[BKG_ROWS], img_cr[BKG_ROWS, col].astype(np.float32), rcond=None)
    return design @ coeffs


def _two_figures(ns, raw):
    plt.close("all")
    for image in (ns["err"], ns["dq"]):
        plt.figure()
        plt.imshow(image, origin="lower", cmap="magma")
        plt.colorbar()
    figs = local_figures(plt)
    plt.close("all")
    return {"_figures": figs}


def _wl_wcs_angstrom(ns, raw):
    wl = _wcs_values(raw["hdr"]) * 1e10
    return {"wavelength": wl, "_figures": spectrum_figure(wl, ns["spectrum_final"])}


def _step_plot(ns, raw):
    plt.close("all")
    fig, (ax1, ax2) = plt.subplots(2, 1)
    ax1.imshow(ns["img_bkg"], origin="lower")
    ax2.step(ns["wavelength"], ns["spectrum_final"], where="mid")
    ax2.axvline(5150.0)
    figs = local_figures(plt)
    plt.close(fig)
    return {"_figures": figs}


ALTERNATIVES = {
    **{f"ndimage median_filter mode={m}": _ndimage(m) for m in ("reflect", "nearest", "constant", "mirror", "wrap")},
    "float32 images": {"read-data": _float32},
    "np.where cleaning": {"cosmic-rays": _where_clean},
    "polyfit loop over columns": {"background": _loop_fit},
    "lstsq, rows as a reversed list": {"background": _lstsq_fit},
    "background rows from np.concatenate": {
        "one-column-fit": lambda ns, raw: {"bkg_rows": np.concatenate([np.arange(10, 200), np.arange(300, 480)])}},
    "background rows from np.r_, as a reversed list": {
        "one-column-fit": lambda ns, raw: {"bkg_rows": list(np.r_[10:200, 300:480][::-1])}},
    "one column with Polynomial.fit": {"one-column-fit": _col_fit_with(_polynomial_fit)},
    "one column with lstsq in float32": {"one-column-fit": _col_fit_with(_lstsq_column)},
    "err and dq in two figures with colour bars": {"err-dq-images": _two_figures},
    "err limits with np.quantile": {
        "err-dq-images": lambda ns, raw: dict(zip(("err_lo", "err_hi"), np.quantile(ns["err"], [0.01, 0.99])))},
    "dq kept big-endian": {"read-data": lambda ns, raw: {"dq": raw["DQ"].copy()}},
    "dq as int32": {"read-data": lambda ns, raw: {"dq": raw["DQ"].astype(np.int32)}},
    "wavelength from astropy.wcs in Angstrom": {"wavelength": _wl_wcs_angstrom},
    "step plot among other axes": {"wavelength": _step_plot},
    "redshift from the [O III] peak pixel": {
        "redshift": lambda ns, raw: {"z_measured": ns["wavelength"][np.argmax(ns["spectrum_final"])] / 5006.84 - 1}},
    "redshift as a numpy float32": {"redshift": lambda ns, raw: {"z_measured": np.float32(ns["z_measured"])}},
    "sigma as a 0-d array": {"cosmic-rays": lambda ns, raw: {"sigma": np.asarray(np.median(ns["err"]))}},
}


@pytest.mark.parametrize("changes", list(ALTERNATIVES.values()), ids=list(ALTERNATIVES))
def test_valid_alternative_passes(questions, raw, changes):
    results = student(questions, raw, changes)
    failed = {q: r.message for q, r in results.items() if not r.passed}
    assert not failed


@pytest.mark.parametrize("mode", ["reflect", "nearest", "mirror", "wrap"])
def test_final_spectrum_tolerance_admits_ndimage_against_the_reference(questions, raw, ref, mode):
    """Even compared with the reference alone (the student's img_bkg being the reference
    one), the spectrum of an ndimage.median_filter reduction passes final-spectrum."""
    img = raw["SCI"].astype(float)
    c = cosmic(img, raw["ERR"].astype(float), lambda a: scipy.ndimage.median_filter(a, size=5, mode=mode))
    bkg = fit_bkg(c["img_cr"], np.r_[10:200, 300:480])
    spectrum = (c["img_cr"] - bkg)[250:260].sum(axis=0)
    assert not np.array_equal(spectrum, ref.spectrum_final)
    res = verdict(JUDGE, questions, "final-spectrum", {"spectrum_final": spectrum})
    assert res.passed, res.message


def test_reference_redshift_is_not_the_published_one(ref, questions):
    """The design of the redshift question rests on this: 0.0330 is outside the tolerance."""
    _, tol = questions["redshift"]
    assert abs(ref.z - 0.0330) > 2 * tol.atol


# ----------------------------------------------------------------- source notebook
def _cells():
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    return nb["cells"]


def test_notebook_matches_course_yml(questions):
    graded = {}
    solutions = set()
    for cell in _cells():
        meta = cell.get("metadata", {}).get("nbgrader")
        if not meta:
            continue
        if meta.get("grade"):
            graded[meta["grade_id"]] = meta["points"]
            if cell["cell_type"] == "code":
                assert "### BEGIN HIDDEN TESTS" in "".join(cell["source"])
        if meta.get("solution"):
            solutions.add(meta["grade_id"])
            src = "".join(cell["source"])
            if cell["cell_type"] == "code":
                assert "### BEGIN SOLUTION" in src and "### END SOLUTION" in src
    manual = [qid for qid, (q, _) in questions.items() if q.manual]
    assert solutions == set(ORDER) | set(manual)
    assert graded == {questions[qid][0].grade_cell: questions[qid][0].points for qid in [*ORDER, *manual]}
    ids = [c.get("id") for c in _cells()]
    assert all(ids) and len(set(ids)) == len(ids)


def test_notebook_runs_and_passes_every_check(questions, tmp_path, monkeypatch, capsys):
    """Solution cells, top to bottom in one namespace: visible tests and hidden checks pass."""
    (tmp_path / DATA.name).symlink_to(DATA)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    monkeypatch.syspath_prepend(str(ROOT))
    ns: dict = {"__name__": "__main__"}
    solution_source = {}
    results = {}
    plt.close("all")
    for cell in _cells():
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"])
        src = "\n".join(line for line in src.splitlines() if not line.lstrip().startswith(("%", "!")))
        meta = cell.get("metadata", {}).get("nbgrader", {})
        exec(compile(src, f"<cell {cell.get('id')}>", "exec"), ns)
        if meta.get("solution"):
            solution_source[meta["grade_id"]] = src
        if meta.get("grade"):
            qid = meta["grade_id"].removesuffix("-test")
            figures = local_figures(plt)
            plt.close("all")
            results[qid] = verdict(JUDGE, questions, qid, ns, figures=figures)
    plt.close("all")
    assert list(results) == ORDER
    failed = {q: r.message for q, r in results.items() if not r.passed}
    assert not failed
