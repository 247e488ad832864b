"""Hidden checks of the assignment ``slicing``.

The notebook reads the 3C120 images itself in a given, locked cell (native float64 for
SCI and ERR, native int16 for DQ), so every answer is a slice (or a sum of slices) of
``img``, ``err`` or ``dq``; the checks take the same slices of the run's inputs.

* Inputs: ``img`` (elements, rows-and-columns, better-spectrum), ``err`` (strided),
  ``dq`` (dq-block); their reference values are
  :func:`reference_solution.load_images` of the verified course file, as the setup
  cell reads it.
* Secret inputs: the image flipped left to right with a smooth pattern and sharp
  spikes added (the error image: flipped, with a smooth positive pattern added), and
  the flags flipped both ways with extra flag bits set at random pixels and
  everywhere around the block of the question (so that a block of zeros or of the
  file's flags cannot pass).  The shape stays (512, 511), so every index of the
  questions exists.  A number or an array copied from the output fails there.
* Single numbers (a pixel) are judged with the question's tolerance and their
  messages say only whether it is the right pixel, never by how much it differs.
* Hints: indices swapped (rows first), one pixel in from the corner, a row for a
  column, a neighbouring row or column, no step, the science image for the error
  image, a column instead of a row, a block one pixel off or of the wrong size
  (inclusive ranges), transposed, the wrong axis, 9 or 11 rows, a mean.
* Valid alternatives: any indexing that gives the same numbers (``img[254][300]``,
  ``img.T[300]``, a 1x1 slice for a pixel, ``10:201:3``, the block as floats, a sum
  written row by row).
"""

from __future__ import annotations

import numpy as np

from ._api import CheckContext, check, is_close, reference_state

ASSIGNMENT = "slicing"
SOURCE = (250, 259)
BLOCK = (slice(251, 254), slice(101, 105))
#: Flag bits of the STIS DQ extension used for the secret flags (sums stay int16).
FLAG_BITS = np.array([4, 16, 256, 512, 1024, 2048, 8192], dtype=np.int16)


@reference_state(ASSIGNMENT)
def state(data_path) -> dict:
    """The three images as the notebook's setup cell reads them."""
    from reference_solution import load_images

    if data_path is None:
        raise RuntimeError("the slicing checks need the course data file, but the grader was given none")
    img, err, dq = load_images(data_path)
    return {"img": img, "err": err, "dq": dq}


# ------------------------------------------------------------------- secret inputs
def _pattern(shape: tuple[int, int], rng: np.random.Generator, amplitude: float) -> np.ndarray:
    rows = np.arange(shape[0])[:, None] / shape[0]
    cols = np.arange(shape[1])[None, :] / shape[1]
    return amplitude * np.cos(2 * np.pi * (rows * rng.uniform(1, 3) + cols * rng.uniform(1, 3)))


def _secret_img(inputs: dict, rng: np.random.Generator) -> dict:
    """The image flipped left to right, with a smooth pattern and 150 spikes added."""
    img = np.asarray(inputs["img"], dtype=np.float64)
    out = img[:, ::-1] + _pattern(img.shape, rng, rng.uniform(20, 60))
    where = (rng.integers(0, img.shape[0], 150), rng.integers(0, img.shape[1], 150))
    out[where] += rng.uniform(300, 3000, 150)
    return {"img": out}


def _secret_smaller_img(inputs: dict, rng: np.random.Generator) -> dict:
    """:func:`_secret_img` cut to 320-480 rows and columns: the last pixel is elsewhere, so
    ``img[511, 510]`` typed for ``img[-1, -1]`` fails (the prose asks for negative indices,
    "whatever the size of the image"), while row 254, column 300 is still inside."""
    img = _secret_img(inputs, rng)["img"]
    return {"img": img[:int(rng.integers(320, 481)), :int(rng.integers(320, 481))].copy()}


def _secret_err(inputs: dict, rng: np.random.Generator) -> dict:
    """The error image flipped left to right, with a smooth positive pattern added."""
    err = np.asarray(inputs["err"], dtype=np.float64)
    amplitude = rng.uniform(3, 10)
    return {"err": err[:, ::-1] + amplitude + _pattern(err.shape, rng, amplitude)}


def _secret_dq(inputs: dict, rng: np.random.Generator) -> dict:
    """The flags flipped both ways, with flag bits added at a tenth of the pixels and
    at most pixels of the question's block and around it."""
    dq = np.asarray(inputs["dq"], dtype=np.int16)[::-1, ::-1].copy()
    extra = rng.random(dq.shape) < 0.1
    around = (slice(BLOCK[0].start - 3, BLOCK[0].stop + 3), slice(BLOCK[1].start - 3, BLOCK[1].stop + 3))
    extra[around] = rng.random(extra[around].shape) < 0.7
    dq[extra] |= rng.choice(FLAG_BITS, int(extra.sum()))
    return {"dq": dq}


# ------------------------------------------------------------------------- helpers
def _close(ctx: CheckContext, actual, expected) -> bool:
    return is_close(actual, expected, ctx.rtol, ctx.atol)


def _same_number(ctx: CheckContext, value: float, expected: float) -> bool:
    return bool(np.isclose(value, expected, rtol=ctx.rtol, atol=ctx.atol))


def _image(ctx: CheckContext, name: str, dtype=np.float64) -> np.ndarray:
    return np.asarray(ctx.input(name), dtype=dtype)


# ------------------------------------------------------------------------ questions
@check(ASSIGNMENT, "elements", inputs=("img",), secret=_secret_smaller_img)
def elements(ctx: CheckContext) -> None:
    """``pix`` = img[254, 300] (row 254, column 300); ``last_pix`` = img[-1, -1].

    Single numbers: the messages say only whether it is the right pixel, never by how
    much it differs (that would give the value away).
    """
    img = _image(ctx, "img")
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


@check(ASSIGNMENT, "rows-and-columns", inputs=("img",), secret=_secret_img)
def rows_and_columns(ctx: CheckContext) -> None:
    """``profile_300`` = img[:, 300] (512 values along the slit); ``row_254`` = img[254] (511 values)."""
    img = _image(ctx, "img")
    nrows, ncols = img.shape
    prof = ctx.array("profile_300", kind="f", ndim=1, pytype="numpy.ndarray")
    if prof.shape == (ncols,):
        ctx.fail(f"`profile_300` has {ncols} values, one per column: that is a row; a column is img[:, 300]")
    ctx.array("profile_300", shape=(nrows,))
    if _close(ctx, prof, img[:, 299]) or _close(ctx, prof, img[:, 301]):
        ctx.fail("`profile_300` is a neighbouring column; columns are numbered from 0")
    ctx.expect_close("profile_300", prof, img[:, 300])

    row = ctx.array("row_254", kind="f", ndim=1, pytype="numpy.ndarray")
    if row.shape == (nrows,):
        ctx.fail(f"`row_254` has {nrows} values, one per row: that is a column; row 254 is img[254] or img[254, :]")
    ctx.array("row_254", shape=(ncols,))
    if _close(ctx, row, img[255]) or _close(ctx, row, img[253]):
        ctx.fail("`row_254` is a neighbouring row; rows are numbered from 0")
    ctx.expect_close("row_254", row, img[254])


@check(ASSIGNMENT, "strided", inputs=("err",), secret=_secret_err)
def strided(ctx: CheckContext) -> None:
    """``err_samples`` = err[254, 10:200:3]: row 254 of the error image, every third column
    from 10, stopping before 200 (64 values)."""
    err = _image(ctx, "err")
    img = _image(ctx, "img")  # not an input of this question: the notebook's own image, for a hint
    expected = err[254, 10:200:3]
    arr = ctx.array("err_samples", kind="f", ndim=1, pytype="numpy.ndarray")
    if arr.shape == err[254, 10:200].shape:
        ctx.fail(f"`err_samples` has {arr.size} values: every column from 10 to 199; the question wants every third "
                 "one (a step of 3)")
    if arr.shape != expected.shape:
        ctx.fail(f"`err_samples` has shape {arr.shape}; start 10, stop 200 (excluded) and step 3 give shape "
                 f"{expected.shape}")
    if _close(ctx, arr, img[254, 10:200:3]):
        ctx.fail("`err_samples` comes from the science image; this question asks for the error image `err`")
    if _close(ctx, arr, err[10:200:3, 254]):
        ctx.fail("`err_samples` runs down column 254; the question wants row 254: rows first, err[254, ...]")
    ctx.expect_close("err_samples", arr, expected)


@check(ASSIGNMENT, "dq-block", inputs=("dq",), secret=_secret_dq)
def dq_block(ctx: CheckContext) -> None:
    """``dq_block`` = dq[251:254, 101:105]: rows 251..253 and columns 101..104, both
    inclusive, compared exactly (integers, or floats holding the same flags)."""
    dq = np.asarray(ctx.input("dq"))
    expected = dq[BLOCK]
    arr = ctx.array("dq_block", kind="fiu", ndim=2, pytype="numpy.ndarray")
    if arr.shape == (2, 3):
        ctx.fail("`dq_block` has shape (2, 3): both ranges are inclusive, so the slice stops one past the last row "
                 "and column")
    if arr.shape == expected.shape[::-1]:
        ctx.fail(f"`dq_block` has shape {arr.shape}: looks transposed; rows come first: dq[rows, columns]")
    ctx.array("dq_block", shape=expected.shape)
    for dr, dc in ((-1, -1), (-1, 0), (0, -1), (1, 1), (1, 0), (0, 1)):
        shifted = dq[251 + dr : 254 + dr, 101 + dc : 105 + dc]
        if np.array_equal(arr, shifted) and not np.array_equal(arr, expected):
            ctx.fail("`dq_block` is shifted by one pixel: rows 251 to 253 and columns 101 to 104 (the numbers are "
                     "pixel indices, from 0)")
    ctx.expect_equal("dq_block", arr, expected)


@check(ASSIGNMENT, "better-spectrum", inputs=("img",), secret=_secret_img)
def better_spectrum(ctx: CheckContext) -> None:
    """``spectrum_src``: the sum over rows 250..259 (inclusive) of img, one value per column."""
    from reference_solution import sum_rows

    img = _image(ctx, "img")
    expected = ctx.expected("spectrum_src", lambda: np.asarray(sum_rows(img, rows=SOURCE), dtype=np.float64))
    arr = ctx.array("spectrum_src", kind="f", pytype="numpy.ndarray")
    if arr.shape == (10,):
        ctx.fail("`spectrum_src` has 10 values, one per row: it was summed along the wrong axis; sum over the rows "
                 "with axis=0")
    if arr.shape != expected.shape:
        ctx.fail(f"`spectrum_src` has shape {arr.shape}; a spectrum has one value per column, shape {expected.shape}")
    if _close(ctx, arr, img[250:259].sum(axis=0)):
        ctx.fail("`spectrum_src` sums 9 rows; rows 250 to 259 inclusive are ten rows: img[250:260]")
    if _close(ctx, arr, img[250:261].sum(axis=0)):
        ctx.fail("`spectrum_src` sums 11 rows; rows 250 to 259 inclusive are ten rows: img[250:260]")
    if _close(ctx, arr, img[250:260].mean(axis=0)):
        ctx.fail("`spectrum_src` is the mean of the rows; this question wants their sum")
    ctx.expect_close("spectrum_src", arr, expected)
