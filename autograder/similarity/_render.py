"""What ``course similarity`` writes: a CSV, a heat map per assignment, a page per flagged pair.

Everything that comes from a student (code, and the student ids, which are folder
names) is untrusted: the pages are rendered by jinja2 with autoescaping on, carry a
Content-Security-Policy that allows no script and no remote load, and show invisible
or direction-changing characters (bidi overrides, zero-width spaces...) as visible
``<U+202E>`` marks so that code cannot look different from what it is.  CSV cells
that a spreadsheet would read as a formula get a leading ``'``.  Plot labels are drawn
without mathtext.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from ._compare import CELL_BREAK, ClassAnalysis, PairScore
from ._winnow import K, kgram_hashes, token_hashes

__all__ = ["write_csv", "write_heatmap", "write_pair_page", "pair_filename", "CSV_COLUMNS", "GENERATOR"]

GENERATOR = "course similarity"
CSV_COLUMNS = ["assignment", "student_a", "student_b", "score", "notebook_score", "flagged", "questions_shared",
               "best_question", "best_question_score", "page"]
RARE = 0.5  # k-grams at least this rare (see _winnow.rarity) are marked red, the others yellow
MAX_SHOWN = 20_000  # characters of one cell shown on a page
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
_SAFE = re.compile(r"[^A-Za-z0-9._@-]")


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write ``path`` through a temporary file in its folder, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------
def _cell(value: object) -> str:
    text = str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def write_csv(path: Path, pairs: list[PairScore]) -> None:
    """One row per pair (every pair of every assignment), highest score first."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for p in pairs:
        best = p.best_question
        writer.writerow([_cell(p.assignment), _cell(p.student_a), _cell(p.student_b), f"{p.score:.4f}",
                         f"{p.notebook_score:.4f}", "yes" if p.flagged else "", _cell(" ".join(p.questions_shared)),
                         _cell(best), f"{p.question_scores[best]:.4f}" if best else "",
                         _cell(p.html_path.relative_to(path.parent).as_posix()) if p.html_path else ""])
    atomic_write(path, buf.getvalue())


# --------------------------------------------------------------------------------------
# heat map
# --------------------------------------------------------------------------------------
def _order(score: np.ndarray) -> np.ndarray:
    """Students in an order that puts similar ones next to each other."""
    n = len(score)
    if n < 3:
        return np.arange(n)
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    dist = 1.0 - np.clip(score, 0.0, 1.0)
    np.fill_diagonal(dist, 0.0)
    return leaves_list(linkage(squareform(dist, checks=False), method="average"))


def write_heatmap(path: Path, analysis: ClassAnalysis, matrix: np.ndarray, threshold: float):
    """A PNG of every pair's score (students ordered so that groups sit together)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = len(analysis.students)
    order = _order(matrix)
    shown = matrix[np.ix_(order, order)].copy()
    np.fill_diagonal(shown, np.nan)
    size = min(14.0, 4.5 + 0.06 * n)
    fig = Figure(figsize=(size + 1.5, size), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(shown, vmin=0.0, vmax=1.0, cmap="magma_r", interpolation="nearest")
    bar = fig.colorbar(image, ax=ax, shrink=0.8)
    bar.set_label("pair score")
    bar.ax.axhline(threshold, color="#1f77b4", linewidth=2)
    bar.ax.text(1.05, threshold, " threshold", transform=bar.ax.get_yaxis_transform(), va="center", fontsize=8,
                parse_math=False)
    title = f"{analysis.assignment.id}: pair scores of {n} students (flagged: score >= {threshold:.2f})"
    ax.set_title(title, fontsize=10, parse_math=False)
    if n <= 60:
        labels = [analysis.students[i] for i in order]
        ax.set_xticks(range(n), labels, rotation=90, fontsize=7, parse_math=False)
        ax.set_yticks(range(n), labels, fontsize=7, parse_math=False)
    else:
        ax.set_xlabel(f"{n} students (too many to name; see the CSV)", parse_math=False)
        ax.set_xticks([])
        ax.set_yticks([])
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    atomic_write(path, buf.getvalue())
    return fig


# --------------------------------------------------------------------------------------
# the page of a pair
# --------------------------------------------------------------------------------------
def pair_filename(a: str, b: str) -> str:
    """A safe file name for the page of students ``a`` and ``b``."""
    def safe(s: str) -> str:
        clean = _SAFE.sub("_", s)[:60]
        if clean != s or clean.startswith("."):
            clean = f"{clean.lstrip('.')}-{hashlib.sha256(s.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"
        return clean

    return f"{safe(a)}--{safe(b)}.html"


@dataclass
class Segment:
    text: str
    cls: str


def _visible(text: str, cls: str) -> list[Segment]:
    """Split ``text`` so that control and format characters are shown as marks."""
    out: list[Segment] = []
    start = 0
    for i, ch in enumerate(text):
        if ch not in "\n\t" and unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp"):
            if start < i:
                out.append(Segment(text[start:i], cls))
            out.append(Segment(f"<U+{ord(ch):04X}>", "ctrl"))
            start = i + 1
    if start < len(text):
        out.append(Segment(text[start:], cls))
    return out


def _segments(source: str, marks: list[tuple[int, int, int]], given: list[tuple[int, int]]) -> list[Segment]:
    """The cell's text in runs of one class: 3 rare match, 2 common match, 1 given."""
    shown = source[:MAX_SHOWN]
    level = np.zeros(len(shown) + 1, dtype=np.int8)
    for a, b in given:
        level[a:b] = np.maximum(level[a:b], 1)
    for a, b, lv in marks:
        level[a:b] = np.maximum(level[a:b], lv)
    # a match runs on across the spaces between two matched tokens of one line
    for m in re.finditer(r"[ \t]+", shown):
        a, b = m.start(), m.end()
        if a > 0 and b < len(shown):
            lv = min(level[a - 1], level[b])
            if lv >= 2:
                level[a:b] = lv
    names = {0: "", 1: "given", 2: "common", 3: "rare"}
    out: list[Segment] = []
    start = 0
    for i in range(1, len(shown) + 1):
        if i == len(shown) or level[i] != level[start]:
            out += _visible(shown[start:i], names[int(level[start])])
            start = i
    if len(source) > MAX_SHOWN:
        out.append(Segment(f"\n... ({len(source) - MAX_SHOWN} more characters not shown)", "given"))
    return out


def _matches(values: list[str], other: list[str], rarity: dict[int, float]) -> list[tuple[int, int]]:
    """(token index, level) of every token of ``values`` inside a k-gram ``other`` has too."""
    mine = kgram_hashes(token_hashes(values), K)
    theirs = kgram_hashes(token_hashes(other), K)
    if not len(mine) or not len(theirs):
        return []
    common = np.isin(mine, theirs)
    level = np.zeros(len(values), dtype=np.int8)
    for start in np.flatnonzero(common):
        lv = 3 if rarity.get(int(mine[start]), 1.0) >= RARE else 2
        level[start: start + K] = np.maximum(level[start: start + K], lv)
    return [(i, int(level[i])) for i in np.flatnonzero(level) if values[i] != CELL_BREAK]


def _side(analysis: ClassAnalysis, i: int, j: int, unit: str) -> dict:
    code = analysis.code[i]
    values, where = code.stream(unit)
    other, _ = analysis.code[j].stream(unit)
    per_cell: dict[int, list[tuple[int, int, int]]] = {}
    for t, lv in _matches(values, other, analysis.kgram_rarity):
        n, a, b = where[t]
        per_cell.setdefault(n, []).append((a, b, lv))
    cells = []
    for n, (cell, norm) in enumerate(code.cells.get(unit, [])):
        label = f"cell {cell.index + 1}: " + ("a cell they added" if cell.added else "the question's answer cell")
        if norm.fallback:
            label += " (does not parse: compared token by token)"
        cells.append({"label": label, "segments": _segments(cell.source, per_cell.get(n, []), norm.given)})
    return {"student": code.student, "cells": cells}


def _template():
    from jinja2 import Environment

    text = resources.files(__package__).joinpath("templates", "pair.html").read_text(encoding="utf-8")
    env = Environment(autoescape=True, keep_trailing_newline=True)
    return env.from_string(text)


def write_pair_page(path: Path, analysis: ClassAnalysis, pair: PairScore, threshold: float) -> None:
    """The self-contained page of one pair: their cells side by side, question by question."""
    i = analysis.students.index(pair.student_a)
    j = analysis.students.index(pair.student_b)
    questions = []
    for unit in analysis.units:
        if unit.id not in pair.question_scores:
            continue
        title = unit.id if len(analysis.assignment.notebooks) == 1 else f"{unit.notebook}: {unit.id}"
        if unit.id.startswith("("):
            title = f"{title}: cells they added before the first question"
        questions.append({"title": title, "score": pair.question_scores[unit.id],
                          "left": _side(analysis, i, j, unit.id), "right": _side(analysis, j, i, unit.id)})
    html = _template().render(
        generator=GENERATOR, assignment=analysis.assignment.id, student_a=pair.student_a, student_b=pair.student_b,
        score=pair.score, notebook_score=pair.notebook_score, flagged=pair.flagged, threshold=threshold,
        shared=pair.questions_shared, n_students=len(analysis.students), questions=questions)
    atomic_write(path, html)


def remove_old_pages(folder: Path) -> None:
    """Delete pages a previous run wrote in ``folder`` (only files this module made)."""
    if not folder.is_dir() or folder.is_symlink():
        return
    marker = f'<meta name="generator" content="{GENERATOR}">'
    for page in folder.glob("*.html"):
        try:
            if page.is_file() and not page.is_symlink() and marker in page.read_text(encoding="utf-8", errors="replace")[:2000]:
                page.unlink()
        except OSError:
            pass
