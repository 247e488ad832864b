"""Wavelength axis and redshift of 3C120.

Wavelength axis
---------------
The SCI header carries a linear wavelength solution: ``CTYPE1 = 'WAVE'``,
``CUNIT1 = 'angstrom'``, ``CRVAL1 = 4300.0``, ``CRPIX1 = 258.7``, ``CD1_1 = 5.492``
Angstrom per pixel. For the 0-based column index ``i`` (FITS pixels are 1-based)::

    wavelength[i] = CRVAL1 + CD1_1 * (i + 1 - CRPIX1)

which runs from 2884.71 to 5685.63 Angstrom over the 511 columns of the course file.
:func:`wavelength_axis` evaluates it with :class:`astropy.wcs.WCS`, which converts a
``WAVE`` axis to SI: it reports ``CUNIT1 = 'm'`` and returns metres (4.3e-07 at the
reference pixel). The function converts back to Angstrom with the unit the WCS reports.

Redshift
--------
The strongest lines of the G430L range (2900-5700 Angstrom) in the nuclear spectrum
are [O III] 5007, [O III] 4959 and the broad H-beta; H-gamma (blended with
[O III] 4363), H-delta, [Ne III] 3869 and He II 4686 are visible too but weaker or
blended, and are not used. :func:`measure_redshift` finds the lines with a coarse scan
in z, measures each centroid (:func:`line_centroid`) and averages
``lambda_obs / lambda_rest - 1``.

On this file's header wavelength axis the lines give **z = 0.0287** (0.028670:
[O III] 5007 0.02883, [O III] 4959 0.02870, H-beta 0.02849 with the default 25 Angstrom
windows; the mean stays within 0.0286-0.0289 for half-widths of 15-30 Angstrom and does
not depend on ``z_guess`` anywhere in 0.025-0.040). That is 0.0043 **below** the
published 0.0330 (about 1300 km/s): at [O III] 5007 the line sits 21 Angstrom, i.e.
3.8 binned pixels, blueward of 5006.84 * 1.0330. H-gamma, H-delta, [Ne III] 3869 and
He II 4686 are off by a similar 18-24 Angstrom, so it is mostly a zero-point offset of
the header's linear solution, not a scale error. Plausible reason: this is the
``_crj`` image, on which calstis has *not* applied the dispersion solution (the primary
header says ``DISPCORR = 'PERFORM'``, ``X2DCORR = 'PERFORM'``, dispersion table
``l2j0137to_dsp``). Its WCS is only the nominal one of the grating setting (``CRVAL1``
is just ``CENWAVE = 4300`` at the reference pixel); the true dispersion relation,
applied in the ``_x2d``/``_x1d`` products, is not exactly linear and has a different
zero point. The other candidates are far too small to explain it: the wavecal shift
``SHIFTA1 = 0.67`` pixel is about 2-4 Angstrom, the 0.2" slit allows at most about one
binned pixel of source-position offset, and the heliocentric correction
(``V_HELIO = -27.9 km/s``) is 1e-4 in z.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

__all__ = [
    "REST_LINES",
    "coarse_redshift",
    "line_centroid",
    "line_redshifts",
    "measure_redshift",
    "wavelength_axis",
]

#: Rest-frame air wavelengths (Angstrom) of the strongest optical emission lines of
#: 3C120 in the STIS G430L range, strongest first.
REST_LINES: dict[str, float] = {
    "[O III] 5007": 5006.84,
    "[O III] 4959": 4958.91,
    "H-beta": 4861.33,
}


def wavelength_axis(header: fits.Header, ncols: int | None = None) -> np.ndarray:
    """Wavelength of every column from the header's WCS.

    Parameters
    ----------
    header : astropy.io.fits.Header
        The SCI header (:func:`reference_solution.read_sci_header`); world axis 1 must
        be a spectral ``WAVE`` axis.
    ncols : int, optional
        Number of columns; default the header's ``NAXIS1`` (511 for the course file).

    Returns
    -------
    numpy.ndarray, shape (ncols,), float64
        Wavelength in Angstrom of the centre of each 0-based column ``i``, i.e.
        ``CRVAL1 + CD1_1 * (i + 1 - CRPIX1)`` for a linear solution; increasing for the
        course file (2884.71 .. 5685.63).

    Notes
    -----
    ``astropy.wcs`` normalises a ``WAVE`` axis to SI units and returns metres; the
    values are converted back to Angstrom using the unit the WCS reports, so the
    result is in Angstrom whatever astropy chooses. The harmless ``FITSFixedWarning``
    astropy emits while reading the header (``'angstrom' -> 'Angstrom'``, MJD-OBS set
    from DATE-OBS) is silenced here and only here.
    """
    if ncols is None:
        if "NAXIS1" not in header:
            msg = "the header has no NAXIS1: give ncols"
            raise ValueError(msg)
        ncols = header["NAXIS1"]
    if isinstance(ncols, bool) or int(ncols) != ncols or ncols < 1:
        msg = f"ncols must be a positive integer, got {ncols!r}"
        raise ValueError(msg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        wcs = WCS(header)
    if wcs.naxis < 1 or not str(wcs.wcs.ctype[0]).upper().startswith("WAVE"):
        msg = f"world axis 1 is not a WAVE axis (CTYPE1 = {wcs.wcs.ctype[0]!r})"
        raise ValueError(msg)
    spectral = wcs.sub([1])  # the wavelength axis alone (CD1_2 = 0: no row dependence)
    values = np.asarray(spectral.pixel_to_world_values(np.arange(int(ncols))), dtype=float)
    unit = u.Unit(spectral.wcs.cunit[0])
    return np.asarray((values * unit).to_value(u.AA), dtype=np.float64)


def _check_spectrum(wavelength, spectrum) -> tuple[np.ndarray, np.ndarray]:
    wl = np.asarray(wavelength, dtype=np.float64)
    fl = np.asarray(spectrum, dtype=np.float64)
    if wl.ndim != 1 or wl.shape != fl.shape:
        msg = f"wavelength and spectrum must be 1-D of one length, got {wl.shape}, {fl.shape}"
        raise ValueError(msg)
    if wl.size < 2 or not np.all(np.diff(wl) > 0):
        msg = "wavelength must be strictly increasing"
        raise ValueError(msg)
    if not (np.all(np.isfinite(wl)) and np.all(np.isfinite(fl))):
        msg = "wavelength and spectrum must be finite"
        raise ValueError(msg)
    return wl, fl


def _rest_wavelengths(lines) -> dict[str, float]:
    if lines is None:
        return dict(REST_LINES)
    if isinstance(lines, Mapping):
        out = {str(k): float(v) for k, v in lines.items()}
    elif isinstance(lines, Sequence | np.ndarray):
        out = {f"{float(v):.2f}": float(v) for v in lines}
    else:
        msg = f"lines must be a mapping name -> rest wavelength or a sequence, got {lines!r}"
        raise ValueError(msg)
    if not out or not all(v > 0 for v in out.values()):
        msg = "lines must hold at least one positive rest wavelength"
        raise ValueError(msg)
    return out


def line_centroid(
    wavelength,
    spectrum,
    guess: float,
    half_width: float = 25.0,
    n_edge: int = 2,
    search: float | None = None,
) -> float:
    """Flux-weighted centroid of an emission line above a local linear continuum.

    Method (deterministic, no iteration):

    1. the line's peak pixel ``p`` is the brightest pixel within ``search`` Angstrom
       of ``guess``;
    2. the window is the pixels with ``|wavelength - wavelength[p]| <= half_width``,
       i.e. symmetric in pixels about the peak on a linear wavelength grid;
    3. the local continuum is the least-squares straight line through the ``n_edge``
       pixels at each end of the window, and is subtracted: ``f = flux - continuum``;
    4. the centroid is ``sum(wavelength * f) / sum(f)`` over the window.

    Centring the window on the peak pixel rather than on the guess makes the result
    independent of the guess (as long as the guess finds the right peak): a window
    centred on the guess would pull the centroid towards the guess, because the
    continuum pixels then sit on one wing of the line.

    Parameters
    ----------
    wavelength : array_like, shape (n,)
        Strictly increasing wavelengths, Angstrom.
    spectrum : array_like, shape (n,)
        Flux per pixel (any unit, e.g. counts).
    guess : float
        Approximate observed wavelength of the line, Angstrom; within ``search`` of
        its peak (see :func:`coarse_redshift` for a good one).
    half_width : float, optional
        Half width of the window, Angstrom; default 25 (4 pixels of 5.49 Angstrom on
        each side: the narrow [O III] lines, about 2 pixels FWHM, are inside with
        their wings, the continuum pixels 3-4 pixels out are nearly line-free, and
        [O III] 4959 and 5007, 9 pixels apart, stay in separate windows).
    n_edge : int, optional
        Pixels at each end of the window that define the continuum, default 2.
    search : float, optional
        Radius of the peak search around ``guess``, Angstrom; default
        ``half_width / 2``.

    Returns
    -------
    float
        The centroid, Angstrom.

    Raises
    ------
    ValueError
        If the window runs off the spectrum, holds too few pixels, or has no net
        positive (emission) flux above the continuum.
    """
    wl, fl = _check_spectrum(wavelength, spectrum)
    if not half_width > 0:
        msg = f"half_width must be positive, got {half_width!r}"
        raise ValueError(msg)
    if isinstance(n_edge, bool) or int(n_edge) != n_edge or n_edge < 1:
        msg = f"n_edge must be a positive integer, got {n_edge!r}"
        raise ValueError(msg)
    n_edge = int(n_edge)
    search = half_width / 2 if search is None else float(search)
    near = np.flatnonzero(np.abs(wl - guess) <= search)
    if near.size == 0:
        msg = f"no pixel within {search} A of {guess:.1f} A"
        raise ValueError(msg)
    peak = wl[near[np.argmax(fl[near])]]
    if peak - half_width < wl[0] or peak + half_width > wl[-1]:
        msg = f"window {peak:.1f} +/- {half_width} A runs off the spectrum"
        raise ValueError(msg)
    inside = np.abs(wl - peak) <= half_width
    x, y = wl[inside], fl[inside]
    if x.size < 2 * n_edge + 1:
        msg = f"window {peak:.1f} +/- {half_width} A holds only {x.size} pixel(s)"
        raise ValueError(msg)
    ends = np.r_[0:n_edge, x.size - n_edge : x.size]
    slope, intercept = np.polyfit(x[ends], y[ends], 1)
    net = y - (slope * x + intercept)
    total = net.sum()
    if not total > 0:
        msg = f"no emission above the continuum near {guess:.1f} A"
        raise ValueError(msg)
    return float((x * net).sum() / total)


def coarse_redshift(
    wavelength,
    spectrum,
    lines=None,
    z_guess: float = 0.033,
    z_range: float = 0.01,
    z_step: float = 1e-5,
) -> float:
    """Coarse redshift: the z that puts the most flux at the predicted line positions.

    For every z of a grid ``z_guess - z_range .. z_guess + z_range`` (step ``z_step``)
    the spectrum is linearly interpolated at ``rest * (1 + z)`` of every line and the
    values are summed; the best z maximises that sum. Using all lines at once keeps a
    line from being mistaken for its neighbour (e.g. [O III] 4959 for 5007), which a
    per-line search from a guess 20 Angstrom off could do.

    Parameters
    ----------
    wavelength, spectrum : array_like, shape (n,)
        Strictly increasing wavelengths (Angstrom) and flux.
    lines : mapping name -> float or sequence of float, optional
        Rest wavelengths, Angstrom; default :data:`REST_LINES`.
    z_guess, z_range, z_step : float, optional
        Centre, half width and step of the grid; default 0.033, 0.01, 1e-5.

    Returns
    -------
    float
        The best z of the grid.
    """
    wl, fl = _check_spectrum(wavelength, spectrum)
    rest = np.array(list(_rest_wavelengths(lines).values()))
    if not (z_range >= 0 and z_step > 0):
        msg = "z_range must be >= 0 and z_step > 0"
        raise ValueError(msg)
    n = int(np.floor(2 * z_range / z_step + 1e-9)) + 1
    z_grid = z_guess - z_range + z_step * np.arange(n)
    predicted = np.outer(1 + z_grid, rest)  # (n, nlines)
    if predicted.min() < wl[0] or predicted.max() > wl[-1]:
        msg = "some lines fall outside the spectrum over the searched redshifts"
        raise ValueError(msg)
    score = np.interp(predicted, wl, fl).sum(axis=1)
    return float(z_grid[np.argmax(score)])


def line_redshifts(
    wavelength,
    spectrum,
    lines=None,
    z_guess: float = 0.033,
    half_width: float = 25.0,
) -> dict[str, float]:
    """Redshift of every line, ``lambda_obs / lambda_rest - 1``.

    The lines are first located together with :func:`coarse_redshift` (search
    ``z_guess +/- 0.01``); each line's centroid is then measured with
    :func:`line_centroid` starting from ``rest * (1 + z_coarse)``.

    Parameters
    ----------
    wavelength, spectrum : array_like, shape (n,)
        Strictly increasing wavelengths (Angstrom) and flux.
    lines : mapping name -> float or sequence of float, optional
        Rest wavelengths, Angstrom; default :data:`REST_LINES`.
    z_guess : float, optional
        Starting redshift, default 0.033 (published value for 3C120).
    half_width : float, optional
        Centroid half window, Angstrom, default 25 (:func:`line_centroid`).

    Returns
    -------
    dict of str to float
        Line name (or rest wavelength as text) -> its redshift.
    """
    wl, fl = _check_spectrum(wavelength, spectrum)
    rest = _rest_wavelengths(lines)
    z0 = coarse_redshift(wl, fl, rest, z_guess=z_guess)
    return {
        name: line_centroid(wl, fl, lam * (1 + z0), half_width=half_width) / lam - 1
        for name, lam in rest.items()
    }


def measure_redshift(
    wavelength,
    spectrum,
    lines=None,
    z_guess: float = 0.033,
    half_width: float = 25.0,
) -> float:
    """Redshift from the centroids of the strongest emission lines.

    Parameters
    ----------
    wavelength : array_like, shape (n,)
        Strictly increasing wavelengths, Angstrom (e.g. :func:`wavelength_axis`).
    spectrum : array_like, shape (n,)
        Flux per pixel (e.g. ``spectrum_final``, counts).
    lines : mapping name -> float or sequence of float, optional
        Rest (air) wavelengths, Angstrom; default :data:`REST_LINES` ([O III] 5007,
        [O III] 4959, H-beta).
    z_guess : float, optional
        Starting redshift, default 0.033; the lines are searched within +/- 0.01.
    half_width : float, optional
        Centroid half window, Angstrom, default 25 (:func:`line_centroid`).

    Returns
    -------
    float
        The mean over the lines of ``lambda_obs / lambda_rest - 1``
        (:func:`line_redshifts`). 0.0287 for the course file's final spectrum on its
        header wavelength axis (lines at 25 Angstrom half-width): see the module notes for
        why it is below 0.0330.
    """
    return float(np.mean(list(line_redshifts(wavelength, spectrum, lines, z_guess, half_width).values())))
