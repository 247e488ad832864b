"""Hidden checks of the assignment ``boolean-masks``.

Every question reads arrays the notebook gives in locked cells (``a`` in the setup
cell, ``sci`` and ``dq`` just before the bad-pixel question, the ripple ``x``, ``y``,
``r``, ``z`` in the ripple cell) or an earlier answer (``in_disk``), and the checks
compute the answer from the run's inputs; the thresholds 6 and 17, the centre (10, 15)
and the radius 10 are fixed by the questions' wording.

* Secret inputs: ``a`` of another length and range in shuffled order (6 and 17 always
  among its values, so the strict comparisons matter); another small image with a
  few flagged pixels (some bad-looking, one that looks fine, and one bright pixel that
  is NOT flagged: the flags decide, not the values); the ripple on another grid that
  is not square (x and y of other extents, steps that are powers of two so that
  distances are exact and some points lie exactly on the circle), with, for
  ``zero-disk``, its own disk.  A typed count or a pasted mask fails there.  The
  ripple names are put in place together (x, y, r, z, and in_disk for zero-disk) so
  that code reading any of them sees one consistent grid.
* Inputs left unchanged: ``clean`` and ``z_disk`` must be new arrays.  ``sci`` (watched)
  must hold its values after the bad-pixel code in every run (the given cell defines
  it right before that code, so the own run knows its value too), and ``clean`` must
  not share memory with it.  ``z`` (watched) is checked unchanged only in the reruns,
  where it is put in place just before the code (in the notebook's own run, earlier
  cells could have changed it); in the own run, ``z_disk`` sharing memory with ``z``
  fails.  So ``z_disk = z; z_disk[in_disk] = 0`` loses the question, with a message
  saying why.
* ``np.where`` instead of assigning through a mask earns full marks, and so do
  ``np.count_nonzero``, ``np.logical_and``, ``np.hypot``, ``<= 6`` / ``>= 17`` with ``|``
  for ``outside``.  An earlier mistake (a wrong ``in_disk``) costs only its question:
  ``z_disk`` is judged again with the correct mask.
"""

from __future__ import annotations

import numpy as np

from ..values import Value
from ._api import CheckContext, check, is_close, reference_state

ASSIGNMENT = "boolean-masks"
LO, HI = 6, 17
CENTER = (10.0, 15.0)
RADIUS = 10.0
FLAGS = np.array([4, 16, 512, 1024, 8192], dtype=np.int16)
#: STIS DQ flags the notebook never names (it names 16, 512, 1024 and 8192).
UNNAMED_FLAGS = np.array([1, 2, 4, 8, 32, 64, 128, 256, 2048, 4096], dtype=np.int16)


@reference_state(ASSIGNMENT)
def state(data_path) -> dict:
    """The given arrays of the notebook, and the disk a correct solution leaves."""
    from reference_solution import disk_mask, ripple

    sci = np.array([[101.0, 99.0, 100.0, 102.0, 98.0, 100.0],
                    [100.0, 250.0, 101.0, 99.0, 100.0, 103.0],
                    [98.0, 100.0, 97.0, 100.0, 5000.0, 101.0],
                    [102.0, 101.0, 99.0, 100.0, 100.0, 99.0],
                    [99.0, -40.0, 100.0, 101.0, 98.0, 100.0]])
    dq = np.zeros(sci.shape, dtype=np.int16)
    dq[1, 1], dq[2, 4], dq[3, 5], dq[4, 1] = 16, 8192, 1024, 512
    x, y, z = ripple()
    a = np.arange(20)
    return {"a": a, "gt6": a > LO, "sci": sci, "dq": dq, "x": x, "y": y, "r": np.sqrt(x**2 + y**2), "z": z,
            "in_disk": disk_mask(x, y, center=CENTER, radius=RADIUS)}


# ------------------------------------------------------------------- secret inputs
def _other_a(inputs: dict, rng: np.random.Generator) -> dict:
    """Integers of another range and length, shuffled, with 6 and 17 among them."""
    n = int(rng.integers(25, 60))
    a = np.concatenate([[LO, HI], rng.integers(-15, 45, n - 2)])
    return {"a": rng.permutation(a)}


def _other_a_and_gt6(inputs: dict, rng: np.random.Generator) -> dict:
    """As :func:`_other_a`, with the first question's mask for that ``a``: the combined
    mask may reuse ``gt6`` (it is the mask of a > 6)."""
    out = _other_a(inputs, rng)
    out["gt6"] = out["a"] > LO
    return out


def _other_image(inputs: dict, rng: np.random.Generator) -> dict:
    """Another small image near 100 counts with a few flagged pixels: a hot one, a cold
    one, one that looks fine, and a bright pixel that is not flagged.  One flag is a value
    the notebook never names and one is two flags combined (a bitwise OR, as in real DQ
    images), so that listing the values the notebook shows (``dq == 16``...) fails."""
    shape = (int(rng.integers(6, 9)), int(rng.integers(7, 11)))
    sci = np.round(rng.normal(100.0, 2.0, shape), 1)
    pixels = rng.choice(sci.size, 5, replace=False)
    hot, cold, fine, bright, extra = (np.unravel_index(int(p), shape) for p in pixels)
    sci[hot], sci[cold], sci[bright] = rng.uniform(300, 6000), rng.uniform(-80, -10), rng.uniform(300, 900)
    dq = np.zeros(shape, dtype=np.int16)
    both = rng.choice(np.union1d(FLAGS, UNNAMED_FLAGS), 2, replace=False)  # two different flags
    values = [rng.choice(UNNAMED_FLAGS), both[0] | both[1], rng.choice(FLAGS), rng.choice(FLAGS)]
    for where, value in zip((hot, cold, fine, extra), rng.permutation(values), strict=True):
        dq[where] = value
    return {"sci": sci, "dq": dq}


def _other_ripple(rng: np.random.Generator) -> dict:
    """The ripple on a grid that is not square: x and y of other extents, a step of
    1/8 or 1/2 (exact in binary: points exactly on the circle stay on it)."""
    step = float(rng.choice([0.125, 0.5]))
    nx, ny = int(rng.integers(20, 36) / step), int(rng.integers(20, 36) / step)
    x = (-float(rng.integers(2, 8)) + step * np.arange(nx)).reshape(1, -1)
    y = (-float(rng.integers(0, 6)) + step * np.arange(ny)).reshape(-1, 1)
    r = np.sqrt(x**2 + y**2)
    return {"x": x, "y": y, "r": r, "z": np.cos(r) / (r + 5)}


def _other_grid(inputs: dict, rng: np.random.Generator) -> dict:
    return _other_ripple(rng)


def _other_grid_and_disk(inputs: dict, rng: np.random.Generator) -> dict:
    from reference_solution import disk_mask

    out = _other_ripple(rng)
    return {**out, "in_disk": disk_mask(out["x"], out["y"], center=CENTER, radius=RADIUS)}


# ------------------------------------------------------------------------- helpers
def _close(ctx: CheckContext, actual, expected, exact: bool = False) -> bool:
    return is_close(actual, expected, 0.0 if exact else ctx.rtol, 0.0 if exact else ctx.atol)


def _mask(ctx: CheckContext, name: str, shape: tuple[int, ...]) -> np.ndarray:
    arr = ctx.array(name, pytype="numpy.ndarray")
    if arr.dtype.kind != "b":
        ctx.fail(f"`{name}` has dtype {arr.dtype}; a mask is a boolean array (True/False), made by comparisons "
                 "combined with & | ~")
    return ctx.array(name, shape=shape)


def _shares(ctx: CheckContext, name: str, other: str) -> bool:
    a, b = ctx.values.get(name), ctx.values.get(other)
    return isinstance(a, Value) and isinstance(b, Value) and a.status == b.status == "ok" and a.shares_memory_with(b)


def _changed(ctx: CheckContext, name: str) -> bool:
    """Whether the watched input ``name``, captured after the code, differs from this
    run's input (NaN where NaN was counts as unchanged)."""
    v = ctx.values.get(name)
    if not isinstance(v, Value) or v.status != "ok" or v.array is None:
        return False
    return not _close(ctx, v.array, ctx.input(name), exact=True)


# ------------------------------------------------------------------------ questions
@check(ASSIGNMENT, "compare", inputs=("a",), secret=_other_a)
def compare(ctx: CheckContext) -> None:
    """``gt6`` = a > 6 (boolean); ``n_gt6``: how many elements are True (a single number,
    judged exactly and never shown)."""
    a = np.asarray(ctx.input("a"))
    gt6 = _mask(ctx, "gt6", a.shape)
    if np.array_equal(gt6, a >= LO) and not np.array_equal(gt6, a > LO):
        ctx.fail("`gt6` includes 6 itself; the question asks for values strictly greater than 6")
    ctx.expect_equal("gt6", gt6, a > LO)
    n = ctx.scalar("n_gt6")
    if n == a.size and a.size != np.count_nonzero(a > LO):
        ctx.fail("`n_gt6` counts every element; count only the True ones: gt6.sum() or np.count_nonzero(gt6)")
    if n != np.count_nonzero(a > LO):
        ctx.fail("`n_gt6` is not the number of True values in the mask a > 6")


@check(ASSIGNMENT, "combine", inputs=("a", "gt6"), secret=_other_a_and_gt6)
def combine(ctx: CheckContext) -> None:
    """``between`` = (a > 6) & (a < 17); ``outside`` = ~between (or the equivalent with |)."""
    a = np.asarray(ctx.input("a"))
    between = _mask(ctx, "between", a.shape)
    expected = (a > LO) & (a < HI)
    if not np.array_equal(between, expected) and any(
            np.array_equal(between, m) for m in ((a >= LO) & (a <= HI), (a >= LO) & (a < HI), (a > LO) & (a <= HI))):
        ctx.fail("`between` includes an end point; both comparisons are strict: a > 6 and a < 17")
    if not np.array_equal(between, expected) and np.array_equal(between, (a > LO) | (a < HI)):
        ctx.fail("`between` is True where EITHER comparison holds; combine with & (and), not | (or)")
    ctx.expect_equal("between", between, expected)
    outside = _mask(ctx, "outside", a.shape)
    if np.array_equal(outside, expected):
        ctx.fail("`outside` equals `between`; invert it with ~")
    if not np.array_equal(outside, ~expected) and np.array_equal(outside, (a < LO) | (a > HI)):
        ctx.fail("`outside` misses the end points 6 and 17, which are not strictly between; ~between gets them right")
    ctx.expect_equal("outside", outside, ~expected)


@check(ASSIGNMENT, "bad-pixels", inputs=("sci", "dq"), secret=_other_image, watch=("sci",))
def bad_pixels(ctx: CheckContext) -> None:
    """``clean``: sci with every pixel whose dq flag is nonzero set to NaN; ``sci`` itself
    must keep its values (assign into a copy, or use np.where)."""
    sci = np.asarray(ctx.input("sci"), dtype=np.float64)
    dq = np.asarray(ctx.input("dq"))
    expected = np.where(dq != 0, np.nan, sci)
    clean = ctx.array("clean", pytype="numpy.ndarray", kind="f", shape=sci.shape)
    alias = ("`clean = sci` gives the same array a second name, so setting its pixels to NaN changed `sci` too; "
             "start from sci.copy() or use np.where")
    if _shares(ctx, "clean", "sci"):
        ctx.fail(f"`clean` shares memory with `sci`: {alias}")
    if _close(ctx, clean, np.where(dq == 0, np.nan, sci)):
        ctx.fail("`clean` has NaN on the good pixels and keeps the flagged ones: the mask is inverted (flagged "
                 "means dq != 0)")
    if _close(ctx, clean, np.where(dq != 0, 0.0, sci)):
        ctx.fail("`clean` has 0 on the flagged pixels; set them to np.nan, so that a zero is never mistaken for a "
                 "measurement")
    ctx.expect_close("clean", clean, expected)
    if _changed(ctx, "sci"):
        ctx.fail(f"`clean` is right, but `sci` was changed as well: {alias}")


@check(ASSIGNMENT, "disk-mask", inputs=("x", "y", "r", "z"), secret=_other_grid)
def disk_mask_question(ctx: CheckContext) -> None:
    """``in_disk``: True where the point (x, y) is strictly closer than 10 to (x, y) = (10, 15),
    on the run's grid."""
    from reference_solution import disk_mask

    x = np.asarray(ctx.input("x"), dtype=np.float64)
    y = np.asarray(ctx.input("y"), dtype=np.float64)
    expected = ctx.expected("in_disk", lambda: disk_mask(x, y, center=CENTER, radius=RADIUS))
    in_disk = _mask(ctx, "in_disk", expected.shape)
    cx, cy = CENTER
    d2 = (x - cx) ** 2 + (y - cy) ** 2
    if np.array_equal(in_disk, d2 <= RADIUS**2) and not np.array_equal(in_disk, expected):
        ctx.fail("`in_disk` includes the points at distance exactly 10; the question wants strictly closer (<)")
    if np.array_equal(in_disk, (x - cy) ** 2 + (y - cx) ** 2 < RADIUS**2) and not np.array_equal(in_disk, expected):
        ctx.fail("`in_disk` is centred on x = 15, y = 10; the centre is x = 10, y = 15")
    if np.array_equal(in_disk, d2 < RADIUS):
        ctx.fail("`in_disk` compares the squared distance with 10; compare it with 10**2 (or the distance with 10)")
    if np.array_equal(in_disk, ~expected):
        ctx.fail("`in_disk` is True outside the disk; the mask is inverted")
    ctx.expect_equal("in_disk", in_disk, expected)


@check(ASSIGNMENT, "zero-disk", inputs=("x", "y", "r", "z", "in_disk"), secret=_other_grid_and_disk, watch=("z",))
def zero_disk_question(ctx: CheckContext) -> None:
    """``z_disk``: the run's z with the points of ``in_disk`` set to 0, elsewhere
    unchanged; a new array (``z`` keeps its values)."""
    z = np.asarray(ctx.input("z"), dtype=np.float64)
    mask = np.asarray(ctx.input("in_disk"), dtype=bool)
    expected = ctx.expected("z_disk", lambda: np.where(mask, 0.0, z))
    z_disk = ctx.array("z_disk", pytype="numpy.ndarray", kind="f", shape=z.shape)
    alias = ("`z_disk = z` gives the same array a second name, so zeroing the disk changed `z` too; this question "
             "asks for a copy: z_disk = z.copy() then z_disk[in_disk] = 0, or np.where(in_disk, 0, z)")
    if _shares(ctx, "z_disk", "z"):
        ctx.fail(f"`z_disk` shares memory with `z`: {alias}")
    if _close(ctx, z_disk, np.where(mask, np.nan, z)):
        ctx.fail("`z_disk` has NaN in the disk; this question sets the disk to 0")
    if _close(ctx, z_disk, np.where(mask, z, 0.0)):
        ctx.fail("`z_disk` keeps the disk and zeroes everything else; set the points INSIDE the disk to 0")
    if _close(ctx, z_disk, z):
        ctx.fail("`z_disk` is z unchanged; set the points inside the disk to 0")
    ctx.expect_close("z_disk", z_disk, expected)
    if ctx.run != "own" and _changed(ctx, "z"):
        ctx.fail(f"`z_disk` is right, but `z` was changed by this question's code: {alias}", public=True)
