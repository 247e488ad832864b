"""The gradebook as the course reads it: every score, from nbgrader's database.

nbgrader's gradebook is the single truth for scores.  A question's score is the
``score`` of its graded cell (``<question>-test``, or a manual answer's own cell): the
manual score if a grader gave one in the formgrader, else the autograder's, plus any
extra credit.  An assignment's total is the sum of its questions' scores (``raw``)
minus nbgrader's late penalty (the sum of its notebooks' ``late_submission_penalty``,
see :mod:`autograder.late`).  The comment a grader wrote on a question's answer in the
formgrader (nbgrader's ``Comment`` on the solution cell named like the question) comes
with its score (:class:`QuestionGrade`).  ``course export``, ``course report`` and
``course feedback`` all read scores through :func:`read_gradebook`.

Statuses of one student's assignment:

* ``graded``: every question has a score;
* ``missing``: the gradebook has no submission of it from the student (or only the
  empty one that holds an extension granted before the student submitted:
  :func:`holds_only_an_extension`);
* ``not graded``: submitted, but some question has neither an autograder nor a manual
  score yet (those scores are None);
* ``needs manual grading``: scored, but nbgrader flags a grade for a human and none
  was given yet, or a question graded by hand (``manual: true``) has no score yet (its
  score is None, and the total counts the questions scored so far), or nbgrader flags a
  grade that a grader did score: a hand grade to review.  nbgrader's formgrader clears
  the flag whenever a grader saves a score, and its autograde (``SaveAutoGrades``) sets
  it on every grade with a manual score each time the notebook is autograded again (a
  resubmission graded with plain ``nbgrader autograde``), keeping that score: the
  grader's score stays the question's score, but it is not final until a grader looks
  at it again (``course autograde`` decides this itself: see
  :func:`autograder.autograde.batch._review_hand_grades`).

A gradebook that another program keeps locked (the formgrader, a ``sqlite3`` shell in
a transaction) is waited for (:data:`GRADEBOOK_WAIT`
seconds), then reported as :class:`GradebookUnavailable`, one line naming the file, as
is a gradebook on a full disk or a read-only one, a damaged one (a copy taken while it
was being written, a file that is not a database) and an empty file (:func:`unavailable`,
:func:`refuse_empty`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass, field

from .config import Course
from .errors import UserError

GRADEBOOK_WAIT = 30.0


def db_url(course: Course, *, wait: bool = True) -> str:
    """The gradebook's database URL; with ``wait``, one whose statements wait up to
    :data:`GRADEBOOK_WAIT` seconds for another program's lock.  (nbgrader's own
    configuration gets the plain URL: ``nbgrader db upgrade`` reads the file name from it.)"""
    url = f"sqlite:///{course.gradebook_file.resolve()}"
    return f"{url}?timeout={GRADEBOOK_WAIT:g}" if wait else url


__all__ = ["GRADEBOOK_WAIT", "db_url", "GRADED", "MISSING", "NOT_GRADED", "NEEDS_MANUAL", "QuestionGrade", "SubmissionScores", "GradebookScores",
           "NoGradebook", "GradebookUnavailable", "unavailable", "refuse_empty", "check_gradebook_file",
           "reporting_unavailable", "read_gradebook", "known_students", "holds_only_an_extension"]

GRADED = "graded"
MISSING = "missing"
NOT_GRADED = "not graded"
NEEDS_MANUAL = "needs manual grading"


class NoGradebook(UserError, FileNotFoundError):
    """The course has no gradebook yet."""


class GradebookUnavailable(UserError, RuntimeError):
    """The gradebook cannot be used now: locked by another program, a full disk, read-only."""


def unavailable(exc: BaseException, course: Course) -> GradebookUnavailable | None:
    """``exc`` as a one-line :class:`GradebookUnavailable` naming the gradebook, if it
    says the database is locked, full or read-only (SQLAlchemy's OperationalError), or
    damaged or not a database at all (its DatabaseError); None for any other error."""
    from sqlalchemy.exc import DatabaseError, OperationalError

    if not isinstance(exc, DatabaseError):
        return None
    reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
    path = course.gradebook_file
    if _damaged(reason):
        return _damaged_error(path, reason)
    if not isinstance(exc, OperationalError):
        return None
    if "locked" in reason or "busy" in reason:
        return GradebookUnavailable(f"the gradebook {path} is locked by another program (waited "
                                    f"{GRADEBOOK_WAIT:g} s); close it (the formgrader, a sqlite3 shell...) and try again")
    if "disk" in reason or "readonly" in reason or "unable to open" in reason or "I/O" in reason:
        return GradebookUnavailable(f"the gradebook {path} cannot be written: {reason}")
    return None


def refuse_empty(course: Course) -> None:
    """Raise :class:`GradebookUnavailable` if the gradebook is a file of 0 bytes.

    SQLite (and so nbgrader) takes an empty file for a new database and would make an
    empty gradebook of it.  nbgrader writes its tables as it creates the file, so an
    empty one is at best a first creation that failed (a full disk), and at worst a
    copy or restore of the course's gradebook that went wrong; an empty gradebook made
    in its place would then lose every score without a word (``course export`` writing
    0 students, ``course autograde`` skipping submissions whose grades are gone).  So it
    is refused, and left as it is.
    """
    path = course.gradebook_file
    with contextlib.suppress(OSError):
        if path.is_file() and path.stat().st_size == 0:
            raise GradebookUnavailable(f"the gradebook {path} is an empty file (0 bytes), not a gradebook: "
                                       "nothing was changed; restore it from a backup, or delete it to start "
                                       "a new, empty gradebook")


def check_gradebook_file(course: Course) -> None:
    """Refuse a gradebook file that is empty (:func:`refuse_empty`), damaged or not a
    SQLite database, before a command hands it to nbgrader, whose own errors about it
    are tracebacks.  The file is only read (a locked one is left to the command)."""
    import sqlite3

    refuse_empty(course)
    path = course.gradebook_file
    if not path.is_file():
        return
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=0)
        try:
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if _damaged(reason):
            raise _damaged_error(path, reason) from None


def _damaged(reason: str) -> bool:
    return "malformed" in reason or "not a database" in reason or "encrypted" in reason


def _damaged_error(path, reason: str) -> GradebookUnavailable:
    return GradebookUnavailable(f"the gradebook {path} is damaged or not a SQLite database ({reason}): "
                                "nothing was changed; restore it from a backup")


@contextlib.contextmanager
def reporting_unavailable(course: Course):
    """Within this block, an error that :func:`unavailable` recognises is raised as its
    :class:`GradebookUnavailable` (one line for the user, not a traceback); an empty
    gradebook file is refused on entry (:func:`refuse_empty`)."""
    refuse_empty(course)
    try:
        yield
    except Exception as exc:
        problem = unavailable(exc, course)
        if problem is None:
            raise
        raise problem from None


@dataclass(frozen=True)
class QuestionGrade:
    """One question's grade as the gradebook holds it.

    ``score`` is nbgrader's (manual score if any, else the autograder's, plus extra
    credit; None: no score yet); ``by`` says who decided it: ``grader`` (a manual
    score), ``autograder``, or ``""`` (nobody yet); ``comment`` is the grader's comment
    in the formgrader (or nbgrader's own, such as "No response."), "" if none.
    """

    score: float | None = None
    auto_score: float | None = None
    manual_score: float | None = None
    extra_credit: float | None = None
    needs_manual: bool = False
    comment: str = ""

    @property
    def by(self) -> str:
        if self.manual_score is not None:
            return "grader"
        return "autograder" if self.auto_score is not None else ""


@dataclass
class SubmissionScores:
    """One student's scores on one assignment, as the gradebook holds them.

    ``questions`` maps question id -> score (None: no score yet), ``grades`` question id
    -> :class:`QuestionGrade`; ``penalty`` is nbgrader's late penalty (0 when on time);
    ``timestamp`` and ``duedate`` are nbgrader's (naive UTC; ``duedate`` includes the
    student's extension), ``seconds_late`` its ``total_seconds_late``.
    """

    student: str
    assignment: str
    status: str
    questions: dict[str, float | None] = field(default_factory=dict)
    grades: dict[str, QuestionGrade] = field(default_factory=dict)
    penalty: float = 0.0
    timestamp: dt.datetime | None = None
    duedate: dt.datetime | None = None
    seconds_late: float = 0.0

    @property
    def raw(self) -> float | None:
        """The questions' scores added up, before any late penalty; None when missing or not graded."""
        if self.status in (MISSING, NOT_GRADED):
            return None
        return sum(v for v in self.questions.values() if v is not None)

    @property
    def total(self) -> float | None:
        """The assignment's final total (raw minus the late penalty), or None when it is
        missing or not graded."""
        raw = self.raw
        return None if raw is None else raw - self.penalty

    @property
    def awaiting_grader(self) -> list[str]:
        """The questions that wait for a grader: flagged by nbgrader, with no manual score
        or with one to review (see the module docstring)."""
        return [q for q, g in self.grades.items() if g.needs_manual]


@dataclass
class GradebookScores:
    """Every student of the gradebook and every (student, assignment) of course.yml."""

    students: list[str]
    scores: dict[tuple[str, str], SubmissionScores]

    def get(self, student: str, assignment: str) -> SubmissionScores:
        return self.scores[(student, assignment)]


def _open(course: Course):
    from nbgrader.api import Gradebook


    if not course.gradebook_file.is_file():
        raise NoGradebook(f"{course.gradebook_file}: no gradebook yet; run `course release` and "
                          "`course autograde` first")
    return Gradebook(db_url(course), course.course.id)


def read_gradebook(course: Course) -> GradebookScores:
    """Every score of the course's assignments (see the module docstring).

    Raises
    ------
    NoGradebook
        The gradebook file does not exist (nothing released or graded yet).
    GradebookUnavailable
        It is locked by another program (for longer than the wait), or cannot be read.
    """
    from nbgrader.api import MissingEntry

    scores: dict[tuple[str, str], SubmissionScores] = {}
    with reporting_unavailable(course), _open(course) as gb:
        students = sorted(s.id for s in gb.students)
        for a in course.assignments:
            try:
                gb.find_assignment(a.id)
                submissions = {sub.student.id: sub for sub in gb.assignment_submissions(a.id)}
            except MissingEntry:  # not released yet: nobody can have submitted it
                submissions = {}
            for student in students:
                sub = submissions.get(student)
                if sub is None or holds_only_an_extension(sub):
                    scores[(student, a.id)] = SubmissionScores(student, a.id, MISSING,
                                                               {q.id: None for q in a.questions})
                    continue
                scores[(student, a.id)] = _submission(a, student, sub)
    return GradebookScores(students, scores)


def holds_only_an_extension(sub) -> bool:
    """Whether nbgrader's submission ``sub`` (a ``SubmittedAssignment``) is the empty one
    ``course extension`` makes for a student who has not submitted yet: an extension, and
    no submission time, no score and no comment.  (Not nbgrader's ``needs_manual_grade``:
    it is true in a new submission.)

    nbgrader keeps an extension on the student's submission, so one is made to hold it
    (nbgrader's ``add_submission``); nbgrader's autograde and ``course autograde`` later
    fill that same submission in (time, grades), keeping the extension.  Until then the
    student has submitted nothing: such a submission counts as missing.
    """
    if sub.extension is None or sub.timestamp is not None:
        return False
    for nb in sub.notebooks:
        if nb.late_submission_penalty:
            return False
        if any(g.auto_score is not None or g.manual_score is not None or g.extra_credit is not None
               for g in nb.grades):
            return False
        if any(c.auto_comment or c.manual_comment for c in nb.comments):
            return False
    return True


def _float(x) -> float | None:
    return None if x is None else float(x)


def _submission(a, student: str, sub) -> SubmissionScores:
    """One submission's scores, grades, comments and lateness (see the module docstring)."""
    grades = {g.name: g for nb in sub.notebooks for g in nb.grades}
    comments = {c.name: c.comment for nb in sub.notebooks for c in nb.comments}
    questions: dict[str, float | None] = {}
    details: dict[str, QuestionGrade] = {}
    status = GRADED
    for q in a.questions:
        g = grades.get(q.grade_cell)
        comment = comments.get(q.id) or ""
        if g is None or (g.auto_score is None and g.manual_score is None):
            questions[q.id] = None
            details[q.id] = QuestionGrade(needs_manual=g is not None and bool(g.needs_manual_grade), comment=comment)
            if q.manual and g is not None:  # a written answer no grader has scored yet
                status = NEEDS_MANUAL if status == GRADED else status
            else:
                status = NOT_GRADED
            continue
        questions[q.id] = float(g.score)
        details[q.id] = QuestionGrade(float(g.score), _float(g.auto_score), _float(g.manual_score),
                                      _float(g.extra_credit), bool(g.needs_manual_grade), comment)
        if g.needs_manual_grade and status == GRADED:  # (with a manual score: one to review)
            status = NEEDS_MANUAL
    penalty = sum(float(nb.late_submission_penalty or 0.0) for nb in sub.notebooks)
    dated = sub.assignment.duedate is not None  # (nbgrader adds an extension to None otherwise)
    return SubmissionScores(student, a.id, status, questions, details, penalty, sub.timestamp,
                            sub.duedate if dated else None, float(sub.total_seconds_late) if dated else 0.0)


def known_students(course: Course) -> list[str]:
    """The gradebook's students ([] without a gradebook)."""
    try:
        with reporting_unavailable(course), _open(course) as gb:
            return sorted(s.id for s in gb.students)
    except NoGradebook:
        return []
