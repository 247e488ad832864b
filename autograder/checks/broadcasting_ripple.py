"""Hidden checks of the assignment ``broadcasting-ripple``.

The ripple surface ``z = cos(r) / (r + 5)``, ``r = sqrt(x**2 + y**2)``, built by
broadcasting a row of coordinates against a column, then a table of radio spectra
``(nu / 1.4e9) ** (-alpha)`` built the same way.

* ``ripple-grid`` has no inputs: the points -20, -19.75, ..., 20 (161 of them, 20
  included) are fixed by the question's wording (:func:`reference_solution.ripple`).
  Accepted forms (the notebook says so): ``x`` of shape (161,), (1, 161) or a full
  (161, 161) grid in which x changes along each row (axis 1); ``y`` of shape (161, 1)
  or a full grid in which y changes down each column (axis 0).  So broadcasting,
  ``y, x = np.mgrid[...]`` and ``x, y = np.meshgrid(...)`` all earn full marks.
* ``ripple-surface`` reads ``x`` and ``y``; its secret run puts in a square grid of
  another extent and step, in the form of the notebook's own ``x`` and ``y`` (a 1-D
  row, a (1, n) row, a column or a full grid: :class:`~autograder.sandbox.capture.Like`;
  the extent is not centred on 0, so r is not symmetric).  ``r`` and ``z`` must be the surface of the run's grid, full
  size (broadcasting, or full grids from mgrid/meshgrid, give the same arrays).
* ``ripple-image`` reads ``z``; its secret run puts in another surface (not square,
  not symmetric) with its grid ``x`` and ``y`` (in the notebook's form), and an image of the run's ``z`` with origin "lower" must be among
  the figures that run drew (figures come from the run itself).
* ``spectral-index-table`` reads the given ``nu`` and ``alpha`` (a locked cell before
  the answer cell).  Its secret run has about 2000 frequencies and 700 to 1000
  indices, so that a loop over the indices runs more Python lines than the "no-loop"
  rule allows and a loop over the frequencies far more, and the rule (checked from
  what the code did: lines run, np.vectorize & co, CPU time against
  ``(nu / 1.4e9) ** (-alpha.reshape(-1, 1))``; see :mod:`autograder.grading`) tells
  broadcasting from a loop wherever the loop is (the answer cell, a helper of
  another cell, a comprehension, ``map``).  ``%time`` in front of a broadcast answer
  is fine.

An earlier mistake costs only its own question: a wrong ``x`` loses ``ripple-grid``,
and the surface code is run again on the correct grid.  Messages never show expected
values; shapes are shown (they are not secret).  Float answers are compared with the
question's tolerance (course.yml): float32 coordinates pass ``ripple-grid`` (their
values are exact), and the surface code then passes on its rerun with the correct
float64 grid, but a surface computed in float32 does not (z crosses 0, where float32
rounding exceeds the default atol); a float32 table passes.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ._api import CheckContext, CheckFailed, check, is_close, reference_state
from ._code import refuse_typed

ASSIGNMENT = "broadcasting-ripple"
N = 161
FULL = (N, N)
NU0 = 1.4e9


@reference_state(ASSIGNMENT)
def state(data_path) -> dict:
    """The ripple of the notebook's solution, and the given frequencies and indices."""
    from reference_solution import ripple

    x, y, z = ripple()
    return {"x": x, "y": y, "z": z,
            "nu": np.array([0.15, 0.33, 1.4, 5.0, 8.4, 15.0, 43.0]) * 1e9,
            "alpha": np.array([0.5, 0.6, 0.7, 0.8, 0.9])}


# ------------------------------------------------------------------- secret inputs
def _other_grid(inputs: dict, rng: np.random.Generator) -> dict:
    """A row and a column of the same points, from -a to b (both included) in steps of
    1/32, 3/64 or 1/16 (exact in binary, as the notebook's 0.25: float32 coordinates stay
    exact): another size and extent than the notebook's, r not symmetric, and 1000 to
    1700 points a side, so that a loop over rows or points shows up (the "no-loop" rule)."""
    from reference_solution import ripple

    step = float(rng.choice([1 / 32, 3 / 64, 1 / 16]))
    start, stop = -step * int(rng.integers(400, 700)), step * int(rng.integers(600, 1000))
    x, y, _ = ripple(start, stop, step)
    return {"x": x, "y": y}


def _other_surface(inputs: dict, rng: np.random.Generator) -> dict:
    """A ripple centred elsewhere on a grid that is not square, with that grid's ``x``
    (a row) and ``y`` (a column): an image decorated with the grid (``extent``, a
    contour over ``x`` and ``y``) draws as it did in the notebook."""
    ny, nx = int(rng.integers(90, 130)), int(rng.integers(140, 200))
    yy, xx = np.mgrid[0:ny, 0:nx] * 0.25
    r = np.hypot(xx - rng.uniform(5, 30), yy - rng.uniform(5, 20))
    return {"z": np.cos(r) / (r + rng.uniform(3, 8)), "x": xx[:1, :].copy(), "y": yy[:, :1].copy()}


def _large_table(inputs: dict, rng: np.random.Generator) -> dict:
    """About 2000 frequencies from 10 MHz to 100 GHz (increasing) and 700 to 1000
    spectral indices between 0.3 and 1.2."""
    n_nu, n_alpha = int(rng.integers(1800, 2200)), int(rng.integers(700, 1000))
    nu = np.sort(10.0 ** rng.uniform(7, 11, n_nu))
    return {"nu": nu, "alpha": np.round(rng.uniform(0.3, 1.2, n_alpha), 3)}


# ------------------------------------------------------------------------- helpers
@lru_cache(maxsize=1)
def _grid() -> tuple[np.ndarray, np.ndarray]:
    """The notebook's grid (fixed by the wording), as full (161, 161) arrays."""
    from reference_solution import ripple

    x, y, _ = ripple()
    return np.broadcast_to(x, FULL), np.broadcast_to(y, FULL)


def _close(ctx: CheckContext, actual, expected) -> bool:
    return is_close(actual, expected, ctx.rtol, ctx.atol)


def _coordinate(ctx: CheckContext, name: str, accepted: tuple[tuple[int, ...], ...], expected: np.ndarray,
                other: np.ndarray, direction: str) -> None:
    arr = ctx.array(name, kind="f", pytype="numpy.ndarray")
    if arr.shape not in accepted:
        if N - 1 in arr.shape:
            ctx.fail(f"`{name}` has shape {arr.shape}: one point short; 20 itself must be included "
                     "(arange stops before its stop value: use a stop a little above 20, or np.linspace(-20, 20, 161))")
        if name == "y" and arr.shape in ((N,), (1, N)):
            ctx.fail(f"`y` has shape {arr.shape}, a row; y must be a column of shape ({N}, 1) so that it broadcasts "
                     "against x")
        if name == "x" and arr.shape == (N, 1):
            ctx.fail(f"`x` has shape {arr.shape}, a column; x is the row: shape ({N},) or (1, {N})")
        shapes = " or ".join(str(s) for s in accepted)
        ctx.fail(f"`{name}` has shape {arr.shape}; this question accepts {shapes}")
    full = np.broadcast_to(arr, FULL)
    if not _close(ctx, full, expected):
        if arr.shape == FULL and _close(ctx, full, other):
            ctx.fail(f"`{name}` looks transposed: {name} must change {direction}; with np.mgrid write `y, x = "
                     "np.mgrid[...]`")
        ctx.expect_close(name, full, expected, what="as broadcast to the full grid")


# ------------------------------------------------------------------------ questions
@check(ASSIGNMENT, "ripple-grid")
def ripple_grid(ctx: CheckContext) -> None:
    """``x``: the 161 points as a row (or a grid changing along axis 1); ``y``: as a column
    (or a grid changing along axis 0)."""
    refuse_typed(ctx, "with np.linspace (or np.arange) and a reshape, np.newaxis or np.ogrid")
    X, Y = _grid()
    _coordinate(ctx, "x", ((N,), (1, N), FULL), X, Y, "along each row (axis 1)")
    _coordinate(ctx, "y", ((N, 1), FULL), Y, X, "down each column (axis 0)")


@check(ASSIGNMENT, "ripple-surface", inputs=("x", "y"), secret=_other_grid, rules=("no-loop",), like=("x", "y"),
       speed_reference="_r = np.sqrt(x**2 + y**2); _z = np.cos(_r) / (_r + 5)")
def ripple_surface(ctx: CheckContext) -> None:
    """``r`` and ``z`` on the full grid of the run's ``x`` and ``y``.  Hints: not full
    size, the squared distance, cos(r)/r + 5 (missing parentheses)."""
    x = np.asarray(ctx.input("x"), dtype=np.float64)
    y = np.asarray(ctx.input("y"), dtype=np.float64)
    shape = np.broadcast_shapes(x.shape, y.shape)
    ref_r = ctx.expected("r", lambda: np.sqrt(x**2 + y**2))
    ref_z = ctx.expected("z", lambda: np.cos(ref_r) / (ref_r + 5))
    r = ctx.array("r", kind="f", ndim=2, pytype="numpy.ndarray")
    z = ctx.array("z", kind="f", ndim=2, pytype="numpy.ndarray")
    if r.shape != shape:
        ctx.fail(f"`r` has shape {r.shape}; with x as a row and y as a column, broadcasting gives {shape}")
    if not _close(ctx, r, ref_r):
        if _close(ctx, r, ref_r**2):
            ctx.fail("`r` is the squared distance; take the square root")
        ctx.expect_close("r", r, ref_r)
    if z.shape != shape:
        ctx.fail(f"`z` has shape {z.shape}; it has one value per point of the grid, {shape}")
    with np.errstate(all="ignore"):
        no_parens = ctx.expected("no-parens", lambda: np.cos(ref_r) / ref_r + 5)
    if _close(ctx, z, no_parens):
        ctx.fail("`z` is cos(r)/r + 5: the denominator r + 5 needs parentheses")
    ctx.expect_close("z", z, ref_z)


@check(ASSIGNMENT, "ripple-image", inputs=("z", "x", "y"), secret=_other_surface, like=("x", "y"))
def ripple_image(ctx: CheckContext) -> None:
    """An image drawn by this question's code whose array equals the run's ``z`` and
    whose origin is 'lower' (other images and lines are ignored)."""
    z = np.asarray(ctx.input("z"), dtype=np.float64)
    images = [im for fig in ctx.figures for ax in fig.axes for im in ax.images]
    if not images:
        ctx.fail("`z` was not drawn: no image appeared in this question's cell; use plt.imshow(z, origin='lower') "
                 "there")
    matching = [im for im in images if _close(ctx, im.array, z)]
    if not matching:
        ctx.fail("none of the images drawn in this question's cell shows `z` (is it r, or a changed z?); draw z itself")
    if not any(im.origin == "lower" for im in matching):
        ctx.fail("the image of `z` has origin 'upper' (row 0 at the top, matplotlib's default); "
                 "pass origin='lower' so that y grows upwards, as on a sky map")


@check(ASSIGNMENT, "spectral-index-table", inputs=("nu", "alpha"), secret=_large_table, rules=("no-loop",),
       speed_reference="(nu / 1.4e9) ** (-alpha.reshape(-1, 1))")
def spectral_index_table(ctx: CheckContext) -> None:
    """``alpha_col``: the run's ``alpha`` as a column; ``table``: ``(nu/1.4e9)**(-alpha)``
    with one row per index and one column per frequency, by broadcasting (the "no-loop"
    rule is checked on the secret run).  Hints: a row instead of a column, transposed,
    the exponent's sign, the reference frequency not in Hz."""
    nu = np.asarray(ctx.input("nu"), dtype=np.float64)
    alpha = np.asarray(ctx.input("alpha"), dtype=np.float64)
    col = ctx.array("alpha_col", kind="f", pytype="numpy.ndarray")
    if col.shape in ((alpha.size,), (1, alpha.size)):
        ctx.fail(f"`alpha_col` has shape {col.shape}; a column has shape ({alpha.size}, 1): alpha.reshape(-1, 1) or "
                 "alpha[:, np.newaxis]")
    ctx.array("alpha_col", shape=(alpha.size, 1))
    ctx.expect_close("alpha_col", col, alpha.reshape(-1, 1))

    table = ctx.array("table", kind="f", pytype="numpy.ndarray")
    shape = (alpha.size, nu.size)
    if table.shape == shape[::-1]:
        ctx.fail(f"`table` has shape {table.shape}: it looks transposed; one row per spectral index and one column "
                 "per frequency")
    ctx.array("table", shape=shape)
    expected = ctx.expected("table", lambda: (nu / NU0) ** (-alpha[:, np.newaxis]))
    if _close(ctx, table, ctx.expected("sign", lambda: (nu / NU0) ** alpha[:, np.newaxis])):
        ctx.fail("`table` has the exponent's sign flipped: S is proportional to nu to the power MINUS alpha")
    try:
        ctx.expect_close("table", table, expected)
    except CheckFailed as exc:
        raise CheckFailed(f"{exc} (frequencies are divided by 1.4 GHz, in Hz: 1.4e9)") from None
