"""Hidden checks: one module per assignment, run only in the grader's process.

:class:`Judge` is what the grader uses: for one assignment it knows each question's
check and inputs, the reference inputs (the notebook's state as a correct solution
leaves it) and, per question, the secret second input, all computed once per grading
process; :meth:`Judge.verdict` runs a check on one run's captured values.  The check
modules import ``reference_solution``; neither is ever reachable from the student's
process.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import threading
import traceback
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..config import Question, Tolerance
from ..results import Outcome
from ..sandbox.capture import Like
from ..values import FigureData, Value
from ._api import FILE, CheckContext, CheckFailed, CheckSpec, check, reference_state, registered, registered_state

__all__ = ["CheckContext", "CheckFailed", "CheckSpec", "FigureData", "Value", "FILE", "check", "reference_state",
           "load_all", "registry", "spec_for", "Judge", "UNCHECKABLE"]

log = logging.getLogger(__name__)

#: The message of a question whose values broke an assumption of its check.
UNCHECKABLE = "your answer could not be checked (it is not in the form this question asks for)"


_LOADED: list[str] = []  # the check modules imported by load_all (once per process)


def load_all() -> None:
    """Import every check module of this package (a module whose name does not start with
    ``_``), so that their checks register.  The package's folder is listed once per
    process: the registry is read for every question of every notebook."""
    import importlib
    import pkgutil

    if not _LOADED:
        _LOADED.extend(info.name for info in pkgutil.iter_modules([str(Path(__file__).parent)])
                       if not info.name.startswith("_"))
    for name in _LOADED:
        importlib.import_module(f"{__name__}.{name}")


def registry() -> dict[tuple[str, str], CheckSpec]:
    """All registered checks, every check module imported first."""
    load_all()
    return registered()


def spec_for(assignment_id: str, question_id: str) -> CheckSpec:
    """The registered check of a question; KeyError naming it if there is none."""
    try:
        return registry()[(assignment_id, question_id)]
    except KeyError:
        raise KeyError(f"no hidden check is registered for {assignment_id}/{question_id}") from None


_STATE_LOCK = threading.Lock()
_STATE_CACHE: dict[tuple[str, str], dict] = {}


def reference_inputs(assignment_id: str, data_path) -> dict:
    """The reference state of ``assignment_id`` (see :func:`reference_state`), computed
    once per process and data file; {} for an assignment that registers none."""
    key = (assignment_id, str(Path(data_path).resolve()) if data_path is not None else "")
    with _STATE_LOCK:
        if key not in _STATE_CACHE:
            load_all()
            func = registered_state(assignment_id)
            _STATE_CACHE[key] = func(Path(data_path) if data_path is not None else None) if func else {}
        return _STATE_CACHE[key]


class Judge:
    """The checks of one assignment, with their inputs, for one grading process.

    Parameters
    ----------
    assignment_id : str
    data_path : Path or None
        The verified data file (the reference inputs of the data assignments come from it).
    secret_key : bytes
        The course's secret (see :meth:`autograder.grading.NotebookGrader`): the seed of
        every secret input, so that they are the same for every run and known to no
        student; with :meth:`for_submission`, each submission's code is part of the seed too.
    """

    def __init__(self, assignment_id: str, data_path, secret_key: bytes):
        self.assignment = assignment_id
        self.data_path = data_path
        self.key = secret_key
        self._secrets: dict[str, dict] = {}
        self._memo: dict[tuple[str, str], dict] = {}
        self._lock = threading.Lock()
        self.salt = b""  # the submission's (see for_submission); b"": the course's own secret inputs
        self._own_secrets: dict[str, dict] = self._secrets
        self._own_memo: dict[tuple[str, str], dict] = self._memo

    def for_submission(self, salt: bytes) -> Judge:
        """This judge for one submission: the secret input of every ``per_submission``
        question is drawn from the course's secret and ``salt`` (a digest of the
        submission's code), kept only as long as the returned judge; the others' (and
        every reference answer) stay shared with this judge.  The same code gets the
        same secret inputs (grading stays deterministic); any change draws new ones."""
        bound = copy.copy(self)
        bound.salt = salt
        bound._own_secrets, bound._own_memo = {}, {}
        return bound

    def varies(self, question_id: str) -> bool:
        """Whether this submission has a secret input of its own for the question (see
        :meth:`for_submission`): what a message shows of it holds for this code only."""
        return bool(self.salt) and self.spec(question_id).per_submission

    def spec(self, question_id: str) -> CheckSpec:
        return spec_for(self.assignment, question_id)

    def reference(self) -> dict:
        return reference_inputs(self.assignment, self.data_path)

    def secret(self, question_id: str) -> dict:
        """The secret run's inputs of a question: the reference state with the question's
        secret changes (:attr:`CheckSpec.secret`) applied."""
        store = self._own_secrets if self.varies(question_id) else self._secrets
        with self._lock:
            if question_id not in store:
                spec = self.spec(question_id)
                base = self.reference()
                changed = spec.secret(base, self._rng(question_id)) if spec.secret else {}
                store[question_id] = {**base, **changed}
            return store[question_id]

    def _rng(self, question_id: str) -> np.random.Generator:
        parts = [self.key, self.assignment.encode(), question_id.encode()]
        if self.varies(question_id):
            parts.append(self.salt)
        digest = hashlib.sha256(b"\0".join(parts)).digest()
        return np.random.default_rng(int.from_bytes(digest[:8], "little"))

    def injected(self, question_id: str, run: str) -> tuple[dict, dict[str, bytes]]:
        """What a rerun puts in place: the question's inputs by name, and files by name."""
        spec = self.spec(question_id)
        inputs = self.secret(question_id) if run == "secret" else self.reference()
        names = {n: Like(inputs[n]) if n in spec.like else inputs[n] for n in spec.inputs if n in inputs}
        files = {k[len(FILE):]: v for k, v in inputs.items() if k.startswith(FILE)} if run == "secret" else {}
        return names, files

    def verdict(self, question: Question, values: dict[str, Value], *, tolerance: Tolerance,
                figures: list[FigureData] | None = None, run: str = "own", code: list[dict] | None = None) -> Outcome:
        """Run the question's check on one run's captured ``values`` (``code``: the
        question's code cells as they ran, see :attr:`CheckContext.code`).

        A :class:`CheckFailed` is the student's mistake (its message is shown to them).
        Any other exception means the student's values broke an assumption of the check:
        the question fails with a neutral message and the traceback goes to the log.
        """
        spec = self.spec(question.id)
        kind = "secret" if run == "secret" else "reference"
        memos = self._own_memo if kind == "secret" and self.varies(question.id) else self._memo
        with self._lock:
            memo = memos.setdefault((question.id, kind), {})
        ctx = CheckContext(
            question=question.id, values=values, figures=list(figures or []), rtol=tolerance.rtol,
            atol=tolerance.atol, inputs=self.secret(question.id) if kind == "secret" else self.reference(),
            run=run, memo=memo, code=tuple(dict(c) for c in code or ()),
        )
        try:
            spec.func(ctx)
        except CheckFailed as exc:
            return replace(Outcome.failed(question.id, question.points, str(exc)), public=exc.public)
        except Exception:
            log.warning("check %s/%s raised:\n%s", self.assignment, question.id, traceback.format_exc())
            return Outcome.failed(question.id, question.points, UNCHECKABLE)
        return Outcome(question.id, question.points, question.points)
