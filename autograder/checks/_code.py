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
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                and call.func.attr in ("run_line_magic", "run_cell_magic") and len(call.args) >= 2
                and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in call.args)):
            continue
        magic, line = call.args[0].value, call.args[1].value
        if magic not in _TIMING_MAGICS:
            continue
        if call.func.attr == "run_cell_magic" and len(call.args) >= 3:
            body = call.args[2].value
            setup = timeit_statement(line) if magic == "timeit" else ""  # %%timeit's line: its setup
            trees += cell_trees(f"{setup}\n{body}")
        elif call.func.attr == "run_line_magic" and magic in ("time", "timeit"):
            trees += cell_trees(line if magic == "time" else timeit_statement(line))
    return trees


#: A number written in text: not the digits of a word such as ``int16`` or ``float64``.
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.])")
#: More numbers than this in one literal (a list, tuple or set display, however nested
#: or repeated, or a string) is an answer typed out rather than computed.
TYPED_LIMIT = 6
#: Calls whose arguments are text for people, never an answer: ``print`` and
#: matplotlib's titles, labels and annotations (``plt.title``, ``ax.set_xlabel``, ...).
_DISPLAY_CALLS = frozenset({"print", "title", "suptitle", "xlabel", "ylabel", "set_title", "set_xlabel",
                            "set_ylabel", "text", "annotate", "legend", "figtext", "display"})


def _numbers_in(node: ast.AST) -> int:
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        return sum(_numbers_in(e) for e in node.elts)
    if isinstance(node, ast.BinOp):  # [0] * 6, [[0, 1, 2]] * 4, [...] + [...]
        return _numbers_in(node.left) + _numbers_in(node.right)
    if isinstance(node, ast.UnaryOp):
        return _numbers_in(node.operand)
    if isinstance(node, ast.Constant):
        if isinstance(node.value, int | float | complex) and not isinstance(node.value, bool):
            return 1
        if isinstance(node.value, str | bytes):
            text = node.value.decode("latin-1") if isinstance(node.value, bytes) else node.value
            return len(_NUMBER.findall(text))
    return 0


def _for_display(tree: ast.AST) -> set[int]:
    """The nodes (by id) that are text or values only shown: everything inside a
    :data:`_DISPLAY_CALLS` call or an f-string, a string standing alone as a statement
    (a note), and a ``label=``/``title=`` keyword's value."""
    shown: set[int] = set()

    def mark(node: ast.AST) -> None:
        shown.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name in _DISPLAY_CALLS:
                mark(node)
            for kw in node.keywords:
                if kw.arg in ("label", "title", "xlabel", "ylabel"):
                    mark(kw.value)
        elif isinstance(node, ast.JoinedStr):
            mark(node)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            mark(node)
    return shown


def most_typed_numbers(code) -> int:
    """The most numbers typed in one literal in the student's cells of ``code`` (the
    question's cells as they ran: :attr:`CheckContext.code`; given cells are skipped, and
    so is text only shown: see :func:`_for_display`)."""
    most = 0
    for cell in code:
        if cell.get("given"):
            continue
        for tree in cell_trees(str(cell.get("code", ""))):
            shown = _for_display(tree)
            for node in ast.walk(tree):
                if id(node) not in shown and isinstance(node, ast.List | ast.Tuple | ast.Set | ast.BinOp | ast.Constant):
                    most = max(most, _numbers_in(node))
    return most


def refuse_typed(ctx: CheckContext, how: str) -> None:
    """Fail the question if its cells type an answer out as numbers (see :data:`TYPED_LIMIT`)."""
    n = most_typed_numbers(ctx.code)
    if n > TYPED_LIMIT:
        ctx.fail(f"this question's cell types out {n} numbers in one list or string: the answer must be computed "
                 f"{how}, not typed or pasted from a printed result")
