"""What the student's cells say, read as Python (for the few checks that look at code).

Scores come from values computed on the notebook's own, the correct and a secret input
(:mod:`autograder.grading`); the code itself is read only where no input can change
the answer: a typed prediction (copy-vs-view) must be typed, and an answer fixed by
the wording alone (``np.arange(20).reshape(4, 5)``) must not be typed out in full.
Cells are read as they ran: IPython's transformations applied, the code of timing
magics (``%time``, ``%%timeit``, ``%%capture``) included.
"""

from __future__ import annotations

import ast
import re

from ..sandbox.shell import timeit_statement
from ._api import CheckContext


def python_of(source: str) -> str:
    """A cell's source as Python (IPython's magics turned into calls)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - without IPython: drop magic and shell lines
        return "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in source.splitlines())


_TIMING_MAGICS = ("time", "timeit", "capture")


def _timing_magic(node: ast.AST) -> tuple[str, list[str]] | None:
    """``(IPython's method, its string arguments)`` if ``node`` is the call IPython makes
    of a timing magic (:data:`_TIMING_MAGICS`), else None."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("run_line_magic", "run_cell_magic") and len(node.args) >= 2
            and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args)
            and node.args[0].value in _TIMING_MAGICS):
        return None
    return node.func.attr, [a.value for a in node.args]


def cell_trees(source: str) -> list[ast.Module]:
    """The cell as Python (none if it is not), and the code its timing magics run
    (``%time x = ...``, ``%%time``, ``%%timeit``, ``%%capture``): IPython turns those into
    calls whose code is a string argument."""
    try:
        tree = ast.parse(python_of(source))
    except SyntaxError:
        return []  # such a cell stopped the notebook before the test: the question fails anyway
    trees = [tree]
    for call in ast.walk(tree):
        found = _timing_magic(call)
        if found is None:
            continue
        method, (magic, line, *rest) = found
        if method == "run_cell_magic" and rest:
            setup = timeit_statement(line) if magic == "timeit" else ""  # %%timeit's line: its setup
            trees += cell_trees(f"{setup}\n{rest[0]}")
        elif method == "run_line_magic" and magic in ("time", "timeit"):
            trees += cell_trees(line if magic == "time" else timeit_statement(line))
    return trees


#: A number written in text: not the digits of a word such as ``int16`` or ``float64``.
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.])")
#: More numbers than this in one literal (a list, tuple or set display, however nested
#: or repeated, or a string), or more different numbers than this in all the lists,
#: tuples, sets and strings of a question's cells together, is an answer typed out
#: rather than computed.  Answers computed as asked type few: shapes such as
#: ``(512, 511)`` (the same numbers again and again), ``np.mgrid``'s bounds (slices,
#: not literals), the arguments of ``np.arange``/``np.linspace`` (not literals).
TYPED_LIMIT = 6
#: Calls whose arguments are text for people, never an answer: ``print``, IPython's
#: ``display`` and its ``Markdown``/``HTML``, matplotlib's titles, labels and
#: annotations (``plt.title``, ``ax.set_xlabel``, ...) and a figure's size and limits.
#: (Not the ticks: ``plt.xticks([...])`` gives its numbers back.)
_DISPLAY_CALLS = frozenset({"print", "title", "suptitle", "xlabel", "ylabel", "set_title", "set_xlabel",
                            "set_ylabel", "text", "annotate", "legend", "figtext", "display", "Markdown", "HTML",
                            "Latex", "Math", "figure", "subplots", "xlim", "ylim", "set_xlim", "set_ylim"})
#: Comparisons whose arguments are a self-check's expected values, never an answer: they
#: give back a truth value or raise (``np.array_equal(stamp[0], [0, 1, 2, 3, 4])``).
_CHECK_CALLS = frozenset({"array_equal", "array_equiv", "allclose", "isclose", "assert_array_equal",
                          "assert_allclose", "assert_equal", "assert_array_almost_equal", "assert_almost_equal",
                          "assert_array_less"})
#: Keywords whose value is text for people or a plot's setting (``extent=``, ``figsize=``).
_DISPLAY_KEYWORDS = frozenset({"label", "title", "xlabel", "ylabel", "extent", "figsize", "xlim", "ylim", "color",
                               "bbox_to_anchor"})


def _values_in(node: ast.AST) -> list:
    """The numbers typed in a literal (repeats included): the elements of a list, tuple
    or set display, however nested, repeated (``[0] * 6``) or joined (``[...] + [...]``),
    a number, and the numbers written in a string or an f-string's text."""
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        return [v for e in node.elts for v in _values_in(e)]
    if isinstance(node, ast.BinOp):  # [0] * 6, [[0, 1, 2]] * 4, [...] + [...]
        return _values_in(node.left) + _values_in(node.right)
    if isinstance(node, ast.UnaryOp):
        values = _values_in(node.operand)
        return [-v for v in values] if isinstance(node.op, ast.USub) else values
    if isinstance(node, ast.JoinedStr):  # f'0 1 2 {3}': its text and the numbers put in it
        return [v for part in node.values for v in _values_in(part.value if isinstance(part, ast.FormattedValue)
                                                              else part)]
    if isinstance(node, ast.Constant):
        if isinstance(node.value, int | float | complex) and not isinstance(node.value, bool):
            return [node.value]
        if isinstance(node.value, str | bytes):
            text = node.value.decode("latin-1") if isinstance(node.value, bytes) else node.value
            return [float(n) for n in _NUMBER.findall(text)]
    return []


def _numbers_in(node: ast.AST) -> int:
    return len(_values_in(node))


def _is_literal(node: ast.AST) -> bool:
    """A list, tuple or set display, a string, or an operation on one (``[0] * 6``)."""
    if isinstance(node, ast.List | ast.Tuple | ast.Set | ast.JoinedStr):
        return True
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str | bytes)
    if isinstance(node, ast.BinOp):
        return _is_literal(node.left) or _is_literal(node.right)
    return False


def _for_display(tree: ast.AST) -> set[int]:
    """The nodes (by id) that are text or values only shown: the arguments of a
    :data:`_DISPLAY_CALLS` call whose result is not kept (a statement of its own, such as
    ``print(...)`` or ``plt.title(...)``; strings and f-strings included), a string
    standing alone as a statement (a note), and the value of a keyword such as ``label=``,
    ``title=`` or ``extent=`` (see :data:`_DISPLAY_KEYWORDS`).  What such an argument
    passes on to another call (``print(eval('...'))``, ``print(np.array([...]))``) or
    binds to a name (``print(stamp := ...)``) is not only shown: it may be the answer.
    Also not counted: what an ``assert`` holds (a self-check: expected shapes, values and
    messages; unless it binds a name with ``:=``), what a comparison of
    :data:`_CHECK_CALLS` compares with (a self-check, printed or not), the index of a
    subscript (``stamp[3, 0]``), and the code a timing magic runs, as the string IPython
    passes it (:func:`cell_trees` reads that code as Python of its own)."""
    shown: set[int] = set()
    magic: set[int] = set()
    used: set[int] = set()
    checked: set[int] = set()  # inside an assert, or the index of a subscript: a check or a place, not an answer
    bound: set[int] = set()
    statements = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}

    def mark(into: set[int], node: ast.AST) -> None:
        into.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if _timing_magic(node):
                magic.update(id(arg) for arg in node.args)
            if name in _CHECK_CALLS:
                mark(checked, node)
            if name in _DISPLAY_CALLS:
                if id(node) in statements:  # kept (t = plt.title('...')), it is counted unless shown by its caller
                    mark(shown, node)
            else:
                for arg in node.args:
                    mark(used, arg)
            for kw in node.keywords:
                if kw.arg in _DISPLAY_KEYWORDS:
                    mark(shown, kw.value)
                elif name not in _DISPLAY_CALLS:
                    mark(used, kw.value)
        elif isinstance(node, ast.NamedExpr):
            mark(used, node.value)
            mark(bound, node.value)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            mark(shown, node)
        elif isinstance(node, ast.Assert):
            mark(checked, node)
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Tuple):  # stamp[3, 0], img[:, 300]
            mark(checked, node.slice)
    return (shown - used) | (checked - bound) | magic


def _typed_literals(code):
    """The literals (see :func:`_is_literal`, numbers, and arithmetic on them) of the student's cells of
    ``code`` (the question's cells as they ran: :attr:`CheckContext.code`) that are not
    only shown (see :func:`_for_display`); given cells are skipped."""
    for cell in code:
        if cell.get("given"):
            continue
        for tree in cell_trees(str(cell.get("code", ""))):
            shown = _for_display(tree)
            for node in ast.walk(tree):
                if id(node) not in shown and isinstance(node, ast.List | ast.Tuple | ast.Set | ast.BinOp | ast.Constant
                                                        | ast.JoinedStr):
                    yield node


def most_typed_numbers(code) -> int:
    """The most numbers typed in one literal in the student's cells of ``code``."""
    return _most(_typed_literals(code))


def _most(literals) -> int:
    return max((_numbers_in(node) for node in literals), default=0)


def _different(literals) -> int:
    return len({v for node in literals if _is_literal(node) for v in _values_in(node)})


def different_typed_numbers(code) -> int:
    """How many different numbers the lists, tuples, sets and strings of the student's
    cells of ``code`` type, all together (a number alone, such as an argument of
    ``np.linspace``, does not count)."""
    return _different(_typed_literals(code))


def refuse_typed(ctx: CheckContext, how: str, *, limit: int = TYPED_LIMIT) -> None:
    """Fail the question if its cells type an answer out as numbers: more than ``limit``
    (:data:`TYPED_LIMIT` unless the answer is much longer) in one literal, or different
    ones across its literals."""
    literals = list(_typed_literals(ctx.code))  # (the cells parsed once for both counts)
    n = _most(literals)
    if n > limit:
        ctx.fail(f"this question's cell types out {n} numbers in one list or string: the answer must be computed "
                 f"{how}, not typed or pasted from a printed result")
    n = _different(literals)
    if n > limit:
        ctx.fail(f"this question's code types out {n} different numbers in its lists and strings: the answer "
                 f"must be computed {how}, not typed or pasted from a printed result")
