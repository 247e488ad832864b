"""Hidden checks of the assignment ``array-creation``.

The answers here are fixed by each question's wording (a seed, a range, a shape), so
the checks rebuild them with numpy from the same specification (the random numbers come
from :func:`reference_solution.sine_of_uniform`).  The timing in the notebook is never
graded: only the values, and that the vectorized answer has no Python loop.
"""

from __future__ import annotations

import numpy as np

from ._api import CheckContext, CheckFailed, check

ASSIGNMENT = "array-creation"

# The question's specification, as stated in the notebook.
SEED = 2024
N_SAMPLES = 100_000
EXPOSURE_LIST = [720, 720, 360, 1200]
N_COLUMNS = 511
WAVE_RANGE = (2900.0, 5700.0)
FREQ_EXPONENTS = (8, 11, 7)
STAMP_SHAPE = (4, 6)
FRAME_SHAPE = (512, 511)
FLUX_LIST = [1.0, 2.5, 4.0]
COUNTS = np.array([1200.0, 4500.0, 800.0, 15000.0])
EXPTIME = 720.0


def _close(actual, expected, rtol: float, atol: float) -> bool:
    a, e = np.asarray(actual), np.asarray(expected)
    if a.shape != e.shape or a.dtype.kind not in "fiub":
        return False
    return bool(np.allclose(a.astype(float), e.astype(float), rtol=rtol, atol=atol, equal_nan=True))


def _with_hint(exc: CheckFailed, hint: str) -> CheckFailed:
    return CheckFailed(f"{exc} ({hint})")


def _reference_values():
    from reference_solution import sine_of_uniform

    values, sines = sine_of_uniform(N_SAMPLES, SEED)
    return np.asarray(values, dtype=float), np.asarray(sines, dtype=float)


@check(ASSIGNMENT, "sine-loop")
def sine_loop(ctx: CheckContext) -> None:
    """``values``: N uniform numbers from ``default_rng(SEED)``; ``sines_loop``: their sines.

    ``sines_loop`` may be a list (the natural result of a loop) or an array; it must
    hold the sines of the same numbers as ``values``.
    """
    ref_values, ref_sines = _reference_values()
    values = ctx.array("values", kind="f", pytype="numpy.ndarray")
    if values.shape != (N_SAMPLES,):
        ctx.fail(
            f"`values` has shape {values.shape}; this question expects N = {N_SAMPLES} numbers, shape "
            f"({N_SAMPLES},)"
        )
    try:
        ctx.expect_close("values", values, ref_values)
    except CheckFailed as exc:
        raise _with_hint(
            exc,
            "draw them with rng.random(N) from a generator made with np.random.default_rng(SEED) in the same cell; "
            "drawing twice from one generator gives different numbers",
        ) from None
    sines = ctx.array("sines_loop", kind="f")
    if sines.shape != (N_SAMPLES,):
        ctx.fail(
            f"`sines_loop` has {sines.size} element(s) in shape {sines.shape}; it needs one sine per number in "
            "`values`"
        )
    if _close(sines, np.cos(ref_values), ctx.rtol, ctx.atol):
        ctx.fail("`sines_loop` holds cosines; use math.sin")
    try:
        ctx.expect_close("sines_loop", sines, ref_sines)
    except CheckFailed as exc:
        raise _with_hint(exc, "take the sine of each number of `values` itself, not of new random numbers") from None


@check(ASSIGNMENT, "sine-vectorized", uses=("values",))
def sine_vectorized(ctx: CheckContext) -> None:
    """``sines_vec``: ``np.sin(values)`` in one call, no Python loop in the cell.

    Follows the recipe: it passes when it equals the reference sines, or the sines of
    the student's own ``values`` (so a wrong draw costs only the previous question).
    """
    sines = ctx.array("sines_vec", kind="f", pytype="numpy.ndarray")
    if ctx.solution_has_python_loop():
        ctx.fail(
            "`sines_vec` must come from one vectorized call on the whole array; "
            "this cell has a Python loop (for/while or a comprehension)"
        )
    if sines.shape != (N_SAMPLES,):
        ctx.fail(f"`sines_vec` has shape {sines.shape}; it needs one sine per number in `values`, shape ({N_SAMPLES},)")
    ref_values, ref_sines = _reference_values()
    own = ctx.values.get("values")
    if own is not None and own.status == "ok" and own.array is not None and own.array.shape == (N_SAMPLES,):
        with np.errstate(all="ignore"):
            if own.array.dtype.kind in "fiu" and _close(sines, np.sin(own.array.astype(float)), ctx.rtol, ctx.atol):
                return
    if _close(sines, np.cos(ref_values), ctx.rtol, ctx.atol):
        ctx.fail("`sines_vec` holds cosines; use np.sin")
    try:
        ctx.expect_close("sines_vec", sines, ref_sines)
    except CheckFailed as exc:
        raise _with_hint(exc, "apply np.sin to `values` itself; do not draw new numbers") from None


@check(ASSIGNMENT, "ranges")
def ranges(ctx: CheckContext) -> None:
    """``exptimes`` from the list, ``pixels`` (arange), ``wave`` (linspace), ``freqs`` (logspace)."""
    exptimes = ctx.array("exptimes", pytype="numpy.ndarray", kind="fiu")
    ctx.expect_close("exptimes", exptimes, np.array(EXPOSURE_LIST, dtype=float))

    pixels = ctx.array("pixels", pytype="numpy.ndarray", kind="iu")
    if pixels.shape == (N_COLUMNS + 1,):
        ctx.fail(f"`pixels` has {pixels.size} elements; the detector has {N_COLUMNS} columns, numbered from 0")
    ctx.array("pixels", shape=(N_COLUMNS,))
    ref_pixels = np.arange(N_COLUMNS)
    if np.array_equal(pixels, ref_pixels + 1):
        ctx.fail("`pixels` starts at 1; Python (and numpy) count columns from 0")
    ctx.expect_equal("pixels", pixels, ref_pixels)

    wave = ctx.array("wave", pytype="numpy.ndarray", kind="f", ndim=1)
    if wave.shape != (N_COLUMNS,):
        ctx.fail(
            f"`wave` has {wave.size} elements; this question expects {N_COLUMNS}, "
            "one per column, with both end points included (np.linspace)"
        )
    ctx.expect_close("wave", wave, np.linspace(*WAVE_RANGE, N_COLUMNS))

    freqs = ctx.array("freqs", pytype="numpy.ndarray", kind="f", ndim=1)
    lo, hi, n = FREQ_EXPONENTS
    ctx.array("freqs", shape=(n,))
    if not np.all(np.isfinite(freqs)):
        ctx.fail(
            "`freqs` has infinite or NaN values: np.logspace takes the exponents (powers of ten), not the "
            "frequencies"
        )
    ref = np.logspace(lo, hi, n)
    if _close(freqs, np.linspace(10.0**lo, 10.0**hi, n), ctx.rtol, ctx.atol):
        ctx.fail(
            "`freqs` is evenly spaced in frequency; this question wants even spacing in log(frequency): "
            "np.logspace"
        )
    ctx.expect_close("freqs", freqs, ref)


@check(ASSIGNMENT, "grids-and-fills")
def grids_and_fills(ctx: CheckContext) -> None:
    """``yy, xx``: row and column index of each pixel of a 4x6 stamp (mgrid or meshgrid);
    ``flat``: ones (512, 511) float; ``dq_good``: zeros (512, 511) int16; ``sky``: zeros_like(flat)."""
    ref_yy, ref_xx = np.mgrid[0 : STAMP_SHAPE[0], 0 : STAMP_SHAPE[1]]
    yy = ctx.array("yy", kind="fiu")
    xx = ctx.array("xx", kind="fiu")
    for name, arr in (("yy", yy), ("xx", xx)):
        if arr.shape == STAMP_SHAPE[::-1]:
            ctx.fail(
                f"`{name}` has shape {arr.shape}: it looks transposed; the stamp has {STAMP_SHAPE[0]} rows and "
                f"{STAMP_SHAPE[1]} columns"
            )
        ctx.array(name, shape=STAMP_SHAPE)
    if np.array_equal(yy, ref_xx) and np.array_equal(xx, ref_yy):
        ctx.fail("`yy` and `xx` look swapped: `yy` is the row index (first index), `xx` the column index")
    ctx.expect_equal("yy", yy, ref_yy, what="row index of each pixel")
    ctx.expect_equal("xx", xx, ref_xx, what="column index of each pixel")

    flat = ctx.array("flat", pytype="numpy.ndarray", kind="f", shape=FRAME_SHAPE)
    ctx.expect_equal("flat", flat, np.ones(FRAME_SHAPE))

    dq_good = ctx.array("dq_good", pytype="numpy.ndarray", shape=FRAME_SHAPE)
    if dq_good.dtype != np.dtype(np.int16):
        ctx.fail(
            f"`dq_good` has dtype {dq_good.dtype}; this question asks for 16-bit integers, like the STIS DQ "
            "extension: dtype=np.int16"
        )
    ctx.expect_equal("dq_good", dq_good, np.zeros(FRAME_SHAPE, dtype=np.int16))

    sky = ctx.array("sky", pytype="numpy.ndarray", shape=FRAME_SHAPE)
    if sky.dtype.kind != "f":
        ctx.fail(f"`sky` has dtype {sky.dtype}; zeros_like(flat) takes the shape and the float dtype of `flat`")
    ctx.expect_equal("sky", sky, np.zeros(FRAME_SHAPE))


@check(ASSIGNMENT, "reshape")
def reshape(ctx: CheckContext) -> None:
    """``stamp``: arange(20) given the shape (4, 5) in place (so it owns its memory);
    ``stamp_col``: the same 20 numbers as a column, shape (20, 1)."""
    ref = np.arange(20)
    v = ctx.value("stamp")
    stamp = ctx.array("stamp", pytype="numpy.ndarray", kind="fiu")
    if stamp.shape == (5, 4):
        ctx.fail("`stamp` has shape (5, 4); this question asks for 4 rows of 5: (4, 5)")
    ctx.array("stamp", shape=(4, 5))
    ctx.expect_equal("stamp", stamp, ref.reshape(4, 5))
    if v.owndata is False:
        ctx.fail(
            "`stamp` is a view of another array (a reshaped copy of the name, not the array itself); "
            "this question asks to change the shape of the array in place: `stamp.shape = (4, 5)`"
        )
    col = ctx.array("stamp_col", pytype="numpy.ndarray", kind="fiu")
    if col.shape == (1, 20):
        ctx.fail("`stamp_col` has shape (1, 20), a row; reshape(-1, 1) makes a column of shape (20, 1)")
    ctx.array("stamp_col", shape=(20, 1))
    ctx.expect_equal("stamp_col", col, ref.reshape(-1, 1))


@check(ASSIGNMENT, "arithmetic")
def arithmetic(ctx: CheckContext) -> None:
    """``rate`` = counts / exptime, ``snr`` = counts / sqrt(counts) (elementwise);
    ``twice_list`` = the list times 2 (a list, repeated); ``twice_array`` = the array times 2."""
    rate = ctx.array("rate", pytype="numpy.ndarray", kind="f")
    ctx.expect_close("rate", rate, COUNTS / EXPTIME)
    snr = ctx.array("snr", pytype="numpy.ndarray", kind="f")
    if _close(snr, COUNTS / EXPTIME / np.sqrt(COUNTS / EXPTIME), ctx.rtol, ctx.atol):
        ctx.fail("`snr` uses the count rate; the Poisson signal-to-noise ratio is counts / sqrt(counts)")
    ctx.expect_close("snr", snr, COUNTS / np.sqrt(COUNTS))

    v = ctx.value("twice_list")
    if v.pytype != "list":
        ctx.fail(
            f"`twice_list` is a {v.pytype}; this question wants what `*` does to the Python list itself: "
            "flux_list * 2"
        )
    twice_list = ctx.array("twice_list", kind="f")
    if twice_list.shape == (len(FLUX_LIST),):
        ctx.fail(
            "`twice_list` has as many elements as `flux_list`: with a list, `* 2` does not double the numbers; "
            "try it"
        )
    ctx.expect_equal("twice_list", twice_list, np.array(FLUX_LIST * 2))

    twice_array = ctx.array("twice_array", pytype="numpy.ndarray", kind="f")
    if twice_array.shape == (2 * len(FLUX_LIST),):
        ctx.fail("`twice_array` is the list repeated; an array times 2 doubles each element: flux * 2")
    ctx.expect_close("twice_array", twice_array, np.array(FLUX_LIST) * 2)
