"""``course similarity``: which submissions share their code, with the evidence side by side.

In a numeric course on fixed data many *answers* are identical, as they should be;
this finds students who share *code*.  Nothing leaves the machine.

For every assignment, every pair of students (the folders of ``submitted/`` that hold
the assignment) is compared on the cells the students wrote: the solution cells of
the release notebook and the cells they added (:mod:`._extract`; test, locked and
instructor cells are never read).  Each cell is normalised (:mod:`._normalize`):
starter code of the release notebook removed, the student's own variable names,
comments, spacing and string contents made irrelevant, independent statements put in
a canonical order.  The token streams are fingerprinted by winnowing (:mod:`._winnow`,
Schleimer, Wilkerson and Aiken 2003), per question and for the whole notebook, and a
pair's score on each is the share of the smaller side's *distinctive* code that the
other has too, fingerprints being weighted by how few students of the class have them.

Why not copydetect (Lingenfelter's MOSS-like package, MIT, which was evaluated for
this): its winnowing is the same algorithm, but (1) its tokenizer turns *every* name
into ``V``, the NumPy function called included, so ``img.sum(axis=1)`` and
``img.mean(axis=1)`` are the same code to it, in a course whose short answers differ
mostly by the function they call; (2) it hashes k-grams with Python's ``hash``,
which is salted per process, so the fingerprints chosen, and the scores, change from
run to run; (3) it compares files, weighs no fingerprint by how common it is in the
class, reorders nothing, and removes boilerplate by fingerprint, which keeps the
k-grams that straddle given and written code; (4) it imports ``matplotlib.pyplot``
and ``tqdm`` and writes its own report.  Measured on the test class (46 students,
``tests/similarity_class.py``), fed the same extracted cells with the release
notebook as boilerplate and its default settings, it separates whole copied notebooks
as well as this does (0.94 to 1.0 against honest pairs up to 0.52 to 0.61), but the
best honest score of one class moved from 0.55 to 0.58 to 0.61 between three runs
(``PYTHONHASHSEED``), and the one cell copied out of eight ranked below 1 to 116
honest pairs (here: above all of them).  What it would have given us, the winnowing
and the slices to highlight, is a few dozen lines here; the rest (notebook cells,
starter-code removal, AST normalisation, per-question scores, class rarity) had to be
written either way.

Outputs, under ``reports/similarity/`` by default:

* ``similarity.csv``: EVERY pair of every assignment compared (a class of 200 gives
  19,900 rows per assignment), highest score first, so that any threshold can be
  applied afterwards;
* ``<assignment>-heatmap.png``: the scores of the class, students ordered so that
  groups sit together;
* ``<assignment>/<a>--<b>.html``: one self-contained page per flagged pair (score at
  or above the threshold), their cells side by side per question, shared code
  marked;
* :meth:`SimilarityReport.table`: the ranked pairs for the terminal.

The default threshold, :data:`DEFAULT_THRESHOLD` = 0.7, was chosen from synthetic
classes made from this course's release notebook (``tests/similarity_class.py``): over
seven classes of 46 and 206 students, honest pairs who follow the same recipe scored
at most 0.66 (the largest honest score seen, typically two students who wrote the
same short answer to one question), whole notebooks copied and disguised (variables
renamed, lines reordered, comments changed) at least 0.79.  One long cell copied out
of eight scored 0.57 to 0.72: it ranks above every honest pair in a class of 46 but
is not always flagged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import Course
from ..errors import BadInput
from ._compare import ClassAnalysis, PairScore, Skipped, analyse_assignment
from ._render import pair_filename, remove_old_pages, write_csv, write_heatmap, write_pair_page

__all__ = ["DEFAULT_THRESHOLD", "SimilarityReport", "PairScore", "Skipped", "similarity_report"]

DEFAULT_THRESHOLD = 0.7
CSV_NAME = "similarity.csv"


@dataclass
class SimilarityReport:
    """What :func:`similarity_report` found and wrote.

    Attributes
    ----------
    pairs : list of PairScore
        Every pair of every assignment compared, highest score first.
    skipped : list of Skipped
        Notebooks that could not be read (not JSON, not a notebook, a symbolic link...),
        with the reason; their student is compared on their other notebooks, if any.
    threshold : float
        Pairs with ``score >= threshold`` are flagged.
    csv_path : Path
        ``similarity.csv``: every pair.
    heatmap_paths : dict of str to Path
        One PNG per assignment with at least two students.
    html_paths : list of Path
        One page per flagged pair.
    students : dict of str to int
        Number of students compared per assignment.
    """

    pairs: list[PairScore]
    skipped: list[Skipped]
    threshold: float
    out_dir: Path
    csv_path: Path
    heatmap_paths: dict[str, Path] = field(default_factory=dict)
    html_paths: list[Path] = field(default_factory=list)
    students: dict[str, int] = field(default_factory=dict)

    @property
    def flagged(self) -> list[PairScore]:
        """The pairs at or above the threshold, highest first."""
        return [p for p in self.pairs if p.flagged]

    def table(self, context: int = 5):
        """The flagged pairs and the ``context`` highest below the threshold, as a rich Table.

        Student ids and question ids are plain :class:`rich.text.Text` (no markup).
        """
        from rich.table import Table
        from rich.text import Text

        shown = self.flagged + [p for p in self.pairs if not p.flagged][:context]
        table = Table(title=f"Shared code: {len(self.flagged)} of {len(self.pairs)} pairs at or above "
                            f"{self.threshold:.2f}",
                      caption="score: share of the smaller side's distinctive code that the other has too "
                              "(0 to 1); a reason to look, not proof")
        for col, justify in (("#", "right"), ("assignment", "left"), ("pair", "left"), ("score", "right"),
                             ("notebook", "right"), ("questions shared", "left")):
            table.add_column(col, justify=justify)
        for rank, p in enumerate(shown, start=1):
            style = "bold red" if p.flagged else "dim"
            pair = Text(p.student_a)
            pair.append(" & ")
            pair.append(p.student_b)
            table.add_row(Text(str(rank)), Text(p.assignment), pair, Text(f"{p.score:.2f}", style=style),
                          Text(f"{p.notebook_score:.2f}"), Text(", ".join(p.questions_shared) or "-"))
        return table

    def summary(self) -> str:
        """A few lines of plain text: counts, files written, notebooks skipped."""
        lines = [f"similarity: {len(self.pairs)} pairs compared in {len(self.students)} assignment(s), "
                 f"{len(self.flagged)} at or above {self.threshold:.2f}"]
        lines += [f"  {a}: {n} students" for a, n in self.students.items()]
        lines.append(f"  table of every pair: {self.csv_path}")
        lines += [f"  heat map: {p}" for p in self.heatmap_paths.values()]
        if self.html_paths:
            lines.append(f"  {len(self.html_paths)} side-by-side page(s) in {self.out_dir}")
        lines += [f"  skipped {s}" for s in self.skipped]
        return "\n".join(lines)


def similarity_report(course: Course, *, assignments: list[str] | None = None, out_dir: Path | None = None,
                      threshold: float | None = None) -> SimilarityReport:
    """Compare every pair of students' code, per assignment, and write the report.

    Parameters
    ----------
    course : Course
        The course; submissions are read from ``course.root / "submitted"`` and the
        starter code from its release notebooks.
    assignments : list of str, optional
        Assignment ids (default: every assignment of course.yml).
    out_dir : Path, optional
        Where the CSV, heat maps and pages go (default ``reports/similarity/``).
    threshold : float, optional
        Pairs whose score reaches it are flagged and get a page (default: course.yml's
        ``similarity.threshold``, :data:`DEFAULT_THRESHOLD` unless set).

    Returns
    -------
    SimilarityReport

    Raises
    ------
    NotFound
        An assignment id that course.yml does not declare.
    BadInput
        A threshold that is not a number between 0 and 1.
    NotFound
        A release notebook is missing (run ``course release`` first).
    """
    threshold = course.similarity.threshold if threshold is None else float(threshold)
    if not (math.isfinite(threshold) and 0.0 <= threshold <= 1.0):
        raise BadInput(f"the similarity threshold must be a number from 0 to 1, got {threshold!r}")
    out_dir = Path(out_dir) if out_dir is not None else course.reports_dir / "similarity"
    chosen = [course.assignment(a) for a in assignments] if assignments else list(course.assignments)
    submitted = course.folder("submitted")
    pairs: list[PairScore] = []
    skipped: list[Skipped] = []
    report = SimilarityReport(pairs, skipped, threshold, out_dir, out_dir / CSV_NAME)
    for assignment in chosen:
        analysis = analyse_assignment(course, assignment, submitted)
        skipped += analysis.skipped
        report.students[assignment.id] = len(analysis.students)
        found = analysis.pairs(threshold)
        pairs += found
        _write_assignment(report, analysis, found)
    pairs.sort(key=lambda p: (-p.score, p.assignment, p.student_a, p.student_b))
    write_csv(report.csv_path, pairs)
    return report


def _write_assignment(report: SimilarityReport, analysis: ClassAnalysis, pairs: list[PairScore]) -> None:
    folder = report.out_dir / analysis.assignment.id
    remove_old_pages(folder)
    for p in pairs:
        if p.flagged:
            p.html_path = folder / pair_filename(p.student_a, p.student_b)
            write_pair_page(p.html_path, analysis, p, report.threshold)
            report.html_paths.append(p.html_path)
    n = len(analysis.students)
    if n >= 2:
        matrix = np.zeros((n, n))
        index = {s: i for i, s in enumerate(analysis.students)}
        for p in pairs:
            i, j = index[p.student_a], index[p.student_b]
            matrix[i, j] = matrix[j, i] = p.score
        path = report.out_dir / f"{analysis.assignment.id}-heatmap.png"
        write_heatmap(path, analysis, matrix, report.threshold)
        report.heatmap_paths[analysis.assignment.id] = path
