"""Reading the HST/STIS long-slit file of 3C120.

The course file (``3c120_stis.fits.gz``) has a header-only primary HDU followed by three
image extensions, found here by their ``EXTNAME``:

=======  ==========  ==========================  ========================
EXTNAME  shape       on disk                     returned as
=======  ==========  ==========================  ========================
SCI      (512, 511)  ``>f4`` big-endian float32  native float64, counts
ERR      (512, 511)  ``>f4`` big-endian float32  native float64, counts
DQ       (512, 511)  ``>i2`` big-endian int16    native int16, bit flags
=======  ==========  ==========================  ========================

Axis 0 (rows) runs along the slit (spatial), axis 1 (columns) along the dispersion
(wavelength).

The conversion to native byte order is not cosmetic: ``scipy.signal.medfilt`` refuses
big-endian input (``ValueError: dtype=>f4 is not supported by medfilt``), which is the
first trap of the workshop on today's NumPy/SciPy.
"""

from __future__ import annotations

import os

import numpy as np
from astropy.io import fits

__all__ = ["load_images", "read_sci_header"]


def _native_copy(data: np.ndarray | None, dtype: type, extname: str) -> np.ndarray:
    """An in-memory, native-byte-order copy of ``data`` as ``dtype``."""
    if data is None:
        msg = f"HDU {extname!r} holds no image data"
        raise ValueError(msg)
    # np.array(..., dtype=<native dtype>) always allocates a new, native-endian buffer,
    # so the result owns its memory and survives closing the file (no memmap).
    return np.array(data, dtype=np.dtype(dtype).newbyteorder("="), copy=True)


def load_images(
    path: str | os.PathLike[str],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read the science, error and data-quality images of a STIS file.

    Parameters
    ----------
    path : str or path-like
        The FITS file (gzip-compressed files are read transparently).

    Returns
    -------
    sci : numpy.ndarray, shape (nrows, ncols), float64
        Science image in counts (``EXTNAME = 'SCI'``), native byte order.
    err : numpy.ndarray, shape (nrows, ncols), float64
        One-sigma error image in counts (``EXTNAME = 'ERR'``), native byte order.
    dq : numpy.ndarray, shape (nrows, ncols), int16
        Data-quality bit flags (``EXTNAME = 'DQ'``), native byte order.

    Notes
    -----
    The three arrays are independent in-memory copies (never memory maps of the file),
    so they stay valid after the file is closed and may be modified freely. For the
    course file ``nrows, ncols = 512, 511``.
    """
    with fits.open(path, memmap=False) as hdul:
        sci = _native_copy(hdul["SCI"].data, np.float64, "SCI")
        err = _native_copy(hdul["ERR"].data, np.float64, "ERR")
        dq = _native_copy(hdul["DQ"].data, np.int16, "DQ")
    if not sci.shape == err.shape == dq.shape:
        msg = f"SCI, ERR and DQ shapes differ: {sci.shape}, {err.shape}, {dq.shape}"
        raise ValueError(msg)
    return sci, err, dq


def read_sci_header(path: str | os.PathLike[str]) -> fits.Header:
    """The header of the ``SCI`` extension (carries the wavelength WCS).

    Parameters
    ----------
    path : str or path-like
        The FITS file.

    Returns
    -------
    astropy.io.fits.Header
        A copy of the SCI header, independent of the (closed) file. For the course
        file it holds ``CTYPE1 = 'WAVE'``, ``CUNIT1 = 'angstrom'``, ``CRVAL1 = 4300.0``,
        ``CRPIX1 = 258.7``, ``CD1_1 = 5.492`` and ``EXPTIME = 720``.
    """
    with fits.open(path, memmap=False) as hdul:
        return hdul["SCI"].header.copy()
