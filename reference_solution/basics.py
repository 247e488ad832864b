"""The NumPy basics exercises: broadcasting, masks, random numbers, views.

The ripple grid
---------------
:func:`ripple` builds ``x`` as a row ``(1, n)`` and ``y`` as a column ``(n, 1)`` of the
same coordinates, so that any expression of both broadcasts to ``(n, n)`` with
``z[i, j]`` belonging to the point ``(x = x[0, j], y = y[i, 0])``: rows follow ``y``,
columns follow ``x``. Nothing is ever built with ``np.meshgrid`` or a loop.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "between",
    "disk_mask",
    "is_view_of",
    "ripple",
    "sine_of_uniform",
    "zero_disk",
]


def ripple(
    start: float = -20.0, stop: float = 20.0, step: float = 0.25
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The damped ripple ``z = cos(r) / (r + 5)`` on a square grid, by broadcasting.

    Parameters
    ----------
    start, stop : float, optional
        First and last coordinate, **both included**; default -20 and 20.
    step : float, optional
        Grid spacing, default 0.25 (so 161 points by default).

    Returns
    -------
    x : numpy.ndarray, shape (1, n), float64
        ``start, start + step, ..., stop`` as a row.
    y : numpy.ndarray, shape (n, 1), float64
        The same values as a column (a copy of ``x.T``, not a view of ``x``).
    z : numpy.ndarray, shape (n, n), float64
        ``cos(r) / (r + 5)`` with ``r = sqrt(x**2 + y**2)``; ``z[i, j]`` is at
        ``(x[0, j], y[i, 0])``. Symmetric, and 1/5 at the origin.

    Notes
    -----
    The points are ``start + step * k`` for ``k = 0 .. n-1`` with
    ``n = floor((stop - start) / step) + 1``, which includes ``stop`` when the range is
    a whole number of steps and avoids ``np.arange``'s float-step rounding surprises.
    """
    if not step > 0:
        msg = f"step must be positive, got {step!r}"
        raise ValueError(msg)
    if not stop >= start:
        msg = f"stop ({stop!r}) must not be below start ({start!r})"
        raise ValueError(msg)
    n = int(np.floor((stop - start) / step + 1e-9)) + 1
    x = (start + step * np.arange(n, dtype=np.float64)).reshape(1, n)
    y = x.reshape(n, 1).copy()
    r = np.sqrt(x**2 + y**2)
    z = np.cos(r) / (r + 5)
    return x, y, z


def disk_mask(x, y, center: tuple[float, float] = (10.0, 15.0), radius: float = 10.0) -> np.ndarray:
    """Points of the grid strictly inside a circle.

    Parameters
    ----------
    x : array_like, shape (1, n)
        Row of x coordinates (as from :func:`ripple`).
    y : array_like, shape (n, 1)
        Column of y coordinates.
    center : (float, float), optional
        ``(cx, cy)`` in the same coordinate units as ``x`` and ``y`` (not pixel
        indices); default (10, 15).
    radius : float, optional
        Radius in the same units, default 10.

    Returns
    -------
    numpy.ndarray, shape (n, n), bool
        True where ``sqrt((x - cx)**2 + (y - cy)**2) < radius``. The inequality is
        **strict**: grid points exactly on the circle (e.g. (20, 15) or (16, 23) for
        the defaults) are outside.
    """
    cx, cy = (float(c) for c in center)
    xa = np.asarray(x, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    return np.sqrt((xa - cx) ** 2 + (ya - cy) ** 2) < radius


def zero_disk(
    z, x, y, center: tuple[float, float] = (10.0, 15.0), radius: float = 10.0
) -> np.ndarray:
    """A copy of ``z`` with the points inside the disk set to 0.

    Parameters
    ----------
    z : array_like, shape (n, n)
        Values on the grid (e.g. the ripple).
    x, y, center, radius
        As for :func:`disk_mask`.

    Returns
    -------
    numpy.ndarray, shape (n, n)
        New array equal to ``z`` outside the disk and 0 inside; ``z`` is unchanged.
    """
    out = np.array(z, copy=True)
    mask = disk_mask(x, y, center, radius)
    if mask.shape != out.shape:
        msg = f"the grid {mask.shape} does not match z {out.shape}"
        raise ValueError(msg)
    out[mask] = 0
    return out


def sine_of_uniform(n: int, seed) -> tuple[np.ndarray, np.ndarray]:
    """Uniform random numbers and their sine.

    Parameters
    ----------
    n : int
        How many numbers.
    seed : int or None
        Seed of ``np.random.default_rng``; the same seed gives the same numbers.

    Returns
    -------
    values : numpy.ndarray, shape (n,), float64
        ``np.random.default_rng(seed).random(n)``, uniform in [0, 1).
    sines : numpy.ndarray, shape (n,), float64
        ``np.sin(values)`` (radians).
    """
    if isinstance(n, bool) or int(n) != n or n < 0:
        msg = f"n must be a non-negative integer, got {n!r}"
        raise ValueError(msg)
    values = np.random.default_rng(seed).random(int(n))
    return values, np.sin(values)


def between(a, lo, hi) -> np.ndarray:
    """Boolean mask of the elements strictly between two bounds.

    Parameters
    ----------
    a : array_like
        Any shape.
    lo, hi : scalar or array_like broadcastable to ``a``
        Bounds, both excluded.

    Returns
    -------
    numpy.ndarray of bool, shape of ``a`` (broadcast)
        ``(a > lo) & (a < hi)``: note the parentheses and ``&`` (``and`` fails on
        arrays, and ``a > lo & a < hi`` parses as ``a > (lo & a) < hi``).
    """
    arr = np.asarray(a)
    return (arr > lo) & (arr < hi)


def is_view_of(view, base) -> bool:
    """Whether two arrays share memory (a slice is a view; fancy indexing copies).

    Parameters
    ----------
    view, base : numpy.ndarray
        Arrays to compare.

    Returns
    -------
    bool
        ``np.shares_memory(view, base)``: True for ``a[2:5]``, ``a.T``,
        ``a.reshape(...)`` of a contiguous ``a``; False for ``a[[2, 3]]``,
        ``a[a > 0]`` and ``a.copy()``.
    """
    return bool(np.shares_memory(view, base))
