"""The contract between the grader and the hidden checks.

A hidden check is a plain function that runs in the grader's own (trusted) process,
never in the student's kernel.  It receives a :class:`CheckContext` holding what was
captured from the student's kernel when the question's test cell ran: each needed name
as a :class:`Value` (already converted to a plain numpy array by trusted code, or marked
missing/unsupported), the figures the student drew for this question, and the source of
the student's solution cell.  It compares them with ``reference_solution`` and either
returns (pass) or raises :class:`CheckFailed` with a message for the student.

Messages say what is wrong (which name, shape or dtype mismatch, where the largest
difference is and how large) and never print expected values.

Register a check with :func:`check`::

    @check("longslit-extraction", "final-spectrum", uses=("img_bkg",))
    def final_spectrum(ctx):
        spec = ctx.array("spectrum_final", shape=(511,), kind="f")
        ctx.expect_close("spectrum_final", spec, ctx.reference.spectrum_final)
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..values import FigureData, Value

__all__ = [
    "CheckFailed",
    "CheckContext",
    "CheckSpec",
    "check",
    "registry",
]


class CheckFailed(AssertionError):
    """Raised by a check; its message is shown to the student."""


# ---------------------------------------------------------------------------------
# What a check works with
# ---------------------------------------------------------------------------------
_KIND_WORDS = {"f": "floating-point", "i": "integer", "u": "unsigned integer", "b": "boolean", "c": "complex"}


def _fmt_index(idx: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(int(i)) for i in idx) + "]"


@dataclass
class CheckContext:
    """Everything a hidden check may look at for one question.

    Attributes
    ----------
    question : str
        The question's id.
    values : dict of str to Value
        The captured names (the question's own names and those its check ``uses``).
    figures : list of FigureData
        Figures drawn since the previous graded question, in order.
    source : str
        Source code of the student's solution cell for this question ("" if absent).
    rtol, atol : float
        The question's tolerance from course.yml.
    reference : object
        The reference products (see ``autograder.checks._reference``), computed lazily.
    """

    question: str
    values: dict[str, Value]
    figures: list[FigureData] = field(default_factory=list)
    source: str = ""
    rtol: float = 1e-6
    atol: float = 1e-9
    reference: Any = None

    # -- getting values ----------------------------------------------------------
    def value(self, name: str) -> Value:
        v = self.values.get(name)
        if v is None or v.status == "missing":
            raise CheckFailed(f"`{name}` is not defined: run the cell that creates it, and keep that exact name")
        if v.status == "unsupported":
            detail = f" ({v.detail})" if v.detail else ""
            raise CheckFailed(
                f"`{name}` is a {v.pytype}{detail}; this question needs a plain numpy array or number"
            )
        return v

    def array(
        self,
        name: str,
        *,
        shape: tuple[int, ...] | None = None,
        ndim: int | None = None,
        kind: str | None = None,
        pytype: str | None = None,
    ) -> np.ndarray:
        """The student's ``name`` as a plain array, after checking its form.

        ``kind`` is a string of accepted numpy dtype kinds (``"f"``, ``"fi"``, ``"b"``...);
        ``pytype`` demands an exact kernel type (``"numpy.ndarray"``, ``"list"``).
        Integer and boolean arrays are accepted where ``kind`` contains ``"f"`` only if
        it also lists them.
        """
        v = self.value(name)
        arr = v.array
        assert arr is not None
        if pytype is not None and v.pytype != pytype:
            raise CheckFailed(f"`{name}` is a {v.pytype}; this question expects a {pytype}")
        if ndim is not None and arr.ndim != ndim:
            raise CheckFailed(f"`{name}` has {arr.ndim} dimension(s); this question expects {ndim}")
        if shape is not None and arr.shape != tuple(shape):
            raise CheckFailed(f"`{name}` has shape {arr.shape}; this question expects shape {tuple(shape)}")
        if kind is not None and arr.dtype.kind not in kind:
            want = " or ".join(_KIND_WORDS.get(k, k) for k in kind)
            raise CheckFailed(f"`{name}` has dtype {arr.dtype}; this question expects a {want} array")
        return arr

    def scalar(self, name: str) -> float:
        """The student's ``name`` as a Python float (a number or a 1-element array)."""
        arr = self.array(name)
        if arr.size != 1:
            raise CheckFailed(f"`{name}` has {arr.size} elements; this question expects a single number")
        if arr.dtype.kind not in "fiub":
            raise CheckFailed(f"`{name}` has dtype {arr.dtype}; this question expects a real number")
        return float(arr.reshape(()))

    # -- comparing -----------------------------------------------------------------
    def expect_close(
        self,
        name: str,
        actual: np.ndarray,
        expected: np.ndarray,
        *,
        rtol: float | None = None,
        atol: float | None = None,
        what: str = "",
    ) -> None:
        """Fail unless ``actual`` matches ``expected`` elementwise within tolerance.

        The message names the number of mismatches, the position and size of the
        largest difference, and the tolerance; never the expected values.
        """
        rtol = self.rtol if rtol is None else rtol
        atol = self.atol if atol is None else atol
        label = f"`{name}`" + (f" ({what})" if what else "")
        a = np.asarray(actual)
        e = np.asarray(expected)
        if a.shape != e.shape:
            raise CheckFailed(f"{label} has shape {a.shape}; this question expects shape {e.shape}")
        if a.dtype.kind not in "fiub" and a.size:
            raise CheckFailed(f"{label} has dtype {a.dtype}; this question expects real numbers")
        a = np.asarray(a, dtype=np.float64)  # no copy when it is float64 already
        e = np.asarray(e, dtype=np.float64)
        if np.array_equal(a, e) and np.isfinite(e).all():
            return  # identical finite values: within any tolerance (the common case, 3x cheaper)
        a_nan, e_nan = np.isnan(a), np.isnan(e)
        bad_nan = a_nan != e_nan
        if bad_nan.any():
            first = _fmt_index(np.argwhere(bad_nan)[0]) if a.ndim else ""
            where = f", first at {first}" if first else ""
            raise CheckFailed(
                f"{label} has NaN where a number is expected (or a number where NaN is expected) "
                f"at {int(bad_nan.sum())} element(s){where}"
            )
        with np.errstate(invalid="ignore", over="ignore"):
            diff = np.where(a_nan, 0.0, np.abs(a - e))
            allowed = atol + rtol * np.abs(np.where(e_nan, 0.0, e))
            wrong = ~(diff <= allowed)
        if not wrong.any():
            return
        n = int(wrong.sum())
        excess = np.where(wrong, diff - allowed, -np.inf)
        worst = np.unravel_index(int(np.argmax(excess)), a.shape) if a.ndim else ()
        d = float(diff[worst]) if a.ndim else float(diff)
        scale = float(np.abs(e[worst])) if a.ndim else float(abs(e))
        rel = f" ({d / scale:.1g} relative)" if scale > 0 and np.isfinite(d) else ""
        at = f" at index {_fmt_index(worst)}" if a.ndim else ""
        of = f"{n} of {a.size} element(s) differ" if a.ndim else "the value differs"
        raise CheckFailed(
            f"{label}: {of} from the expected result; the largest difference is about {d:.1g}{rel}{at}; "
            f"allowed: rtol={rtol:g}, atol={atol:g}"
        )

    def expect_equal(self, name: str, actual: np.ndarray, expected: np.ndarray, *, what: str = "") -> None:
        """Exact comparison for integer/boolean answers (masks, indices, counts)."""
        label = f"`{name}`" + (f" ({what})" if what else "")
        a, e = np.asarray(actual), np.asarray(expected)
        if a.shape != e.shape:
            raise CheckFailed(f"{label} has shape {a.shape}; this question expects shape {e.shape}")
        wrong = a != e
        if np.any(wrong):
            n = int(np.sum(wrong))
            first = f", first at index {_fmt_index(np.argwhere(wrong)[0])}" if a.ndim else ""
            raise CheckFailed(f"{label}: {n} of {max(a.size, 1)} element(s) are not as expected{first}")

    def fail(self, message: str) -> None:
        raise CheckFailed(message)

    # -- code shape ----------------------------------------------------------------
    def solution_has_python_loop(self) -> bool:
        """Whether the solution cell uses a Python loop (for/while/comprehension)."""
        try:
            tree = ast.parse(self.source)
        except SyntaxError:
            return False
        loops = (ast.For, ast.AsyncFor, ast.While, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
        return any(isinstance(node, loops) for node in ast.walk(tree))


@dataclass(frozen=True)
class CheckSpec:
    assignment: str
    question: str
    func: Callable[[CheckContext], None]
    uses: tuple[str, ...] = ()


_REGISTRY: dict[tuple[str, str], CheckSpec] = {}


def check(assignment: str, question: str, *, uses: tuple[str, ...] = ()):
    """Register ``func`` as the hidden check of ``question`` in ``assignment``.

    ``uses`` lists names from earlier questions that the check also needs captured
    (for "follows the recipe from your own earlier results" checks).
    """

    def register(func: Callable[[CheckContext], None]) -> Callable[[CheckContext], None]:
        key = (assignment, question)
        if key in _REGISTRY:
            raise ValueError(f"two checks registered for {assignment}/{question}")
        _REGISTRY[key] = CheckSpec(assignment, question, func, tuple(uses))
        return func

    return register


def registry() -> dict[tuple[str, str], CheckSpec]:
    """All registered checks (importing every check module first)."""
    from . import _load_all  # noqa: F401  (import side effect: registration)

    return dict(_REGISTRY)
