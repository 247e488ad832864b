"""The contract between the grader and the hidden checks.

A hidden check is a plain function that runs in the grader's own (trusted) process,
never in the student's. It receives a :class:`CheckContext`: the question's names as
captured from one run of the student's code (each a :class:`~autograder.values.Value`,
already converted to a plain numpy array by trusted code, or marked missing or
unsupported), the figures drawn, and the **inputs** that run had.  It computes what
the answer should be from those inputs (the reference recipe) and either returns
(pass) or raises :class:`CheckFailed` with a message for the student.  The same
function judges every run of the student's code (see :mod:`autograder.grading`):

* ``own``: the notebook as the student ran it; inputs are the reference inputs, so
  their own answer must be the reference answer;
* ``reference``: their question's code run again with the reference inputs put in
  place of their own earlier answers (an earlier mistake costs only its question);
* ``secret``: their code run again on a second input they never saw, so that only
  code that computes the answer from its inputs passes.

Messages say what is wrong (which name, shape or dtype, where the largest difference
is and how large) and never print expected values.

Register a check with :func:`check`, naming the inputs the question's code reads and
how to make a secret second input::

    @check("longslit-extraction", "final-spectrum", inputs=("img_bkg",), secret=shifted_images)
    def final_spectrum(ctx):
        expected = ctx.expected("spectrum", lambda: sum_rows(ctx.input("img_bkg"), (250, 259)))
        ctx.expect_close("spectrum_final", ctx.array("spectrum_final", shape=(511,)), expected)

and each assignment's reference inputs (the notebook's state as a correct solution
leaves it) with :func:`reference_state`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..values import FigureData, Value

__all__ = [
    "CheckFailed",
    "CheckContext",
    "CheckSpec",
    "FILE",
    "check",
    "reference_state",
    "registered",
    "registered_state",
    "close",
    "is_close",
]


class CheckFailed(AssertionError):
    """Raised by a check; its message is shown to the student.

    ``public``: the message is the check's own words only (a hint about a likely
    mistake), with nothing of the student's values in it (no shape, type, count or
    index of theirs), so it may be shown for a run on the secret input too; other
    messages of a secret run are replaced by a general one, since code can shape its
    values from the secret input to carry it out in a message."""

    def __init__(self, message: str = "", *, public: bool = False) -> None:
        super().__init__(message)
        self.public = public


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
        The captured names: the question's own, and the inputs it must leave unchanged.
    figures : list of FigureData
        Figures drawn since the previous graded question (or during the rerun), in order.
    rtol, atol : float
        The question's tolerance from course.yml.
    inputs : dict
        The inputs of this run, by name (the reference inputs, or the secret ones).
    run : str
        ``own``, ``reference`` or ``secret``.
    memo : dict or None
        Where :meth:`expected` keeps what it computed (shared by the runs that have the
        same inputs).
    code : tuple of dict
        The question's code as it ran, in notebook order: one ``{"code": source,
        "given": bool}`` per cell (the solution cell, cells the student added, given
        cells in between; see :mod:`autograder.grading`).  Empty when the grader did not
        say.  For checks about how an answer was written (a prediction typed as
        numbers), never for its values.
    """

    question: str
    values: dict[str, Value]
    figures: list[FigureData] = field(default_factory=list)
    rtol: float = 1e-6
    atol: float = 1e-9
    inputs: dict = field(default_factory=dict)
    run: str = "own"
    memo: dict | None = None
    code: tuple[dict, ...] = ()

    def input(self, name: str):
        """This run's value of input ``name`` (never the student's)."""
        return self.inputs[name]

    def expected(self, key: str, compute: Callable[[], Any]):
        """``compute()`` (the reference recipe on this run's inputs), computed once per
        set of inputs and kept for the next submission."""
        if self.memo is None:
            return compute()
        if key not in self.memo:
            self.memo[key] = compute()
        return self.memo[key]

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
        ok = close(a, e, rtol, atol)
        if ok.all():
            return
        a_nan, e_nan = np.isnan(a), np.isnan(e)
        bad_nan = a_nan != e_nan
        if bad_nan.any():
            first = _fmt_index(np.argwhere(bad_nan)[0]) if a.ndim else ""
            where = f", first at {first}" if first else ""
            raise CheckFailed(
                f"{label} has NaN where a number is expected (or a number where NaN is expected) "
                f"at {int(bad_nan.sum())} element(s){where}"
            )
        wrong = ~ok
        with np.errstate(invalid="ignore", over="ignore"):
            diff = np.where(wrong, np.abs(a - e), 0.0)
            diff = np.where(np.isnan(diff), np.inf, diff)  # inf against -inf, or a number against inf
        n = int(wrong.sum())
        worst = np.unravel_index(int(np.argmax(diff)), a.shape) if a.ndim else ()
        d = float(diff[worst]) if a.ndim else float(diff)
        scale = float(np.abs(e[worst])) if a.ndim else float(abs(e))
        rel = f" ({d / scale:.1g} relative)" if scale > 0 and np.isfinite(d) and np.isfinite(scale) else ""
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

    def fail(self, message: str, *, public: bool = False) -> None:
        raise CheckFailed(message, public=public)

def close(actual, expected, rtol: float, atol: float) -> np.ndarray:
    """Elementwise ``|actual - expected| <= atol + rtol * |expected|``, NaN matching NaN and
    an infinity matching the same infinity (numpy's ``isclose`` with ``equal_nan``)."""
    with np.errstate(invalid="ignore", over="ignore"):
        return np.isclose(np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64),
                          rtol=rtol, atol=atol, equal_nan=True)


def is_close(actual, expected, rtol: float, atol: float) -> bool:
    """Whether two arrays (or numbers) have the same shape and match within tolerance."""
    if expected is None:
        return False
    a, e = np.asarray(actual), np.asarray(expected)
    if a.shape != e.shape or a.dtype.kind not in "fiub" or e.dtype.kind not in "fiub":
        return False
    return bool(close(a, e, rtol, atol).all())


#: The key of a secret input that is a file: ``FILE + name`` maps to the file's bytes,
#: which replace the working folder's file of that name during the secret run.
FILE = "file:"


@dataclass(frozen=True)
class CheckSpec:
    """A registered check: the function, and how the question's code is run again.

    ``inputs``: the names the question's code reads that earlier cells define (they are
    put in place, with the reference or the secret values, before a rerun), including
    earlier answers a student may naturally reuse (their secret values consistent with
    the secret input; :class:`~autograder.sandbox.capture.Alias` for a second name of
    another input);
    ``secret``: ``secret(inputs, rng) -> dict`` of the inputs changed for the secret run
    (names, and files under :data:`FILE` keys); ``rules``: rules about *how* the answer
    is computed, checked on the secret run (``"no-loop"``); ``speed_reference``: for
    ``no-loop``, a statement doing the question's work the numpy way on the inputs (its
    CPU time in the student's process is the yardstick); ``watch``: inputs captured
    again after the question's code, which the check may require to be unchanged;
    ``like``: inputs put in place in the form of the notebook's own value of the name
    (grid coordinates: :class:`~autograder.sandbox.capture.Like`);
    ``per_submission``: the secret input is drawn afresh for each submission (seeded by
    its code: see :meth:`autograder.checks.Judge.for_submission`), so that a value
    carried out of one submission's secret run does not hold in the next; False where
    making the secret input and the answer on it costs too much to do per notebook (the
    extraction's image and data-file questions: a gzipped FITS file, a median filter,
    fits over every column), which share one secret input for the course.
    """

    assignment: str
    question: str
    func: Callable[[CheckContext], None]
    inputs: tuple[str, ...] = ()
    secret: Callable[[dict, np.random.Generator], dict] | None = None
    rules: tuple[str, ...] = ()
    watch: tuple[str, ...] = ()
    speed_reference: str | None = None
    like: tuple[str, ...] = ()
    per_submission: bool = True


_REGISTRY: dict[tuple[str, str], CheckSpec] = {}
_STATES: dict[str, Callable[[Any], dict]] = {}
RULES = ("no-loop",)


def check(assignment: str, question: str, *, inputs: tuple[str, ...] = (), secret=None,
          rules: tuple[str, ...] = (), watch: tuple[str, ...] = (), speed_reference: str | None = None,
          like: tuple[str, ...] = (), per_submission: bool = True):
    """Register ``func`` as the hidden check of ``question`` in ``assignment`` (see :class:`CheckSpec`)."""
    unknown = set(rules) - set(RULES)
    if unknown:
        raise ValueError(f"unknown rule(s) {sorted(unknown)} (known: {', '.join(RULES)})")

    def register(func: Callable[[CheckContext], None]) -> Callable[[CheckContext], None]:
        key = (assignment, question)
        if key in _REGISTRY:
            raise ValueError(f"two checks registered for {assignment}/{question}")
        _REGISTRY[key] = CheckSpec(assignment, question, func, tuple(inputs), secret, tuple(rules), tuple(watch),
                                   speed_reference, tuple(like), per_submission)
        return func

    return register


def reference_state(assignment: str):
    """Register ``func(data_path) -> dict``: the reference inputs of ``assignment``'s
    questions, by name (the notebook's state as a correct solution leaves it, plus any
    value the checks compare with, such as the data file's own arrays)."""

    def register(func: Callable[[Any], dict]) -> Callable[[Any], dict]:
        _STATES[assignment] = func
        return func

    return register


def registered() -> dict[tuple[str, str], CheckSpec]:
    """The checks registered so far (see :func:`autograder.checks.registry`)."""
    return dict(_REGISTRY)


def registered_state(assignment: str) -> Callable[[Any], dict] | None:
    """The reference-state function registered for ``assignment`` so far, or None."""
    return _STATES.get(assignment)
