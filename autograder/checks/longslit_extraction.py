"""Hidden checks of ``longslit-extraction`` (notebook ``extraction.ipynb``).

The whole reduction of the HST/STIS G430L long-slit spectrum of 3C120, one check per
question.  Each check computes the answer from the inputs of the run it judges (the
reference images, or the secret ones) with :mod:`reference_solution`, and compares:

* Every name is checked for existence, type, shape and dtype before its values.
* Inputs: the images a question's code reads (``img``, ``err``, ``dq``, ``img_cr``,
  ``img_bkg``), the profile (to find the nucleus), ``peak_row`` (the source band),
  ``bkg_rows`` and the given column ``col`` (the background fits), the data file
  itself for reading the images and the wavelength header, ``wavelength`` and
  ``spectrum_final`` for the redshift.  An earlier mistake costs only its own question:
  the grader runs the question's code again on the correct inputs (see
  :mod:`autograder.grading`).
* Secret inputs: the images flipped left to right, with a smooth pattern and sharp
  spikes added (so every sum, mask and fit differs); for the questions about the
  nucleus's band, such an image whose nucleus sits tens of rows away from the course
  file's (so a band of rows typed in fails); error and flag images flipped, with a
  pattern and other flags; another column for the one-column fit; a data file holding
  such images, or a header whose wavelength solution is shifted and stretched; the
  final spectrum moved by 3 or 4 columns on the same axis (so the measured redshift
  moves by more than its tolerance, and the header still describes the axis).  A
  pasted array or a typed number fails there.
* Messages name the variable, say what is wrong and where, and never show expected
  values.  Likely mistakes get a hint when they can be recognised (wrong axis,
  transposed, big-endian, slice end excluded, mean instead of sum, metres, 1-based
  pixels, a literature redshift...).
* Tolerances come from course.yml (``ctx.rtol``/``ctx.atol``, per question; the values
  and their reasons are documented there).  Exact answers (masks, row lists, integer
  flags) are compared exactly.

Valid alternatives that pass: ``astype(float)`` or float32 native images;
``scipy.ndimage.median_filter(img, size=5)`` with any ``mode`` or
``scipy.signal.medfilt(img, 5)`` (the smoothed image is compared away from a 2-pixel
border, and the mask and the cleaned image follow the student's own ``img_sm``);
``np.where`` or mask assignment; background rows as integers from ``np.append``,
``np.concatenate`` or ``np.r_``, in any order (a boolean row mask is not accepted: the
given cells index and plot with the row numbers); one vectorised ``np.polyfit`` or a
loop over columns, or any other least-squares quadratic; the wavelength computed by
hand from CRVAL1/CRPIX1/CD1_1 or with ``astropy.wcs`` (converted to Angstrom); any
sensible line-centroid method for the redshift.  The err/dq display is graded from the
figure's data (any colour scale, one figure or two).
"""

from __future__ import annotations

import io

import numpy as np

from ..values import Value
from ._api import FILE, CheckContext, CheckFailed, check, is_close, reference_state
from ._code import refuse_typed

ASSIGNMENT = "longslit-extraction"
DATA_FILE = "3c120_stis.fits.gz"
NROWS, NCOLS = 512, 511
SHAPE = (NROWS, NCOLS)
#: More typed numbers than this in one-column-fit's cells are the background rows typed
#: out (370 of them), not a few columns to try, ticks or a message.
ROWS_TYPED_LIMIT = 40
#: Border (pixels) excluded when comparing median-smoothed images: a 5x5 window reaches
#: 2 pixels past the edge, where medfilt's zero padding and ndimage's modes differ.
BORDER = 2
INTERIOR = (slice(BORDER, -BORDER), slice(BORDER, -BORDER))
#: Rows of the nucleus in the course file (inclusive), the rows of the band below and
#: above the profile's peak, and rows protected from the cosmic-ray cleaning.
SOURCE = (250, 259)
BELOW, ABOVE = 4, 5
PROTECT = slice(230, 280)
#: The column of the one-column background fit (the given cell's ``col``).
COLUMN = 100
#: The published redshift of 3C120 (what a student who looks it up instead of measuring
#: it would give), and how close to it counts as "the literature value" for the hint.
PUBLISHED_Z = 0.0330
PUBLISHED_Z_HINT = 0.0005
WCS_KEYS = ("CRVAL1", "CRPIX1", "CD1_1")


@reference_state(ASSIGNMENT)
def state(data_path) -> dict:
    """The reference reduction of the course file: every product a correct notebook
    holds, the file's images as stored, and its wavelength keywords."""
    from reference_solution import extract, read_sci_header

    if data_path is None:
        raise RuntimeError("the extraction's checks need the course data file, but the grader was given none")
    ex = extract(data_path)
    header = read_sci_header(data_path)
    return {"img": ex.img, "err": ex.err, "dq": ex.dq, "profile": ex.profile, "peak_row": ex.peak_row,
            "img_cr": ex.img_cr, "bkg_rows": ex.bkg_rows, "col": COLUMN, "img_bkg": ex.img_bkg,
            "wavelength": ex.wavelength, "spectrum_final": ex.spectrum_final, "extraction": ex,
            "wcs": {k: float(header[k]) for k in WCS_KEYS}, "data_path": str(data_path)}


# ------------------------------------------------------------------- secret inputs
def _scrambled(image: np.ndarray, rng: np.random.Generator, *, spikes: bool = True) -> np.ndarray:
    """``image`` flipped left to right, with a smooth pattern (and sharp spikes) added;
    float32 values (as the file stores them: see :func:`_with_file`), in float64."""
    pattern = _pattern(SHAPE, rng, float(rng.uniform(20, 60)))
    out = np.asarray(image, dtype=np.float64)[:, ::-1] + pattern
    if spikes:
        where = (rng.integers(0, NROWS, 150), rng.integers(0, NCOLS, 150))
        out[where] += rng.uniform(300, 3000, 150)
    return out.astype(np.float32).astype(np.float64)


def _secret_images(names: tuple[str, ...]):
    def secret(inputs: dict, rng: np.random.Generator) -> dict:
        return {n: _scrambled(inputs[n], rng, spikes=n in ("img",)) if n != "err" else
                np.asarray(inputs[n], dtype=np.float64)[:, ::-1].copy() for n in names}
    return secret


def _pattern(shape: tuple[int, int], rng: np.random.Generator, amplitude: float) -> np.ndarray:
    rows = np.arange(shape[0])[:, None] / shape[0]
    cols = np.arange(shape[1])[None, :] / shape[1]
    return amplitude * np.cos(2 * np.pi * (rows * rng.uniform(1, 3) + cols * rng.uniform(1, 3)))


def _shift(rng: np.random.Generator) -> int:
    """How many rows the secret image's nucleus is moved: 20 to 120, up or down."""
    return int(rng.integers(20, 121)) * int(rng.choice([-1, 1]))


def _secret_err_dq(inputs: dict, rng: np.random.Generator) -> dict:
    """Other error and flag images, of the file's shape (a smaller image would break a
    cell of the student's in the question's span that also uses ``img``): the error image
    flipped both ways with a smooth positive pattern added; the flags flipped, with flag
    bits set at a tenth of the pixels."""
    err = _other_err(inputs, rng)
    dq = np.asarray(inputs["dq"], dtype=np.int16)[::-1, ::-1].copy()
    extra = rng.random(SHAPE) < 0.1
    dq[extra] |= rng.choice(np.array([4, 16, 256, 512, 1024, 2048, 8192], dtype=np.int16), int(extra.sum()))
    return {"err": err, "dq": dq}


def _other_err(inputs: dict, rng: np.random.Generator) -> np.ndarray:
    """The error image flipped both ways, with a smooth positive pattern and an offset of 3
    to 10 counts added: its percentiles and its median differ from the file's."""
    amplitude = float(rng.uniform(3, 10))
    err = np.asarray(inputs["err"], dtype=np.float64)[::-1, ::-1] + amplitude + _pattern(SHAPE, rng, amplitude)
    return err.astype(np.float32).astype(np.float64)  # as the file stores it (:func:`_with_file`)


def _with_file(secret):
    """``secret``, with the data file itself changed to match: a copy of the course file
    holding the secret ``img``, ``err`` and ``dq`` (the file's own where the secret keeps
    them) is put at the data file's path for the secret run, so a cell that reads the
    file again, rather than using ``img``, ``err`` or ``dq``, reads the secret images too.
    The secret images hold float32 values, so what is read equals what is injected."""
    def with_file(inputs: dict, rng: np.random.Generator) -> dict:
        out = secret(inputs, rng)
        ex = inputs["extraction"]
        sci, err, dq = (np.asarray(out.get(n, getattr(ex, n)), dtype=t)
                        for n, t in (("img", ">f4"), ("err", ">f4"), ("dq", ">i2")))
        return {**out, FILE + DATA_FILE: _fits_bytes(sci, err, dq, data_path=inputs["data_path"])}
    with_file.__doc__ = secret.__doc__
    return with_file


def _secret_cosmic(inputs: dict, rng: np.random.Generator) -> dict:
    """The image scrambled (:func:`_scrambled`) and another error image
    (:func:`_other_err`: its median, and so ``sigma``, differs; a flip alone kept the
    median, and a typed ``sigma`` passed), of the file's shape: a narrower image would
    break a cell of the student's in the question's span that also uses an earlier
    answer of the full width (``spectrum_src``, ``profile``)."""
    return {"img": _scrambled(inputs["img"], rng), "err": _other_err(inputs, rng)}


def _secret_nucleus(inputs: dict, rng: np.random.Generator) -> dict:
    """The image scrambled (:func:`_scrambled`) with its nucleus moved by tens of rows,
    and its profile: the profile's peak, and so the source band, are elsewhere."""
    img = np.roll(_scrambled(inputs["img"], rng), _shift(rng), axis=0)
    return {"img": img, "profile": img.sum(axis=1)}


def _secret_band(inputs: dict, rng: np.random.Generator) -> dict:
    """The background-subtracted image with a smooth pattern added and its nucleus moved
    by tens of rows, and the peak row that goes with it."""
    shift = _shift(rng)
    img_bkg = np.asarray(inputs["img_bkg"], dtype=np.float64)
    img_bkg = np.roll(img_bkg[:, ::-1] + _pattern(img_bkg.shape, rng, float(rng.uniform(20, 60))), shift, axis=0)
    return {"img_bkg": img_bkg, "peak_row": int(inputs["peak_row"]) + shift}


def _secret_column(inputs: dict, rng: np.random.Generator) -> dict:
    """The cleaned image scrambled (no spikes) and another column."""
    col = int(rng.integers(20, NCOLS - 20))
    if abs(col - COLUMN) < 10:
        col = (col + NCOLS // 2) % NCOLS
    return {"img_cr": _scrambled(inputs["img_cr"], rng, spikes=False), "col": col}


def _fits_bytes(sci: np.ndarray, err: np.ndarray, dq: np.ndarray, header_changes: dict | None = None,
                data_path: str = "") -> bytes:
    """A FITS file laid out as the course file, with these images, gzipped as the course
    file is (a student may read it with ``gzip`` first).  Its gzip stream stores the
    data without compressing it (level 0): any gzip reader reads it, and astropy, whose
    seeks in a gzip file decompress it again from the start, reads it as fast as a plain
    file."""
    from astropy.io import fits

    with fits.open(data_path) as original:
        hdus = fits.HDUList([fits.PrimaryHDU(header=original[0].header)])
        for name, data in (("SCI", sci), ("ERR", err), ("DQ", dq)):
            header = original[name].header.copy()
            if name == "SCI" and header_changes:
                header.update(header_changes)
            hdus.append(fits.ImageHDU(data=data, header=header, name=name))
    buf = io.BytesIO()
    hdus.writeto(buf)
    if not DATA_FILE.endswith(".gz"):
        return buf.getvalue()
    import gzip

    return gzip.compress(buf.getvalue(), compresslevel=0, mtime=0)


def _secret_file(inputs: dict, rng: np.random.Generator) -> dict:
    ex = inputs["extraction"]
    sci = _scrambled(ex.img, rng).astype(">f4")
    err = np.asarray(ex.err)[:, ::-1].astype(">f4")
    dq = np.asarray(ex.dq)[:, ::-1].astype(">i2")
    return {"SCI": sci, "ERR": err, "DQ": dq,
            FILE + DATA_FILE: _fits_bytes(sci, err, dq, data_path=inputs["data_path"])}


def _secret_wcs(inputs: dict, rng: np.random.Generator) -> dict:
    ex = inputs["extraction"]
    wcs = {"CRVAL1": inputs["wcs"]["CRVAL1"] + float(rng.uniform(80, 250)) * rng.choice([-1, 1]),
           "CRPIX1": inputs["wcs"]["CRPIX1"] + float(rng.uniform(5, 30)) * rng.choice([-1, 1]),
           "CD1_1": inputs["wcs"]["CD1_1"] * (1 + float(rng.uniform(0.01, 0.04)) * rng.choice([-1, 1]))}
    data = _fits_bytes(np.asarray(ex.img, dtype=">f4"), np.asarray(ex.err, dtype=">f4"),
                       np.asarray(ex.dq, dtype=">i2"), wcs, inputs["data_path"])
    return {"wcs": wcs, FILE + DATA_FILE: data}


def _secret_axis(inputs: dict, rng: np.random.Generator) -> dict:
    """The final spectrum moved by 3 or 4 columns, either way, on the same axis, and
    scaled by 0.7 to 1.3: the lines (and the redshift, by 0.0033 to 0.0044, more than the
    tolerance) move, so a typed z or a typed column of the peak fails, while the file's
    header still describes the axis (an axis stretched instead failed a student who
    measured on ``hdr``'s WCS).  The scale changes no position: it makes each course's
    secret its own."""
    shift = int(rng.integers(3, 5)) * int(rng.choice([-1, 1]))
    scale = float(rng.uniform(0.7, 1.3))
    return {"spectrum_final": np.roll(np.asarray(inputs["spectrum_final"], dtype=np.float64), shift) * scale}


# ------------------------------------------------------------------------- helpers
def _image(ctx: CheckContext, name: str, *, kind: str = "f", shape: tuple[int, int] = SHAPE) -> np.ndarray:
    """The student's ``name`` as a plain ndarray of the run's image ``shape`` ((512, 511)
    but on a smaller secret image), with form hints."""
    v = ctx.value(name)
    arr = v.array
    assert arr is not None
    if v.pytype != "numpy.ndarray":
        ctx.fail(f"`{name}` is a {v.pytype}; this question expects a numpy array (numpy.ndarray)")
    if arr.shape == shape[::-1] and shape[0] != shape[1]:
        ctx.fail(f"`{name}` has shape {arr.shape}: it looks transposed; this question expects shape {shape} "
                 "(rows along the slit, columns along wavelength)")
    if arr.shape != shape:
        ctx.fail(f"`{name}` has shape {arr.shape}; this question expects shape {shape}, the shape of the image")
    return ctx.array(name, kind=kind)


def _vector(ctx: CheckContext, name: str, n: int, *, wrong_axis_hint: str) -> np.ndarray:
    """The student's ``name`` as a 1-D float array of length ``n``, with form hints."""
    v = ctx.value(name)
    arr = v.array
    assert arr is not None
    other = NCOLS if n == NROWS else NROWS
    if arr.shape == (other,):
        ctx.fail(f"`{name}` has shape {arr.shape}; this question expects shape ({n},): {wrong_axis_hint}")
    if arr.ndim == 2 and n in arr.shape and 1 in arr.shape:
        ctx.fail(f"`{name}` has shape {arr.shape}; this question expects a 1-D array of shape ({n},): "
                 "use .sum(axis=...) without keepdims, or .ravel()")
    arr = ctx.array(name, shape=(n,), kind="fiu")
    if v.pytype != "numpy.ndarray":
        ctx.fail(f"`{name}` is a {v.pytype}; this question expects a numpy array (numpy.ndarray)")
    return arr


def _close(ctx: CheckContext, actual, expected, *, rtol=None, atol=None) -> bool:
    return is_close(actual, expected, ctx.rtol if rtol is None else rtol, ctx.atol if atol is None else atol)


def _expect_scalar(ctx: CheckContext, name: str, value: float, expected: float) -> None:
    """A single number: fail without saying by how much it differs (with a single number,
    that would give the expected value away)."""
    if not _close(ctx, value, expected):
        ctx.fail(f"`{name}`: the value is not the expected one within the allowed tolerance "
                 f"(rtol={ctx.rtol:g}, atol={ctx.atol:g})")


def _with_hint(exc: CheckFailed, hint: str):
    if hint:
        msg = str(exc)
        raise CheckFailed(msg + ("" if msg.endswith((".", "!", "?")) else ".") + hint) from None
    raise exc


def _sum_hint(ctx: CheckContext, name: str, actual: np.ndarray, expected: np.ndarray, count: int,
              wrong_rows=()) -> str:
    """A hint for a failed sum: a mean instead of a sum, or the wrong rows."""
    if _close(ctx, np.asarray(actual) * count, expected, rtol=1e-5, atol=1e-3):
        return f" Hint: `{name}` looks like a mean; this question asks for a sum."
    if any(_close(ctx, actual, rows, rtol=1e-5, atol=1e-3) for rows in wrong_rows):
        return (f" Hint: `{name}` sums the wrong rows: rows a..b inclusive are the slice a:b+1 "
                "(a slice's end is excluded).")
    return ""


def _interior(expected: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """``expected`` with its outer BORDER pixels taken from ``actual`` (so that they never
    count as differences, while reported indices stay those of the whole image)."""
    out = np.asarray(actual, dtype=np.float64).copy()
    out[INTERIOR] = np.asarray(expected, dtype=np.float64)[INTERIOR]
    return out


def _band(peak: int) -> tuple[int, int]:
    """The source band (inclusive) around the profile's peak."""
    return int(peak) - BELOW, int(peak) + ABOVE


def _shifted_row_sums(img: np.ndarray, band: tuple[int, int] = SOURCE) -> list[np.ndarray]:
    """Sums of row bands one row off the source band at either end (for the slice hint)."""
    first, last = band
    bands = [(first, last - 1), (first + 1, last), (first + 1, last + 1), (first - 1, last), (first, last + 1),
             (first - 1, last - 1)]
    return [img[a : b + 1].sum(axis=0) for a, b in bands]


# ------------------------------------------------------------------------ questions
@check(ASSIGNMENT, "read-data", secret=_secret_file, per_submission=False)
def read_data(ctx: CheckContext) -> None:
    """img, err: plain ndarrays (512, 511), native-endian float, equal to the file's SCI
    and ERR.  dq: plain integer ndarray (512, 511) equal to DQ (any byte order; an
    integer dtype is required: the flags are bits).  float32 and float64 both pass for
    img/err; big-endian data as read from the file fails with a conversion hint; the SCI
    and ERR extensions swapped get a hint."""
    if ctx.run == "secret":
        sci, ref_err, ref_dq = ctx.input("SCI"), ctx.input("ERR"), ctx.input("DQ")
    else:
        sci, ref_err, ref_dq = ctx.input("img"), ctx.input("err"), ctx.input("dq")
    for name, expected, other, other_name in (("img", sci, ref_err, "ERR"), ("err", ref_err, sci, "SCI")):
        arr = _image(ctx, name, kind="f")
        if not arr.dtype.isnative:
            ctx.fail(f"`{name}` holds big-endian numbers (dtype {arr.dtype.str}), as they are stored in the FITS "
                     "file; this question asks for native byte order: convert with .astype(float) "
                     "(scipy.signal.medfilt refuses big-endian data)")
        if _close(ctx, arr, other) and not _close(ctx, arr, expected):
            want = "SCI" if name == "img" else "ERR"
            ctx.fail(f"`{name}` holds the {other_name} extension's values; this question asks for the {want} "
                     "extension")
        ctx.expect_close(name, arr, expected)
    dq_value = ctx.value("dq")
    if dq_value.array is not None and dq_value.array.shape == SHAPE and dq_value.array.dtype.kind in "fb":
        ctx.fail(f"`dq` has dtype {dq_value.array.dtype}; the data-quality flags are bit flags: keep the integer "
                 "dtype they have in the file")
    dq = _image(ctx, "dq", kind="iu")
    if dq.dtype.itemsize < 2 and not np.array_equal(dq, ref_dq):
        ctx.fail(f"`dq` has dtype {dq.dtype}, which cannot hold every flag of this file (they go up to "
                 "thousands: one bit each); keep the file's 16-bit integers, e.g. .astype(np.int16)")
    ctx.expect_equal("dq", dq, ref_dq)


@check(ASSIGNMENT, "profile-and-spectrum", inputs=("img",), secret=_with_file(_secret_images(("img",))),
       per_submission=False)
def profile_and_spectrum(ctx: CheckContext) -> None:
    """profile: (512,) sum of every row over wavelength; spectrum_raw: (511,) sum of
    every column along the slit (the tolerance admits sums done in float32).  A swapped
    pair or a sum along the wrong axis gets a hint; a mean instead of a sum too."""
    from reference_solution import raw_spectrum, spatial_profile

    img = ctx.input("img")
    pv, sv = ctx.values.get("profile"), ctx.values.get("spectrum_raw")
    if (pv is not None and sv is not None and pv.array is not None and sv.array is not None
            and pv.array.shape == (NCOLS,) and sv.array.shape == (NROWS,)):
        ctx.fail("`profile` and `spectrum_raw` look swapped: the profile has one number per row (along the slit), "
                 "the spectrum one number per column (along wavelength)")
    for name, n, func, hint in (
        ("profile", NROWS, spatial_profile,
         "did you sum along the wrong axis? The profile has one value per row: sum over the columns (axis=1)"),
        ("spectrum_raw", NCOLS, raw_spectrum,
         "did you sum along the wrong axis? The spectrum has one value per column: sum over the rows (axis=0)"),
    ):
        arr = _vector(ctx, name, n, wrong_axis_hint=hint)
        expected = ctx.expected(name, lambda f=func: f(img))
        try:
            ctx.expect_close(name, arr, expected)
        except CheckFailed as exc:
            _with_hint(exc, _sum_hint(ctx, name, arr, expected, NCOLS if name == "profile" else NROWS))


def _images_drawn(ctx: CheckContext) -> list:
    return [im for fig in ctx.figures for ax in fig.axes for im in ax.images]


@check(ASSIGNMENT, "err-dq-images", inputs=("err", "dq"), secret=_with_file(_secret_err_dq), per_submission=False)
def err_dq_images(ctx: CheckContext) -> None:
    """err_lo, err_hi: the 1st and 99th percentiles of the run's ``err``; and, from the
    figures this question's code drew, an image of the run's ``err`` and one of its
    ``dq``, each with origin 'lower' (any colour scale, colour bars, other images and
    lines are fine).  The secret images are other images of the same shape: the code must draw the
    arrays it is given.  Hints: the limits swapped, fractions given to np.percentile,
    the minimum and maximum."""
    err = np.asarray(ctx.input("err"), dtype=np.float64)
    expected = ctx.expected("limits", lambda: np.percentile(err, [1, 99]))
    for name, value, want in (("err_lo", ctx.scalar("err_lo"), expected[0]), ("err_hi", ctx.scalar("err_hi"),
                                                                               expected[1])):
        if not _close(ctx, value, want):
            hint = ""
            if _close(ctx, ctx.scalar("err_lo"), expected[1]) and _close(ctx, ctx.scalar("err_hi"), expected[0]):
                hint = " Hint: err_lo and err_hi look swapped: err_lo is the 1st percentile, err_hi the 99th."
            elif any(_close(ctx, value, v) for v in np.percentile(err, [0.01, 0.99])):
                hint = " Hint: np.percentile takes percents (1 and 99), np.quantile takes fractions (0.01 and 0.99)."
            elif any(_close(ctx, value, v) for v in (err.min(), err.max())):
                hint = " Hint: that is the extreme value of err; this question asks for the 1st and 99th percentiles."
            ctx.fail(f"`{name}` is not the expected percentile of `err`.{hint}")
    images = _images_drawn(ctx)
    if not images:
        ctx.fail("`err`, `dq`: no image was drawn in this question's cell; draw both with plt.imshow(..., "
                 "origin='lower')")
    for name in ("err", "dq"):
        array = np.asarray(ctx.input(name), dtype=np.float64)
        matching = [im for im in images if im.array.shape == array.shape and _close(ctx, im.array, array)]
        if not matching:
            hint = " (an image drawn is transposed: draw the array itself)" \
                if any(im.array.shape == array.shape[::-1] for im in images) else ""
            ctx.fail(f"`{name}`: none of the images drawn in this question's cell shows `{name}` (unchanged){hint}; "
                     f"draw it with plt.imshow({name}, origin='lower')")
        if not any(im.origin == "lower" for im in matching):
            ctx.fail(f"`{name}`: the image of `{name}` has origin 'upper' (row 0 at the top, matplotlib's default); "
                     "pass origin='lower' so that row 0 is at the bottom, as in the image of `img` above")


@check(ASSIGNMENT, "source-rows", inputs=("img", "profile"), secret=_with_file(_secret_nucleus),
       per_submission=False)
def source_rows(ctx: CheckContext) -> None:
    """peak_row: the row where the run's profile peaks (argmax); spectrum_src: (511,) sum
    of the ten rows ``peak_row - 4 .. peak_row + 5`` of ``img`` (rows 250..259 of the
    course file; tens of rows elsewhere on the secret image, so a typed row or band
    fails).  Hints: the peak's value instead of its row, the peak of the wrong array, a
    band one row off at either end (slice end excluded), a mean, the wrong axis."""
    from reference_solution import sum_rows

    img = np.asarray(ctx.input("img"), dtype=np.float64)
    profile = np.asarray(ctx.input("profile"), dtype=np.float64)
    peak = int(np.argmax(profile))
    v = ctx.value("peak_row")
    if v.array is not None and v.array.size != 1:
        ctx.fail(f"`peak_row` has {v.array.size} elements; this question expects a single row number: "
                 "np.argmax(profile)")
    row = ctx.scalar("peak_row")
    if row != peak:
        hint = ""
        if _close(ctx, row, profile.max(), rtol=1e-6, atol=1e-6):
            hint = " Hint: that is the profile's largest value; np.argmax(profile) gives the row where it is."
        elif NCOLS > row >= 0 and row == int(np.argmax(img.sum(axis=0))):
            hint = " Hint: that is the peak of the spectrum (a column); the nucleus is the peak of the profile."
        ctx.fail(f"`peak_row` is not the row where `profile` peaks.{hint}")
    band = _band(peak)
    arr = _vector(ctx, "spectrum_src", NCOLS,
                  wrong_axis_hint="did you sum along the wrong axis? Sum the rows (axis=0), one value per column")
    expected = ctx.expected("spectrum_src", lambda: sum_rows(img, band))
    try:
        ctx.expect_close("spectrum_src", arr, expected)
    except CheckFailed as exc:
        shifted = ctx.expected("shifted", lambda: _shifted_row_sums(img, band))
        hint = _sum_hint(ctx, "spectrum_src", arr, expected, BELOW + ABOVE + 1, shifted)
        if not hint and _close(ctx, arr, img[peak - ABOVE : peak + BELOW + 1].sum(axis=0), rtol=1e-5, atol=1e-3):
            hint = (" Hint: that band is the mirror image of the one asked for: from peak_row - 4 to peak_row + 5, "
                    "i.e. img[peak_row - 4 : peak_row + 6].")
        _with_hint(exc, hint)


@check(ASSIGNMENT, "cosmic-rays", inputs=("img", "err"), secret=_with_file(_secret_cosmic), watch=("img",),
       per_submission=False)
def cosmic_rays(ctx: CheckContext) -> None:
    """img_sm, sigma, bad, img_cr: the cosmic-ray cleaning.

    * img_cr must be a new array: sharing memory with ``img`` (forgot ``.copy()``: the
      cleaning then also changed ``img``) or with ``img_sm`` fails first, with a hint.
    * img_sm: (512, 511) float; away from a 2-pixel border equal to the 5x5 median of
      ``img`` (so medfilt and ndimage.median_filter with any mode pass).
    * sigma: a single number equal to the median of ``err``.
    * bad: boolean (512, 511), equal everywhere to ``|img - img_sm| / sigma > 8``
      computed from ``img`` and the student's own ``img_sm`` and ``sigma`` (pixels within
      rounding of the cut are forgiven).  Hints: rows 230..279 left out of the mask, a
      one-sided cut, an inverted mask.
    * img_cr: float (512, 511) equal to ``img`` on rows 230..279 and elsewhere to
      ``img_sm`` where ``bad``, ``img`` where not.

    The shapes are those of the run's image (the secret image has the file's shape too).
    """
    from reference_solution import clean_cosmic_rays, cosmic_ray_mask, median_smooth, noise_sigma

    img = np.asarray(ctx.input("img"), dtype=np.float64)
    shape = img.shape
    err = ctx.input("err")
    cr_value = ctx.values.get("img_cr")
    for other in ("img", "img_sm"):
        ov = ctx.values.get(other)
        if (isinstance(cr_value, Value) and isinstance(ov, Value) and cr_value.status == ov.status == "ok"
                and cr_value.shares_memory_with(ov)):
            extra = " (so cleaning it also changed `img`)" if other == "img" else " (so changing it also changed `img_sm`)"
            ctx.fail(f"`img_cr` shares memory with `{other}`{extra}: start from a copy, e.g. img_cr = img.copy()")

    img_sm = _image(ctx, "img_sm", kind="f", shape=shape)
    expected_sm = ctx.expected("img_sm", lambda: median_smooth(img, 5))
    ctx.expect_close("img_sm", img_sm, _interior(expected_sm, img_sm),
                     what=f"outer {BORDER} rows and columns not compared")

    sigma_arr = ctx.array("sigma")
    if sigma_arr.ndim != 0:
        ctx.fail(f"`sigma` has shape {sigma_arr.shape}; this question expects a single number "
                 "(the median of the whole error image)")
    sigma = ctx.scalar("sigma")
    try:
        _expect_scalar(ctx, "sigma", sigma, ctx.expected("sigma", lambda: noise_sigma(err)))
    except CheckFailed as exc:
        _with_hint(exc, " Hint: that looks like a mean; this question asks for the median."
                   if _close(ctx, sigma, np.mean(err)) else "")
    if not (np.isfinite(sigma) and sigma > 0):
        ctx.fail("`sigma` must be a positive number")

    bad_value = ctx.value("bad")
    assert bad_value.array is not None
    if bad_value.array.shape == shape and bad_value.array.dtype.kind != "b":
        ctx.fail(f"`bad` has dtype {bad_value.array.dtype}; this question expects a boolean mask "
                 "(True where a pixel is bad), e.g. the result of a comparison")
    bad = _image(ctx, "bad", kind="b", shape=shape)
    sm = np.asarray(img_sm, dtype=np.float64)
    expected = cosmic_ray_mask(img, sm, sigma)
    with np.errstate(all="ignore"):
        dev = np.abs(img - sm) / sigma
    near_cut = np.abs(dev - 8.0) <= 1e-5 * 8.0  # rounding ties: either answer is fine
    wrong = (bad != expected) & ~near_cut
    if wrong.any():
        outside = np.ones(NROWS, bool)
        outside[PROTECT] = False
        if not bad[PROTECT].any() and expected[PROTECT].any() and not wrong[outside].any():
            ctx.fail("`bad` has no pixel flagged on rows 230..279: the mask should flag every outlier; "
                     "protect rows 230..279 when building `img_cr`, not in `bad`")
        with np.errstate(all="ignore"):
            one_sided = (img - sm) / sigma > 8.0
        if np.array_equal(bad, one_sided):
            ctx.fail("`bad` only flags pixels above the smoothed image; the cut is on the absolute "
                     "difference |img - img_sm| (np.abs)")
        if ((bad != expected) | near_cut).all():
            ctx.fail("`bad` looks inverted: it should be True where a pixel is more than 8 sigma from `img_sm`")
        first = ", ".join(str(int(i)) for i in np.argwhere(wrong)[0])
        ctx.fail(f"`bad` (computed from `img`, your `img_sm` and your `sigma`): {int(wrong.sum())} of {bad.size} "
                 f"element(s) are not as expected, first at index [{first}]")

    img_cr = _image(ctx, "img_cr", kind="f", shape=shape)
    try:
        ctx.expect_close("img_cr", img_cr, clean_cosmic_rays(img, sm, bad, (230, 279)))
    except CheckFailed as exc:
        hint = ""
        if not _close(ctx, img_cr[PROTECT], img[PROTECT]):
            hint = " Hint: rows 230..279 (the galaxy) must keep the values of `img` unchanged."
        elif _close(ctx, img_cr, img):
            hint = " Hint: `img_cr` equals `img`: no bad pixel was replaced."
        else:
            replaced = bad.copy()
            replaced[PROTECT] = False
            vals = img_cr[replaced]
            if vals.size and (np.all(vals == 0) or np.all(np.isnan(vals))):
                hint = " Hint: replace the bad pixels by the smoothed values (`img_sm`), not by 0 or NaN."
        _with_hint(exc, hint)
    after = ctx.values.get("img")  # in a rerun, `img` was put in place just before the code ran
    if (ctx.run != "own" and after is not None and after.array is not None and after.array.shape == shape
            and not _close(ctx, after.array, img)):
        ctx.fail("`img` was changed by this question's code: the cleaning must leave `img` as it is "
                 "(work on a copy, e.g. img_cr = img.copy())", public=True)


def _row_set(ctx: CheckContext) -> np.ndarray:
    """The student's ``bkg_rows`` as a sorted array of distinct row numbers (integers,
    in any order, no repeats)."""
    v = ctx.value("bkg_rows")
    arr = v.array
    assert arr is not None
    if arr.ndim != 1:
        ctx.fail(f"`bkg_rows` has {arr.ndim} dimension(s); this question expects a 1-D array of row numbers")
    if arr.dtype.kind == "b":
        ctx.fail("`bkg_rows` is a boolean mask; this question asks for the row numbers themselves (integers), "
                 "joined from two ranges, e.g. np.append(np.arange(...), np.arange(...)); the cells "
                 "after this one use them as x values")
    if arr.dtype.kind not in "iu":
        ctx.fail(f"`bkg_rows` has dtype {arr.dtype}; row numbers are integers "
                 "(np.arange with integer ends gives integers)")
    rows = arr.astype(np.int64)
    if np.unique(rows).size != rows.size:
        ctx.fail("`bkg_rows` lists some rows more than once: each background row should appear once")
    return np.sort(rows)


@check(ASSIGNMENT, "one-column-fit", inputs=("img_cr", "col"), secret=_secret_column)
def one_column_fit(ctx: CheckContext) -> None:
    """bkg_rows and col_fit: the background rows, and the quadratic fit of one column.

    * bkg_rows: exactly the rows 10..199 and 300..479, as integers in any order (no
      repeats).  Hint when only the ends of the ranges are off (slice end excluded).
    * col_fit: (512,) float, the quadratic fitted to column ``col`` of ``img_cr`` over
      those rows, evaluated at every row (``np.polyval(np.polyfit(...), rows 0..511)``),
      for the run's ``img_cr`` and ``col`` (another column and image on the secret run).
      Hints: the coefficients instead of the evaluated fit, the fit only at the
      background rows, a straight line, a fit over all rows, another column.
    """
    from reference_solution import background_rows, fit_column

    # the rows are fixed by the wording, so no input can catch them typed out; the answer
    # is 370 numbers, so a few typed numbers (columns to look at, ticks, an assert's
    # message) are not it: the limit is higher than for the short fixed answers
    refuse_typed(ctx, "with np.arange for each range, joined with np.append (or np.concatenate, np.r_)",
                 limit=ROWS_TYPED_LIMIT)
    img_cr = np.asarray(ctx.input("img_cr"), dtype=np.float64)
    col = int(ctx.input("col"))
    rows = _row_set(ctx)
    expected_rows = np.sort(np.asarray(background_rows()))
    if not np.array_equal(rows, expected_rows):
        missing = np.setdiff1d(expected_rows, rows).size
        extra = np.setdiff1d(rows, expected_rows).size
        hint = " Hint: check the ends of your ranges: rows a..b inclusive are np.arange(a, b + 1)." \
            if missing + extra <= 4 else ""
        ctx.fail(f"`bkg_rows` is not the set of rows asked for: {missing} requested row(s) are missing and "
                 f"{extra} other row(s) are included.{hint}")
    v = ctx.value("col_fit")
    assert v.array is not None
    if v.array.shape in ((2,), (3,), (4,)):
        ctx.fail(f"`col_fit` has shape {v.array.shape}: it looks like the fit's coefficients; evaluate them at every "
                 f"row with np.polyval(coefficients, np.arange({NROWS}))")
    if v.array.shape == (expected_rows.size,):
        ctx.fail(f"`col_fit` has shape {v.array.shape}: evaluate the fit at every row of the image "
                 f"(0..{NROWS - 1}), not only at the background rows")
    fit = _vector(ctx, "col_fit", NROWS, wrong_axis_hint="the fit has one value per row (0..511) of the column")
    expected = ctx.expected("col_fit", lambda: fit_column(img_cr, expected_rows, col))
    try:
        ctx.expect_close("col_fit", fit, expected)
    except CheckFailed as exc:
        hint = ""
        if _close(ctx, fit, fit_column(img_cr, expected_rows, col, 1)):
            hint = " Hint: that looks like a straight-line fit; this question asks for a quadratic (degree 2)."
        elif _close(ctx, fit, fit_column(img_cr, np.arange(NROWS), col)):
            hint = " Hint: that fit used every row, galaxy included; fit only the background rows."
        elif any(_close(ctx, fit, fit_column(img_cr, expected_rows, c)) for c in (COLUMN, col - 1, col + 1)
                 if 0 <= c < NCOLS and c != col):
            hint = " Hint: that is the fit of another column; fit column `col` (img_cr[bkg_rows, col])."
        _with_hint(exc, hint)


@check(ASSIGNMENT, "background", inputs=("img_cr", "bkg_rows"), secret=_secret_images(("img_cr",)),
       watch=("img_cr",), per_submission=False)
def background(ctx: CheckContext) -> None:
    """bkg, img_bkg: the per-column quadratic background of the whole image.

    * bkg: float (512, 511) equal to the quadratic fit over the background rows, column
      by column, evaluated at every row, of ``img_cr``.  The tolerance (course.yml)
      admits any least-squares method (one polyfit, a loop, lstsq, Polynomial.fit).
      Hints: coefficients instead of the evaluated model, the model only at the
      background rows, a straight line, a fit over all rows.
    * img_bkg: float (512, 511) equal to ``img_cr - bkg`` (the student's own ``bkg``).
      Hint for the reversed subtraction.  ``img_cr`` must be left as it was (checked on
      the reruns, where its value before the code is known).
    """
    from reference_solution import background_image, background_rows

    img_cr = np.asarray(ctx.input("img_cr"), dtype=np.float64)
    expected_rows = np.sort(np.asarray(background_rows()))
    bv = ctx.value("bkg")
    assert bv.array is not None
    if bv.array.ndim == 2 and bv.array.shape[1] == NCOLS and bv.array.shape[0] in (2, 3, 4):
        ctx.fail(f"`bkg` has shape {bv.array.shape}: it looks like the fit's coefficients; evaluate the "
                 f"polynomial at every row to get the background image of shape {SHAPE}")
    if bv.array.shape == (expected_rows.size, NCOLS):
        ctx.fail(f"`bkg` has shape {bv.array.shape}: evaluate the fit at every row of the image "
                 f"(0..{NROWS - 1}), not only at the background rows")
    bkg = _image(ctx, "bkg", kind="f")
    try:
        ctx.expect_close("bkg", bkg, ctx.expected("bkg", lambda: background_image(img_cr, expected_rows)))
    except CheckFailed as exc:
        hint = ""
        if _close(ctx, bkg, ctx.expected("line", lambda: background_image(img_cr, expected_rows, 1))):
            hint = " Hint: that looks like a straight-line fit; this question asks for a quadratic (degree 2)."
        elif _close(ctx, bkg, ctx.expected("all-rows", lambda: background_image(img_cr, np.arange(NROWS)))):
            hint = " Hint: that fit used every row, galaxy included; fit only the background rows."
        _with_hint(exc, hint)

    img_bkg = _image(ctx, "img_bkg", kind="f")
    own = img_cr - np.asarray(bkg, dtype=np.float64)
    try:
        ctx.expect_close("img_bkg", img_bkg, own, what="img_cr - bkg")
    except CheckFailed as exc:
        _with_hint(exc, " Hint: the sign is reversed: subtract the background from the image (img_cr - bkg)."
                   if _close(ctx, -img_bkg, own) else "")
    after = ctx.values.get("img_cr")  # in a rerun, `img_cr` was put in place just before the code ran
    if (ctx.run != "own" and after is not None and after.array is not None and after.array.shape == img_cr.shape
            and not _close(ctx, after.array, img_cr)):
        ctx.fail("`img_cr` was changed by this question's code: the subtraction must leave `img_cr` as it is "
                 "(`img_bkg = img_cr - bkg` makes a new array; `img_bkg = img_cr` then `-=` changes both)", public=True)


@check(ASSIGNMENT, "final-spectrum", inputs=("img_bkg", "peak_row"), secret=_secret_band)
def final_spectrum(ctx: CheckContext) -> None:
    """spectrum_final: (511,) sum of the ten rows ``peak_row - 4 .. peak_row + 5`` of
    ``img_bkg`` (the run's peak row: tens of rows elsewhere on the secret run, so a typed
    band fails; the tolerance, course.yml, admits the spectrum of an
    ``ndimage.median_filter`` reduction).  Hints: wrong axis, rows one off at either end,
    a mean."""
    from reference_solution import final_spectrum as recipe

    img_bkg = np.asarray(ctx.input("img_bkg"), dtype=np.float64)
    band = _band(ctx.input("peak_row"))
    arr = _vector(ctx, "spectrum_final", NCOLS,
                  wrong_axis_hint="did you sum along the wrong axis? Sum the rows (axis=0), one value per column")
    expected = ctx.expected("spectrum_final", lambda: recipe(img_bkg, band))
    try:
        ctx.expect_close("spectrum_final", arr, expected)
    except CheckFailed as exc:
        shifted = ctx.expected("shifted", lambda: _shifted_row_sums(img_bkg, band))
        _with_hint(exc, _sum_hint(ctx, "spectrum_final", arr, expected, BELOW + ABOVE + 1, shifted))


def _find_spectrum_plot(ctx: CheckContext, x: np.ndarray, y: np.ndarray) -> bool:
    """Whether a figure of this question has a line with x-data ``x`` and y-data ``y``."""
    for fig in ctx.figures:
        for ax in fig.axes:
            for line in ax.lines:
                lx, ly = np.asarray(line.x, dtype=float), np.asarray(line.y, dtype=float)
                if lx.shape == x.shape == ly.shape and _close(ctx, lx, x) and _close(ctx, ly, y, rtol=1e-6,
                                                                                        atol=1e-6):
                    return True
    return False


def _axis_from(wcs: dict) -> np.ndarray:
    return wcs["CRVAL1"] + wcs["CD1_1"] * (np.arange(NCOLS) + 1 - wcs["CRPIX1"])


@check(ASSIGNMENT, "wavelength", inputs=("img", "spectrum_final"), secret=_secret_wcs, per_submission=False)
def wavelength(ctx: CheckContext) -> None:
    """wavelength: (511,) float, Angstrom of every column from the SCI header's WCS,
    ``CRVAL1 + CD1_1 * (i + 1 - CRPIX1)`` for the 0-based column i; plus the plot.

    Hints: an astropy Quantity/SpectralCoord (take the numbers in Angstrom), values in
    metres (astropy.wcs's SI unit, factor 1e10) or nm, a shift of one pixel (FITS pixels
    are 1-based), reversed order.  Among the figures drawn for this question there must
    be a line whose x-data equal ``wavelength`` and whose y-data equal ``spectrum_final``,
    e.g. ``plt.plot(wavelength, spectrum_final)``.  Other lines and figures are ignored.
    """
    v = ctx.values.get("wavelength")
    if v is not None and v.status == "unsupported" and any(t in v.pytype for t in ("Quantity", "SpectralCoord")):
        ctx.fail(f"`wavelength` is of type {v.pytype}; this question expects a plain numpy array of numbers in "
                 "Angstrom: take them with .to_value(u.AA) (import astropy.units as u)")
    v = ctx.value("wavelength")
    if v.array is not None and v.array.shape == (NROWS,):
        ctx.fail(f"`wavelength` has shape {v.array.shape}; wavelength runs along the columns: "
                 f"this question expects one value per column, shape ({NCOLS},)")
    wl = ctx.array("wavelength", shape=(NCOLS,), kind="f")
    if v.pytype != "numpy.ndarray":
        ctx.fail(f"`wavelength` is a {v.pytype}; this question expects a numpy array (numpy.ndarray)")
    expected = ctx.expected("wavelength", lambda: _axis_from(ctx.input("wcs")))
    try:
        ctx.expect_close("wavelength", wl, expected)
    except CheckFailed as exc:
        a = np.asarray(wl, dtype=np.float64)
        step = float(np.median(np.diff(expected)))
        hint = ""
        with np.errstate(all="ignore"):
            ratio = np.median(a / expected)
        if np.isfinite(ratio) and abs(ratio / 1e-10 - 1) < 0.01:
            hint = (" Hint: those look like metres (astropy.wcs works in SI units); "
                    "this question asks for Angstrom (1 Angstrom = 1e-10 m).")
        elif np.isfinite(ratio) and abs(ratio / 0.1 - 1) < 0.01:
            hint = " Hint: those look like nanometres; this question asks for Angstrom."
        elif _close(ctx, a, expected - step) or _close(ctx, a, expected + step):
            hint = (" Hint: the axis is shifted by one pixel: FITS counts pixels from 1 (CRPIX1 is 1-based), "
                    "numpy indices start at 0.")
        elif _close(ctx, a[::-1], expected):
            hint = " Hint: the axis runs the wrong way: column 0 is the first column."
        _with_hint(exc, hint)
    spectrum = np.asarray(ctx.input("spectrum_final"), dtype=np.float64)
    if not ctx.figures:
        ctx.fail("`wavelength`: no figure was drawn for this question; plot `spectrum_final` against `wavelength` "
                 "(e.g. plt.plot(wavelength, spectrum_final))")
    if not _find_spectrum_plot(ctx, np.asarray(wl, dtype=float), spectrum):
        ctx.fail("`wavelength`: no line of the figures drawn for this question shows `spectrum_final` (y) "
                 "against `wavelength` (x); plot it, e.g. plt.plot(wavelength, spectrum_final)")


@check(ASSIGNMENT, "redshift", inputs=("wavelength", "spectrum_final"), secret=_secret_axis)
def redshift(ctx: CheckContext) -> None:
    """z_measured: a single real number, the redshift MEASURED on the header axis.

    Passes within the question's absolute tolerance (course.yml: 0.002, about two pixels
    at [O III] 5007) of ``reference_solution.measure_redshift`` on the run's
    ``wavelength`` and ``spectrum_final``.  The published 0.0330 lies outside that
    tolerance on this file's axis, so a value copied from the literature fails, with a
    hint that the question asks to measure; a typed number fails the secret run, whose
    spectrum is moved along the axis by a few columns.  Other hints: a velocity cz in
    km/s, a percentage, the wrong sign, 1 + z.
    """
    from reference_solution import measure_redshift

    v = ctx.value("z_measured")
    assert v.array is not None
    if v.array.size != 1:
        ctx.fail(f"`z_measured` has {v.array.size} elements; this question expects a single number "
                 "(combine the lines' redshifts into one, e.g. their mean)")
    if v.array.ndim != 0:
        ctx.fail(f"`z_measured` has shape {v.array.shape}; this question expects a single number, e.g. float(...)")
    z = ctx.scalar("z_measured")
    expected = ctx.expected("z", lambda: measure_redshift(ctx.input("wavelength"), ctx.input("spectrum_final")))
    try:
        if not np.isfinite(z):
            ctx.fail("`z_measured` is not a finite number")
        _expect_scalar(ctx, "z_measured", z, expected)
    except CheckFailed as exc:
        hint = ""
        if abs(z - PUBLISHED_Z) <= PUBLISHED_Z_HINT:
            hint = (" Hint: that is the published redshift of 3C120; this question asks you to MEASURE it from "
                    "the emission lines on this file's header wavelength axis, which gives a different value.")
        elif 1000 < abs(z) < 30000:
            hint = " Hint: that looks like a velocity c*z in km/s; z is dimensionless (lambda_obs/lambda_rest - 1)."
        elif 1 < abs(z) < 10 and abs(z - 1) > 0.2:
            hint = " Hint: that looks like a percentage; give z itself (lambda_obs/lambda_rest - 1)."
        elif 1 < z < 1.2:
            hint = " Hint: that looks like 1 + z (lambda_obs/lambda_rest); z is that minus 1."
        elif z < 0:
            hint = " Hint: the lines are redshifted (observed longer than at rest): z should be positive."
        _with_hint(exc, hint)
