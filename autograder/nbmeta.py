"""nbgrader's cell metadata and hidden-test blocks, read the same way everywhere.

A notebook's cells carry nbgrader's marks in ``cell.metadata.nbgrader``: ``grade_id``,
``solution``, ``grade``, ``locked``, ``task`` and ``points``.  A submitted notebook is
untrusted, so every accessor here accepts any shape (a missing or non-dict
``nbgrader`` entry, a non-string ``grade_id``...) and answers as if the mark were
absent.

Hidden tests follow nbgrader's own rule (``ClearHiddenTests``): a line containing
``BEGIN HIDDEN TESTS``, whatever its comment prefix, hides everything up to a line
containing ``END HIDDEN TESTS``, or to the end of the cell when there is none.
"""

from __future__ import annotations

__all__ = [
    "nbgrader",
    "grade_id",
    "is_solution",
    "is_grade",
    "is_instructor_cell",
    "text",
    "strip_hidden_tests",
    "has_hidden_tests",
]

BEGIN_HIDDEN = "BEGIN HIDDEN TESTS"
END_HIDDEN = "END HIDDEN TESTS"
#: The keys of nbgrader's metadata that decide how a cell is graded.
GRADING_KEYS = ("grade", "solution", "locked", "points", "task")


def nbgrader(cell) -> dict:
    """The cell's ``metadata.nbgrader`` dict ({} when absent or malformed)."""
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    nbg = meta.get("nbgrader") if isinstance(meta, dict) else None
    return nbg if isinstance(nbg, dict) else {}


def grade_id(cell) -> str | None:
    """The cell's ``grade_id``, or None when it has none (or not a string)."""
    gid = nbgrader(cell).get("grade_id")
    return gid if isinstance(gid, str) and gid else None


def is_solution(cell) -> bool:
    """Whether the cell is an answer cell (``solution: true``)."""
    return nbgrader(cell).get("solution") is True


def is_grade(cell) -> bool:
    """Whether the cell is graded (``grade: true``): a test cell or a manual answer."""
    return nbgrader(cell).get("grade") is True


def is_instructor_cell(cell) -> bool:
    """Whether nbgrader restores the cell from the instructor's copy: graded, locked or a
    task, and not an answer cell."""
    m = nbgrader(cell)
    return bool(grade_id(cell) and (m.get("grade") or m.get("locked") or m.get("task")) and not m.get("solution"))


def text(value) -> str:
    """A notebook string field (a string or a list of strings) as one string."""
    if isinstance(value, list):
        return "".join(v for v in value if isinstance(v, str))
    return value if isinstance(value, str) else ""


def strip_hidden_tests(source) -> str:
    """``source`` without its hidden-test blocks (nbgrader's rule, see the module docstring)."""
    kept, hiding = [], False
    for line in text(source).splitlines(keepends=True):
        if not hiding and BEGIN_HIDDEN in line:
            hiding = True
        elif hiding and END_HIDDEN in line:
            hiding = False
        elif not hiding:
            kept.append(line)
    return "".join(kept)


def has_hidden_tests(source) -> bool:
    """Whether ``source`` holds a hidden-test block."""
    return BEGIN_HIDDEN in text(source)
