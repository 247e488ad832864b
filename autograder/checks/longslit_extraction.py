"""Hidden checks of ``longslit-extraction`` (notebook ``extraction.ipynb``).

The whole reduction of the HST/STIS G430L long-slit spectrum of 3C120, one check per
question.  General rules (see each check's docstring for the details):

* Every name is checked for existence, type, shape and dtype before its values.
* "Follows the recipe": a later question passes when its answer equals the recipe
  applied to the student's OWN earlier results (captured through ``uses=``), so that a
  mistake costs only its own question; it also passes when it equals the reference.
  When neither matches, the message is the one of the comparison with the student's
  own inputs (when they differ from the reference), else with the reference.
* Messages name the variable, say what is wrong and where, and never show expected
  values.  Likely mistakes get a hint when they can be recognised (wrong axis,
  transposed, big-endian, slice end excluded, mean instead of sum, metres, 1-based
  pixels, a literature redshift...).
* Tolerances come from course.yml (``ctx.rtol``/``ctx.atol``, per question; the values
  and their reasons are documented there).  Exact answers (masks, row lists, integer
  flags) are compared exactly.

Valid alternatives that pass: ``astype(float)`` or float32 native images;
``scipy.signal.medfilt(img, 5)`` or ``scipy.ndimage.median_filter(img, size=5)`` with
any ``mode`` (the smoothed image is compared away from a 2-pixel border, and everything
downstream follows the student's own ``img_sm``); ``np.where`` or mask assignment;
one vectorised ``np.polyfit`` or a loop over columns, or any other least-squares
quadratic; background rows given as integers in any order or as a boolean row mask;
the wavelength computed by hand from CRVAL1/CRPIX1/CD1_1 or with ``astropy.wcs``
(converted to Angstrom); any sensible line-centroid method for the redshift.
"""

from __future__ import annotations

import numpy as np

from ..values import Value
from ._api import CheckContext, CheckFailed, check

ASSIGNMENT = "longslit-extraction"
USES_EXTRACTION = True  # compared with reference_solution.extract (see checks.prepare)
NROWS, NCOLS = 512, 511
SHAPE = (NROWS, NCOLS)
#: Border (pixels) excluded when comparing median-smoothed images: a 5x5 window reaches
#: 2 pixels past the edge, where medfilt's zero padding and ndimage's modes differ.
BORDER = 2
INTERIOR = (slice(BORDER, -BORDER), slice(BORDER, -BORDER))
#: Rows of the nucleus (inclusive) and rows protected from the cosmic-ray cleaning.
SOURCE = (250, 259)
PROTECT = slice(230, 280)
#: The published redshift of 3C120 (what a student who looks it up instead of measuring
#: it would give).
PUBLISHED_Z = 0.0330
#: How close to PUBLISHED_Z counts as "the literature value" for the hint.
PUBLISHED_Z_HINT = 0.0005


# ------------------------------------------------------------------------- helpers
def _ref(ctx: CheckContext):
    return ctx.reference.extraction


def _image(ctx: CheckContext, name: str, *, kind: str = "f") -> np.ndarray:
    """The student's ``name`` as a plain (512, 511) ndarray, with form hints."""
    v = ctx.value(name)
    arr = v.array
    assert arr is not None
    if v.pytype != "numpy.ndarray":
        ctx.fail(f"`{name}` is a {v.pytype}; this question expects a numpy array (numpy.ndarray)")
    if arr.shape == SHAPE[::-1]:
        ctx.fail(f"`{name}` has shape {arr.shape}: it looks transposed; this question expects shape {SHAPE} "
                 "(rows along the slit, columns along wavelength)")
    if arr.shape != SHAPE:
        ctx.fail(f"`{name}` has shape {arr.shape}; this question expects shape {SHAPE}")
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


def _own(ctx: CheckContext, name: str, shape: tuple[int, ...] | None = None, *, kind: str = "fiu") -> np.ndarray | None:
    """An earlier answer of the student's as a native float64 array, or None if unusable.

    Used to recompute a recipe from the student's own results; never fails.
    """
    v = ctx.values.get(name)
    if v is None or v.status != "ok" or v.array is None:
        return None
    arr = v.array
    if arr.dtype.kind not in kind or (shape is not None and arr.shape != tuple(shape)):
        return None
    return np.asarray(arr, dtype=np.float64)


def _recompute(func, *args, **kwargs) -> np.ndarray | None:
    """``func(*args)`` with the reference's recipe, or None if the inputs break it."""
    try:
        with np.errstate(all="ignore"):
            out = func(*args, **kwargs)
    except Exception:  # the student's inputs were not usable for the recipe
        return None
    return np.asarray(out, dtype=np.float64)


def _same(a: np.ndarray | None, b: np.ndarray) -> bool:
    """Whether ``a`` is the reference ``b`` up to rounding (then no need to recompute from it)."""
    if a is None or a.shape != np.shape(b):
        return False
    if a is b or np.array_equal(a, b):  # the usual case, at a fraction of allclose's cost
        return True
    with np.errstate(all="ignore"):
        return bool(np.allclose(a, b, rtol=1e-12, atol=0.0, equal_nan=True))


def _expect_scalar_any(
    ctx: CheckContext,
    name: str,
    value: float,
    candidates: list[tuple[float | None, str]],
) -> None:
    """Like :func:`_expect_close_any` for one number, with a message that does not say by
    how much it differs (with a single number, that would give the expected value away)."""
    first = ""
    for expected, what in candidates:
        if expected is None:
            continue
        if _is_close(ctx, value, expected):
            return
        first = first or what
    label = f"`{name}`" + (f" ({first})" if first else "")
    ctx.fail(f"{label}: the value is not the expected one within the allowed tolerance "
             f"(rtol={ctx.rtol:g}, atol={ctx.atol:g})")


def _expect_close_any(
    ctx: CheckContext,
    name: str,
    actual: np.ndarray,
    candidates: list[tuple[np.ndarray | None, str]],
    *,
    rtol: float | None = None,
    atol: float | None = None,
) -> None:
    """Pass if ``actual`` matches any candidate ``(expected, what)``; else raise the first failure.

    Candidates that are None (not computable) are skipped; a candidate equal to an
    earlier one is not tried twice.
    """
    first: CheckFailed | None = None
    tried: list[np.ndarray] = []
    for expected, what in candidates:
        if expected is None or any(_same(expected, t) for t in tried):
            continue
        tried.append(expected)
        try:
            ctx.expect_close(name, actual, expected, rtol=rtol, atol=atol, what=what)
            return
        except CheckFailed as exc:
            if first is None:
                first = exc
    assert first is not None, "no candidate to compare with"
    raise first


def _is_close(ctx: CheckContext, actual, expected, *, rtol=None, atol=None) -> bool:
    """Whether ``actual`` matches ``expected`` within the question's tolerance (no failure)."""
    if expected is None:
        return False
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        return False
    rtol = ctx.rtol if rtol is None else rtol
    atol = ctx.atol if atol is None else atol
    with np.errstate(all="ignore"):
        return bool(np.all(np.abs(a - e) <= atol + rtol * np.abs(e)))


def _sum_hints(ctx: CheckContext, name: str, actual: np.ndarray, bases: list[np.ndarray | None],
               count: int, wrong_rows=None) -> str:
    """A hint for a failed sum: a mean instead of a sum, or the wrong rows."""
    for base in bases:
        if base is None:
            continue
        if _is_close(ctx, np.asarray(actual) * count, base, rtol=1e-5, atol=1e-3):
            return f" Hint: `{name}` looks like a mean; this question asks for a sum."
    if wrong_rows is not None:
        for expected in wrong_rows:
            if _is_close(ctx, actual, expected, rtol=1e-5, atol=1e-3):
                return (f" Hint: `{name}` sums the wrong rows: rows a..b inclusive are the slice a:b+1 "
                        "(a slice's end is excluded).")
    return ""


def _fail_with_hint(exc: CheckFailed, hint: str):
    if hint:
        msg = str(exc)
        raise CheckFailed(msg + ("" if msg.endswith((".", "!", "?")) else ".") + hint) from None
    raise exc


def _border_from(expected: np.ndarray | None, actual: np.ndarray) -> np.ndarray | None:
    """``expected`` with its outer BORDER pixels taken from ``actual`` (so that they never
    count as differences, while reported indices stay those of the whole image)."""
    if expected is None:
        return None
    out = np.asarray(actual, dtype=np.float64).copy()
    out[INTERIOR] = np.asarray(expected, dtype=np.float64)[INTERIOR]
    return out


def _shifted_row_sums(img: np.ndarray | None) -> list[np.ndarray | None]:
    """Sums of row bands one row off rows 250..259 at either end (for the slice hint)."""
    if img is None:
        return []
    first, last = SOURCE
    bands = [(first, last - 1), (first + 1, last), (first + 1, last + 1), (first - 1, last), (first, last + 1),
             (first - 1, last - 1)]
    return [img[a : b + 1].sum(axis=0) for a, b in bands]


# ------------------------------------------------------------------------ questions
@check(ASSIGNMENT, "read-data")
def read_data(ctx: CheckContext) -> None:
    """img, err: plain ndarrays (512, 511), native-endian float, equal to SCI and ERR.

    dq: plain integer ndarray (512, 511) equal to DQ (any byte order; an integer dtype
    is required: the flags are bits).  float32 and float64 both pass for img/err;
    big-endian data as read from the file fails with a conversion hint; the SCI and ERR
    extensions swapped get a hint.
    """
    ref = _ref(ctx)
    for name, expected, other, other_name in (("img", ref.img, ref.err, "ERR"), ("err", ref.err, ref.img, "SCI")):
        arr = _image(ctx, name, kind="f")
        if not arr.dtype.isnative:
            ctx.fail(
                f"`{name}` holds big-endian numbers (dtype {arr.dtype.str}), as they are stored in the FITS file; "
                "this question asks for native byte order: convert with .astype(float) "
                "(scipy.signal.medfilt refuses big-endian data)"
            )
        if _is_close(ctx, arr, other) and not _is_close(ctx, arr, expected):
            want = "SCI" if name == "img" else "ERR"
            ctx.fail(f"`{name}` holds the {other_name} extension's values; this question asks for the {want} extension")
        ctx.expect_close(name, arr, expected)
    dq_value = ctx.value("dq")
    if dq_value.array is not None and dq_value.array.shape == SHAPE and dq_value.array.dtype.kind in "fb":
        ctx.fail(
            f"`dq` has dtype {dq_value.array.dtype}; the data-quality flags are bit flags: "
            "keep the integer dtype they have in the file"
        )
    dq = _image(ctx, "dq", kind="iu")
    ctx.expect_equal("dq", dq, ref.dq)


@check(ASSIGNMENT, "profile-and-spectrum", uses=("img",))
def profile_and_spectrum(ctx: CheckContext) -> None:
    """profile: (512,) sum of every row over wavelength; spectrum_raw: (511,) sum of
    every column along the slit.

    Follows the recipe: equal (within the question's tolerance, which admits sums
    done in float32) to the sums of the reference image or of the student's own ``img``.
    A swapped pair or a sum along the wrong axis gets a hint; a mean instead of a sum too.
    """
    ref = _ref(ctx)
    img = _own(ctx, "img", SHAPE)
    pv, sv = ctx.values.get("profile"), ctx.values.get("spectrum_raw")
    if (pv is not None and sv is not None and pv.array is not None and sv.array is not None
            and pv.array.shape == (NCOLS,) and sv.array.shape == (NROWS,)):
        ctx.fail("`profile` and `spectrum_raw` look swapped: the profile has one number per row (along the slit), "
                 "the spectrum one number per column (along wavelength)")
    own_img = None if _same(img, ref.img) else img
    from reference_solution import raw_spectrum, spatial_profile

    for name, n, func, expected, hint in (
        ("profile", NROWS, spatial_profile, ref.profile,
         "did you sum along the wrong axis? The profile has one value per row: sum over the columns (axis=1)"),
        ("spectrum_raw", NCOLS, raw_spectrum, ref.spectrum_raw,
         "did you sum along the wrong axis? The spectrum has one value per column: sum over the rows (axis=0)"),
    ):
        arr = _vector(ctx, name, n, wrong_axis_hint=hint)
        own = _recompute(func, own_img) if own_img is not None else None
        try:
            _expect_close_any(ctx, name, arr, [(own, "recomputed from your `img`"), (expected, "")])
        except CheckFailed as exc:
            count = NCOLS if name == "profile" else NROWS
            _fail_with_hint(exc, _sum_hints(ctx, name, arr, [own, expected], count))


@check(ASSIGNMENT, "source-rows", uses=("img",))
def source_rows(ctx: CheckContext) -> None:
    """spectrum_src: (511,) sum over rows 250..259 inclusive of ``img``.

    Follows the recipe: equal to that sum of the reference image or of the student's
    own ``img``.  Hints for a band one row off at either end (slice end excluded), a
    mean, and the wrong axis.
    """
    from reference_solution import sum_rows

    ref = _ref(ctx)
    img = _own(ctx, "img", SHAPE)
    own = None if img is None or _same(img, ref.img) else _recompute(sum_rows, img, SOURCE)
    arr = _vector(ctx, "spectrum_src", NCOLS,
                  wrong_axis_hint="did you sum along the wrong axis? Sum the rows (axis=0), one value per column")
    try:
        _expect_close_any(ctx, "spectrum_src", arr, [(own, "recomputed from your `img`"), (ref.spectrum_src, "")])
    except CheckFailed as exc:
        base = img if img is not None else np.asarray(ref.img)
        hint = _sum_hints(ctx, "spectrum_src", arr, [own, ref.spectrum_src], SOURCE[1] - SOURCE[0] + 1,
                          wrong_rows=_shifted_row_sums(base))
        _fail_with_hint(exc, hint)


@check(ASSIGNMENT, "cosmic-rays", uses=("img", "err"))
def cosmic_rays(ctx: CheckContext) -> None:
    """img_sm, sigma, bad, img_cr: the cosmic-ray cleaning.

    * img_cr must be a new array: sharing memory with ``img`` (forgot ``.copy()``: the
      cleaning then also changed ``img``) or with ``img_sm`` fails first, with a hint.
    * img_sm: (512, 511) float; away from a 2-pixel border equal to the 5x5 median of
      the reference image or of the student's own ``img`` (so medfilt and
      ndimage.median_filter with any mode pass).
    * sigma: a single number equal to the median of the reference ``err`` or of the
      student's own ``err``.
    * bad: boolean (512, 511), equal everywhere to ``|img - img_sm| / sigma > 8``
      computed from the student's OWN img, img_sm and sigma (pixels within rounding of
      the cut are forgiven), which away from the border is the reference mask when
      those inputs are right; this is also checked explicitly in that case.  Hints:
      rows 230..279 left out of the mask, a one-sided cut, an inverted mask.
    * img_cr: float (512, 511) equal to ``img`` on rows 230..279 and elsewhere to
      ``img_sm`` where ``bad``, ``img`` where not, all from the student's own arrays;
      or equal to the reference ``img_cr``.
    """
    from reference_solution import (
        clean_cosmic_rays,
        cosmic_ray_mask,
        median_smooth,
        noise_sigma,
    )

    ref = _ref(ctx)
    img = _own(ctx, "img", SHAPE)
    err = _own(ctx, "err", SHAPE)
    img_is_ref = _same(img, ref.img)

    # -- img_cr must not be a view of img or img_sm (checked first: it corrupts them)
    cr_value = ctx.values.get("img_cr")
    for other in ("img", "img_sm"):
        ov = ctx.values.get(other)
        if (isinstance(cr_value, Value) and isinstance(ov, Value) and cr_value.status == ov.status == "ok"
                and cr_value.shares_memory_with(ov)):
            extra = " (so cleaning it also changed `img`)" if other == "img" else " (so changing it also changed `img_sm`)"
            ctx.fail(f"`img_cr` shares memory with `{other}`{extra}: start from a copy, e.g. img_cr = img.copy()")

    # -- img_sm
    img_sm = _image(ctx, "img_sm", kind="f")
    own_sm = None if img is None or img_is_ref else _recompute(median_smooth, img, 5)
    _expect_close_any(
        ctx, "img_sm", img_sm,
        [(_border_from(own_sm, img_sm), f"5x5 median of your `img`, outer {BORDER} rows and columns not compared"),
         (_border_from(ref.img_sm, img_sm), f"outer {BORDER} rows and columns not compared")],
    )

    # -- sigma
    sigma_arr = ctx.array("sigma")
    if sigma_arr.ndim != 0:
        ctx.fail(f"`sigma` has shape {sigma_arr.shape}; this question expects a single number "
                 "(the median of the whole error image)")
    sigma = ctx.scalar("sigma")
    own_sigma = None if err is None or _same(err, ref.err) else _recompute(noise_sigma, err)
    try:
        _expect_scalar_any(ctx, "sigma", sigma, [(own_sigma, "compared with the median of your `err`"),
                                                 (float(ref.sigma), "")])
    except CheckFailed as exc:
        hint = ""
        for e in (err, np.asarray(ref.err)):
            if e is not None and _is_close(ctx, sigma, np.mean(e)):
                hint = " Hint: that looks like a mean; this question asks for the median."
        _fail_with_hint(exc, hint)
    if not (np.isfinite(sigma) and sigma > 0):
        ctx.fail("`sigma` must be a positive number")

    # -- bad: the recipe from the student's own img, img_sm and sigma
    bad_value = ctx.value("bad")
    assert bad_value.array is not None
    if bad_value.array.shape == SHAPE and bad_value.array.dtype.kind != "b":
        ctx.fail(f"`bad` has dtype {bad_value.array.dtype}; this question expects a boolean mask "
                 "(True where a pixel is bad), e.g. the result of a comparison")
    bad = _image(ctx, "bad", kind="b")
    base = img if img is not None else np.asarray(ref.img, dtype=np.float64)
    sm = np.asarray(img_sm, dtype=np.float64)
    expected = cosmic_ray_mask(base, sm, sigma)
    with np.errstate(all="ignore"):
        dev = np.abs(base - sm) / sigma
    near_cut = np.abs(dev - 8.0) <= 1e-5 * 8.0  # rounding ties: either answer is fine
    wrong = (bad != expected) & ~near_cut
    if wrong.any():
        outside = np.ones(NROWS, bool)
        outside[PROTECT] = False
        if not bad[PROTECT].any() and expected[PROTECT].any() and not wrong[outside].any():
            ctx.fail("`bad` has no pixel flagged on rows 230..279: the mask should flag every outlier; "
                     "protect rows 230..279 when building `img_cr`, not in `bad`")
        with np.errstate(all="ignore"):
            one_sided = (base - sm) / sigma > 8.0
        if np.array_equal(bad, one_sided):
            ctx.fail("`bad` only flags pixels above the smoothed image; the cut is on the absolute "
                     "difference |img - img_sm| (np.abs)")
        if ((bad != expected) | near_cut).all():
            ctx.fail("`bad` looks inverted: it should be True where a pixel is more than 8 sigma from `img_sm`")
        n = int(wrong.sum())
        first = ", ".join(str(int(i)) for i in np.argwhere(wrong)[0])
        ctx.fail(f"`bad` (recomputed from your `img`, `img_sm` and `sigma`): {n} of {bad.size} element(s) "
                 f"are not as expected, first at index [{first}]")
    if img_is_ref and _is_close(ctx, img_sm[INTERIOR], np.asarray(ref.img_sm)[INTERIOR]):
        ref_wrong = (bad[INTERIOR] != np.asarray(ref.bad)[INTERIOR]) & ~near_cut[INTERIOR]
        if ref_wrong.any():
            ctx.fail(f"`bad`: {int(ref_wrong.sum())} pixel(s) away from the border differ from the expected mask")

    # -- img_cr
    img_cr = _image(ctx, "img_cr", kind="f")
    own_cr = _recompute(clean_cosmic_rays, base, sm, bad, (230, 279))
    try:
        _expect_close_any(ctx, "img_cr", img_cr,
                          [(own_cr, "recomputed from your `img`, `img_sm` and `bad`"), (ref.img_cr, "")])
    except CheckFailed as exc:
        hint = ""
        if not _is_close(ctx, img_cr[PROTECT], base[PROTECT]):
            hint = " Hint: rows 230..279 (the galaxy) must keep the values of `img` unchanged."
        elif _is_close(ctx, img_cr, base):
            hint = " Hint: `img_cr` equals `img`: no bad pixel was replaced."
        else:
            replaced = bad.copy()
            replaced[PROTECT] = False
            vals = img_cr[replaced]
            if vals.size and (np.all(vals == 0) or np.all(np.isnan(vals))):
                hint = " Hint: replace the bad pixels by the smoothed values (`img_sm`), not by 0 or NaN."
        _fail_with_hint(exc, hint)


def _row_set(ctx: CheckContext) -> np.ndarray:
    """The student's ``bkg_rows`` as a sorted array of distinct row numbers.

    Accepted: a 1-D integer array/list/tuple of row numbers in any order (no repeats),
    or a 1-D boolean mask of length 512.
    """
    v = ctx.value("bkg_rows")
    arr = v.array
    assert arr is not None
    if arr.ndim != 1:
        ctx.fail(f"`bkg_rows` has {arr.ndim} dimension(s); this question expects a 1-D array of row numbers")
    if arr.dtype.kind == "b":
        if arr.shape != (NROWS,):
            ctx.fail(f"`bkg_rows` is a boolean mask of length {arr.size}; a row mask needs one entry per row ({NROWS})")
        return np.flatnonzero(arr)
    if arr.dtype.kind not in "iu":
        ctx.fail(f"`bkg_rows` has dtype {arr.dtype}; row numbers are integers "
                 "(np.arange and np.r_ with integer ends give integers)")
    rows = arr.astype(np.int64)
    if np.unique(rows).size != rows.size:
        ctx.fail("`bkg_rows` lists some rows more than once: each background row should appear once")
    return np.sort(rows)


@check(ASSIGNMENT, "background", uses=("img_cr",))
def background(ctx: CheckContext) -> None:
    """bkg_rows, bkg, img_bkg: the per-column quadratic background.

    * bkg_rows: exactly the rows 10..199 and 300..479, as integers in any order
      (no repeats) or as a boolean mask of length 512.  Hint when only the ends of the
      ranges are off (slice end excluded).
    * bkg: float (512, 511) equal to the quadratic fit over those rows, column by
      column, evaluated at every row, of the student's OWN ``img_cr``
      (``reference_solution.background_image``) or of the reference ``img_cr``.  The
      tolerance (course.yml) admits any least-squares method (one polyfit, a loop, lstsq,
      Polynomial.fit).  Hints: coefficients instead of the evaluated model, the model
      only at the background rows, a straight line, a fit over all rows.
    * img_bkg: float (512, 511) equal to the student's own ``img_cr - bkg``, or the
      reference ``img_bkg``.  Hint for the reversed subtraction.
    """
    from reference_solution import (
        background_image,
        background_rows,
        subtract_background,
    )

    ref = _ref(ctx)
    rows = _row_set(ctx)
    expected_rows = np.sort(np.asarray(background_rows()))
    if not np.array_equal(rows, expected_rows):
        missing = np.setdiff1d(expected_rows, rows).size
        extra = np.setdiff1d(rows, expected_rows).size
        hint = ""
        if missing + extra <= 4:
            hint = " Hint: check the ends of your ranges: rows a..b inclusive are the slice a:b+1."
        ctx.fail(f"`bkg_rows` is not the set of rows asked for: {missing} requested row(s) are missing and "
                 f"{extra} other row(s) are included.{hint}")

    cr = _own(ctx, "img_cr", SHAPE)
    own_cr = None if cr is None or _same(cr, ref.img_cr) else cr
    base = own_cr if own_cr is not None else np.asarray(ref.img_cr)

    bv = ctx.value("bkg")
    assert bv.array is not None
    if bv.array.ndim == 2 and bv.array.shape[1] == NCOLS and bv.array.shape[0] in (2, 3, 4):
        ctx.fail(f"`bkg` has shape {bv.array.shape}: it looks like the fit's coefficients; evaluate the "
                 f"polynomial at every row to get the background image of shape {SHAPE}")
    if bv.array.shape == (expected_rows.size, NCOLS):
        ctx.fail(f"`bkg` has shape {bv.array.shape}: evaluate the fit at every row of the image "
                 f"(0..{NROWS - 1}), not only at the background rows")
    bkg = _image(ctx, "bkg", kind="f")
    own_bkg = None if own_cr is None else _recompute(background_image, own_cr)
    try:
        _expect_close_any(ctx, "bkg", bkg, [(own_bkg, "fitted to your `img_cr`"), (ref.bkg, "")])
    except CheckFailed as exc:
        hint = ""
        line = _recompute(background_image, base, None, 1)
        everything = _recompute(background_image, base, np.arange(NROWS))
        if _is_close(ctx, bkg, line):
            hint = " Hint: that looks like a straight-line fit; this question asks for a quadratic (degree 2)."
        elif _is_close(ctx, bkg, everything):
            hint = " Hint: that fit used every row, galaxy included; fit only the background rows."
        _fail_with_hint(exc, hint)

    img_bkg = _image(ctx, "img_bkg", kind="f")
    own = _recompute(subtract_background, cr, bkg) if cr is not None else None
    try:
        _expect_close_any(ctx, "img_bkg", img_bkg,
                          [(own, "recomputed from your `img_cr` and `bkg`"), (ref.img_bkg, "")])
    except CheckFailed as exc:
        hint = ""
        if own is not None and _is_close(ctx, -img_bkg, own):
            hint = " Hint: the sign is reversed: subtract the background from the image (img_cr - bkg)."
        _fail_with_hint(exc, hint)


@check(ASSIGNMENT, "final-spectrum", uses=("img_bkg",))
def final_spectrum(ctx: CheckContext) -> None:
    """spectrum_final: (511,) sum over rows 250..259 inclusive of ``img_bkg``.

    Follows the recipe: equal to that sum of the student's OWN ``img_bkg``, or to the
    reference ``spectrum_final`` within the question's tolerance (course.yml), which
    admits the spectrum of an ``ndimage.median_filter`` reduction (it moves by ~1e-5 of
    the peak).  Hints: wrong axis, rows one off at either end, a mean.
    """
    from reference_solution import final_spectrum as recipe

    ref = _ref(ctx)
    ib = _own(ctx, "img_bkg", SHAPE)
    own = None if ib is None or _same(ib, ref.img_bkg) else _recompute(recipe, ib, SOURCE)
    arr = _vector(ctx, "spectrum_final", NCOLS,
                  wrong_axis_hint="did you sum along the wrong axis? Sum the rows (axis=0), one value per column")
    try:
        _expect_close_any(ctx, "spectrum_final", arr,
                          [(own, "recomputed from your `img_bkg`"), (ref.spectrum_final, "")])
    except CheckFailed as exc:
        base = ib if ib is not None else np.asarray(ref.img_bkg)
        hint = _sum_hints(ctx, "spectrum_final", arr, [own, ref.spectrum_final], SOURCE[1] - SOURCE[0] + 1,
                          wrong_rows=_shifted_row_sums(base))
        _fail_with_hint(exc, hint)


def _find_spectrum_plot(ctx: CheckContext, x: np.ndarray, ys: list[np.ndarray]) -> bool:
    """Whether a figure of this question has a line with x-data ``x`` and y-data one of ``ys``."""
    for fig in ctx.figures:
        for ax in fig.axes:
            for line in ax.lines:
                lx, ly = np.asarray(line.x, dtype=float), np.asarray(line.y, dtype=float)
                if lx.shape != x.shape or ly.shape != x.shape:
                    continue
                if not _is_close(ctx, lx, x):
                    continue
                if any(_is_close(ctx, ly, y, rtol=1e-6, atol=1e-6) for y in ys):
                    return True
    return False


@check(ASSIGNMENT, "wavelength", uses=("spectrum_final",))
def wavelength(ctx: CheckContext) -> None:
    """wavelength: (511,) float, Angstrom of every column from the SCI header's WCS,
    ``CRVAL1 + CD1_1 * (i + 1 - CRPIX1)`` for the 0-based column i; plus the plot.

    Hints: an astropy Quantity/SpectralCoord (take the numbers in Angstrom), values in
    metres (astropy.wcs's SI unit, factor 1e10) or nm, a shift of one pixel (FITS
    pixels are 1-based), reversed order.

    The plot is graded when the student has a usable ``spectrum_final`` (a missing one
    is an earlier question's loss, not this one's): among the figures drawn for this question there must be a line
    whose x-data equal ``wavelength`` and whose y-data equal the student's own
    ``spectrum_final`` (or the reference one, if the student's is unusable), e.g.
    ``plt.plot(wavelength, spectrum_final)``.  Other lines and figures are ignored.
    """
    ref = _ref(ctx)
    v = ctx.values.get("wavelength")
    if v is not None and v.status == "unsupported" and any(t in v.pytype for t in ("Quantity", "SpectralCoord")):
        ctx.fail(f"`wavelength` is of type {v.pytype}; this question expects a plain numpy array of numbers in Angstrom: "
                 "take them with .to_value(u.AA) (import astropy.units as u)")
    v = ctx.value("wavelength")
    if v.array is not None and v.array.shape == (NROWS,):
        ctx.fail(f"`wavelength` has shape {v.array.shape}; wavelength runs along the columns: "
                 f"this question expects one value per column, shape ({NCOLS},)")
    wl = ctx.array("wavelength", shape=(NCOLS,), kind="f")
    if v.pytype != "numpy.ndarray":
        ctx.fail(f"`wavelength` is a {v.pytype}; this question expects a numpy array (numpy.ndarray)")
    expected = np.asarray(ref.wavelength)
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
        elif _is_close(ctx, a, expected - step) or _is_close(ctx, a, expected + step):
            hint = (" Hint: the axis is shifted by one pixel: FITS counts pixels from 1 (CRPIX1 is 1-based), "
                    "numpy indices start at 0.")
        elif _is_close(ctx, a[::-1], expected):
            hint = " Hint: the axis runs the wrong way: column 0 is the first column."
        _fail_with_hint(exc, hint)

    spec = _own(ctx, "spectrum_final", (NCOLS,))
    if spec is None:
        return  # no usable spectrum_final of the student's to plot: an earlier question's loss, not this one's
    candidates = [spec, np.asarray(ref.spectrum_final)]
    if not ctx.figures:
        ctx.fail("`wavelength`: no figure was drawn for this question; plot `spectrum_final` against `wavelength` "
                 "(e.g. plt.plot(wavelength, spectrum_final))")
    if not _find_spectrum_plot(ctx, np.asarray(wl, dtype=float), candidates):
        ctx.fail("`wavelength`: no line of the figures drawn for this question shows `spectrum_final` (y) "
                 "against `wavelength` (x); plot it, e.g. plt.plot(wavelength, spectrum_final)")


@check(ASSIGNMENT, "redshift", uses=("wavelength", "spectrum_final"))
def redshift(ctx: CheckContext) -> None:
    """z_measured: a single real number, the redshift MEASURED on the header axis.

    Passes within the question's absolute tolerance (course.yml: 0.002, about two
    pixels at [O III] 5007) of ``reference_solution.measure_redshift`` applied to the
    student's OWN ``wavelength`` and ``spectrum_final`` or to the reference ones.
    The published 0.0330 lies outside that tolerance on this file's axis, so a value
    copied from the literature fails, with a hint that the question asks to measure.
    Other hints: a velocity cz in km/s, a percentage, the wrong sign, 1 + z.
    """
    from reference_solution import measure_redshift

    ref = _ref(ctx)
    v = ctx.value("z_measured")
    assert v.array is not None
    if v.array.size != 1:
        ctx.fail(f"`z_measured` has {v.array.size} elements; this question expects a single number "
                 "(combine the lines' redshifts into one, e.g. their mean)")
    if v.array.ndim != 0:
        ctx.fail(f"`z_measured` has shape {v.array.shape}; this question expects a single number, e.g. float(...)")
    z = ctx.scalar("z_measured")
    wl = _own(ctx, "wavelength", (NCOLS,))
    spec = _own(ctx, "spectrum_final", (NCOLS,))
    own = None
    if wl is not None and spec is not None and not (_same(wl, ref.wavelength) and _same(spec, ref.spectrum_final)):
        own = _recompute(measure_redshift, wl, spec)
    try:
        if not np.isfinite(z):
            ctx.fail("`z_measured` is not a finite number")
        _expect_scalar_any(ctx, "z_measured", z,
                           [(own, "compared with a measurement of the lines on your `wavelength` and `spectrum_final`"),
                            (float(ref.z), "")])
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
        _fail_with_hint(exc, hint)
