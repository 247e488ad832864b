"""Hidden checks of the assignment ``copy-vs-view``.

Graded through what the student's arrays ARE, not through prose: whether two names
share memory in the student's process (:meth:`Value.shares_memory_with`), whether an
array owns its memory (:attr:`Value.owndata`), and their values.

* Inputs: ``frame`` (given in the setup cell) for the first three questions.  It is
  also watched: captured again after the question's code, for the memory relations
  and to see that it kept its values.
* Secret input: a 5 x 7 frame (faint sky around a source, one pixel exactly 30), so
  that a row, a column, a selection or a copy typed from the printed frame fails, and
  so does ``>= 30``.  Expected values are slices and products of the run's frame.
* In the notebook's own run, ``frame`` may have been changed in place by an earlier
  question's code; the question then fails its own run with a message saying so, and
  its code is run again on a fresh frame (an earlier mistake costs only its question).
* ``predict`` has no inputs (the given cell makes its arrays; the answer is numbers
  written down before that cell runs).  It reads the question's code as it ran
  (:attr:`CheckContext.code`): each ``pred_*`` must be assigned, in a cell of the
  student's before the given cell, a list or tuple display of numbers (repeated with
  ``*`` or joined with ``+`` as it may be), bound nowhere else, and hold those numbers
  when captured;
  so ``spectrum.copy()``, ``.tolist()``, a comprehension, or numbers typed after the
  given cell has run earn nothing.  The numbers are then compared with the given cell
  replayed here and with the arrays it left (watched), with hints for the usual
  wrong predictions.
"""

from __future__ import annotations

import ast

import numpy as np

from ..values import Value
from ..sandbox.capture import Alias
from ._api import CheckContext, check, reference_state
from ._code import cell_trees

ASSIGNMENT = "copy-vs-view"
THRESHOLD = 30.0

# The "predict" question: the given cell, replayed.
SPECTRUM0 = np.array([5.0, 8.0, 13.0, 21.0, 34.0, 55.0])


@reference_state(ASSIGNMENT)
def state(data_path) -> dict:
    """The frame of the notebook's setup cell (and the first question's answers for it)."""
    frame = np.array([[12.0, 15.0, 11.0, 14.0, 13.0],
                      [20.0, 42.0, 95.0, 40.0, 21.0],
                      [18.0, 37.0, 88.0, 35.0, 19.0],
                      [11.0, 14.0, 12.0, 13.0, 15.0]])
    return {"frame": frame, **_answers_of(frame)}


def _other_frame(inputs: dict, rng: np.random.Generator) -> dict:
    """A 5 x 7 frame: sky of 8 to 24 counts, a source of 31 to 99 counts on the middle
    rows and columns, and one pixel of exactly 30 (not strictly above 30)."""
    frame = rng.integers(8, 25, (5, 7)).astype(np.float64)
    frame[1:4, 2:5] = rng.integers(31, 100, (3, 3))
    frame[int(rng.integers(0, 5)), int(rng.choice([0, 1, 5, 6]))] = THRESHOLD
    return {"frame": frame, **_answers_of(frame)}


def _answers_of(frame: np.ndarray) -> dict:
    """The first question's answers for ``frame``, which later questions may use:
    ``same`` is frame itself, ``backup`` a copy."""
    return {"same": Alias("frame"), "backup": frame.copy()}


def _after_given_cell() -> dict[str, np.ndarray]:
    spectrum = SPECTRUM0.copy()
    alias = spectrum
    snapshot = spectrum.copy()
    window = spectrum[1:4]
    bright = spectrum[spectrum > 20]
    window[:] = 0.0
    alias[-1] = -1.0
    return {"spectrum": spectrum, "snapshot": snapshot, "window": window.copy(), "bright": bright}


def _frame(ctx: CheckContext) -> Value:
    return ctx.value("frame")


def _equal(actual, expected) -> bool:
    a, e = np.asarray(actual), np.asarray(expected)
    return a.shape == e.shape and a.dtype.kind in "fiub" and bool(np.array_equal(a.astype(float), e.astype(float)))


def _frame_unchanged(ctx: CheckContext, who: str) -> None:
    f = _frame(ctx)
    if f.array is not None and not _equal(f.array, ctx.input("frame")):
        ctx.fail(f"`frame` no longer holds its original values when `{who}` is checked: something changed it in place; "
                 "run the notebook again from the top (Kernel > Restart & Run All) after fixing it")


@check(ASSIGNMENT, "alias-and-copy", inputs=("frame",), secret=_other_frame, watch=("frame",))
def alias_and_copy(ctx: CheckContext) -> None:
    """``same``: the very object ``frame`` (same memory, and like frame it owns it);
    ``backup``: an independent copy (no shared memory, same values)."""
    frame = ctx.input("frame")
    f = _frame(ctx)
    _frame_unchanged(ctx, "same")
    same = ctx.value("same")
    ctx.array("same", pytype="numpy.ndarray")
    if not same.shares_memory_with(f):
        ctx.fail("`same` does not share memory with `frame`: it is a copy; a second name for the same array is just "
                 "`same = frame`")
    if same.buffer != f.buffer or same.owndata != f.owndata:
        ctx.fail("`same` is a view of `frame` (like frame[:] or frame.view()), a new array object; this question "
                 "wants frame itself: `same = frame`")
    backup = ctx.array("backup", pytype="numpy.ndarray", kind="f")
    vb = ctx.value("backup")
    if vb.shares_memory_with(f):
        if vb.buffer == f.buffer and vb.owndata == f.owndata:
            ctx.fail("`backup` is `frame` itself under another name: changing frame would change it too; make it "
                     "with frame.copy()")
        ctx.fail("`backup` is a view of `frame` (it shares its memory); make an independent copy with frame.copy()")
    if not _equal(backup, frame):
        ctx.fail(f"`backup` (shape {backup.shape}) does not hold the same values as `frame`; copy the whole frame")


def _view_of(ctx: CheckContext, name: str, expected: np.ndarray, slice_text: str) -> None:
    f = _frame(ctx)
    arr = ctx.array(name, pytype="numpy.ndarray", kind="f")
    v = ctx.value(name)
    if arr.shape != expected.shape:
        ctx.fail(f"`{name}` has shape {arr.shape}; this question expects shape {expected.shape}, as {slice_text} gives")
    if not _equal(arr, expected):
        ctx.fail(f"`{name}` does not hold the values of {slice_text} (rows and columns are counted from 0)")
    if not v.shares_memory_with(f) or v.owndata:
        ctx.fail(f"`{name}` has the right values but does not share memory with `frame` (a copy, or a view of "
                 f"another array): a basic slice of frame itself, {slice_text}, is a view; do not call .copy() "
                 "or index with a list")


@check(ASSIGNMENT, "views", inputs=("frame", "same", "backup"), secret=_other_frame, watch=("frame",))
def views(ctx: CheckContext) -> None:
    """``row``: a view of frame's row 1; ``col``: a view of frame's column 2."""
    frame = np.asarray(ctx.input("frame"))
    _frame_unchanged(ctx, "row")
    _view_of(ctx, "row", frame[1], "frame[1]")
    _view_of(ctx, "col", frame[:, 2], "frame[:, 2]")


@check(ASSIGNMENT, "new-arrays", inputs=("frame", "same", "backup"), secret=_other_frame, watch=("frame",))
def new_arrays(ctx: CheckContext) -> None:
    """``doubled`` = frame * 2 and ``picked`` = frame[frame > 30]: new arrays that own their
    memory; ``frame`` must keep its values."""
    frame = np.asarray(ctx.input("frame"))
    f = _frame(ctx)
    doubled = ctx.array("doubled", pytype="numpy.ndarray", kind="f")
    vd = ctx.value("doubled")
    if vd.shares_memory_with(f):
        ctx.fail("`doubled` shares memory with `frame`: `doubled = frame` then `doubled *= 2` doubles frame itself; "
                 "arithmetic such as frame * 2 makes a new array")
    if not _equal(doubled, frame * 2):
        ctx.fail(f"`doubled` (shape {doubled.shape}) is not frame times 2, element by element")
    _frame_unchanged(ctx, "doubled")
    picked = ctx.array("picked", pytype="numpy.ndarray")
    if picked.dtype.kind == "b":
        ctx.fail("`picked` is the mask itself (True/False); index frame with it to get the values: frame[frame > 30]")
    expected = frame[frame > THRESHOLD]
    if picked.shape == frame.shape:
        ctx.fail(f"`picked` has the shape of frame, {picked.shape}; indexing with a mask gives a 1-D array of the "
                 "selected values")
    if ctx.value("picked").shares_memory_with(f):
        ctx.fail("`picked` shares memory with `frame`; indexing with a mask makes a new array: frame[frame > 30]")
    if not _equal(picked, expected):
        if _equal(picked, frame[frame >= THRESHOLD]):
            ctx.fail("`picked` includes values equal to 30; the question wants those strictly above", public=True)
        ctx.fail(f"`picked` (shape {picked.shape}) does not hold the values of frame above 30, in frame's order")


_HINTS = {
    "spectrum": [
        (SPECTRUM0, "spectrum did change: `window` is a view into it and `alias` is another name for it"),
        (
            np.array([5.0, 0.0, 0.0, 0.0, 34.0, 55.0]),
            "`alias` is another name for spectrum, so alias[-1] = -1. changed spectrum too",
        ),
        (
            np.array([5.0, 8.0, 13.0, 21.0, 34.0, -1.0]),
            "`window` is a view of spectrum[1:4]: writing into it writes into spectrum",
        ),
    ],
    "snapshot": [
        (
            np.array([5.0, 0.0, 0.0, 0.0, 34.0, -1.0]),
            "`snapshot` is a copy made before the changes: it does not follow spectrum",
        ),
    ],
    "window": [
        (SPECTRUM0[1:4], "window[:] = 0. writes into window itself"),
    ],
    "bright": [
        (np.array([21.0, 34.0, -1.0]), "`bright` was made by indexing with a mask: a copy, taken before the changes"),
        (np.array([0.0, 34.0, -1.0]), "`bright` was made by indexing with a mask: a copy, taken before the changes"),
    ],
}


PREDICTED = tuple(f"pred_{name}" for name in _after_given_cell())


def _predictions_assigned(source: str):
    """``(tree, name node)`` for each binding of a prediction's name in the cell (an
    assignment, ``del``, a loop target, ...), magics' code included."""
    for tree in cell_trees(source):
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id in PREDICTED and isinstance(node.ctx, ast.Store | ast.Del):
                yield tree, node


def _assigned_value(tree: ast.Module, name: ast.Name) -> ast.expr | None:
    """The expression assigned to ``name`` in ``tree``, if it is a plain assignment: the
    whole value (``x = ...``, ``x: T = ...``) or its element in an unpacking of a list or
    tuple display of the same length (``x, y = [...], [...]``); else None."""
    for p in ast.walk(tree):
        if isinstance(p, ast.AnnAssign) and p.target is name:
            return p.value
        if not (isinstance(p, ast.Assign) and len(p.targets) == 1):
            continue
        target = p.targets[0]
        if target is name:
            return p.value
        if isinstance(target, ast.Tuple | ast.List) and name in target.elts and isinstance(p.value, ast.Tuple | ast.List) \
                and len(p.value.elts) == len(target.elts) \
                and not any(isinstance(e, ast.Starred) for e in (*target.elts, *p.value.elts)):
            return p.value.elts[target.elts.index(name)]
    return None


_ARRAY_CALLS = ("np.array", "np.asarray", "numpy.array", "numpy.asarray")


def _call_name(node: ast.expr) -> str:
    f = node.func if isinstance(node, ast.Call) else None
    return f.id if isinstance(f, ast.Name) else (
        f"{f.value.id}.{f.attr}" if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) else "")


def _makes_array(node: ast.expr) -> bool:
    """Whether ``node`` (a call, or an operation on one) gives a numpy array, not a list."""
    if isinstance(node, ast.BinOp):
        return _makes_array(node.left) or _makes_array(node.right)
    return _call_name(node) in _ARRAY_CALLS


def _literal_numbers(node: ast.expr | None) -> list[float] | None:
    """The numbers of a prediction typed as numbers, else None: a list or tuple display of
    numbers (``[5., 0, -1.]``), repeated (``[0.] * 3``), joined (``[5.] + [0.] * 3``), or
    given to ``list``, ``tuple``, ``np.array`` or ``np.asarray`` (``list((0., 0., 0.))``)."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        if _makes_array(node.left) or _makes_array(node.right):
            return None  # an array plus a list adds element by element: not a list joined
        left, right = _literal_numbers(node.left), _literal_numbers(node.right)
        if left is None or right is None or len(left) + len(right) > 10_000:
            return None
        return left + right
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        for seq, count in ((node.left, node.right), (node.right, node.left)):
            numbers = _literal_numbers(seq)
            if numbers is not None and isinstance(count, ast.Constant) and type(count.value) is int \
                    and 0 <= count.value * len(numbers) <= 10_000:
                return numbers * count.value
        return None
    if isinstance(node, ast.Call) and len(node.args) == 1 and not node.keywords:
        if _call_name(node) in ("list", "tuple", *_ARRAY_CALLS):
            return _literal_numbers(node.args[0])
        return None
    if not isinstance(node, ast.List | ast.Tuple):
        return None
    try:
        values = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    if not all(type(v) in (int, float) for v in values):
        return None
    return [float(v) for v in values]


def _typed_predictions(ctx: CheckContext) -> dict[str, list[float]]:
    """Each prediction as typed in the question's code, or a failure saying why not."""
    typed: dict[str, list[float]] = {}
    seen_given = False
    for cell in ctx.code:
        if cell.get("given"):
            seen_given = True
            continue
        for tree, node in _predictions_assigned(str(cell.get("code", ""))):
            if seen_given:
                ctx.fail(f"`{node.id}` is assigned after the locked cell that runs the operations: a prediction is "
                         "written before it runs, in this question's cell")
            numbers = _literal_numbers(_assigned_value(tree, node))
            if numbers is None:
                ctx.fail(f"`{node.id}` is not typed as numbers: write your prediction as a list of numbers, e.g. "
                         f"{node.id} = [1., 2., 3.], not computed from arrays")
            typed[node.id] = numbers
    for name in PREDICTED:
        if name not in typed:
            ctx.fail(f"`{name}` is not assigned in this question's cell: write your prediction there, as a list of "
                     "numbers, before the locked cell runs")
    return typed


@check(ASSIGNMENT, "predict", watch=("spectrum", "snapshot", "window", "bright"))
def predict(ctx: CheckContext) -> None:
    """``pred_<name>``: the values of spectrum, snapshot, window and bright after the given
    cell, typed as numbers in the question's cell before the given cell runs (see the
    module docstring); compared with the given cell replayed here."""
    after = _after_given_cell()
    typed = _typed_predictions(ctx)
    for given, expected in after.items():
        name = f"pred_{given}"
        arr = ctx.array(name, kind="fiu")
        v = ctx.value(name)
        g = ctx.values.get(given)
        if g is not None and g.status == "ok" and v.shares_memory_with(g):
            ctx.fail(
                f"`{name}` is `{given}` itself (it shares its memory); write down the numbers you predict, e.g. "
                "as a list"
            )
        if not _equal(arr, np.array(typed[name])):
            ctx.fail(f"`{name}` no longer holds the numbers typed in this question's cell: something changed it "
                     "afterwards")
        if arr.shape != expected.shape:
            ctx.fail(f"`{name}` has {arr.size} value(s); `{given}` has {expected.size} after the cell")
        if _equal(arr, expected):
            continue
        for wrong, hint in _HINTS.get(given, []):
            if _equal(arr, wrong):
                ctx.fail(f"`{name}` is not what `{given}` holds after the cell: {hint}")
        n = int(np.sum(arr.astype(float) != expected))
        ctx.fail(f"`{name}`: {n} of {expected.size} value(s) are not what `{given}` holds after the cell")
