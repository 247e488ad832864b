"""Hidden checks: one module per assignment, run only in the grader's process.

:func:`run_question` is the single entry point the grader uses.  The check modules
import ``reference_solution``; neither is ever importable from the student's kernel.
"""

from __future__ import annotations

import logging
import traceback

from ..config import Question, Tolerance
from ..results import Outcome
from ..values import FigureData, Value
from ._api import CheckContext, CheckFailed, CheckSpec, check, registry

__all__ = ["CheckContext", "CheckFailed", "CheckSpec", "FigureData", "Value", "check",
           "registry", "spec_for", "run_question", "prepare", "UNCHECKABLE"]

log = logging.getLogger(__name__)


def spec_for(assignment_id: str, question_id: str) -> CheckSpec:
    """The registered check of a question; KeyError naming it if there is none."""
    try:
        return registry()[(assignment_id, question_id)]
    except KeyError:
        raise KeyError(f"no hidden check is registered for {assignment_id}/{question_id}") from None


def prepare(assignment_id: str, data_path) -> None:
    """Compute ahead of time what an assignment's checks compare against.

    A check module that compares with the reference reduction of the data file says so
    with ``USES_EXTRACTION = True``; for those, the reduction is computed now (``course
    check`` calls this in a thread while the student's notebook runs).
    """
    import sys

    from ._reference import get_reference

    modules = {sys.modules[s.func.__module__] for (a, _q), s in registry().items() if a == assignment_id}
    if data_path is not None and any(getattr(m, "USES_EXTRACTION", False) for m in modules):
        get_reference(assignment_id, data_path).extraction


def run_question(
    assignment_id: str,
    question: Question,
    values: dict[str, Value],
    *,
    tolerance: Tolerance,
    figures: list[FigureData] | None = None,
    source: str = "",
    data_path=None,
) -> Outcome:
    """Run one question's hidden check on captured values and return the verdict.

    A :class:`CheckFailed` is the student's mistake (its message is shown to them).
    Any other exception means the student's values broke an assumption of the check:
    the question fails with a neutral message and the traceback goes to the log.
    """
    from ._reference import get_reference

    spec = spec_for(assignment_id, question.id)
    ctx = CheckContext(
        question=question.id,
        values=values,
        figures=list(figures or []),
        source=source,
        rtol=tolerance.rtol,
        atol=tolerance.atol,
        reference=get_reference(assignment_id, data_path),
    )
    try:
        spec.func(ctx)
    except CheckFailed as exc:
        return Outcome.failed(question.id, question.points, str(exc))
    except Exception:
        log.warning("check %s/%s raised:\n%s", assignment_id, question.id, traceback.format_exc())
        return Outcome.failed(question.id, question.points, UNCHECKABLE)
    return Outcome(question.id, question.points, question.points)


#: The message of a question whose values broke an assumption of its check.
UNCHECKABLE = "your answer could not be checked (it is not in the form this question asks for)"
