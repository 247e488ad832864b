"""One assignment's class: read the submissions, normalise, fingerprint, score every pair."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import Assignment, Course
from ..errors import NotFound
from ._extract import OTHER, NotebookError, Release, StudentCell, read_release, read_submission, student_cells
from ._normalize import NormalizedCell, bound_names, guess_bound_names, normalize_cell, parse
from ._winnow import K, fingerprints, kgram_hashes, rarity, score_unit, token_hashes

__all__ = ["Skipped", "PairScore", "ClassAnalysis", "analyse_assignment", "CELL_BREAK"]

CELL_BREAK = "|"  # token between two cells of one question
SHARED_LEVEL = 0.5  # a question is listed as shared when its own score reaches this


@dataclass(frozen=True)
class Skipped:
    """A notebook that was not compared, and why."""

    student: str
    assignment: str
    notebook: str
    reason: str

    def __str__(self) -> str:
        return f"{self.student}/{self.assignment}/{self.notebook}: {self.reason}"


@dataclass
class PairScore:
    """How much code two students share in one assignment.

    ``score`` ranks the pairs: the higher of ``notebook_score`` (all their code) and
    the best of ``question_scores`` (one question's code; see
    :mod:`autograder.similarity._winnow` for the formula).  ``questions_shared`` are
    the questions whose own score reaches :data:`SHARED_LEVEL` (0.5: at least half of
    the smaller answer's distinctive code), highest first; ``flagged`` is
    ``score >= threshold``; ``html_path`` is the side-by-side page of a flagged pair.
    """

    assignment: str
    student_a: str
    student_b: str
    score: float
    notebook_score: float
    question_scores: dict[str, float]
    questions_shared: list[str]
    flagged: bool
    html_path: Path | None = None

    @property
    def best_question(self) -> str:
        """The question with the highest score ('' when no question has code)."""
        if not self.question_scores:
            return ""
        return max(self.question_scores, key=lambda q: (self.question_scores[q], q))


@dataclass
class Unit:
    """A question (or the student's other cells) of one notebook."""

    id: str
    notebook: str


@dataclass
class StudentCode:
    """One student's code in one assignment, per unit."""

    student: str
    cells: dict[str, list[tuple[StudentCell, NormalizedCell]]] = field(default_factory=dict)

    def stream(self, unit: str) -> tuple[list[str], list[tuple[int, int, int]]]:
        """The unit's normalised tokens across its cells, and where each came from
        (cell number within the unit, start, end); cells are joined by :data:`CELL_BREAK`."""
        values: list[str] = []
        where: list[tuple[int, int, int]] = []
        for n, (_, cell) in enumerate(self.cells.get(unit, [])):
            if values and cell.values:
                values.append(CELL_BREAK)
                where.append((n, -1, -1))
            values += cell.values
            where += [(n, a, b) for a, b in cell.spans]
        return values, where


@dataclass
class ClassAnalysis:
    """Everything :func:`analyse_assignment` found for one assignment."""

    assignment: Assignment
    students: list[str]
    units: list[Unit]
    code: list[StudentCode]
    scores: dict[str, np.ndarray]  # unit id (and "" for the whole notebook) -> N x N scores
    skipped: list[Skipped]
    kgram_rarity: dict[int, float] = field(default_factory=dict)  # rarity of every k-gram in the class

    def pair(self, i: int, j: int, threshold: float) -> PairScore:
        """The :class:`PairScore` of students ``i`` and ``j``."""
        questions = {u.id: float(self.scores[u.id][i, j]) for u in self.units
                     if self.code[i].cells.get(u.id) or self.code[j].cells.get(u.id)}
        notebook = float(self.scores[""][i, j])
        score = max([notebook, *questions.values()])
        shared = sorted((q for q, s in questions.items() if s >= SHARED_LEVEL), key=lambda q: -questions[q])
        return PairScore(self.assignment.id, self.students[i], self.students[j], score, notebook,
                         questions, shared, score >= threshold)

    def pairs(self, threshold: float) -> list[PairScore]:
        """Every pair of students (i < j)."""
        n = len(self.students)
        return [self.pair(i, j, threshold) for i in range(n) for j in range(i + 1, n)]


def _students(submitted: Path, assignment: str) -> list[str]:
    """Folders of ``submitted/`` that hold a folder for ``assignment`` (no links, no dot-folders)."""
    if not submitted.is_dir():
        return []
    out = []
    for entry in os.scandir(submitted):
        if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
            continue
        if (Path(entry.path) / assignment).is_dir():
            out.append(entry.name)
    return sorted(out)


def _normalise_notebook(cells: list[StudentCell], release: Release, fixed: set[str]) -> list[NormalizedCell]:
    trees = [parse(c.source) for c in cells]
    variables: set[str] = set()
    imported: set[str] = set()
    for cell, tree in zip(cells, trees, strict=True):
        if tree is None:
            variables |= guess_bound_names(cell.source, release.given.lines)
        else:
            v, i = bound_names(tree, release.given.statements)
            variables |= v
            imported |= i
    variables -= fixed | imported
    return [normalize_cell(c.source, variables, release.given, tree=t, parsed=t is not None)
            for c, t in zip(cells, trees, strict=True)]


def analyse_assignment(course: Course, assignment: Assignment, submitted: Path) -> ClassAnalysis:
    """Read, normalise and score every submission of ``assignment`` in ``submitted``."""
    students = _students(submitted, assignment.id)
    releases: dict[str, Release] = {}
    units: list[Unit] = []
    for nb in assignment.notebooks:
        path = course.release_notebook(assignment, nb)
        try:
            release = read_release(path)
        except NotebookError as exc:
            msg = f"release notebook {path} {exc}: run `course release {assignment.id}` first"
            raise NotFound(msg) from None
        releases[nb.name] = release
        units += [Unit(q, nb.name) for q in release.questions]
        units.append(Unit(_other(assignment, nb.name), nb.name))
    skipped: list[Skipped] = []
    code: list[StudentCode] = []
    for student in students:
        sc = StudentCode(student)
        readable = 0
        for nb in assignment.notebooks:
            release = releases[nb.name]
            path = submitted / student / assignment.id / nb.filename
            try:
                data = read_submission(path, within=submitted)
            except NotebookError as exc:
                skipped.append(Skipped(student, assignment.id, nb.filename, str(exc)))
                continue
            readable += 1
            cells = student_cells(data, release)
            fixed = {name for q in nb.questions for name in q.names}
            for cell, norm in zip(cells, _normalise_notebook(cells, release, fixed), strict=True):
                unit = cell.question if cell.question != OTHER else _other(assignment, nb.name)
                sc.cells.setdefault(unit, []).append((cell, norm))
        if readable:  # a student none of whose notebooks can be read is listed in skipped only
            code.append(sc)
    students = [sc.student for sc in code]
    scores, kgram_rarity = _score(code, units)
    return ClassAnalysis(assignment, students, units, code, scores, skipped, kgram_rarity)


def _other(assignment: Assignment, notebook: str) -> str:
    return OTHER if len(assignment.notebooks) == 1 else f"{OTHER[:-1]}: {notebook})"


def _score(code: list[StudentCode], units: list[Unit]) -> tuple[dict[str, np.ndarray], dict[int, float]]:
    n = len(code)
    per_unit: dict[str, list[np.ndarray]] = {u.id: [] for u in units}
    all_kgrams: list[np.ndarray] = []
    for sc in code:
        kgrams = []
        for u in units:
            values, _ = sc.stream(u.id)
            per_unit[u.id].append(fingerprints(values))
            kgrams.append(kgram_hashes(token_hashes(values), K))
        all_kgrams.append(np.unique(np.concatenate(kgrams)) if kgrams else np.empty(0, dtype=np.uint64))
    notebook = [np.unique(np.concatenate([per_unit[u.id][i] for u in units])) if units
                else np.empty(0, dtype=np.uint64) for i in range(n)]
    everything = np.concatenate(notebook) if notebook else np.empty(0, dtype=np.uint64)
    vocab, df = np.unique(everything, return_counts=True)
    columns = {int(h): i for i, h in enumerate(vocab)}
    weights = rarity(df, n)
    scores = {u.id: score_unit(per_unit[u.id], columns, weights) for u in units}
    scores[""] = score_unit(notebook, columns, weights)
    kg = np.concatenate(all_kgrams) if all_kgrams else np.empty(0, dtype=np.uint64)
    kvocab, kdf = np.unique(kg, return_counts=True)
    kgram_rarity = dict(zip(kvocab.tolist(), rarity(kdf, n).tolist(), strict=True))
    return scores, kgram_rarity
