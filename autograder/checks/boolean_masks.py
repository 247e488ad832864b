"""Hidden checks of the assignment ``boolean-masks``.

The small arrays of the notebook (``a``, ``sci``, ``dq``) are given in locked cells; the
checks rebuild them here from the same specification.  The ripple surface and its disk
come from :func:`reference_solution.ripple`, :func:`reference_solution.disk_mask` and
:func:`reference_solution.zero_disk`.  ``np.where`` instead of assigning through a mask
earns full marks (the checks look at values only).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ._api import CheckContext, check

ASSIGNMENT = "boolean-masks"

A = np.arange(20)
SCI = np.array(
    [
        [101.0, 99.0, 100.0, 102.0, 98.0, 100.0],
        [100.0, 250.0, 101.0, 99.0, 100.0, 103.0],
        [98.0, 100.0, 97.0, 100.0, 5000.0, 101.0],
        [102.0, 101.0, 99.0, 100.0, 100.0, 99.0],
        [99.0, -40.0, 100.0, 101.0, 98.0, 100.0],
    ]
)
DQ = np.array(
    [
        [0, 0, 0, 0, 0, 0],
        [0, 16, 0, 0, 0, 0],
        [0, 0, 0, 0, 8192, 0],
        [0, 0, 0, 0, 0, 1024],
        [0, 512, 0, 0, 0, 0],
    ],
    dtype=np.int16,
)
CENTER = (10.0, 15.0)
RADIUS = 10.0


@lru_cache(maxsize=1)
def _disk():
    from reference_solution import disk_mask, ripple, zero_disk

    x, y, z = ripple()
    mask = np.asarray(disk_mask(x, y, center=CENTER, radius=RADIUS))
    zeroed = np.asarray(zero_disk(z, x, y, center=CENTER, radius=RADIUS), dtype=float)
    return np.asarray(x, dtype=float), np.asarray(y, dtype=float), np.asarray(z, dtype=float), mask, zeroed


def _close(actual, expected, rtol: float, atol: float) -> bool:
    a, e = np.asarray(actual), np.asarray(expected)
    if a.shape != e.shape or a.dtype.kind not in "fiub":
        return False
    with np.errstate(all="ignore"):
        return bool(np.allclose(a.astype(float), e.astype(float), rtol=rtol, atol=atol, equal_nan=True))


def _mask(ctx: CheckContext, name: str, shape: tuple[int, ...]) -> np.ndarray:
    arr = ctx.array(name, pytype="numpy.ndarray")
    if arr.dtype.kind != "b":
        ctx.fail(
            f"`{name}` has dtype {arr.dtype}; a mask is a boolean array (True/False), made by comparisons "
            "combined with & | ~"
        )
    return ctx.array(name, shape=shape)


@check(ASSIGNMENT, "compare")
def compare(ctx: CheckContext) -> None:
    """``gt6`` = a > 6 (boolean); ``n_gt6``: how many elements are True."""
    gt6 = _mask(ctx, "gt6", A.shape)
    if np.array_equal(gt6, A >= 6) and not np.array_equal(gt6, A > 6):
        ctx.fail("`gt6` includes 6 itself; the question asks for values strictly greater than 6")
    ctx.expect_equal("gt6", gt6, A > 6)
    n = ctx.scalar("n_gt6")
    if n == A.size:
        ctx.fail("`n_gt6` counts every element; count only the True ones: gt6.sum() or np.count_nonzero(gt6)")
    if n != np.count_nonzero(A > 6):
        ctx.fail("`n_gt6` is not the number of True values in the mask a > 6")


@check(ASSIGNMENT, "combine")
def combine(ctx: CheckContext) -> None:
    """``between`` = (a > 6) & (a < 17); ``outside`` = ~between (or the equivalent with |)."""
    between = _mask(ctx, "between", A.shape)
    expected = (A > 6) & (A < 17)
    if np.array_equal(between, (A >= 6) & (A <= 17)) or np.array_equal(between, (A >= 6) & (A < 17)) or np.array_equal(
        between, (A > 6) & (A <= 17)
    ):
        ctx.fail("`between` includes an end point; both comparisons are strict: a > 6 and a < 17")
    if np.array_equal(between, (A > 6) | (A < 17)):
        ctx.fail("`between` is True where EITHER comparison holds; combine with & (and), not | (or)")
    ctx.expect_equal("between", between, expected)
    outside = _mask(ctx, "outside", A.shape)
    if np.array_equal(outside, expected):
        ctx.fail("`outside` equals `between`; invert it with ~")
    if np.array_equal(outside, (A < 6) | (A > 17)):
        ctx.fail("`outside` misses the end points 6 and 17, which are not strictly between; ~between gets them right")
    ctx.expect_equal("outside", outside, ~expected)


@check(ASSIGNMENT, "bad-pixels", uses=("sci",))
def bad_pixels(ctx: CheckContext) -> None:
    """``clean``: sci with every pixel whose dq flag is nonzero set to NaN; ``sci`` itself
    must keep its values (assign into a copy, or use np.where)."""
    expected = np.where(DQ != 0, np.nan, SCI)
    clean = ctx.array("clean", pytype="numpy.ndarray", kind="f", shape=SCI.shape)
    if _close(clean, np.where(DQ == 0, np.nan, SCI), ctx.rtol, ctx.atol):
        ctx.fail(
            "`clean` has NaN on the good pixels and keeps the flagged ones: the mask is inverted (flagged "
            "means dq != 0)"
        )
    if _close(clean, np.where(DQ != 0, 0.0, SCI), ctx.rtol, ctx.atol):
        ctx.fail(
            "`clean` has 0 on the flagged pixels; set them to np.nan, so that a zero is never mistaken for a "
            "measurement"
        )
    ctx.expect_close("clean", clean, expected)
    v = ctx.values.get("sci")
    if v is not None and v.status == "ok" and v.array is not None and not _close(v.array, SCI, 0.0, 0.0):
        ctx.fail(
            "`clean` is right, but `sci` was changed as well: `clean = sci` gives the same array a second name; "
            "start from sci.copy() or use np.where"
        )


@check(ASSIGNMENT, "disk-mask")
def disk_mask_question(ctx: CheckContext) -> None:
    """``in_disk``: True where the point (x, y) is strictly closer than 10 to (x, y) = (10, 15)."""
    x, y, _, expected, _ = _disk()
    in_disk = _mask(ctx, "in_disk", expected.shape)
    cx, cy = CENTER
    d2 = (x - cx) ** 2 + (y - cy) ** 2
    if np.array_equal(in_disk, d2 <= RADIUS**2) and not np.array_equal(in_disk, expected):
        ctx.fail("`in_disk` includes the points at distance exactly 10; the question wants strictly closer (<)")
    if np.array_equal(in_disk, (x - cy) ** 2 + (y - cx) ** 2 < RADIUS**2):
        ctx.fail("`in_disk` is centred on x = 15, y = 10; the centre is x = 10, y = 15")
    if np.array_equal(in_disk, d2 < RADIUS):
        ctx.fail("`in_disk` compares the squared distance with 10; compare it with 10**2 (or the distance with 10)")
    if np.array_equal(in_disk, ~expected):
        ctx.fail("`in_disk` is True outside the disk; the mask is inverted")
    ctx.expect_equal("in_disk", in_disk, expected)


@check(ASSIGNMENT, "zero-disk", uses=("in_disk",))
def zero_disk_question(ctx: CheckContext) -> None:
    """``z_disk``: the ripple z with the disk set to 0, elsewhere unchanged.

    Follows the recipe: passes when it equals the reference, or z zeroed where the
    student's own ``in_disk`` is True (a wrong mask costs only disk-mask).
    """
    _, _, z, mask, expected = _disk()
    z_disk = ctx.array("z_disk", pytype="numpy.ndarray", kind="f", shape=expected.shape)
    if _close(z_disk, expected, ctx.rtol, ctx.atol):
        return
    v = ctx.values.get("in_disk")
    own_mask = v.array if v is not None and v.status == "ok" else None
    if own_mask is not None and own_mask.dtype.kind == "b" and own_mask.shape == z.shape:
        if _close(z_disk, np.where(own_mask, 0.0, z), ctx.rtol, ctx.atol):
            return
    if _close(z_disk, np.where(mask, np.nan, z), ctx.rtol, ctx.atol):
        ctx.fail("`z_disk` has NaN in the disk; this question sets the disk to 0")
    if _close(z_disk, np.where(mask, z, 0.0), ctx.rtol, ctx.atol):
        ctx.fail("`z_disk` keeps the disk and zeroes everything else; set the points INSIDE the disk to 0")
    if _close(z_disk, z, ctx.rtol, ctx.atol):
        ctx.fail("`z_disk` is z unchanged; set the points inside the disk to 0")
    ctx.expect_close("z_disk", z_disk, expected)
