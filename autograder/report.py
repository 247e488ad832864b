"""``course report``: how the class did, for the instructor.

:func:`class_report` reads nbgrader's gradebook (through
:func:`autograder.gradebook.read_gradebook`, after bringing late penalties up to date)
and writes every output of :data:`OUTPUTS` under ``reports/`` by default:

* ``questions.csv``: one row per question, assignments and questions in course.yml
  order, with the number of submissions counted, how many scored full points, the
  pass rate (that fraction), the mean score, how many answers still wait for a grader,
  and ``hardest`` marking the question(s) with the lowest pass rate of their assignment
  (only when that rate is below 1);
* ``assignments.csv``: one row per assignment: students, submitted, missing, not yet
  graded, late (after the grace period), waiting for a grader, late penalties given,
  mean final total;
* ``manual.csv``: what still needs grading by hand: one row per answer (student,
  assignment, question, points);
* ``totals.png``: one histogram of final totals per assignment (one subplot each,
  course order, x axis from 0 to the assignment's maximum, y axis in whole submissions);
* ``passrates.png``: every question's pass rate as a bar, the hardest first.

Decisions (held by ``tests/test_instructor_tools.py`` and ``tests/test_one_verdict.py``):

* Pass rates and means count graded submissions only: a missing submission (no
  submission in the gradebook) and a submission not autograded yet are EXCLUDED, not
  counted as 0; their numbers are in the ``missing`` and ``not_graded`` columns.  An
  answer waiting for a grader is excluded from its question's rate (``awaiting_grader``).
  A question with no graded submission has an empty pass rate and mean.
* "Full points" means a score within 1e-9 of the question's points in course.yml.
* A gradebook with students but no graded submission still gives the CSV files
  (counts of 0, empty rates) and no PNG; :attr:`ClassReport.message` says why.  An
  assignment without graded submissions gets a subplot saying so.
* Figures are drawn with matplotlib's object API on an Agg canvas (no pyplot, no
  global state) and kept in :attr:`ClassReport.figure` (totals) and
  :attr:`ClassReport.passrate_figure`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from .config import Course
from .display import visible
from .fileio import atomic_write_bytes, atomic_write_text
from .gradebook import GRADED, MISSING, NEEDS_MANUAL, NOT_GRADED, read_gradebook
from .export.base import number
from .late import has_schedule, refresh_penalties

__all__ = ["QuestionStats", "AssignmentStats", "ClassReport", "class_report", "COLUMNS", "OUTPUTS"]

COUNTED = (GRADED, NEEDS_MANUAL)
COLUMNS = ["assignment", "question", "max_points", "submissions", "missing", "not_graded",
           "full_points", "pass_rate", "mean_score", "awaiting_grader", "hardest"]
ASSIGNMENT_COLUMNS = ["assignment", "students", "submitted", "missing", "not_graded", "late", "penalized",
                      "awaiting_grader", "mean_total", "max_points"]
EXCLUSION_NOTE = ("pass rate = fraction of graded submissions with full points; "
                  "missing and not-yet-graded submissions are excluded")


@dataclass
class QuestionStats:
    """Class statistics of one question."""

    assignment: str
    question: str
    max_points: float
    submissions: int  # graded submissions counted
    missing: int
    not_graded: int
    full_points: int
    pass_rate: float | None  # None: no graded submission
    mean_score: float | None
    hardest: bool = False
    awaiting_grader: int = 0  # answers a grader has not scored yet (excluded from the rate)

    def as_row(self) -> dict:
        def fmt(x):
            return "" if x is None else round(x, 4)

        return {
            "assignment": self.assignment, "question": self.question, "max_points": number(self.max_points),
            "submissions": self.submissions, "missing": self.missing, "not_graded": self.not_graded,
            "full_points": self.full_points, "pass_rate": fmt(self.pass_rate), "mean_score": fmt(self.mean_score),
            "awaiting_grader": self.awaiting_grader, "hardest": "yes" if self.hardest else "",
        }


@dataclass
class AssignmentStats:
    """How many submitted one assignment, late, missing, and what is left to grade."""

    assignment: str
    students: int
    submitted: int
    missing: int
    not_graded: int
    late: int  # after the grace period
    penalized: int  # late with a penalty above 0
    awaiting_grader: int  # submissions with at least one answer a grader has not scored
    mean_total: float | None
    max_points: float

    def as_row(self) -> dict:
        row = {k: getattr(self, k) for k in ASSIGNMENT_COLUMNS}
        row["mean_total"] = "" if self.mean_total is None else round(self.mean_total, 4)
        row["max_points"] = number(self.max_points)
        return row


@dataclass
class ClassReport:
    """Per-question statistics, per-assignment totals and the files written."""

    rows: list[QuestionStats]
    totals: dict[str, list[float]]  # assignment -> final totals of graded submissions
    csv_path: Path
    png_path: Path | None
    figure: object | None = None  # matplotlib Figure of totals, None when nothing was plotted
    message: str = ""
    students: int = 0
    notes: list[str] = field(default_factory=lambda: [EXCLUSION_NOTE])
    assignments: list[AssignmentStats] = field(default_factory=list)
    awaiting: list[tuple[str, str, str, float]] = field(default_factory=list)  # (student, assignment, question, points)
    passrate_figure: object | None = None
    paths: dict[str, Path] = field(default_factory=dict)  # output name -> file written

    @property
    def hardest(self) -> list[QuestionStats]:
        return [r for r in self.rows if r.hardest]

    def table(self):
        """The per-question statistics as a rich Table."""
        from rich.table import Table

        from .display import text

        table = Table(title="Questions: pass rates and mean scores", caption=EXCLUSION_NOTE)
        for col, justify in (("assignment", "left"), ("question", "left"), ("max", "right"),
                             ("graded", "right"), ("missing", "right"), ("pass rate", "right"),
                             ("mean", "right"), ("to grade", "right"), ("", "left")):
            table.add_column(col, justify=justify)
        for r in self.rows:
            rate = "-" if r.pass_rate is None else f"{r.pass_rate:.0%}"
            mean = "-" if r.mean_score is None else f"{r.mean_score:.2f}"
            table.add_row(text(r.assignment), text(r.question), f"{r.max_points:g}", str(r.submissions),
                          str(r.missing), rate, mean, str(r.awaiting_grader or ""),
                          text("hardest", "bold red") if r.hardest else "")
        return table

    def summary(self) -> str:
        written = [self.csv_path, *[p for name, p in self.paths.items() if p != self.csv_path]]
        lines = [f"class report for {self.students} students: {', '.join(visible(p) for p in written)}"]
        if self.message:
            lines.append(self.message)
        for a in self.assignments:
            if a.submitted - a.not_graded > 0 and a.mean_total is not None:
                lines.append(f"  {a.assignment}: {a.submitted} of {a.students} submitted, {a.missing} missing, "
                             f"{a.late} late ({a.penalized} with a penalty), {a.awaiting_grader} waiting for a "
                             f"grader; mean total {a.mean_total:.2f} of {a.max_points:g}")
            else:
                lines.append(f"  {a.assignment}: no graded submissions ({a.submitted} of {a.students} submitted, "
                             f"{a.missing} missing)")
        for r in self.hardest:
            lines.append(f"  hardest in {r.assignment}: {r.question} (pass rate {r.pass_rate:.0%})")
        if self.awaiting:
            lines.append(f"  still to grade by hand: {len(self.awaiting)} answers (manual.csv), in the formgrader:")
            lines += [f"    {visible(s)}/{visible(a)}: {visible(q)}" for s, a, q, _ in self.awaiting[:20]]
            if len(self.awaiting) > 20:
                lines.append(f"    ... and {len(self.awaiting) - 20} more")
        lines.append(f"  ({EXCLUSION_NOTE})")
        return "\n".join(lines)


def _histograms(course: Course, totals: dict[str, list[float]]):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    n = len(course.assignments)
    fig = Figure(figsize=(6, 2.8 * n), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(n, 1, squeeze=False)[:, 0]
    for ax, a in zip(axes, course.assignments, strict=True):
        values = totals[a.id]
        ax.set_title(f"{a.title} ({a.id})", fontsize=9)
        ax.set_xlim(0, a.total)
        ax.set_xlabel(f"total points (of {a.total:g}, after late penalties)")
        ax.set_ylabel("submissions")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # whole submissions
        if values:
            bins = max(1, min(20, int(round(a.total)) + 1))
            ax.hist(values, bins=bins, range=(0, a.total), color="#4477aa", edgecolor="white")
            ax.axvline(sum(values) / len(values), color="#cc3311", linestyle="--", label="mean")
            ax.legend(loc="upper left", fontsize=8)
        else:
            ax.text(0.5, 0.5, "no graded submissions", ha="center", va="center", transform=ax.transAxes)
    return fig


def _csv(columns: list[str], rows: list[dict]) -> str:
    from .export.formats import spreadsheet_text

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: spreadsheet_text(v) if isinstance(v, str) else v for k, v in row.items()})
    return buf.getvalue()


def _questions_csv(course: Course, report: ClassReport, out_dir: Path) -> Path:
    """``questions.csv``: one row per question (see the module docstring)."""
    path = out_dir / "questions.csv"
    atomic_write_text(path, _csv(COLUMNS, [r.as_row() for r in report.rows]))
    report.csv_path = path
    return path


def _assignments_csv(course: Course, report: ClassReport, out_dir: Path) -> Path:
    """``assignments.csv``: submitted, missing, late and waiting counts per assignment."""
    path = out_dir / "assignments.csv"
    atomic_write_text(path, _csv(ASSIGNMENT_COLUMNS, [a.as_row() for a in report.assignments]))
    return path


def _manual_csv(course: Course, report: ClassReport, out_dir: Path) -> Path:
    """``manual.csv``: every answer still waiting for a grader."""
    path = out_dir / "manual.csv"
    rows = [{"student": st, "assignment": a, "question": q, "points": number(pts)} for st, a, q, pts in report.awaiting]
    atomic_write_text(path, _csv(["student", "assignment", "question", "points"], rows))
    return path


def _passrates(report: ClassReport):
    """Every question's pass rate, hardest first (at the top)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rated = sorted((r for r in report.rows if r.pass_rate is not None),
                   key=lambda r: (r.pass_rate, r.mean_score / r.max_points if r.mean_score is not None else 0))
    fig = Figure(figsize=(7, 1.2 + 0.32 * len(rated)), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    labels = [f"{r.assignment}: {r.question}" for r in rated]
    rates = [100 * r.pass_rate for r in rated]
    y = list(range(len(rated)))[::-1]  # the hardest at the top
    colours = ["#cc3311" if r.hardest else "#4477aa" for r in rated]
    ax.barh(y, rates, color=colours)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlim(0, 100)
    ax.set_xlabel("pass rate: graded submissions with full points (%)")
    ax.set_title("Questions, hardest first (red: hardest of its assignment)", fontsize=9)
    for yi, r, rate in zip(y, rated, rates, strict=True):
        ax.text(min(rate + 1, 88), yi, f"{rate:.0f}% of {r.submissions}", va="center", fontsize=7)
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def _passrates_png(course: Course, report: ClassReport, out_dir: Path) -> Path | None:
    """``passrates.png``: the pass rate of every question, hardest first (None: nothing graded)."""
    if not any(r.pass_rate is not None for r in report.rows):
        return None
    fig = _passrates(report)
    path = out_dir / "passrates.png"
    atomic_write_bytes(path, _png(fig))
    report.passrate_figure = fig
    return path


def _totals_png(course: Course, report: ClassReport, out_dir: Path) -> Path | None:
    """``totals.png``: a histogram of totals per assignment (None when nothing is graded)."""
    if not any(report.totals.values()):
        report.message = (f"no graded submissions in the gradebook ({report.students} students): "
                          "nothing to plot; questions.csv has counts of 0")
        return None
    fig = _histograms(course, report.totals)
    path = out_dir / "totals.png"
    atomic_write_bytes(path, _png(fig))
    report.png_path, report.figure = path, fig
    return path


#: What ``course report`` writes, in order: name -> writer(course, report, out_dir),
#: which returns the path written (or None) and may set fields of the report.  A new
#: output is one more function here.
OUTPUTS = {"questions.csv": _questions_csv, "assignments.csv": _assignments_csv, "manual.csv": _manual_csv,
           "totals.png": _totals_png, "passrates.png": _passrates_png}


def class_report(course: Course, *, out_dir: Path | None = None) -> ClassReport:
    """Compute the class statistics and write every output of :data:`OUTPUTS` to
    ``out_dir`` (default ``reports/``).

    Raises
    ------
    NoGradebook
        The course has no gradebook yet.
    """
    out_dir = Path(out_dir) if out_dir is not None else course.reports_dir
    if has_schedule(course) and course.gradebook_file.is_file():
        refresh_penalties(course)
    data = read_gradebook(course)
    rows: list[QuestionStats] = []
    totals: dict[str, list[float]] = {}
    assignments: list[AssignmentStats] = []
    awaiting: list[tuple[str, str, str, float]] = []
    for a in course.assignments:
        subs = [data.get(s, a.id) for s in data.students]
        counted = [s for s in subs if s.status in COUNTED]
        missing = sum(s.status == MISSING for s in subs)
        not_graded = sum(s.status == NOT_GRADED for s in subs)
        totals[a.id] = [float(s.total or 0.0) for s in counted]
        grace = course.late_policy(a).grace_minutes * 60
        late = [s for s in subs if s.status != MISSING and s.duedate is not None and s.seconds_late > grace]
        waiting = {s.student: _awaiting(a, s) for s in counted}
        for s in counted:
            awaiting += [(s.student, a.id, q.id, q.points) for q in waiting[s.student]]
        assignments.append(AssignmentStats(
            a.id, len(subs), len(subs) - missing, missing, not_graded, len(late), sum(s.penalty > 0 for s in late),
            sum(bool(w) for w in waiting.values()),
            sum(totals[a.id]) / len(counted) if counted else None, a.total))
        stats = []
        for q in a.questions:
            pending = sum(q in waiting[s.student] for s in counted)
            scores = [s.questions[q.id] or 0.0 for s in counted if q not in waiting[s.student]]
            full = sum(v >= q.points - 1e-9 for v in scores)
            n = len(scores)
            stats.append(QuestionStats(a.id, q.id, q.points, n, missing, not_graded, full,
                                       full / n if n else None, sum(scores) / n if n else None,
                                       awaiting_grader=pending))
        rated = [r.pass_rate for r in stats if r.pass_rate is not None]
        if rated and min(rated) < 1:
            for r in stats:
                r.hardest = r.pass_rate == min(rated)
        rows += stats
    report = ClassReport(rows, totals, out_dir / "questions.csv", None, students=len(data.students),
                         assignments=assignments, awaiting=awaiting)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, write in OUTPUTS.items():
        path = write(course, report, out_dir)
        if path is not None:
            report.paths[name] = path
    return report


def _awaiting(a, scores) -> list:
    """The questions of ``a`` whose answer in ``scores`` waits for a grader."""
    waiting = set(scores.awaiting_grader)
    return [q for q in a.questions if q.id in waiting or (q.manual and scores.questions.get(q.id) is None)]
