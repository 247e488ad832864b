"""``course report``: how the class did, for the instructor.

:func:`class_report` reads nbgrader's gradebook (through
:func:`autograder.gradebook.read_gradebook`) and writes, under ``reports/`` by default:

* ``totals.png``: one histogram of submission totals per assignment (one subplot each,
  course order, x axis from 0 to the assignment's maximum);
* ``questions.csv``: one row per question, assignments and questions in course.yml
  order, with the number of submissions counted, how many scored full points, the
  pass rate (that fraction), the mean score, and ``hardest`` marking the question(s)
  with the lowest pass rate of their assignment (only when that rate is below 1).

Decisions (held by ``tests/test_instructor_tools.py``):

* Pass rates and means count graded submissions only: a missing submission (no
  submission in the gradebook) and a submission not autograded yet are EXCLUDED, not
  counted as 0; their numbers are in the ``missing`` and ``not_graded`` columns.  A
  question with no graded submission has an empty pass rate and mean.
* "Full points" means a score within 1e-9 of the question's points in course.yml.
* A gradebook with students but no graded submission still gives ``questions.csv``
  (counts of 0, empty rates) and no PNG; :attr:`ClassReport.message` says why.  An
  assignment without graded submissions gets a subplot saying so.
* The figure is drawn with matplotlib's object API on an Agg canvas (no pyplot, no
  global state) and kept in :attr:`ClassReport.figure`.
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

__all__ = ["QuestionStats", "ClassReport", "class_report", "COLUMNS"]

COUNTED = (GRADED, NEEDS_MANUAL)
COLUMNS = ["assignment", "question", "max_points", "submissions", "missing", "not_graded",
           "full_points", "pass_rate", "mean_score", "hardest"]
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

    def as_row(self) -> dict:
        def fmt(x):
            return "" if x is None else round(x, 4)

        return {
            "assignment": self.assignment, "question": self.question, "max_points": f"{self.max_points:g}",
            "submissions": self.submissions, "missing": self.missing, "not_graded": self.not_graded,
            "full_points": self.full_points, "pass_rate": fmt(self.pass_rate), "mean_score": fmt(self.mean_score),
            "hardest": "yes" if self.hardest else "",
        }


@dataclass
class ClassReport:
    """Per-question statistics, per-assignment totals and the files written."""

    rows: list[QuestionStats]
    totals: dict[str, list[float]]  # assignment -> totals of graded submissions
    csv_path: Path
    png_path: Path | None
    figure: object | None = None  # matplotlib Figure, None when nothing was plotted
    message: str = ""
    students: int = 0
    notes: list[str] = field(default_factory=lambda: [EXCLUSION_NOTE])

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
                             ("mean", "right"), ("", "left")):
            table.add_column(col, justify=justify)
        for r in self.rows:
            rate = "-" if r.pass_rate is None else f"{r.pass_rate:.0%}"
            mean = "-" if r.mean_score is None else f"{r.mean_score:.2f}"
            table.add_row(text(r.assignment), text(r.question), f"{r.max_points:g}", str(r.submissions),
                          str(r.missing), rate, mean, text("hardest", "bold red") if r.hardest else "")
        return table

    def summary(self) -> str:
        lines = [f"class report for {self.students} students: {visible(self.csv_path)}"
                 + (f", {visible(self.png_path)}" if self.png_path else "")]
        if self.message:
            lines.append(self.message)
        for aid, totals in self.totals.items():
            if totals:
                mean = sum(totals) / len(totals)
                lines.append(f"  {aid}: {len(totals)} graded submissions, mean total {mean:.2f}")
            else:
                lines.append(f"  {aid}: no graded submissions")
        for r in self.hardest:
            lines.append(f"  hardest in {r.assignment}: {r.question} (pass rate {r.pass_rate:.0%})")
        lines.append(f"  ({EXCLUSION_NOTE})")
        return "\n".join(lines)


def _histograms(course: Course, totals: dict[str, list[float]]):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = len(course.assignments)
    fig = Figure(figsize=(6, 2.8 * n), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(n, 1, squeeze=False)[:, 0]
    for ax, a in zip(axes, course.assignments, strict=True):
        values = totals[a.id]
        ax.set_title(f"{a.title} ({a.id})", fontsize=9)
        ax.set_xlim(0, a.total)
        ax.set_xlabel(f"total points (of {a.total:g})")
        ax.set_ylabel("submissions")
        if values:
            bins = max(1, min(20, int(round(a.total)) + 1))
            ax.hist(values, bins=bins, range=(0, a.total), color="#4477aa", edgecolor="white")
            ax.axvline(sum(values) / len(values), color="#cc3311", linestyle="--", label="mean")
            ax.legend(loc="upper left", fontsize=8)
        else:
            ax.text(0.5, 0.5, "no graded submissions", ha="center", va="center", transform=ax.transAxes)
    return fig


def _questions_csv(course: Course, report: ClassReport, out_dir: Path) -> Path:
    """``questions.csv``: one row per question (see the module docstring)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in report.rows:
        writer.writerow(r.as_row())
    path = out_dir / "questions.csv"
    atomic_write_text(path, buf.getvalue())
    report.csv_path = path
    return path


def _totals_png(course: Course, report: ClassReport, out_dir: Path) -> Path | None:
    """``totals.png``: a histogram of totals per assignment (None when nothing is graded)."""
    if not any(report.totals.values()):
        report.message = (f"no graded submissions in the gradebook ({report.students} students): "
                          "nothing to plot; questions.csv has counts of 0")
        return None
    fig = _histograms(course, report.totals)
    path = out_dir / "totals.png"
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    atomic_write_bytes(path, buf.getvalue())
    report.png_path, report.figure = path, fig
    return path


#: What ``course report`` writes, in order: name -> writer(course, report, out_dir),
#: which returns the path written (or None) and may set fields of the report.  A new
#: output is one more function here.
OUTPUTS = {"questions.csv": _questions_csv, "totals.png": _totals_png}


def class_report(course: Course, *, out_dir: Path | None = None) -> ClassReport:
    """Compute the class statistics and write every output of :data:`OUTPUTS` to
    ``out_dir`` (default ``reports/``).

    Raises
    ------
    NoGradebook
        The course has no gradebook yet.
    """
    out_dir = Path(out_dir) if out_dir is not None else course.reports_dir
    data = read_gradebook(course)
    rows: list[QuestionStats] = []
    totals: dict[str, list[float]] = {}
    for a in course.assignments:
        subs = [data.get(s, a.id) for s in data.students]
        counted = [s for s in subs if s.status in COUNTED]
        missing = sum(s.status == MISSING for s in subs)
        not_graded = sum(s.status == NOT_GRADED for s in subs)
        totals[a.id] = [float(s.total or 0.0) for s in counted]
        stats = []
        for q in a.questions:
            scores = [s.questions[q.id] or 0.0 for s in counted]
            full = sum(v >= q.points - 1e-9 for v in scores)
            n = len(scores)
            stats.append(QuestionStats(a.id, q.id, q.points, n, missing, not_graded, full,
                                       full / n if n else None, sum(scores) / n if n else None))
        rated = [r.pass_rate for r in stats if r.pass_rate is not None]
        if rated and min(rated) < 1:
            for r in stats:
                r.hardest = r.pass_rate == min(rated)
        rows += stats
    report = ClassReport(rows, totals, out_dir / "questions.csv", None, students=len(data.students))
    out_dir.mkdir(parents=True, exist_ok=True)
    for write in OUTPUTS.values():
        write(course, report, out_dir)
    return report
