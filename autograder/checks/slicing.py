"""Hidden checks of the assignment ``slicing``.

The notebook loads the 3C120 images itself in a given, locked cell (converted to native
float64 for SCI and ERR, native int16 for DQ), so every answer here is a slice of the
file: the checks take the same slices of :func:`reference_solution.load_images` of the
verified course file.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ._api import CheckContext, check

ASSIGNMENT = "slicing"


@lru_cache(maxsize=2)
def _load(path: str):
    from reference_solution import load_images

    sci, err, dq = load_images(path)
    return np.asarray(sci, dtype=float), np.asarray(err, dtype=float), np.asarray(dq)


def _images(ctx: CheckContext):
    if ctx.reference.data_path is None:
        raise RuntimeError("the slicing checks need the course data file")
    return _load(str(ctx.reference.data_path))


def _close(actual, expected, rtol: float, atol: float) -> bool:
    a, e = np.asarray(actual), np.asarray(expected)
    if a.shape != e.shape or a.dtype.kind not in "fiub":
        return False
    with np.errstate(all="ignore"):
        return bool(np.allclose(a.astype(float), e.astype(float), rtol=rtol, atol=atol, equal_nan=True))


def _same_number(ctx: CheckContext, value: float, expected: float) -> bool:
    return bool(np.isclose(value, expected, rtol=ctx.rtol, atol=ctx.atol))


@check(ASSIGNMENT, "elements")
def elements(ctx: CheckContext) -> None:
    """``pix`` = img[254, 300] (row 254, column 300); ``last_pix`` = img[-1, -1].

    Single numbers taken straight from the file: the messages say only whether it is
    the right pixel, never by how much it differs (that would give the value away).
    """
    img, _, _ = _images(ctx)
    pix = ctx.scalar("pix")
    if not _same_number(ctx, pix, img[254, 300]):
        if _same_number(ctx, pix, img[300, 254]):
            ctx.fail("`pix` is the pixel at row 300, column 254: numpy indexes img[row, column], rows first")
        ctx.fail("`pix` is not the value of the pixel at row 254, column 300 of `img`")
    last = ctx.scalar("last_pix")
    if not _same_number(ctx, last, img[-1, -1]):
        if _same_number(ctx, last, img[-2, -2]):
            ctx.fail("`last_pix` is one pixel in from the corner; index -1 is the last row (and column)")
        ctx.fail("`last_pix` is not the value of the last pixel of `img` (last row, last column)")


@check(ASSIGNMENT, "rows-and-columns")
def rows_and_columns(ctx: CheckContext) -> None:
    """``profile_300`` = img[:, 300] (512 values along the slit); ``row_254`` = img[254] (511 values)."""
    img, _, _ = _images(ctx)
    nrows, ncols = img.shape
    prof = ctx.array("profile_300", kind="f", ndim=1, pytype="numpy.ndarray")
    if prof.shape == (ncols,):
        ctx.fail(f"`profile_300` has {ncols} values, one per column: that is a row; a column is img[:, 300]")
    ctx.array("profile_300", shape=(nrows,))
    if _close(prof, img[:, 299], ctx.rtol, ctx.atol) or _close(prof, img[:, 301], ctx.rtol, ctx.atol):
        ctx.fail("`profile_300` is a neighbouring column; columns are numbered from 0")
    ctx.expect_close("profile_300", prof, img[:, 300])

    row = ctx.array("row_254", kind="f", ndim=1, pytype="numpy.ndarray")
    if row.shape == (nrows,):
        ctx.fail(f"`row_254` has {nrows} values, one per row: that is a column; row 254 is img[254] or img[254, :]")
    ctx.array("row_254", shape=(ncols,))
    if _close(row, img[255], ctx.rtol, ctx.atol) or _close(row, img[253], ctx.rtol, ctx.atol):
        ctx.fail("`row_254` is a neighbouring row; rows are numbered from 0")
    ctx.expect_close("row_254", row, img[254])


@check(ASSIGNMENT, "strided")
def strided(ctx: CheckContext) -> None:
    """``err_samples`` = err[254, 10:200:3]: row 254 of the error image, every third column
    from 10, stopping before 200 (64 values)."""
    img, err, _ = _images(ctx)
    expected = err[254, 10:200:3]
    arr = ctx.array("err_samples", kind="f", ndim=1, pytype="numpy.ndarray")
    if arr.shape == err[254, 10:200].shape:
        ctx.fail(
            f"`err_samples` has {arr.size} values: every column from 10 to 199; the question wants every third "
            "one (a step of 3)"
        )
    if arr.shape != expected.shape:
        ctx.fail(
            f"`err_samples` has shape {arr.shape}; start 10, stop 200 (excluded) and step 3 give shape "
            f"{expected.shape}"
        )
    if _close(arr, img[254, 10:200:3], ctx.rtol, ctx.atol):
        ctx.fail("`err_samples` comes from the science image; this question asks for the error image `err`")
    if _close(arr, err[10:200:3, 254], ctx.rtol, ctx.atol):
        ctx.fail("`err_samples` runs down column 254; the question wants row 254: rows first, err[254, ...]")
    ctx.expect_close("err_samples", arr, expected)


@check(ASSIGNMENT, "dq-block")
def dq_block(ctx: CheckContext) -> None:
    """``dq_block`` = dq[251:254, 101:105]: rows 251..253 and columns 101..104, both inclusive."""
    _, _, dq = _images(ctx)
    expected = dq[251:254, 101:105]
    arr = ctx.array("dq_block", kind="fiu", ndim=2, pytype="numpy.ndarray")
    if arr.shape == (2, 3):
        ctx.fail(
            "`dq_block` has shape (2, 3): both ranges are inclusive, so the slice stops one past the last row "
            "and column"
        )
    if arr.shape == expected.shape[::-1]:
        ctx.fail(f"`dq_block` has shape {arr.shape}: looks transposed; rows come first: dq[rows, columns]")
    ctx.array("dq_block", shape=expected.shape)
    for dr, dc in ((-1, -1), (-1, 0), (0, -1)):
        shifted = dq[251 + dr : 254 + dr, 101 + dc : 105 + dc]
        if np.array_equal(arr, shifted) and not np.array_equal(arr, expected):
            ctx.fail(
                "`dq_block` is shifted by one pixel: rows 251 to 253 and columns 101 to 104 (the numbers are "
                "pixel indices, from 0)"
            )
    ctx.expect_equal("dq_block", arr, expected)


@check(ASSIGNMENT, "better-spectrum")
def better_spectrum(ctx: CheckContext) -> None:
    """``spectrum_src``: the sum over rows 250..259 (inclusive) of img, one value per column."""
    from reference_solution import sum_rows

    img, _, _ = _images(ctx)
    expected = np.asarray(sum_rows(img, rows=(250, 259)), dtype=float)
    arr = ctx.array("spectrum_src", kind="f", pytype="numpy.ndarray")
    if arr.shape == (10,):
        ctx.fail(
            "`spectrum_src` has 10 values, one per row: it was summed along the wrong axis; sum over the rows "
            "with axis=0"
        )
    if arr.shape != expected.shape:
        ctx.fail(f"`spectrum_src` has shape {arr.shape}; a spectrum has one value per column, shape {expected.shape}")
    if _close(arr, img[250:259].sum(axis=0), ctx.rtol, ctx.atol):
        ctx.fail("`spectrum_src` sums 9 rows; rows 250 to 259 inclusive are ten rows: img[250:260]")
    if _close(arr, img[250:261].sum(axis=0), ctx.rtol, ctx.atol):
        ctx.fail("`spectrum_src` sums 11 rows; rows 250 to 259 inclusive are ten rows: img[250:260]")
    if _close(arr, img[250:260].mean(axis=0), ctx.rtol, ctx.atol):
        ctx.fail("`spectrum_src` is the mean of the rows; this question wants their sum")
    ctx.expect_close("spectrum_src", arr, expected)
