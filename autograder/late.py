"""Due dates and late penalties, through nbgrader's late-submission machinery.

course.yml gives each assignment a due date (``due``, in ``schedule.timezone`` unless it
says otherwise) and a late policy (its ``late``, else ``schedule.late``; see
:class:`autograder.config.LatePolicy`).  nbgrader does the rest, as it would for any
course:

* the due date goes into the gradebook's assignment (``Assignment.duedate``, UTC) when
  the assignment is released, and again whenever it is read here
  (:func:`sync_due_dates`), so a date changed in course.yml is the date used;
* nbgrader computes how late a submission is (``SubmittedAssignment.total_seconds_late``:
  its timestamp, from ``timestamp.txt``, against the due date plus any extension the
  student was given with nbgrader's ``grant_extension``);
* its ``AssignLatePenalties`` step asks the configured plugin for each notebook's
  penalty; :class:`CourseLatePenalty` (a ``LateSubmissionPlugin``) answers from
  course.yml, and ``nbgrader_config.py`` configures it, so plain ``nbgrader autograde``
  gives the same penalties as ``course autograde``;
* the penalty is stored per notebook (``SubmittedNotebook.late_submission_penalty``),
  and everything that shows a score (export, report, feedback) reads it from there.

A penalty is a share of the score, so it changes when a grader changes a score in the
formgrader, which nbgrader does not follow: :func:`refresh_penalties` applies the policy
again to every submission's current score (``course late``, and before ``course
export``, ``course report`` and ``course feedback``), writing only what changed.

Policy rules (held by ``tests/test_late.py``): a submission at most ``grace_minutes``
after the due date is on time; otherwise it is late by its days *or part of a day*
counted from the due date (one second late after the grace period is one day), and
``percent`` takes ``percent_per_day`` x days of the score, at most ``max_percent``;
``zero`` takes the whole score.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Dict

from .config import Course, LatePolicy

__all__ = ["CourseLatePenalty", "LateSubmission", "LateReport", "StudentDue", "penalty_fraction", "days_late",
           "describe", "duration", "local_time", "nbgrader_policies", "sync_due_dates", "refresh_penalties", "late_report",
           "grant_extension", "has_schedule", "utc_naive"]

DAY = 86400.0


def utc_naive(when: dt.datetime | None) -> dt.datetime | None:
    """An aware datetime as nbgrader stores times: naive, in UTC."""
    if when is None:
        return None
    return when.astimezone(dt.timezone.utc).replace(tzinfo=None)


def local_time(when: dt.datetime, zone: str) -> str:
    """A gradebook time (naive UTC, as nbgrader keeps it) in the time zone ``zone``
    (course.yml's ``schedule.timezone``), with the zone's abbreviation:
    ``2026-03-06 23:59 CET``.  How ``course late`` and the feedback pages show times."""
    from .config import time_zone

    aware = when if when.tzinfo is not None else when.replace(tzinfo=dt.timezone.utc)
    return aware.astimezone(time_zone(zone)).strftime("%Y-%m-%d %H:%M %Z")


def days_late(seconds_late: float) -> int:
    """Whole days or parts of a day after the due date (0 when on time)."""
    return math.ceil(seconds_late / DAY) if seconds_late > 0 else 0


def penalty_fraction(policy: LatePolicy, seconds_late: float) -> float:
    """The share of the score a submission ``seconds_late`` after its due date loses."""
    if seconds_late <= policy.grace_minutes * 60 or policy.policy == "none":
        return 0.0
    if policy.policy == "zero":
        return 1.0
    return min(policy.max_percent, policy.percent_per_day * days_late(seconds_late)) / 100.0


def describe(policy: LatePolicy) -> str:
    """The policy in words, for feedback pages and reports."""
    grace = f"; {policy.grace_minutes:g} min of grace" if policy.grace_minutes else ""
    if policy.policy == "none":
        return "no penalty for late work"
    if policy.policy == "zero":
        return f"late work scores 0{grace}"
    cap = f", at most {policy.max_percent:g}%" if policy.max_percent < 100 else ""
    return f"{policy.percent_per_day:g}% of the score per day or part of a day late{cap}{grace}"


def duration(seconds: float) -> str:
    """``1 day 2 h 5 min`` (minutes rounded up; ``0 min`` for nothing)."""
    minutes = math.ceil(max(seconds, 0) / 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days} day{'s' if days != 1 else ''}"] if days else []
    parts += [f"{hours} h"] if hours else []
    parts += [f"{minutes} min"] if minutes or not parts else []
    return " ".join(parts)


def nbgrader_policies(course: Course) -> dict[str, dict]:
    """Every assignment's policy as plain data, for :attr:`CourseLatePenalty.policies`."""
    return {a.id: course.late_policy(a).model_dump() for a in course.assignments}


class CourseLatePenalty(LateSubmissionPlugin):
    """nbgrader's late-submission plugin, answering from course.yml's policies.

    nbgrader's ``AssignLatePenalties`` step creates it for each notebook (as its child,
    so the assignment is the parent's ``assignment_id``) and calls
    :meth:`late_submission_penalty` when the submission is late.
    """

    policies = Dict(help="assignment id -> late policy (course.yml's, filled by nbgrader_adapter.configure)"
                    ).tag(config=True)

    def late_submission_penalty(self, student_id: str, score: float, total_seconds_late: float):
        assignment = getattr(self.parent, "assignment_id", None)
        data = self.policies.get(assignment)
        if data is None:  # an assignment course.yml does not know: nbgrader's own setting
            return super().late_submission_penalty(student_id, score, total_seconds_late)
        fraction = penalty_fraction(LatePolicy.model_validate(data), total_seconds_late)
        return None if fraction == 0 else fraction * (score or 0.0)


def sync_due_dates(course: Course, gb) -> list[str]:
    """Put course.yml's due dates into the gradebook's released assignments; the ids changed."""
    changed = []
    for a in gb.assignments:
        try:
            cfg = course.assignment(a.name)
        except KeyError:
            continue
        due = utc_naive(course.due_date(cfg))
        if a.duedate != due:
            a.duedate = due
            changed.append(a.name)
    if changed:
        gb.db.commit()
    return changed


@dataclass
class LateSubmission:
    """One submission after its due date (grace included), as the gradebook has it."""

    student: str
    assignment: str
    submitted: dt.datetime  # UTC, naive (nbgrader's)
    due: dt.datetime  # UTC, naive, with the student's extension
    seconds_late: float
    raw: float
    penalty: float
    policy: str

    @property
    def late_by(self) -> str:
        return duration(self.seconds_late)


@dataclass
class StudentDue:
    """One student's due date on one assignment, extension included, after ``course
    extension``: ``grace: slicing due 2026-03-09 23:59 CET (extension 2 days)``."""

    student: str
    assignment: str
    due: dt.datetime | None  # UTC, naive (nbgrader's), with the extension; None: no due date
    extension: dt.timedelta | None
    timezone: str = "UTC"  # course.yml's schedule.timezone

    def summary(self) -> str:
        from .display import visible

        given = f"extension {duration(self.extension.total_seconds())}" if self.extension else "no extension"
        who = f"{visible(self.student)}: {visible(self.assignment)}"
        if self.due is None:
            later = ", counted from the due date once course.yml gives one" if self.extension else ""
            return f"{who} has no due date in course.yml ({given}{later})"
        return f"{who} due {local_time(self.due, self.timezone)} ({given})"


@dataclass
class LateReport:
    """The late submissions of the course, and the penalties :func:`refresh_penalties` changed."""

    late: list[LateSubmission] = field(default_factory=list)
    updated: int = 0
    due_dates_changed: list[str] = field(default_factory=list)
    timezone: str = "UTC"  # the zone times are shown in: course.yml's schedule.timezone
    student_due: StudentDue | None = None  # course extension: the student's due date now

    def summary(self) -> str:
        """The student's due date after ``course extension`` (if that is what made the
        report), one line per late submission (times in :attr:`timezone`, as on the
        feedback pages: :func:`local_time`), then the counts."""
        from .display import visible

        lines = [self.student_due.summary()] if self.student_due is not None else []
        lines += [f"  {visible(s.student)}/{visible(s.assignment)}: submitted "
                  f"{local_time(s.submitted, self.timezone)}, due {local_time(s.due, self.timezone)}, {s.late_by} "
                  f"late; penalty {s.penalty:g} of {s.raw:g} ({s.policy})" for s in self.late]
        lines.append(f"{len(self.late)} late submissions; {self.updated} penalties updated"
                     + (f"; due dates updated from course.yml: {', '.join(self.due_dates_changed)}"
                        if self.due_dates_changed else ""))
        return "\n".join(lines)

    def table(self):
        from rich.table import Table

        from .display import text

        table = Table(title=f"Late submissions (times in {self.timezone})")
        for col, justify in (("student", "left"), ("assignment", "left"), ("submitted", "left"), ("due", "left"),
                             ("late by", "right"), ("raw", "right"), ("penalty", "right"), ("policy", "left")):
            table.add_column(col, justify=justify)
        for s in self.late:
            table.add_row(text(s.student), text(s.assignment), local_time(s.submitted, self.timezone),
                          local_time(s.due, self.timezone), s.late_by, f"{s.raw:g}", f"{s.penalty:g}", s.policy)
        return table


def _open(course: Course):
    from nbgrader.api import Gradebook

    from .gradebook import NoGradebook, db_url

    if not course.gradebook_file.is_file():
        raise NoGradebook(f"{course.gradebook_file}: no gradebook yet; run `course release` first")
    return Gradebook(db_url(course), course.course.id)


def refresh_penalties(course: Course, *, gb=None) -> LateReport:
    """Sync due dates, then apply each assignment's policy to every submission's current
    score (per notebook, as nbgrader does), writing only the penalties that changed.

    Raises NoGradebook (no gradebook) or GradebookUnavailable (locked by another program).
    """
    from .gradebook import reporting_unavailable

    if gb is None:
        with reporting_unavailable(course), _open(course) as own:
            return refresh_penalties(course, gb=own)
    report = LateReport(due_dates_changed=sync_due_dates(course, gb), timezone=course.schedule.timezone)
    known = {a.id: a for a in course.assignments}
    dirty = False
    for assignment in gb.assignments:
        cfg = known.get(assignment.name)
        if cfg is None:
            continue
        policy = course.late_policy(cfg)
        for sub in assignment.submissions:
            seconds = sub.total_seconds_late
            fraction = penalty_fraction(policy, seconds)
            for nb in sub.notebooks:
                score = float(nb.score or 0.0)
                wanted = min(score, fraction * score) if fraction else None
                current = nb.late_submission_penalty
                if (current or 0.0) != (wanted or 0.0) or (current is None) != (wanted is None):
                    nb.late_submission_penalty = wanted
                    report.updated += 1
                    dirty = True
            if seconds > policy.grace_minutes * 60 and sub.timestamp is not None and sub.duedate is not None:
                raw = sum(float(nb.score or 0.0) for nb in sub.notebooks)
                penalty = sum(float(nb.late_submission_penalty or 0.0) for nb in sub.notebooks)
                report.late.append(LateSubmission(sub.student.id, assignment.name, sub.timestamp, sub.duedate,
                                                  seconds, raw, penalty, describe(policy)))
    if dirty:
        gb.db.commit()
    order = {a.id: i for i, a in enumerate(course.assignments)}
    report.late.sort(key=lambda s: (order.get(s.assignment, 0), s.student))
    return report


def grant_extension(course: Course, *, assignment: str, student: str, days: float = 0,
                    hours: float = 0) -> LateReport:
    """Give ``student`` more time on ``assignment`` (nbgrader's extension: it moves that
    student's due date; 0 takes it back), then apply the policies again.  The report's
    :attr:`LateReport.student_due` is the student's due date now.

    nbgrader keeps an extension on the student's submission.  A student on the roster
    (the gradebook's students) who has not submitted yet gets an empty submission to hold
    it (nbgrader's ``add_submission``: no time, nothing graded), so an extension can be
    granted before the due date: nbgrader's autograde and ``course autograde`` fill that
    submission in when the work comes (they update an existing submission, extension
    kept), and until then it counts as missing
    (:func:`autograder.gradebook.holds_only_an_extension`).  Taking such an extension back
    removes the empty submission again.

    Raises NotFound for an unknown assignment, one not released yet (it is not in the
    gradebook), or a student not on the roster.
    """
    import warnings

    from nbgrader.api import MissingEntry
    from sqlalchemy.exc import SAWarning

    from .errors import NotFound
    from .gradebook import holds_only_an_extension, reporting_unavailable
    from .lock import course_lock

    course.assignment(assignment)
    with course_lock(course, "extension"), reporting_unavailable(course), _open(course) as gb:
        try:
            gb.find_assignment(assignment)
        except MissingEntry:
            raise NotFound(f"{assignment!r} is not released yet: run `course release {assignment}` first "
                           "(nbgrader keeps extensions in the gradebook, which knows an assignment once released)"
                           ) from None
        try:
            gb.find_student(student)
        except MissingEntry:
            raise NotFound(f"unknown student {student!r}: not on the roster (see `course roster list`; "
                           "`course roster import` adds students)") from None
        try:
            sub = gb.find_submission(assignment, student)
        except MissingEntry:
            sub = None
        if days or hours:
            if sub is None:  # not submitted yet: an empty submission holds the extension
                with warnings.catch_warnings():  # SQLAlchemy's "not in session" about nbgrader's objects: harmless
                    warnings.filterwarnings("ignore", message="Object of type <Submitted", category=SAWarning)
                    gb.add_submission(assignment, student)
            gb.grant_extension(assignment, student, days=days, hours=hours)
        elif sub is not None and holds_only_an_extension(sub):
            gb.remove_submission(assignment, student)  # taken back before anything was submitted
        elif sub is not None:
            gb.grant_extension(assignment, student)  # taken back
        report = refresh_penalties(course, gb=gb)  # (due dates from course.yml first)
        base = gb.find_assignment(assignment).duedate
        try:
            extension = gb.find_submission(assignment, student).extension
        except MissingEntry:  # an extension taken back before the student submitted
            extension = None
        due = None if base is None else base + (extension or dt.timedelta(0))
        report.student_due = StudentDue(student, assignment, due, extension, course.schedule.timezone)
        return report


def late_report(course: Course) -> LateReport:
    """``course late``: :func:`refresh_penalties`, holding the course's lock."""
    from .lock import course_lock

    with course_lock(course, "late"):
        return refresh_penalties(course)


def has_schedule(course: Course) -> bool:
    """Whether any assignment has a due date (else there is nothing to refresh)."""
    return any(a.due is not None for a in course.assignments)
