"""Hidden checks of the five basics assignments, and their source notebooks.

array-creation, broadcasting-ripple, slicing, boolean-masks, copy-vs-view.

For every question: the right answer passes with an empty message; at least two plausible
wrong answers fail with a message that names the variable and does not contain the
expected values; valid alternatives pass.  Then each source notebook, run top to bottom
in one plain namespace, passes its visible test cells and its hidden checks.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from autograder.checks import run_question, spec_for  # noqa: E402
from autograder.config import load_course  # noqa: E402
from autograder.nbmeta import strip_hidden_tests  # noqa: E402
from autograder.sandbox.capture import local_figures, local_value  # noqa: E402

DATA_DIR = Path(os.environ.get("COURSE_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
DATA = DATA_DIR / "3c120_stis.fits.gz"
needs_data = pytest.mark.skipif(not DATA.is_file(), reason=f"course data file not found at {DATA}")

COURSE = load_course(ROOT)
ASSIGNMENTS = ["array-creation", "broadcasting-ripple", "slicing", "boolean-masks", "copy-vs-view"]


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------
def _question(aid: str, qid: str):
    for q in COURSE.assignment(aid).questions:
        if q.id == qid:
            return q
    raise KeyError(f"{aid}/{qid} not in course.yml")


def grade(aid: str, qid: str, ns: dict, *, source: str = "", figures=None, data_path=None):
    """Run one hidden check on the names of ``ns``, as the grader would capture them."""
    q = _question(aid, qid)
    names = dict.fromkeys([*q.names, *spec_for(aid, qid).uses])
    values = {n: local_value(n, ns) for n in names}
    return run_question(aid, q, values, tolerance=COURSE.tolerance(q), figures=figures, source=source,
                        data_path=data_path)


def _secrets(expected) -> list[str]:
    """Text forms of distinctive expected numbers that must never appear in a message."""
    out = []
    for v in np.ravel(np.asarray(expected, dtype=float))[:50]:
        if not np.isfinite(v) or (float(v).is_integer() and abs(v) < 1000):
            continue  # 0, 1, 13... also appear as counts and shapes in honest messages
        out += [repr(float(v)), f"{v:.6g}"]
    return out


def assert_fails(result, name: str, *expected) -> None:
    assert not result.passed, "a wrong answer passed"
    assert f"`{name}`" in result.message, f"message does not name `{name}`: {result.message!r}"
    assert "could not be checked" not in result.message, result.message
    for e in expected:
        for s in _secrets(e):
            assert s not in result.message, f"message leaks an expected value ({s}): {result.message!r}"


def assert_passes(result) -> None:
    assert result.passed, result.message
    assert result.message == ""


def _visible_checks(aid: str, qid: str) -> str:
    assignment = COURSE.assignment(aid)
    nb = nbformat.read(COURSE.source_notebook(assignment, assignment.notebooks[0]), as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == f"{qid}-test":
            return strip_hidden_tests(cell.source)
    raise KeyError(f"{aid}: no test cell {qid}-test")


def visible_checks_pass(aid: str, qid: str, ns: dict) -> bool:
    """Whether the visible asserts of the question's test cell accept ``ns``."""
    env = {"np": np, "math": math, "plt": plt, "N": N, **ns}
    try:
        exec(compile(_visible_checks(aid, qid), f"<{aid}:{qid}-test>", "exec"), env)
    except Exception:
        return False
    return True


def assert_alternative_passes(aid: str, qid: str, ns: dict, result) -> None:
    """A valid alternative passes the hidden check AND the visible checks."""
    assert_passes(result)
    assert visible_checks_pass(aid, qid, ns), "the visible checks reject an answer the hidden check accepts"


# --------------------------------------------------------------------------------------
# array-creation
# --------------------------------------------------------------------------------------
AC = "array-creation"
N = 100_000
LOOP_SRC = "values = rng.random(N)\nsines_loop = []\nfor v in values:\n    sines_loop.append(math.sin(v))\n"
VEC_SRC = "sines_vec = np.sin(values)\n"


def ac_right() -> dict:
    rng = np.random.default_rng(2024)
    values = rng.random(N)
    sines_loop = [math.sin(v) for v in values]
    sines_vec = np.sin(values)
    exptimes = np.array([720, 720, 360, 1200])
    pixels = np.arange(511)
    wave = np.linspace(2900.0, 5700.0, 511)
    freqs = np.logspace(8, 11, 7)
    yy, xx = np.mgrid[0:4, 0:6]
    flat = np.ones((512, 511))
    dq_good = np.zeros((512, 511), dtype=np.int16)
    sky = np.zeros_like(flat)
    stamp = np.arange(20)
    stamp.shape = (4, 5)
    stamp_col = stamp.reshape(-1, 1)
    counts = np.array([1200.0, 4500.0, 800.0, 15000.0])
    exptime = 720.0
    flux_list = [1.0, 2.5, 4.0]
    flux = np.array(flux_list)
    rate = counts / exptime
    snr = counts / np.sqrt(counts)
    twice_list = flux_list * 2
    twice_array = flux * 2
    return dict(locals())


@pytest.fixture(scope="module")
def ac():
    return ac_right()


def _ac_ref(ac):
    return {"values": ac["values"], "sines": ac["sines_vec"]}


@pytest.mark.parametrize("qid", ["sine-loop", "sine-vectorized", "ranges", "grids-and-fills", "reshape", "arithmetic"])
def test_array_creation_right_answers_pass(ac, qid):
    src = {"sine-loop": LOOP_SRC, "sine-vectorized": VEC_SRC}.get(qid, "")
    assert_alternative_passes(AC, qid, ac, grade(AC, qid, ac, source=src))


def _stamp_view():
    return np.arange(20).reshape(4, 5)


def _stamp_54():
    s = np.arange(20)
    s.shape = (5, 4)
    return s


AC_WRONG = {
    "sine-loop": [
        ("values", lambda ns: {"values": np.random.default_rng(2025).random(N)}),
        ("values", lambda ns: {"values": (lambda g: (g.random(N), g.random(N))[1])(np.random.default_rng(2024))}),
        ("sines_loop", lambda ns: {"sines_loop": [math.cos(v) for v in ns["values"]]}),
        ("sines_loop", lambda ns: {"sines_loop": list(np.sin(np.random.default_rng(7).random(N)))}),
        ("sines_loop", lambda ns: {"sines_loop": ns["sines_loop"][:-1]}),
        ("values", lambda ns: {"values": list(ns["values"])}),
    ],
    "sine-vectorized": [
        ("sines_vec", lambda ns: {"sines_vec": np.cos(ns["values"])}),
        ("sines_vec", lambda ns: {"sines_vec": np.sin(np.random.default_rng(2024).random(N) + 0.5)}),
        ("sines_vec", lambda ns: {"sines_vec": list(ns["sines_vec"])}),
    ],
    "ranges": [
        ("exptimes", lambda ns: {"exptimes": [720, 720, 360, 1200]}),
        ("pixels", lambda ns: {"pixels": np.arange(1, 512)}),
        ("pixels", lambda ns: {"pixels": np.arange(512)}),
        ("wave", lambda ns: {"wave": np.linspace(2900.0, 5700.0, 511, endpoint=False)}),
        ("wave", lambda ns: {"wave": np.arange(2900.0, 5700.0, 5.5)}),
        ("freqs", lambda ns: {"freqs": np.linspace(1e8, 1e11, 7)}),
        ("freqs", lambda ns: {"freqs": np.logspace(8, 11, 8)}),
    ],
    "grids-and-fills": [
        ("yy", lambda ns: {"yy": ns["xx"], "xx": ns["yy"]}),
        ("yy", lambda ns: dict(zip(("yy", "xx"), np.mgrid[0:6, 0:4]))),
        ("dq_good", lambda ns: {"dq_good": np.zeros((512, 511))}),
        ("dq_good", lambda ns: {"dq_good": np.zeros((512, 511), dtype=np.int64)}),
        ("sky", lambda ns: {"sky": np.zeros_like(ns["dq_good"])}),
        ("flat", lambda ns: {"flat": np.ones((511, 512))}),
        ("flat", lambda ns: {"flat": np.zeros((512, 511))}),
    ],
    "reshape": [
        ("stamp", lambda ns: {"stamp": _stamp_view()}),
        ("stamp", lambda ns: {"stamp": _stamp_54()}),
        ("stamp_col", lambda ns: {"stamp_col": ns["stamp"].reshape(1, -1)}),
        ("stamp_col", lambda ns: {"stamp_col": ns["stamp"].T.reshape(-1, 1)}),
    ],
    "arithmetic": [
        ("twice_list", lambda ns: {"twice_list": [2 * f for f in ns["flux_list"]]}),
        ("twice_list", lambda ns: {"twice_list": np.array(ns["flux_list"]) * 2}),
        ("twice_array", lambda ns: {"twice_array": ns["flux_list"] * 2}),
        ("twice_array", lambda ns: {"twice_array": np.concatenate([ns["flux"], ns["flux"]])}),
        ("rate", lambda ns: {"rate": ns["counts"] * ns["exptime"]}),
        ("snr", lambda ns: {"snr": ns["rate"] / np.sqrt(ns["rate"])}),
    ],
}


@pytest.mark.parametrize(
    ("qid", "name", "change"),
    [(q, n, c) for q, cases in AC_WRONG.items() for n, c in cases],
)
def test_array_creation_wrong_answers_fail(ac, qid, name, change):
    ns = {**ac, **change(ac)}
    src = {"sine-loop": LOOP_SRC, "sine-vectorized": VEC_SRC}.get(qid, "")
    right = ac_right() if qid in ("sine-loop", "sine-vectorized") else ac
    expected = [right[name]] if name in right and not isinstance(right[name], list) else []
    assert_fails(grade(AC, qid, ns, source=src), name, *expected)


def test_array_creation_vectorized_with_a_loop_fails(ac):
    src = "sines_vec = np.array([math.sin(v) for v in values])\n"
    assert_fails(grade(AC, "sine-vectorized", ac, source=src), "sines_vec")
    src = "sines_vec = np.empty(N)\nfor i in range(N):\n    sines_vec[i] = math.sin(values[i])\n"
    assert_fails(grade(AC, "sine-vectorized", ac, source=src), "sines_vec")


AC_ALTERNATIVES = {
    "sine-loop": [
        lambda ns: {"sines_loop": np.array(ns["sines_loop"])},
        lambda ns: {"values": np.random.default_rng(2024).uniform(0, 1, N)},
    ],
    # follows the recipe: wrong draws cost only sine-loop
    "sine-vectorized": [lambda ns: {"values": (v := np.random.default_rng(1).random(N)), "sines_vec": np.sin(v)}],
    "ranges": [
        lambda ns: {"exptimes": np.array([720.0, 720.0, 360.0, 1200.0])},
        lambda ns: {"freqs": 10.0 ** np.linspace(8, 11, 7)},
        lambda ns: {"wave": np.arange(511) * (2800.0 / 510) + 2900.0},
    ],
    "grids-and-fills": [
        lambda ns: dict(zip(("xx", "yy"), np.meshgrid(np.arange(6), np.arange(4)))),
        lambda ns: {"sky": np.zeros((512, 511))},
    ],
    "reshape": [
        lambda ns: {"stamp": (lambda s: (s.resize((4, 5)), s)[1])(np.arange(20))},
        lambda ns: {"stamp_col": ns["stamp"].ravel()[:, np.newaxis]},
    ],
    "arithmetic": [lambda ns: {"snr": np.sqrt(ns["counts"])}],
}


@pytest.mark.parametrize(("qid", "change"), [(q, c) for q, cases in AC_ALTERNATIVES.items() for c in cases])
def test_array_creation_alternatives_pass(ac, qid, change):
    ns = {**ac, **change(ac)}
    src = {"sine-loop": LOOP_SRC, "sine-vectorized": VEC_SRC}.get(qid, "")
    assert_alternative_passes(AC, qid, ns, grade(AC, qid, ns, source=src))


# --------------------------------------------------------------------------------------
# broadcasting-ripple
# --------------------------------------------------------------------------------------
BR = "broadcasting-ripple"
NU = np.array([0.15, 0.33, 1.4, 5.0, 8.4, 15.0, 43.0]) * 1e9
ALPHA = np.array([0.5, 0.6, 0.7, 0.8, 0.9])
TABLE_SRC = "alpha_col = alpha.reshape(-1, 1)\ntable = (nu / 1.4e9) ** (-alpha_col)\n"


def _surface(x, y):
    r = np.sqrt(x**2 + y**2)
    return r, np.cos(r) / (r + 5)


def br_right() -> dict:
    x = np.arange(-20, 20.25, 0.25).reshape(1, -1)
    y = x.reshape(-1, 1)
    r, z = _surface(x, y)
    nu, alpha = NU, ALPHA
    alpha_col = alpha.reshape(-1, 1)
    table = (nu / 1.4e9) ** (-alpha_col)
    return dict(locals())


@pytest.fixture(scope="module")
def br():
    return br_right()


def _figures(draw) -> list:
    plt.close("all")
    try:
        draw()
        return local_figures(plt)
    finally:
        plt.close("all")


def _imshow(arr, **kw):
    def draw():
        plt.figure()
        plt.imshow(arr, **kw)
        plt.colorbar()

    return draw


def test_broadcasting_right_answers_pass(br):
    assert_alternative_passes(BR, "ripple-grid", br, grade(BR, "ripple-grid", br))
    assert_alternative_passes(BR, "ripple-surface", br, grade(BR, "ripple-surface", br))
    assert_passes(grade(BR, "ripple-image", br, figures=_figures(_imshow(br["z"], origin="lower"))))
    assert_alternative_passes(BR, "spectral-index-table", br, grade(BR, "spectral-index-table", br, source=TABLE_SRC))


def _swapped_mgrid(ns=None):
    x, y = np.mgrid[-20:20:161j, -20:20:161j]
    return {"x": x, "y": y}


def _no_parens(ns):
    with np.errstate(divide="ignore", invalid="ignore"):
        return {"z": np.cos(ns["r"]) / ns["r"] + 5}


BR_WRONG = {
    "ripple-grid": [
        ("x", lambda ns: {"x": np.arange(-20, 20, 0.25).reshape(1, -1)}),
        ("x", lambda ns: {"x": np.arange(-20, 21).reshape(1, -1)}),
        ("x", _swapped_mgrid),
        ("y", lambda ns: {"y": ns["x"].copy()}),
        ("y", lambda ns: {"y": ns["x"].ravel() + 0.25}),
        ("y", lambda ns: {"y": np.arange(-20, 20.25, 0.5).reshape(-1, 1)}),
    ],
    "ripple-surface": [
        ("z", _no_parens),
        ("z", lambda ns: {"z": np.sin(ns["r"]) / (ns["r"] + 5)}),
        ("r", lambda ns: {"r": ns["x"] ** 2 + ns["y"] ** 2}),
        ("r", lambda ns: {"r": np.sqrt(ns["x"] ** 2 + ns["y"] ** 2)[0]}),
    ],
    "spectral-index-table": [
        ("table", lambda ns: {"table": ns["table"].T.copy()}),
        ("table", lambda ns: {"table": (NU / 1.4e9) ** ALPHA.reshape(-1, 1)}),
        ("table", lambda ns: {"table": (NU / 1.4e6) ** (-ALPHA.reshape(-1, 1))}),
        ("alpha_col", lambda ns: {"alpha_col": ALPHA.reshape(1, -1)}),
    ],
}


@pytest.mark.parametrize(("qid", "name", "change"), [(q, n, c) for q, cases in BR_WRONG.items() for n, c in cases])
def test_broadcasting_wrong_answers_fail(br, qid, name, change):
    ns = {**br, **change(br)}
    src = TABLE_SRC if qid == "spectral-index-table" else ""
    assert_fails(grade(BR, qid, ns, source=src), name, br[name])


def test_broadcasting_table_with_a_loop_fails(br):
    src = "table = np.empty((5, 7))\nfor i in range(5):\n    table[i] = (nu / 1.4e9) ** (-alpha[i])\n"
    assert_fails(grade(BR, "spectral-index-table", br, source=src), "table")


@pytest.mark.parametrize(
    ("label", "draw"),
    [
        ("origin upper", lambda ns: _imshow(ns["z"])),
        ("r instead of z", lambda ns: _imshow(ns["r"], origin="lower")),
        ("nothing drawn", lambda ns: (lambda: None)),
        ("a line plot", lambda ns: (lambda: plt.plot(ns["z"][80]))),
    ],
)
def test_broadcasting_image_wrong_fails(br, label, draw):
    result = grade(BR, "ripple-image", br, figures=_figures(draw(br)))
    assert_fails(result, "z", br["z"])


def _meshgrid():
    xs = np.linspace(-20, 20, 161)
    x, y = np.meshgrid(xs, xs)
    return {"x": x, "y": y}


def _mgrid():
    y, x = np.mgrid[-20:20.25:0.25, -20:20.25:0.25]
    return {"x": x, "y": y}


def _own_short_grid():
    x = np.arange(-20, 20, 0.25).reshape(1, -1)
    y = x.reshape(-1, 1)
    r, z = _surface(x, y)
    return {"x": x, "y": y, "r": r, "z": z}


def _axes_imshow(ns):
    def draw():
        fig, (ax1, ax2) = plt.subplots(1, 2)
        ax1.plot(ns["z"][80])
        ax2.imshow(ns["z"], origin="lower", extent=(-20, 20, -20, 20))

    return draw


@pytest.mark.parametrize(
    ("qid", "change"),
    [
        ("ripple-grid", _meshgrid),
        ("ripple-grid", _mgrid),
        ("ripple-grid", lambda: {"x": np.linspace(-20, 20, 161)}),
        ("ripple-grid", lambda: {"x": np.arange(-20, 20.25, 0.25), "y": np.arange(-20, 20.25, 0.25)[:, np.newaxis]}),
        ("ripple-surface", lambda: dict(zip(("r", "z"), _surface(*_meshgrid().values())))),
        ("ripple-surface", lambda: {"r": (r := np.hypot(*_mgrid().values())), "z": np.cos(r) / (r + 5)}),
        ("ripple-surface", _own_short_grid),  # follows the recipe from the student's own (wrong) x, y
        ("spectral-index-table", lambda: {"alpha_col": ALPHA[:, np.newaxis],
                                          "table": np.exp(-np.outer(ALPHA, np.log(NU / 1.4e9)))}),
    ],
)
def test_broadcasting_alternatives_pass(br, qid, change):
    ns = {**br, **change()}
    src = TABLE_SRC if qid == "spectral-index-table" else ""
    assert_alternative_passes(BR, qid, ns, grade(BR, qid, ns, source=src))


def test_broadcasting_image_alternatives_pass(br):
    assert_passes(grade(BR, "ripple-image", br, figures=_figures(_axes_imshow(br))))
    own = _own_short_grid()  # the image of the student's own z also counts
    ns = {**br, **own}
    assert_passes(grade(BR, "ripple-image", ns, figures=_figures(_imshow(own["z"], origin="lower"))))


# --------------------------------------------------------------------------------------
# slicing
# --------------------------------------------------------------------------------------
SL = "slicing"


@pytest.fixture(scope="module")
def sl():
    if not DATA.is_file():
        pytest.skip(f"course data file not found at {DATA}")
    from astropy.io import fits

    with fits.open(DATA) as hdus:
        img = hdus["SCI"].data.astype(float)
        err = hdus["ERR"].data.astype(float)
        dq = hdus["DQ"].data.astype(np.int16)
        raw = hdus["SCI"].data.copy()  # big-endian, as read
    return {
        "img": img, "err": err, "dq": dq, "raw": raw,
        "pix": img[254, 300], "last_pix": img[-1, -1],
        "profile_300": img[:, 300], "row_254": img[254, :],
        "err_samples": err[254, 10:200:3],
        "dq_block": dq[251:254, 101:105],
        "spectrum_src": img[250:260].sum(axis=0),
    }


SL_QUESTIONS = ["elements", "rows-and-columns", "strided", "dq-block", "better-spectrum"]


@needs_data
@pytest.mark.parametrize("qid", SL_QUESTIONS)
def test_slicing_right_answers_pass(sl, qid):
    assert_alternative_passes(SL, qid, sl, grade(SL, qid, sl, data_path=DATA))


SL_WRONG = {
    "elements": [
        ("pix", lambda ns: {"pix": ns["img"][300, 254]}),
        ("pix", lambda ns: {"pix": ns["img"][254, 301]}),
        ("pix", lambda ns: {"pix": ns["img"][254]}),
        ("last_pix", lambda ns: {"last_pix": ns["img"][-2, -2]}),
        ("last_pix", lambda ns: {"last_pix": ns["img"][0, 0]}),
    ],
    "rows-and-columns": [
        ("profile_300", lambda ns: {"profile_300": ns["img"][300]}),
        ("profile_300", lambda ns: {"profile_300": ns["img"][:, 301]}),
        ("profile_300", lambda ns: {"profile_300": list(ns["img"][:, 300])}),
        ("row_254", lambda ns: {"row_254": ns["img"][:, 254]}),
        ("row_254", lambda ns: {"row_254": ns["img"][255]}),
    ],
    "strided": [
        ("err_samples", lambda ns: {"err_samples": ns["err"][254, 10:200]}),
        ("err_samples", lambda ns: {"err_samples": ns["img"][254, 10:200:3]}),
        ("err_samples", lambda ns: {"err_samples": ns["err"][10:200:3, 254]}),
        ("err_samples", lambda ns: {"err_samples": ns["err"][254, 11:200:3]}),
    ],
    "dq-block": [
        ("dq_block", lambda ns: {"dq_block": ns["dq"][251:253, 101:104]}),
        ("dq_block", lambda ns: {"dq_block": ns["dq"][101:105, 251:254]}),
        ("dq_block", lambda ns: {"dq_block": ns["dq"][250:253, 100:104]}),
        ("dq_block", lambda ns: {"dq_block": ns["dq"][251:254, 101:105] > 0}),
    ],
    "better-spectrum": [
        ("spectrum_src", lambda ns: {"spectrum_src": ns["img"][250:259].sum(axis=0)}),
        ("spectrum_src", lambda ns: {"spectrum_src": ns["img"][250:260].sum(axis=1)}),
        ("spectrum_src", lambda ns: {"spectrum_src": ns["img"][250:260].mean(axis=0)}),
        ("spectrum_src", lambda ns: {"spectrum_src": ns["img"].sum(axis=0)}),
    ],
}


@needs_data
@pytest.mark.parametrize(("qid", "name", "change"), [(q, n, c) for q, cases in SL_WRONG.items() for n, c in cases])
def test_slicing_wrong_answers_fail(sl, qid, name, change):
    ns = {**sl, **change(sl)}
    assert_fails(grade(SL, qid, ns, data_path=DATA), name, sl[name])


@needs_data
@pytest.mark.parametrize(
    ("qid", "change"),
    [
        ("elements", lambda ns: {"pix": float(ns["img"][254, 300]), "last_pix": ns["img"][511, 510]}),
        ("elements", lambda ns: {"pix": ns["img"][254:255, 300:301]}),
        ("rows-and-columns", lambda ns: {"profile_300": ns["img"].T[300], "row_254": ns["img"][254]}),
        ("strided", lambda ns: {"err_samples": ns["err"][254][10:201:3]}),  # 200 is never reached anyway
        ("dq-block", lambda ns: {"dq_block": ns["dq"][251:254][:, 101:105].astype(float)}),
        ("better-spectrum", lambda ns: {"spectrum_src": np.sum([ns["img"][i] for i in range(250, 260)], axis=0)}),
        ("better-spectrum", lambda ns: {"spectrum_src": ns["raw"][250:260].astype(float).sum(axis=0)}),
    ],
)
def test_slicing_alternatives_pass(sl, qid, change):
    ns = {**sl, **change(sl)}
    assert_alternative_passes(SL, qid, ns, grade(SL, qid, ns, data_path=DATA))


# --------------------------------------------------------------------------------------
# boolean-masks
# --------------------------------------------------------------------------------------
BM = "boolean-masks"
SCI = np.array(
    [
        [101.0, 99.0, 100.0, 102.0, 98.0, 100.0],
        [100.0, 250.0, 101.0, 99.0, 100.0, 103.0],
        [98.0, 100.0, 97.0, 100.0, 5000.0, 101.0],
        [102.0, 101.0, 99.0, 100.0, 100.0, 99.0],
        [99.0, -40.0, 100.0, 101.0, 98.0, 100.0],
    ]
)
DQ = np.zeros((5, 6), dtype=np.int16)
DQ[1, 1], DQ[2, 4], DQ[3, 5], DQ[4, 1] = 16, 8192, 1024, 512


def bm_right() -> dict:
    a = np.arange(20)
    gt6 = a > 6
    n_gt6 = gt6.sum()
    between = (a > 6) & (a < 17)
    outside = ~between
    sci, dq = SCI.copy(), DQ.copy()
    clean = sci.copy()
    clean[dq != 0] = np.nan
    x = np.arange(-20, 20.25, 0.25).reshape(1, -1)
    y = x.reshape(-1, 1)
    r = np.sqrt(x**2 + y**2)
    z = np.cos(r) / (r + 5)
    in_disk = (x - 10) ** 2 + (y - 15) ** 2 < 10**2
    z_disk = z.copy()
    z_disk[in_disk] = 0
    return dict(locals())


@pytest.fixture(scope="module")
def bm():
    return bm_right()


@pytest.mark.parametrize("qid", ["compare", "combine", "bad-pixels", "disk-mask", "zero-disk"])
def test_boolean_masks_right_answers_pass(bm, qid):
    assert_alternative_passes(BM, qid, bm, grade(BM, qid, bm))


def _alias_clean(ns):
    sci = SCI.copy()
    clean = sci
    clean[DQ != 0] = np.nan
    return {"sci": sci, "clean": clean}


BM_WRONG = {
    "compare": [
        ("gt6", lambda ns: {"gt6": ns["a"] >= 6}),
        ("gt6", lambda ns: {"gt6": (ns["a"] > 6).astype(int)}),
        ("gt6", lambda ns: {"gt6": list(ns["a"] > 6)}),
        ("n_gt6", lambda ns: {"n_gt6": len(ns["gt6"])}),
        ("n_gt6", lambda ns: {"n_gt6": ns["a"][ns["gt6"]].sum()}),
    ],
    "combine": [
        ("between", lambda ns: {"between": (ns["a"] >= 6) & (ns["a"] <= 17)}),
        ("between", lambda ns: {"between": (ns["a"] > 6) | (ns["a"] < 17)}),
        ("between", lambda ns: {"between": np.where((ns["a"] > 6) & (ns["a"] < 17), 1, 0)}),
        ("outside", lambda ns: {"outside": (ns["a"] < 6) | (ns["a"] > 17)}),
        ("outside", lambda ns: {"outside": ns["between"]}),
    ],
    "bad-pixels": [
        ("clean", _alias_clean),
        ("clean", lambda ns: {"clean": np.where(DQ == 0, np.nan, SCI)}),
        ("clean", lambda ns: {"clean": np.where(DQ != 0, 0.0, SCI)}),
        ("clean", lambda ns: {"clean": np.where(SCI > 200, np.nan, SCI)}),
    ],
    "disk-mask": [
        ("in_disk", lambda ns: {"in_disk": (ns["x"] - 10) ** 2 + (ns["y"] - 15) ** 2 <= 10**2}),
        ("in_disk", lambda ns: {"in_disk": (ns["x"] - 15) ** 2 + (ns["y"] - 10) ** 2 < 10**2}),
        ("in_disk", lambda ns: {"in_disk": (ns["x"] - 10) ** 2 + (ns["y"] - 15) ** 2 < 10}),
        ("in_disk", lambda ns: {"in_disk": ~ns["in_disk"]}),
        ("in_disk", lambda ns: {"in_disk": ns["in_disk"].astype(float)}),
    ],
    "zero-disk": [
        ("z_disk", lambda ns: {"z_disk": np.where(ns["in_disk"], np.nan, ns["z"])}),
        ("z_disk", lambda ns: {"z_disk": ns["z"] * ns["in_disk"]}),
        ("z_disk", lambda ns: {"z_disk": ns["z"].copy()}),
    ],
}


@pytest.mark.parametrize(("qid", "name", "change"), [(q, n, c) for q, cases in BM_WRONG.items() for n, c in cases])
def test_boolean_masks_wrong_answers_fail(bm, qid, name, change):
    ns = {**bm, **change(bm)}
    expected = bm[name] if name != "n_gt6" else []
    result = grade(BM, qid, ns)
    assert_fails(result, name, expected)
    if name == "n_gt6":
        assert "13" not in result.message


@pytest.mark.parametrize(
    ("qid", "change"),
    [
        ("compare", lambda ns: {"n_gt6": np.count_nonzero(ns["gt6"])}),
        ("combine", lambda ns: {"between": np.logical_and(ns["a"] > 6, ns["a"] < 17),
                                "outside": (ns["a"] <= 6) | (ns["a"] >= 17)}),
        ("bad-pixels", lambda ns: {"clean": np.where(DQ > 0, np.nan, SCI)}),
        ("disk-mask", lambda ns: {"in_disk": np.hypot(ns["x"] - 10, ns["y"] - 15) < 10}),
        ("zero-disk", lambda ns: {"z_disk": np.where(ns["in_disk"], 0, ns["z"])}),
        # follows the recipe from the student's own (wrong) mask: costs only disk-mask
        ("zero-disk", lambda ns: {"in_disk": (m := (ns["x"] - 10) ** 2 + (ns["y"] - 15) ** 2 <= 100),
                                  "z_disk": np.where(m, 0.0, ns["z"])}),
    ],
)
def test_boolean_masks_alternatives_pass(bm, qid, change):
    ns = {**bm, **change(bm)}
    assert_alternative_passes(BM, qid, ns, grade(BM, qid, ns))


# --------------------------------------------------------------------------------------
# copy-vs-view
# --------------------------------------------------------------------------------------
CV = "copy-vs-view"
FRAME = np.array(
    [
        [12.0, 15.0, 11.0, 14.0, 13.0],
        [20.0, 42.0, 95.0, 40.0, 21.0],
        [18.0, 37.0, 88.0, 35.0, 19.0],
        [11.0, 14.0, 12.0, 13.0, 15.0],
    ]
)
PREDICTIONS = {
    "pred_spectrum": [5.0, 0.0, 0.0, 0.0, 34.0, -1.0],
    "pred_snapshot": [5.0, 8.0, 13.0, 21.0, 34.0, 55.0],
    "pred_window": [0.0, 0.0, 0.0],
    "pred_bright": [21.0, 34.0, 55.0],
}


def cv_right() -> dict:
    """A fresh namespace (views must point into this namespace's own frame)."""
    frame = np.array(FRAME.tolist())
    same = frame
    backup = frame.copy()
    row = frame[1]
    col = frame[:, 2]
    doubled = frame * 2
    picked = frame[frame > 30]
    spectrum = np.array([5.0, 8.0, 13.0, 21.0, 34.0, 55.0])
    alias = spectrum
    snapshot = spectrum.copy()
    window = spectrum[1:4]
    bright = spectrum[spectrum > 20]
    window[:] = 0.0
    alias[-1] = -1.0
    ns = dict(locals())
    ns.update({k: list(v) for k, v in PREDICTIONS.items()})
    return ns


@pytest.mark.parametrize("qid", ["alias-and-copy", "views", "new-arrays", "predict"])
def test_copy_vs_view_right_answers_pass(qid):
    ns = cv_right()
    assert_alternative_passes(CV, qid, ns, grade(CV, qid, ns))


def _in_place_double(ns):
    doubled = ns["frame"]
    doubled *= 2
    return {"doubled": doubled}


CV_WRONG = {
    "alias-and-copy": [
        ("same", lambda ns: {"same": ns["frame"][:]}),
        ("same", lambda ns: {"same": ns["frame"].copy()}),
        ("same", lambda ns: {"same": ns["frame"].view()}),
        ("backup", lambda ns: {"backup": ns["frame"]}),
        ("backup", lambda ns: {"backup": ns["frame"][:]}),
    ],
    "views": [
        ("row", lambda ns: {"row": ns["frame"][1].copy()}),
        ("row", lambda ns: {"row": ns["frame"][[1]][0]}),
        ("row", lambda ns: {"row": ns["frame"][2]}),
        ("col", lambda ns: {"col": ns["frame"][:, [2]]}),
        ("col", lambda ns: {"col": ns["frame"][:, 2].copy()}),
        ("col", lambda ns: {"col": ns["frame"][2]}),
    ],
    "new-arrays": [
        ("doubled", _in_place_double),
        ("doubled", lambda ns: {"doubled": ns["frame"] ** 2}),
        ("picked", lambda ns: {"picked": ns["frame"] > 30}),
        ("picked", lambda ns: {"picked": ns["frame"][ns["frame"] > 20]}),
        ("picked", lambda ns: {"picked": np.where(ns["frame"] > 30, ns["frame"], 0.0)}),
    ],
    "predict": [
        ("pred_spectrum", lambda ns: {"pred_spectrum": [5.0, 8.0, 13.0, 21.0, 34.0, 55.0]}),
        ("pred_spectrum", lambda ns: {"pred_spectrum": [5.0, 8.0, 13.0, 21.0, 34.0, -1.0]}),
        ("pred_snapshot", lambda ns: {"pred_snapshot": [5.0, 0.0, 0.0, 0.0, 34.0, -1.0]}),
        ("pred_window", lambda ns: {"pred_window": ns["window"]}),
        ("pred_window", lambda ns: {"pred_window": [8.0, 13.0, 21.0]}),
        ("pred_bright", lambda ns: {"pred_bright": [21.0, 34.0, -1.0]}),
        ("pred_bright", lambda ns: {"pred_bright": [34.0]}),
    ],
}


@pytest.mark.parametrize(("qid", "name", "change"), [(q, n, c) for q, cases in CV_WRONG.items() for n, c in cases])
def test_copy_vs_view_wrong_answers_fail(qid, name, change):
    ns = cv_right()
    ns.update(change(ns))
    result = grade(CV, qid, ns)
    expected = PREDICTIONS.get(name, FRAME * 2 if name == "doubled" else FRAME)
    assert_fails(result, name, expected)
    if name in PREDICTIONS:
        assert str(PREDICTIONS[name]) not in result.message
        assert "34" not in result.message and "55" not in result.message


@pytest.mark.parametrize(
    ("qid", "change"),
    [
        ("alias-and-copy", lambda ns: {"backup": np.array(ns["frame"])}),
        ("alias-and-copy", lambda ns: {"backup": ns["frame"].copy(order="F")}),
        ("views", lambda ns: {"row": ns["frame"][1, :], "col": ns["frame"].T[2]}),
        ("new-arrays", lambda ns: {"doubled": ns["frame"] + ns["frame"],
                                   "picked": np.extract(ns["frame"] > 30, ns["frame"])}),
        ("predict", lambda ns: {"pred_spectrum": np.array([5, 0, 0, 0, 34, -1]), "pred_window": ns["window"].copy(),
                                "pred_bright": (21, 34, 55)}),
    ],
)
def test_copy_vs_view_alternatives_pass(qid, change):
    ns = cv_right()
    ns.update(change(ns))
    assert_alternative_passes(CV, qid, ns, grade(CV, qid, ns))


# --------------------------------------------------------------------------------------
# the source notebooks, run top to bottom in one plain namespace
# --------------------------------------------------------------------------------------
def _nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_notebook_matches_course_yml(aid):
    assignment = COURSE.assignment(aid)
    (notebook,) = assignment.notebooks
    assert notebook.name == aid
    nb = nbformat.read(COURSE.source_notebook(assignment, notebook), as_version=4)
    nbformat.validate(nb)
    ids = [c.id for c in nb.cells]
    assert len(ids) == len(set(ids))
    solutions = [_nbgrader(c)["grade_id"] for c in nb.cells if _nbgrader(c).get("solution")]
    tests = {_nbgrader(c)["grade_id"]: _nbgrader(c)["points"] for c in nb.cells if _nbgrader(c).get("grade")}
    assert solutions == [q.id for q in notebook.questions]
    assert tests == {q.test_id: q.points for q in notebook.questions}
    for cell in nb.cells:
        meta = _nbgrader(cell)
        if meta.get("solution"):
            assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source
        if meta.get("grade"):
            assert meta["locked"] and "### BEGIN HIDDEN TESTS" in cell.source
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_notebook_solutions_pass_every_check(aid, tmp_path, monkeypatch):
    assignment = COURSE.assignment(aid)
    (notebook,) = assignment.notebooks
    nb = nbformat.read(COURSE.source_notebook(assignment, notebook), as_version=4)
    uses_data = any("course_data" in c.source for c in nb.cells)
    if uses_data:
        if not DATA.is_file():
            pytest.skip(f"course data file not found at {DATA}")
        assert (COURSE.source_dir / aid / "course_data.py").resolve() == (ROOT / "course_data.py").resolve()
        (tmp_path / DATA.name).symlink_to(DATA)
        monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    questions = {q.id: q for q in notebook.questions}
    solution_source: dict[str, str] = {}
    ns: dict = {"__name__": "__main__"}
    graded = []
    plt.close("all")
    try:
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            meta = _nbgrader(cell)
            src = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
            exec(compile(src, f"<{aid}:{cell.id}>", "exec"), ns)
            if meta.get("solution"):
                solution_source[meta["grade_id"]] = cell.source
            if meta.get("grade"):
                qid = meta["grade_id"].removesuffix("-test")
                figures = local_figures(plt)
                plt.close("all")
                result = grade(aid, qid, ns, source=solution_source[qid], figures=figures,
                               data_path=DATA if uses_data else None)
                assert result.passed, f"{aid}/{qid}: {result.message}"
                graded.append(qid)
    finally:
        plt.close("all")
    assert graded == list(questions)
