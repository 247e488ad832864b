"""Hidden checks of the assignment ``broadcasting-ripple``.

The ripple surface ``z = cos(r) / (r + 5)``, ``r = sqrt(x**2 + y**2)`` on the points
-20, -19.75, ..., 20 (161 of them, 20 included) comes from
:func:`reference_solution.ripple`.  Accepted forms of the coordinates (the notebook says
so): ``x`` of shape (161,), (1, 161) or a full (161, 161) grid in which x changes along
each row (axis 1); ``y`` of shape (161, 1) or a full (161, 161) grid in which y changes
down each column (axis 0).  So broadcasting, ``np.mgrid`` (``y, x = np.mgrid[...]``) and
``np.meshgrid`` (``x, y = np.meshgrid(...)``) all earn full marks.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ._api import CheckContext, CheckFailed, check

ASSIGNMENT = "broadcasting-ripple"
N = 161
FULL = (N, N)

# The spectral-index table: given in the notebook.
NU = np.array([0.15, 0.33, 1.4, 5.0, 8.4, 15.0, 43.0]) * 1e9
NU0 = 1.4e9
ALPHA = np.array([0.5, 0.6, 0.7, 0.8, 0.9])


@lru_cache(maxsize=1)
def _ripple():
    from reference_solution import ripple

    x, y, z = ripple()
    x, y, z = (np.asarray(a, dtype=float) for a in (x, y, z))
    X, Y = np.broadcast_to(x, FULL), np.broadcast_to(y, FULL)
    r = np.sqrt(X**2 + Y**2)
    return X, Y, r, z


def _close(actual, expected, rtol: float, atol: float) -> bool:
    a, e = np.asarray(actual), np.asarray(expected)
    if a.shape != e.shape or a.dtype.kind not in "fiub":
        return False
    with np.errstate(all="ignore"):
        return bool(np.allclose(a.astype(float), e.astype(float), rtol=rtol, atol=atol, equal_nan=True))


def _grid(ctx: CheckContext, name: str, accepted: tuple[tuple[int, ...], ...], expected: np.ndarray,
          other: np.ndarray, direction: str) -> None:
    arr = ctx.array(name, kind="f", pytype="numpy.ndarray")
    if arr.shape not in accepted:
        if N - 1 in arr.shape:
            ctx.fail(
                f"`{name}` has shape {arr.shape}: one point short; 20 itself must be included "
                "(arange stops before its stop value: use a stop a little above 20, or np.linspace(-20, 20, 161))"
            )
        if name == "y" and arr.shape in ((N,), (1, N)):
            ctx.fail(
                f"`y` has shape {arr.shape}, a row; y must be a column of shape ({N}, 1) so that it broadcasts "
                "against x"
            )
        if name == "x" and arr.shape == (N, 1):
            ctx.fail(f"`x` has shape {arr.shape}, a column; x is the row: shape ({N},) or (1, {N})")
        shapes = " or ".join(str(s) for s in accepted)
        ctx.fail(f"`{name}` has shape {arr.shape}; this question accepts {shapes}")
    full = np.broadcast_to(arr, FULL)
    if not _close(full, expected, ctx.rtol, ctx.atol):
        if arr.shape == FULL and _close(full, other, ctx.rtol, ctx.atol):
            ctx.fail(
                f"`{name}` looks transposed: {name} must change {direction}; with np.mgrid write `y, x = "
                "np.mgrid[...]`"
            )
        ctx.expect_close(name, full, expected, what="as broadcast to the full grid")


@check(ASSIGNMENT, "ripple-grid")
def ripple_grid(ctx: CheckContext) -> None:
    """``x``: the 161 points as a row (or a grid changing along axis 1); ``y``: as a column
    (or a grid changing along axis 0)."""
    X, Y, _, _ = _ripple()
    _grid(ctx, "x", ((N,), (1, N), FULL), X, Y, "along each row (axis 1)")
    _grid(ctx, "y", ((N, 1), FULL), Y, X, "down each column (axis 0)")


def _own_surface(ctx: CheckContext):
    """r and z computed from the student's own x and y, if they broadcast to 2-D."""
    vx, vy = ctx.values.get("x"), ctx.values.get("y")
    if vx is None or vy is None or vx.status != "ok" or vy.status != "ok":
        return None
    x, y = vx.array, vy.array
    if x is None or y is None or x.dtype.kind not in "fiu" or y.dtype.kind not in "fiu":
        return None
    try:
        shape = np.broadcast_shapes(x.shape, y.shape)
    except ValueError:
        return None
    if len(shape) != 2 or np.prod(shape) > 10 * N * N:
        return None
    with np.errstate(all="ignore"):
        r = np.sqrt(x.astype(float) ** 2 + y.astype(float) ** 2)
        return r, np.cos(r) / (r + 5)


@check(ASSIGNMENT, "ripple-surface", uses=("x", "y"))
def ripple_surface(ctx: CheckContext) -> None:
    """``r`` and ``z`` on the full grid.

    Follows the recipe: passes when (r, z) equal the reference, or equal r and z
    computed from the student's own x and y (a wrong x costs only ripple-grid).
    """
    _, _, ref_r, ref_z = _ripple()
    r = ctx.array("r", kind="f", ndim=2, pytype="numpy.ndarray")
    z = ctx.array("z", kind="f", ndim=2, pytype="numpy.ndarray")
    if _close(r, ref_r, ctx.rtol, ctx.atol) and _close(z, ref_z, ctx.rtol, ctx.atol):
        return
    own = _own_surface(ctx)
    if own is not None and _close(r, own[0], ctx.rtol, ctx.atol) and _close(z, own[1], ctx.rtol, ctx.atol):
        return
    if r.shape != FULL:
        ctx.fail(f"`r` has shape {r.shape}; with x as a row and y as a column, broadcasting gives {FULL}")
    if not _close(r, ref_r, ctx.rtol, ctx.atol):
        if _close(r, ref_r**2, ctx.rtol, ctx.atol):
            ctx.fail("`r` is the squared distance; take the square root")
        ctx.expect_close("r", r, ref_r)
    if z.shape != FULL:
        ctx.fail(f"`z` has shape {z.shape}; it has one value per point of the grid, {FULL}")
    with np.errstate(all="ignore"):
        no_parens = np.cos(ref_r) / ref_r + 5
    if _close(z, no_parens, ctx.rtol, ctx.atol):
        ctx.fail("`z` is cos(r)/r + 5: the denominator r + 5 needs parentheses")
    ctx.expect_close("z", z, ref_z)


@check(ASSIGNMENT, "ripple-image", uses=("z",))
def ripple_image(ctx: CheckContext) -> None:
    """An image drawn in this question's cell whose array equals z (the reference z, or
    the student's own z) and whose origin is 'lower'."""
    _, _, _, ref_z = _ripple()
    candidates = [ref_z]
    v = ctx.values.get("z")
    if v is not None and v.status == "ok" and v.array is not None and v.array.ndim == 2:
        candidates.append(v.array)
    images = [im for fig in ctx.figures for ax in fig.axes for im in ax.images]
    if not images:
        ctx.fail(
            "`z` was not drawn: no image appeared in this question's cell; use plt.imshow(z, origin='lower') "
            "there"
        )
    matching = [im for im in images if any(_close(im.array, c, ctx.rtol, ctx.atol) for c in candidates)]
    if not matching:
        ctx.fail("none of the images drawn in this question's cell shows `z` (is it r, or a changed z?); draw z itself")
    if not any(im.origin == "lower" for im in matching):
        ctx.fail(
            "the image of `z` has origin 'upper' (row 0 at the top, matplotlib's default); "
            "pass origin='lower' so that y grows upwards, as on a sky map"
        )


@check(ASSIGNMENT, "spectral-index-table")
def spectral_index_table(ctx: CheckContext) -> None:
    """``alpha_col``: the spectral indices as a (5, 1) column; ``table``: (nu/nu0)**(-alpha)
    with one row per index and one column per frequency, (5, 7), with no Python loop."""
    col = ctx.array("alpha_col", kind="f", pytype="numpy.ndarray")
    if col.shape in ((ALPHA.size,), (1, ALPHA.size)):
        ctx.fail(
            f"`alpha_col` has shape {col.shape}; a column has shape ({ALPHA.size}, 1): alpha.reshape(-1, 1) or "
            "alpha[:, np.newaxis]"
        )
    ctx.array("alpha_col", shape=(ALPHA.size, 1))
    ctx.expect_close("alpha_col", col, ALPHA.reshape(-1, 1))

    table = ctx.array("table", kind="f", pytype="numpy.ndarray")
    expected = (NU / NU0) ** (-ALPHA[:, np.newaxis])
    if table.shape == expected.shape[::-1]:
        ctx.fail(
            f"`table` has shape {table.shape}: it looks transposed; one row per spectral index and one column "
            "per frequency"
        )
    ctx.array("table", shape=expected.shape)
    if ctx.solution_has_python_loop():
        ctx.fail("`table` must be built by broadcasting; this cell has a Python loop (for/while or a comprehension)")
    if _close(table, (NU / NU0) ** ALPHA[:, np.newaxis], ctx.rtol, ctx.atol):
        ctx.fail("`table` has the exponent's sign flipped: S is proportional to nu to the power MINUS alpha")
    try:
        ctx.expect_close("table", table, expected)
    except CheckFailed as exc:
        raise CheckFailed(f"{exc} (frequencies are divided by 1.4 GHz, in Hz: 1.4e9)") from None
