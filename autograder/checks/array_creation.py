"""Hidden checks of the assignment ``array-creation``.

Each question's answer follows from the inputs the notebook gives (a seed and a count,
the list of exposure times, the counts and fluxes) or from the question's own
wording (a range, a shape).  Secret runs change the given inputs (another seed and
count, other exposure times and fluxes), so an answer typed in rather than computed
fails there.  The vectorized sine is also run on a million numbers and must not loop
in Python (the "no-loop" rule, judged from what the code did: see
:mod:`autograder.grading`).  The timing in the notebook is never graded.
"""

from __future__ import annotations

import numpy as np

from ._api import CheckContext, CheckFailed, check, is_close, reference_state
from ._code import refuse_typed

ASSIGNMENT = "array-creation"

# What the questions' wording fixes.
N_COLUMNS = 511
WAVE_RANGE = (2900.0, 5700.0)
FREQ_EXPONENTS = (8, 11, 7)
STAMP_SHAPE = (4, 6)
FRAME_SHAPE = (512, 511)


@reference_state(ASSIGNMENT)
def state(data_path) -> dict:
    """The notebook's given inputs and the values a correct solution leaves."""
    from reference_solution import sine_of_uniform

    seed, n = 2024, 100_000
    values, sines = sine_of_uniform(n, seed)
    return {
        "SEED": seed, "N": n, "values": values, "sines_loop": sines,
        "exposure_list": [720, 720, 360, 1200],
        "counts": np.array([1200.0, 4500.0, 800.0, 15000.0]), "exptime": 720.0,
        "flux_list": [1.0, 2.5, 4.0], "flux": np.array([1.0, 2.5, 4.0]),
    }


def _hinted(exc: CheckFailed, hint: str) -> CheckFailed:
    return CheckFailed(f"{exc} ({hint})")


def _other_seed(inputs: dict, rng: np.random.Generator) -> dict:
    return {"SEED": int(rng.integers(1, 2**31)), "N": int(rng.integers(500, 5000))}


@check(ASSIGNMENT, "sine-loop", inputs=("SEED", "N"), secret=_other_seed)
def sine_loop(ctx: CheckContext) -> None:
    """``values``: N uniform numbers from ``default_rng(SEED)``; ``sines_loop``: their sines.

    ``sines_loop`` may be a list (the natural result of a loop) or an array; it must
    hold the sines of the same numbers as ``values``.
    """
    from reference_solution import sine_of_uniform

    n = ctx.input("N")
    ref_values, ref_sines = ctx.expected("sines", lambda: sine_of_uniform(n, ctx.input("SEED")))
    values = ctx.array("values", kind="f", pytype="numpy.ndarray")
    if values.shape != (n,):
        ctx.fail(f"`values` has shape {values.shape}; this question expects N numbers (N is given in the first "
                 "cell): shape (N,)")
    try:
        ctx.expect_close("values", values, ref_values)
    except CheckFailed as exc:
        raise _hinted(exc, "draw them with rng.random(N) from a generator made with np.random.default_rng(SEED) in "
                           "the same cell; drawing twice from one generator gives different numbers") from None
    sines = ctx.array("sines_loop", kind="f")
    if sines.shape != (n,):
        ctx.fail(f"`sines_loop` has {sines.size} element(s) in shape {sines.shape}; it needs one sine per number "
                 "in `values`")
    if is_close(sines, np.cos(ref_values), ctx.rtol, ctx.atol):
        ctx.fail("`sines_loop` holds cosines; use math.sin")
    try:
        ctx.expect_close("sines_loop", sines, ref_sines)
    except CheckFailed as exc:
        raise _hinted(exc, "take the sine of each number of `values` itself, not of new random numbers") from None


def _many_values(inputs: dict, rng: np.random.Generator) -> dict:
    """A million numbers, with ``N`` to match; ``sines_loop`` is the first question's
    answer for them, made wrong on purpose by 3 parts in a million: code comparing with
    it by ``np.allclose`` (the visible test's own line, within 1e-5 relative) or sizing
    from ``N`` runs as it did in the notebook, while a ``sines_vec`` copied from
    ``sines_loop`` (reusing the loop) is off by more than the question's tolerance (1e-6
    relative, which a float32 computation meets).  A comparison tighter than
    ``np.allclose``'s fails there."""
    values = rng.uniform(-3.0, 3.0, 1_000_000)
    return {"values": values, "N": values.size, "sines_loop": np.sin(values) * (1 + 3e-6)}


@check(ASSIGNMENT, "sine-vectorized", inputs=("values", "N", "sines_loop"), secret=_many_values, rules=("no-loop",),
       speed_reference="np.sin(values)")
def sine_vectorized(ctx: CheckContext) -> None:
    """``sines_vec``: ``np.sin(values)`` in one call (no Python loop: the rule is checked
    on a secret run with a million numbers)."""
    values = np.asarray(ctx.input("values"), dtype=float)
    sines = ctx.array("sines_vec", kind="f", pytype="numpy.ndarray")
    if sines.shape != values.shape:
        ctx.fail(f"`sines_vec` has shape {sines.shape}; it needs one sine per number in `values` (computed from "
                 "`values` itself, not from an earlier result)")
    expected = ctx.expected("sines", lambda: np.sin(values))
    if is_close(sines, np.cos(values), ctx.rtol, ctx.atol):
        ctx.fail("`sines_vec` holds cosines; use np.sin")
    try:
        ctx.expect_close("sines_vec", sines, expected)
    except CheckFailed as exc:
        raise _hinted(exc, "apply np.sin to `values` itself; do not draw new numbers") from None


def _other_exposures(inputs: dict, rng: np.random.Generator) -> dict:
    return {"exposure_list": [int(t) for t in rng.integers(30, 3000, int(rng.integers(3, 9)))]}


@check(ASSIGNMENT, "ranges", inputs=("exposure_list",), secret=_other_exposures)
def ranges(ctx: CheckContext) -> None:
    """``exptimes`` from the given list, ``pixels`` (arange), ``wave`` (linspace), ``freqs`` (logspace)."""
    refuse_typed(ctx, "with np.array, np.arange, np.linspace and np.logspace")
    exptimes = ctx.array("exptimes", pytype="numpy.ndarray", kind="fiu")
    ctx.expect_close("exptimes", exptimes, np.array(ctx.input("exposure_list"), dtype=float))

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
        ctx.fail(f"`wave` has {wave.size} elements; this question expects {N_COLUMNS}, one per column, with both "
                 "end points included (np.linspace)")
    ctx.expect_close("wave", wave, np.linspace(*WAVE_RANGE, N_COLUMNS))

    freqs = ctx.array("freqs", pytype="numpy.ndarray", kind="f", ndim=1)
    lo, hi, n = FREQ_EXPONENTS
    ctx.array("freqs", shape=(n,))
    if not np.all(np.isfinite(freqs)):
        ctx.fail("`freqs` has infinite or NaN values: np.logspace takes the exponents (powers of ten), not the "
                 "frequencies")
    if is_close(freqs, np.linspace(10.0**lo, 10.0**hi, n), ctx.rtol, ctx.atol):
        ctx.fail("`freqs` is evenly spaced in frequency; this question wants even spacing in log(frequency): "
                 "np.logspace")
    ctx.expect_close("freqs", freqs, np.logspace(lo, hi, n))


@check(ASSIGNMENT, "grids-and-fills")
def grids_and_fills(ctx: CheckContext) -> None:
    """``yy, xx``: row and column index of each pixel of a 4x6 stamp (mgrid or meshgrid);
    ``flat``: ones (512, 511) float; ``dq_good``: zeros (512, 511) int16; ``sky``: zeros_like(flat)."""
    refuse_typed(ctx, "with np.mgrid (or np.meshgrid) and the fill functions")
    ref_yy, ref_xx = np.mgrid[0 : STAMP_SHAPE[0], 0 : STAMP_SHAPE[1]]
    yy = ctx.array("yy", kind="fiu")
    xx = ctx.array("xx", kind="fiu")
    for name, arr in (("yy", yy), ("xx", xx)):
        if arr.shape == STAMP_SHAPE[::-1]:
            ctx.fail(f"`{name}` has shape {arr.shape}: it looks transposed; the stamp has {STAMP_SHAPE[0]} rows and "
                     f"{STAMP_SHAPE[1]} columns")
        ctx.array(name, shape=STAMP_SHAPE)
    if np.array_equal(yy, ref_xx) and np.array_equal(xx, ref_yy):
        ctx.fail("`yy` and `xx` look swapped: `yy` is the row index (first index), `xx` the column index")
    ctx.expect_equal("yy", yy, ref_yy, what="row index of each pixel")
    ctx.expect_equal("xx", xx, ref_xx, what="column index of each pixel")

    flat = ctx.array("flat", pytype="numpy.ndarray", kind="f", shape=FRAME_SHAPE)
    ctx.expect_equal("flat", flat, np.ones(FRAME_SHAPE))

    dq_good = ctx.array("dq_good", pytype="numpy.ndarray", shape=FRAME_SHAPE)
    if dq_good.dtype != np.dtype(np.int16):
        ctx.fail(f"`dq_good` has dtype {dq_good.dtype}; this question asks for 16-bit integers, like the STIS DQ "
                 "extension: dtype=np.int16")
    ctx.expect_equal("dq_good", dq_good, np.zeros(FRAME_SHAPE, dtype=np.int16))

    sky = ctx.array("sky", pytype="numpy.ndarray", shape=FRAME_SHAPE)
    if sky.dtype.kind != "f":
        ctx.fail(f"`sky` has dtype {sky.dtype}; zeros_like(flat) takes the shape and the float dtype of `flat`")
    ctx.expect_equal("sky", sky, np.zeros(FRAME_SHAPE))


@check(ASSIGNMENT, "reshape")
def reshape(ctx: CheckContext) -> None:
    """``stamp``: the numbers 0..19 as 4 rows of 5 (``np.arange(20).reshape(4, 5)``, or
    setting the shape of the array in place: both pass); ``stamp_col``: the same 20
    numbers as a column, shape (20, 1)."""
    refuse_typed(ctx, "with np.arange(20).reshape(4, 5)")
    ref = np.arange(20)
    stamp = ctx.array("stamp", pytype="numpy.ndarray", kind="fiu")
    if stamp.shape == (5, 4):
        ctx.fail("`stamp` has shape (5, 4); this question asks for 4 rows of 5: (4, 5)")
    ctx.array("stamp", shape=(4, 5))
    ctx.expect_equal("stamp", stamp, ref.reshape(4, 5))
    col = ctx.array("stamp_col", pytype="numpy.ndarray", kind="fiu")
    if col.shape == (1, 20):
        ctx.fail("`stamp_col` has shape (1, 20), a row; reshape(-1, 1) makes a column of shape (20, 1)")
    ctx.array("stamp_col", shape=(20, 1))
    ctx.expect_equal("stamp_col", col, ref.reshape(-1, 1))


def _other_sources(inputs: dict, rng: np.random.Generator) -> dict:
    n = int(rng.integers(3, 8))
    flux_list = [float(f) for f in np.round(rng.uniform(0.5, 9.5, int(rng.integers(2, 6))), 2)]
    return {"counts": np.round(rng.uniform(100.0, 20000.0, n)), "exptime": float(rng.integers(60, 3000)),
            "flux_list": flux_list, "flux": np.array(flux_list)}


@check(ASSIGNMENT, "arithmetic", inputs=("counts", "exptime", "flux_list", "flux"), secret=_other_sources)
def arithmetic(ctx: CheckContext) -> None:
    """``rate`` = counts / exptime, ``snr`` = counts / sqrt(counts) (elementwise);
    ``twice_list`` = the list times 2 (a list, repeated); ``twice_array`` = the array times 2."""
    counts, exptime = np.asarray(ctx.input("counts"), dtype=float), float(ctx.input("exptime"))
    flux_list = list(ctx.input("flux_list"))
    rate = ctx.array("rate", pytype="numpy.ndarray", kind="f")
    ctx.expect_close("rate", rate, counts / exptime)
    snr = ctx.array("snr", pytype="numpy.ndarray", kind="f")
    if is_close(snr, counts / exptime / np.sqrt(counts / exptime), ctx.rtol, ctx.atol):
        ctx.fail("`snr` uses the count rate; the Poisson signal-to-noise ratio is counts / sqrt(counts)")
    ctx.expect_close("snr", snr, counts / np.sqrt(counts))

    v = ctx.value("twice_list")
    if v.pytype != "list":
        ctx.fail(f"`twice_list` is a {v.pytype}; this question wants what `*` does to the Python list itself: "
                 "flux_list * 2")
    twice_list = ctx.array("twice_list", kind="f")
    if twice_list.shape == (len(flux_list),):
        ctx.fail("`twice_list` has as many elements as `flux_list`: with a list, `* 2` does not double the numbers; "
                 "try it")
    ctx.expect_equal("twice_list", twice_list, np.array(flux_list * 2))

    twice_array = ctx.array("twice_array", pytype="numpy.ndarray", kind="f")
    if twice_array.shape == (2 * len(flux_list),):
        ctx.fail("`twice_array` is the list repeated; an array times 2 doubles each element: flux * 2")
    ctx.expect_close("twice_array", twice_array, np.array(flux_list) * 2)
