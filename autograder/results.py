"""What grading decides, as typed records: one shape from the check to the feedback page.

* :class:`Outcome` is the verdict on one question.  The hidden check makes it
  (:meth:`autograder.checks.Judge.verdict`), the grader completes it (visible tests,
  a stopped notebook), ``course check`` prints it, ``course autograde`` stores it, and
  the feedback page shows its message.
* :class:`NotebookResult` is one graded notebook: its outcomes, in course.yml order,
  and what was wrong with the file itself.
* :class:`SubmissionRecord` is what ``course autograde`` keeps beside a graded
  submission (``autograded/<student>/<assignment>/.course-graded.json``): what it was
  graded from (a fingerprint of the files and of the settings), the outcomes and the
  problems.

Scores: nbgrader's gradebook is the single truth for the score of a question once a
submission is graded (it holds manual overrides, extra credit and late penalties,
which the record cannot know).  The points in a record are what the autograder
awarded; export, report and feedback read scores from the gradebook and messages
from the record.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

from .fileio import atomic_write_text

__all__ = ["PASSED", "FAILED", "NOT_RUN", "MANUAL", "Run", "Outcome", "NotebookResult", "SubmissionRecord",
           "RecordError"]

PASSED = "passed"
FAILED = "failed"
NOT_RUN = "not run"
MANUAL = "needs manual grading"
STATUSES = (PASSED, FAILED, NOT_RUN, MANUAL)


class RecordError(ValueError):
    """A stored record is not readable (corrupt, or written by something else)."""


def _number(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RecordError(f"{what} is not a finite number: {value!r}")
    return float(value)


def _string(value, what: str) -> str:
    if not isinstance(value, str):
        raise RecordError(f"{what} is not text: {value!r}")
    return value


@dataclass(frozen=True)
class Run:
    """One way a question's code was run and checked.

    ``kind``: ``own`` (the notebook as the student ran it, on their own earlier
    results), ``reference`` (their code again, on the correct inputs) or ``secret``
    (their code again, on a second input they never saw); ``passed`` says whether the
    answer matched there.
    """

    kind: str
    passed: bool

    def to_json(self) -> dict:
        return {"kind": self.kind, "passed": self.passed}

    @classmethod
    def from_json(cls, data) -> Run:
        if not isinstance(data, dict) or not isinstance(data.get("passed"), bool):
            raise RecordError(f"not a run: {data!r}")
        return cls(_string(data.get("kind"), "a run's kind"), data["passed"])


@dataclass(frozen=True)
class Outcome:
    """The verdict on one question, as the student may see it.

    Attributes
    ----------
    question : str
        The question id (course.yml).
    points, max_points : float
        Points awarded by the autograder, and the question's worth.
    status : str
        ``passed``, ``failed``, ``not run`` (the notebook stopped before its test cell,
        or the cell is missing) or ``needs manual grading``.
    message : str
        What is wrong, for the student; never an expected value or hidden-test text.
    runs : tuple of Run
        Which runs of the student's code were checked and how each went.
    """

    question: str
    points: float
    max_points: float
    status: str = PASSED
    message: str = ""
    runs: tuple[Run, ...] = ()
    #: whether ``message`` says nothing of the input it was judged on beyond our own
    #: words (a hint the check marked so): only such a message of a run on the secret
    #: input is shown to the student (see :meth:`autograder.grading.NotebookGrader`);
    #: not kept in records
    public: bool = field(default=False, compare=False, repr=False)

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    @classmethod
    def failed(cls, question: str, max_points: float, message: str, *, status: str = FAILED,
               runs: tuple[Run, ...] = ()) -> Outcome:
        return cls(question, 0.0, max_points, status, message, runs)

    def failing(self, message: str) -> Outcome:
        """This outcome turned into a failure with ``message`` (kept if it already failed)."""
        if not self.passed:
            return self
        return replace(self, points=0.0, status=FAILED, message=message)

    def to_json(self) -> dict:
        return {"question": self.question, "points": self.points, "max_points": self.max_points,
                "status": self.status, "message": self.message, "runs": [r.to_json() for r in self.runs]}

    @classmethod
    def from_json(cls, data) -> Outcome:
        if not isinstance(data, dict):
            raise RecordError(f"not an outcome: {data!r}")
        status = data.get("status")
        if status not in STATUSES:
            raise RecordError(f"unknown outcome status {status!r}")
        runs = data.get("runs", [])
        if not isinstance(runs, list):
            raise RecordError("an outcome's runs are not a list")
        return cls(_string(data.get("question"), "an outcome's question"), _number(data.get("points"), "points"),
                   _number(data.get("max_points"), "max_points"), status,
                   _string(data.get("message", ""), "a message"), tuple(Run.from_json(r) for r in runs))


@dataclass
class NotebookResult:
    """One graded notebook: per-question outcomes (course.yml order) and file problems."""

    notebook: str
    outcomes: list[Outcome] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def score(self) -> float:
        return sum(o.points for o in self.outcomes)

    @property
    def max_score(self) -> float:
        return sum(o.max_points for o in self.outcomes)

    @property
    def full_marks(self) -> bool:
        """Every question the autograder grades passed (a written answer waiting for a
        grader, ``needs manual grading``, neither counts for it nor against it)."""
        auto = [o for o in self.outcomes if o.status != MANUAL]
        return bool(auto) and all(o.passed for o in auto)


@dataclass
class SubmissionRecord:
    """What ``course autograde`` keeps beside one graded submission.

    ``fingerprint`` identifies the submitted files and ``settings`` what they were graded
    under (the checks, the reference, course.yml's grading limits and tolerances): a
    submission is graded again when either changes.
    """

    student: str
    assignment: str
    fingerprint: str
    settings: str
    outcomes: list[Outcome] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    FILENAME = ".course-graded.json"
    VERSION = 2

    @property
    def score(self) -> float:
        return sum(o.points for o in self.outcomes)

    @property
    def max_score(self) -> float:
        return sum(o.max_points for o in self.outcomes)

    def outcome(self, question: str) -> Outcome | None:
        return next((o for o in self.outcomes if o.question == question), None)

    def to_json(self) -> dict:
        return {"version": self.VERSION, "student": self.student, "assignment": self.assignment,
                "fingerprint": self.fingerprint, "settings": self.settings,
                "outcomes": [o.to_json() for o in self.outcomes], "problems": list(self.problems)}

    @classmethod
    def from_json(cls, data) -> SubmissionRecord:
        if not isinstance(data, dict) or data.get("version") != cls.VERSION:
            raise RecordError("not a grading record of this version")
        outcomes, problems = data.get("outcomes"), data.get("problems")
        if not isinstance(outcomes, list) or not isinstance(problems, list):
            raise RecordError("a grading record's outcomes or problems are not lists")
        return cls(_string(data.get("student"), "student"), _string(data.get("assignment"), "assignment"),
                   _string(data.get("fingerprint"), "fingerprint"), _string(data.get("settings"), "settings"),
                   [Outcome.from_json(o) for o in outcomes], [_string(p, "a problem") for p in problems])

    def write(self, folder: Path) -> Path:
        path = Path(folder) / self.FILENAME
        atomic_write_text(path, json.dumps(self.to_json(), indent=1) + "\n")
        return path

    @classmethod
    def read(cls, folder: Path) -> SubmissionRecord:
        """The record in ``folder``; FileNotFoundError if there is none, RecordError if
        it cannot be read."""
        path = Path(folder) / cls.FILENAME
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise RecordError(f"{path}: unreadable ({type(exc).__name__}: {exc})") from None
        try:
            return cls.from_json(data)
        except RecordError as exc:
            raise RecordError(f"{path}: {exc}") from None
