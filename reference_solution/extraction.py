"""Long-slit extraction of 3C120: profile, cosmic rays, background, final spectrum.

Conventions used throughout
---------------------------
* Images are 2-D arrays of shape ``(nrows, ncols)``: axis 0 = rows = spatial (along the
  slit), axis 1 = columns = dispersion (wavelength). The course file has
  ``(512, 511)``. Pixel values are detector counts.
* Row ranges are **inclusive** pairs ``(first, last)``, exactly as the workshop states
  them: "rows 250..259" is ``(250, 259)`` and means ``img[250:260]``.
* Every function is pure: it never modifies its inputs and returns new arrays.

The workshop's recipe, with its numbers as keyword defaults:

1. ``profile = img.sum(axis=1)``, ``spectrum_raw = img.sum(axis=0)``; the nucleus is
   the profile's peak (``peak_row = argmax(profile)``: row 254 of the course file) and
   its spectrum the sum of the ten rows ``peak_row - 4 .. peak_row + 5`` (250..259).
2. Cosmic rays: 5x5 median filter (``scipy.signal.medfilt``'s, zero-padded edges),
   ``sigma = median(err)``,
   ``bad = |img - img_sm| / sigma > 8``; replace bad pixels by the smoothed value,
   except on rows 230..279 (the galaxy, whose sharp nucleus the test would flag).
3. Background: along every column, a quadratic in the row index fitted to rows 10..199
   and 300..479, evaluated at every row and subtracted (one column first:
   :func:`fit_column`; then every column in one call).
4. Final spectrum: the source band of the background-subtracted image.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import scipy.ndimage

from .io import load_images, read_sci_header
from .wavelength import measure_redshift, wavelength_axis

__all__ = [
    "Extraction",
    "background_image",
    "background_rows",
    "clean_cosmic_rays",
    "cosmic_ray_mask",
    "evaluate_background",
    "extract",
    "final_spectrum",
    "fit_background",
    "fit_column",
    "median_smooth",
    "noise_sigma",
    "peak_row",
    "raw_spectrum",
    "source_band",
    "spatial_profile",
    "subtract_background",
    "sum_rows",
]

#: Rows of the nucleus of 3C120 in the course file, inclusive (first, last): the source
#: band around the profile's peak, row 254 (:func:`source_band`).
SOURCE_ROWS = (250, 259)
#: The source band runs from this many rows below the profile's peak to this many above
#: (ten rows, about one arcsecond of slit).
SOURCE_BELOW, SOURCE_ABOVE = 4, 5
#: Rows left untouched by the cosmic-ray cleaning, inclusive (first, last).
PROTECT_ROWS = (230, 279)
#: Background (sky) row ranges, each inclusive (first, last).
BACKGROUND_RANGES = ((10, 199), (300, 479))


def _as_image(img, name: str = "img") -> np.ndarray:
    """``img`` as a 2-D float64 array (no copy when it already is one)."""
    arr = np.asarray(img, dtype=np.float64)
    if arr.ndim != 2:
        msg = f"{name} must be a 2-D image (rows, columns), got {arr.ndim} dimension(s)"
        raise ValueError(msg)
    return arr


def _row_slice(rows: tuple[int, int], nrows: int) -> slice:
    """The slice of an inclusive ``(first, last)`` row pair, checked against ``nrows``."""
    try:
        first, last = (int(r) for r in rows)
    except (TypeError, ValueError):
        msg = f"rows must be an inclusive pair (first, last) of integers, got {rows!r}"
        raise ValueError(msg) from None
    if not 0 <= first <= last < nrows:
        msg = f"rows {first}..{last} are not an increasing range inside 0..{nrows - 1}"
        raise ValueError(msg)
    return slice(first, last + 1)


# --------------------------------------------------------------------------- sums


def spatial_profile(img) -> np.ndarray:
    """Spatial profile along the slit: the sum over wavelength of every row.

    Parameters
    ----------
    img : array_like, shape (nrows, ncols)
        Image in counts.

    Returns
    -------
    numpy.ndarray, shape (nrows,), float64
        ``img.sum(axis=1)``, counts per row.
    """
    return _as_image(img).sum(axis=1)


def raw_spectrum(img) -> np.ndarray:
    """Raw spectrum: the sum along the slit of every column.

    Parameters
    ----------
    img : array_like, shape (nrows, ncols)
        Image in counts.

    Returns
    -------
    numpy.ndarray, shape (ncols,), float64
        ``img.sum(axis=0)``, counts per column.
    """
    return _as_image(img).sum(axis=0)


def sum_rows(img, rows: tuple[int, int] = SOURCE_ROWS) -> np.ndarray:
    """Spectrum of a band of rows: the sum of rows ``first..last`` inclusive.

    Parameters
    ----------
    img : array_like, shape (nrows, ncols)
        Image in counts.
    rows : (int, int), optional
        Inclusive ``(first, last)`` rows; default ``(250, 259)`` (the nucleus), i.e.
        ``img[250:260]``.

    Returns
    -------
    numpy.ndarray, shape (ncols,), float64
        ``img[first:last + 1].sum(axis=0)``, counts per column.

    Raises
    ------
    ValueError
        If ``rows`` is not an increasing pair inside the image.
    """
    arr = _as_image(img)
    return arr[_row_slice(rows, arr.shape[0])].sum(axis=0)


def peak_row(profile) -> int:
    """The row where a spatial profile peaks: where the nucleus sits along the slit.

    Parameters
    ----------
    profile : array_like, shape (nrows,)
        Spatial profile (:func:`spatial_profile`), counts per row.

    Returns
    -------
    int
        ``np.argmax(profile)`` (the first row of the maximum): 254 for the course file.
    """
    arr = np.asarray(profile, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        msg = f"profile must be a non-empty 1-D array, got shape {arr.shape}"
        raise ValueError(msg)
    return int(np.argmax(arr))


def source_band(peak: int, nrows: int | None = None) -> tuple[int, int]:
    """The rows of the source band around the profile's peak, inclusive.

    Parameters
    ----------
    peak : int
        The profile's peak row (:func:`peak_row`).
    nrows : int, optional
        Number of image rows; when given, the band must lie inside the image.

    Returns
    -------
    (int, int)
        ``(peak - 4, peak + 5)``: ten rows, ``img[peak - 4 : peak + 6]``; ``(250, 259)``
        for the course file.
    """
    first, last = int(peak) - SOURCE_BELOW, int(peak) + SOURCE_ABOVE
    if first < 0 or (nrows is not None and last >= nrows):
        msg = f"the source band {first}..{last} around row {peak} is not inside the image"
        raise ValueError(msg)
    return first, last


# -------------------------------------------------------------------- cosmic rays


def median_smooth(img, size: int = 5) -> np.ndarray:
    """Median-filtered image, ``scipy.signal.medfilt(img, size)``.

    Parameters
    ----------
    img : array_like, shape (nrows, ncols)
        Image in counts. Converted to native float64 first: ``medfilt`` refuses the
        big-endian ``>f4`` data as stored in the FITS file.
    size : int, optional
        Odd width of the square window, default 5 (a 5x5 median).

    Returns
    -------
    numpy.ndarray, shape (nrows, ncols), float64
        The median of the ``size x size`` neighbourhood of every pixel. As in the
        workshop, the image is zero-padded at its edges (``medfilt``'s behaviour), so
        the outermost ``size // 2`` rows and columns are biased towards 0.

    Notes
    -----
    Computed as ``scipy.ndimage.median_filter(img, size, mode="constant", cval=0)``,
    which gives exactly ``medfilt``'s result (tested) and spares the grader importing
    ``scipy.signal``, which takes about 0.6 s, in every grading process.
    """
    if isinstance(size, bool) or int(size) != size or size < 1 or size % 2 == 0:
        msg = f"size must be a positive odd integer, got {size!r}"
        raise ValueError(msg)
    arr = _as_image(img)
    return np.asarray(scipy.ndimage.median_filter(arr, size=int(size), mode="constant", cval=0.0), dtype=np.float64)


def noise_sigma(err) -> float:
    """Typical one-sigma noise of a pixel: the median of the error image.

    Parameters
    ----------
    err : array_like, shape (nrows, ncols)
        Error image (``ERR`` extension), counts.

    Returns
    -------
    float
        ``np.median(err)``, counts. About 7.47 for the course file.
    """
    return float(np.median(np.asarray(err, dtype=np.float64)))


def cosmic_ray_mask(img, img_sm, sigma: float, threshold: float = 8.0) -> np.ndarray:
    """Pixels that stand out from their median-smoothed neighbourhood.

    Parameters
    ----------
    img : array_like, shape (nrows, ncols)
        Image in counts.
    img_sm : array_like, shape (nrows, ncols)
        Its median-smoothed version (:func:`median_smooth`).
    sigma : float
        Typical noise in counts (:func:`noise_sigma`), must be positive.
    threshold : float, optional
        Cut in units of ``sigma``, default 8.

    Returns
    -------
    numpy.ndarray, shape (nrows, ncols), bool
        True where ``|img - img_sm| > threshold * sigma``. Computed exactly as the
        workshop writes it, ``np.abs(img - img_sm) / sigma > threshold``, so that pixels
        right at the cut round the same way as the students' code.
    """
    arr = _as_image(img)
    sm = _as_image(img_sm, "img_sm")
    if arr.shape != sm.shape:
        msg = f"img and img_sm shapes differ: {arr.shape} and {sm.shape}"
        raise ValueError(msg)
    sigma = float(sigma)
    if not (np.isfinite(sigma) and sigma > 0):
        msg = f"sigma must be a positive finite number, got {sigma!r}"
        raise ValueError(msg)
    return np.abs(arr - sm) / sigma > threshold


def clean_cosmic_rays(
    img, img_sm, bad, protect_rows: tuple[int, int] | None = PROTECT_ROWS
) -> np.ndarray:
    """Replace flagged pixels by their smoothed value, sparing the galaxy rows.

    Parameters
    ----------
    img : array_like, shape (nrows, ncols)
        Image in counts.
    img_sm : array_like, shape (nrows, ncols)
        Its median-smoothed version.
    bad : array_like of bool, shape (nrows, ncols)
        Pixels to replace (:func:`cosmic_ray_mask`).
    protect_rows : (int, int) or None, optional
        Inclusive ``(first, last)`` rows copied unchanged from ``img`` whatever ``bad``
        says; default ``(230, 279)``, i.e. ``img[230:280]``, where the bright, sharp
        nucleus would otherwise be "cleaned" away. None protects nothing.

    Returns
    -------
    numpy.ndarray, shape (nrows, ncols), float64
        ``img_cr``: a new array equal to ``img`` except where ``bad`` (outside the
        protected rows), where it equals ``img_sm``.
    """
    arr = _as_image(img)
    sm = _as_image(img_sm, "img_sm")
    mask = np.asarray(bad)
    if mask.dtype != np.bool_:
        msg = f"bad must be a boolean mask, got dtype {mask.dtype}"
        raise ValueError(msg)
    if not arr.shape == sm.shape == mask.shape:
        msg = f"img, img_sm and bad shapes differ: {arr.shape}, {sm.shape}, {mask.shape}"
        raise ValueError(msg)
    img_cr = np.where(mask, sm, arr)  # a new array: the inputs are left alone
    if protect_rows is not None:
        keep = _row_slice(protect_rows, arr.shape[0])
        img_cr[keep] = arr[keep]
    return img_cr


# --------------------------------------------------------------------- background


def background_rows(
    ranges: tuple[tuple[int, int], ...] = BACKGROUND_RANGES,
) -> np.ndarray:
    """Row indices of the background (sky) regions.

    Parameters
    ----------
    ranges : sequence of (int, int), optional
        Inclusive ``(first, last)`` row ranges; default ``((10, 199), (300, 479))``.

    Returns
    -------
    numpy.ndarray, shape (nbkg,), intp
        The rows of every range in order, ends included: 10, 11, ..., 199, 300, ...,
        479 by default (370 rows).
    """
    parts = []
    for pair in ranges:
        try:
            first, last = (int(r) for r in pair)
        except (TypeError, ValueError):
            msg = f"each range must be an inclusive pair (first, last), got {pair!r}"
            raise ValueError(msg) from None
        if not 0 <= first <= last:
            msg = f"range {first}..{last} is not an increasing range of rows >= 0"
            raise ValueError(msg)
        parts.append(np.arange(first, last + 1, dtype=np.intp))
    if not parts:
        msg = "at least one row range is needed"
        raise ValueError(msg)
    return np.concatenate(parts)


def fit_column(img, rows, col: int, deg: int = 2) -> np.ndarray:
    """The background of one column: a polynomial fitted to its background rows,
    evaluated at every row (``np.polyfit`` then ``np.polyval``).

    Parameters
    ----------
    img : array_like, shape (nrows, ncols)
        Image in counts (normally ``img_cr``).
    rows : array_like of int, shape (nbkg,)
        Background rows (:func:`background_rows`).
    col : int
        The column.
    deg : int, optional
        Polynomial degree, default 2.

    Returns
    -------
    numpy.ndarray, shape (nrows,), float64
        ``np.polyval(np.polyfit(rows, img[rows, col], deg), np.arange(nrows))``, counts;
        equal to column ``col`` of :func:`background_image` to rounding.
    """
    arr = _as_image(img)
    if isinstance(col, bool) or int(col) != col or not -arr.shape[1] <= col < arr.shape[1]:
        msg = f"col must be a column index of the image, got {col!r}"
        raise ValueError(msg)
    coeffs = fit_background(arr[:, [int(col)]], rows, deg)[:, 0]
    return np.polyval(coeffs, np.arange(arr.shape[0], dtype=np.float64))


def fit_background(img, rows, deg: int = 2) -> np.ndarray:
    """Fit a polynomial in the row index to the background rows of every column.

    One call ``np.polyfit(rows, img[rows], deg)`` fits all columns at once (polyfit
    accepts a 2-D ``y``, one column per data set): no Python loop over columns. It
    gives the same coefficients as the workshop's loop of
    ``np.polyfit(rows, img[rows, col], deg)`` to rounding.

    Parameters
    ----------
    img : array_like, shape (nrows, ncols)
        Image in counts (normally after cosmic-ray cleaning).
    rows : array_like of int, shape (nbkg,)
        Background rows (:func:`background_rows`); at least ``deg + 1`` of them.
    deg : int, optional
        Polynomial degree, default 2.

    Returns
    -------
    numpy.ndarray, shape (deg + 1, ncols), float64
        Coefficients per column, highest power first (``np.polyval`` order): counts,
        counts/row, counts/row**2 ... for ``deg = 2`` the rows are ``c2, c1, c0``.
    """
    arr = _as_image(img)
    idx = np.asarray(rows)
    if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
        msg = "rows must be a 1-D array of integer row indices"
        raise ValueError(msg)
    if isinstance(deg, bool) or int(deg) != deg or deg < 0:
        msg = f"deg must be a non-negative integer, got {deg!r}"
        raise ValueError(msg)
    if idx.size < deg + 1:
        msg = f"a degree-{deg} fit needs at least {deg + 1} rows, got {idx.size}"
        raise ValueError(msg)
    if idx.min() < 0 or idx.max() >= arr.shape[0]:
        msg = f"rows must lie in 0..{arr.shape[0] - 1}"
        raise ValueError(msg)
    return np.polyfit(idx, arr[idx], int(deg))


def evaluate_background(coeffs, nrows: int) -> np.ndarray:
    """The fitted background at every row of every column.

    Parameters
    ----------
    coeffs : array_like, shape (deg + 1, ncols)
        Coefficients from :func:`fit_background`, highest power first.
    nrows : int
        Number of image rows; the polynomial is evaluated at rows ``0..nrows-1``.

    Returns
    -------
    numpy.ndarray, shape (nrows, ncols), float64
        ``np.vander(np.arange(nrows), deg + 1) @ coeffs``, counts: element
        ``[r, c]`` is ``np.polyval(coeffs[:, c], r)``.
    """
    c = np.asarray(coeffs, dtype=np.float64)
    if c.ndim != 2:
        msg = f"coeffs must have shape (deg + 1, ncols), got {c.shape}"
        raise ValueError(msg)
    if isinstance(nrows, bool) or int(nrows) != nrows or nrows < 1:
        msg = f"nrows must be a positive integer, got {nrows!r}"
        raise ValueError(msg)
    design = np.vander(np.arange(int(nrows), dtype=np.float64), c.shape[0])
    return design @ c


def background_image(img, rows=None, deg: int = 2) -> np.ndarray:
    """Background model of the whole image: fit per column, evaluate at every row.

    Parameters
    ----------
    img : array_like, shape (nrows, ncols)
        Image in counts (normally ``img_cr``).
    rows : array_like of int, shape (nbkg,), optional
        Background rows; default :func:`background_rows` ``()`` (10..199, 300..479).
    deg : int, optional
        Polynomial degree, default 2.

    Returns
    -------
    numpy.ndarray, shape (nrows, ncols), float64
        ``bkg``, counts.
    """
    arr = _as_image(img)
    if rows is None:
        rows = background_rows()
    return evaluate_background(fit_background(arr, rows, deg), arr.shape[0])


def subtract_background(img, bkg) -> np.ndarray:
    """Background-subtracted image ``img - bkg``.

    Parameters
    ----------
    img, bkg : array_like, shape (nrows, ncols)
        Image and background model, counts.

    Returns
    -------
    numpy.ndarray, shape (nrows, ncols), float64
        ``img_bkg``, counts.
    """
    arr = _as_image(img)
    b = _as_image(bkg, "bkg")
    if arr.shape != b.shape:
        msg = f"img and bkg shapes differ: {arr.shape} and {b.shape}"
        raise ValueError(msg)
    return arr - b


def final_spectrum(img_bkg, rows: tuple[int, int] = SOURCE_ROWS) -> np.ndarray:
    """Spectrum of the nucleus from the background-subtracted image.

    Parameters
    ----------
    img_bkg : array_like, shape (nrows, ncols)
        Background-subtracted image, counts.
    rows : (int, int), optional
        Inclusive ``(first, last)`` rows, default ``(250, 259)``.

    Returns
    -------
    numpy.ndarray, shape (ncols,), float64
        ``img_bkg[250:260].sum(axis=0)`` by default, counts per column.
    """
    return sum_rows(img_bkg, rows)


# ----------------------------------------------------------------------- pipeline


@dataclass(frozen=True, eq=False)
class Extraction:
    """Every product of the workshop's reduction of one file.

    All arrays are read-only (``flags.writeable`` is False) so that a shared
    reference cannot be changed by accident; copy one before modifying it.
    Shapes are for an image of ``(nrows, ncols)`` pixels ((512, 511) for the course
    file); counts unless stated.

    Attributes
    ----------
    img, err : (nrows, ncols) float64
        Science and error images.
    dq : (nrows, ncols) int16
        Data-quality flags.
    profile : (nrows,) float64
        Spatial profile, ``img.sum(axis=1)``.
    spectrum_raw : (ncols,) float64
        ``img.sum(axis=0)``.
    peak_row : int
        The profile's peak row, ``argmax(profile)`` (254).
    spectrum_src : (ncols,) float64
        The source band (rows ``peak_row - 4 .. peak_row + 5``: 250..259) of ``img``.
    img_sm : (nrows, ncols) float64
        5x5 median-filtered image.
    sigma : float
        ``median(err)``.
    bad : (nrows, ncols) bool
        Cosmic-ray mask, ``|img - img_sm| / sigma > 8``.
    img_cr : (nrows, ncols) float64
        Cleaned image (rows 230..279 untouched).
    bkg_rows : (nbkg,) intp
        Background rows 10..199 and 300..479.
    bkg : (nrows, ncols) float64
        Quadratic background model of ``img_cr``.
    img_bkg : (nrows, ncols) float64
        ``img_cr - bkg``.
    spectrum_final : (ncols,) float64
        The source band of ``img_bkg``.
    wavelength : (ncols,) float64
        Angstrom of every column, from the header WCS.
    z : float
        Redshift measured on ``spectrum_final`` (see :mod:`reference_solution.wavelength`).
    """

    img: np.ndarray
    err: np.ndarray
    dq: np.ndarray
    profile: np.ndarray
    spectrum_raw: np.ndarray
    peak_row: int
    spectrum_src: np.ndarray
    img_sm: np.ndarray
    sigma: float
    bad: np.ndarray
    img_cr: np.ndarray
    bkg_rows: np.ndarray
    bkg: np.ndarray
    img_bkg: np.ndarray
    spectrum_final: np.ndarray
    wavelength: np.ndarray
    z: float

    def __post_init__(self) -> None:
        for value in vars(self).values():
            if isinstance(value, np.ndarray):
                value.flags.writeable = False


def extract(path: str | os.PathLike[str]) -> Extraction:
    """Run the workshop's whole reduction on a file, with its default numbers.

    Parameters
    ----------
    path : str or path-like
        The STIS FITS file (the course's ``3c120_stis.fits.gz``).

    Returns
    -------
    Extraction
        Every intermediate product, from the images to the redshift.
    """
    img, err, dq = load_images(path)
    header = read_sci_header(path)
    profile = spatial_profile(img)
    peak = peak_row(profile)
    band = source_band(peak, img.shape[0])
    img_sm = median_smooth(img)
    sigma = noise_sigma(err)
    bad = cosmic_ray_mask(img, img_sm, sigma)
    img_cr = clean_cosmic_rays(img, img_sm, bad)
    bkg_rows = background_rows()
    bkg = background_image(img_cr, bkg_rows)
    img_bkg = subtract_background(img_cr, bkg)
    spectrum_final = final_spectrum(img_bkg, band)
    wavelength = wavelength_axis(header, img.shape[1])
    return Extraction(
        img=img,
        err=err,
        dq=dq,
        profile=profile,
        spectrum_raw=raw_spectrum(img),
        peak_row=peak,
        spectrum_src=sum_rows(img, band),
        img_sm=img_sm,
        sigma=sigma,
        bad=bad,
        img_cr=img_cr,
        bkg_rows=bkg_rows,
        bkg=bkg,
        img_bkg=img_bkg,
        spectrum_final=spectrum_final,
        wavelength=wavelength,
        z=measure_redshift(wavelength, spectrum_final),
    )
