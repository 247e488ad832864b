"""What a submission changed in the instructor's cells, and putting them back.

nbgrader identifies graded and locked cells by ``grade_id``.  A student may edit a
test cell, change its points, delete it, duplicate it or move it.  :func:`inspect`
reports each of these in plain words (for the instructor's log and the student's
feedback); :func:`restore` puts the instructor's cells back exactly as nbgrader's
sanitize step does (``OverwriteCells`` with ``add_missing_cells``, ``DeduplicateIds``),
for ``course check``, which works without a gradebook.
"""

from __future__ import annotations

import copy

from nbformat import NotebookNode

from .nbmeta import GRADING_KEYS, grade_id, is_instructor_cell, is_solution, nbgrader

__all__ = ["inspect", "restore", "reorder_tests"]



def _instructor_cells(reference: NotebookNode) -> dict[str, NotebookNode]:
    """Cells of the reference notebook nbgrader restores: graded or locked ones."""
    return {grade_id(cell): cell for cell in reference.cells if is_instructor_cell(cell)}


def inspect(submitted: NotebookNode, released: NotebookNode) -> list[str]:
    """Plain-language list of what the submission changed in the instructor's cells.

    ``released`` is the notebook the student was given (release/).
    """
    problems = []
    ref = _instructor_cells(released)
    ref_all = [grade_id(c) for c in released.cells if grade_id(c)]
    seen: dict[str, int] = {}
    order = []
    for cell in submitted.cells:
        gid = grade_id(cell)
        if gid is None:
            continue
        seen[gid] = seen.get(gid, 0) + 1
        order.append(gid)
        if gid in ref and seen[gid] == 1:
            r = ref[gid]
            if cell.get("source", "") != r.get("source", ""):
                problems.append(f"cell {gid!r} was edited; the original was used")
            changed = [k for k in GRADING_KEYS if nbgrader(cell).get(k) != nbgrader(r).get(k)]
            if changed:
                problems.append(f"cell {gid!r} had its grading metadata changed ({', '.join(changed)}); the original was used")
    for gid, n in seen.items():
        if n > 1:
            problems.append(f"grade id {gid!r} appears {n} times; only one copy is graded")
    for gid in ref:
        if gid not in seen:
            problems.append(f"cell {gid!r} was deleted; it was restored and graded")
    known = [g for g in dict.fromkeys(order) if g in ref_all]
    if known != [g for g in ref_all if g in known]:
        problems.append("graded cells are not in their original order")
    return problems


def restore(submitted: NotebookNode, reference: NotebookNode) -> NotebookNode:
    """A copy of ``submitted`` with the instructor's cells as in ``reference``.

    Mirrors nbgrader's sanitize step: of duplicated grade ids the last copy keeps its
    metadata; graded/locked cells get the reference source and metadata back; a
    deleted graded cell is re-inserted after the graded or solution cell that
    precedes it in the reference.

    Solution cells keep the student's source and get the reference's nbgrader metadata
    back (a solution cell turned into a graded one would otherwise make nbgrader's
    ``OverwriteCells`` look for a graded cell that does not exist, and fail).

    Cells that are not the instructor's (the other copies of a duplicated grade id, a
    grade id the reference does not have, nbgrader metadata without a grade id) lose
    their nbgrader metadata altogether and run as plain cells.  nbgrader itself leaves
    an empty or id-less ``nbgrader`` dict on them, on which its own ``OverwriteCells``
    (``add_missing_task_cells``) then fails with ``KeyError: 'grade_id'``: the result of
    :func:`restore` can be handed to nbgrader's sanitize step safely.
    """
    nb = copy.deepcopy(submitted)
    known = {grade_id(c) for c in reference.cells if grade_id(c)}
    seen: set[str] = set()
    for cell in reversed(nb.cells):
        meta = cell.get("metadata", {})
        if "nbgrader" not in meta:
            continue
        gid = grade_id(cell)
        if gid is None or gid in seen or gid not in known:
            del meta["nbgrader"]
        if gid is not None:
            seen.add(gid)
    ref = _instructor_cells(reference)
    answers = {grade_id(c): c for c in reference.cells if grade_id(c) and is_solution(c)}
    for cell in nb.cells:
        gid = grade_id(cell)
        if gid in ref:
            cell.source = ref[gid].source
            cell.metadata["nbgrader"] = copy.deepcopy(ref[gid].metadata["nbgrader"])
            if cell.get("cell_type") != ref[gid].cell_type:
                cell.cell_type = ref[gid].cell_type
        elif gid in answers:  # the student's answer, with the instructor's grading metadata
            cell.metadata["nbgrader"] = copy.deepcopy(answers[gid].metadata["nbgrader"])
    ref_ids = [grade_id(c) for c in reference.cells]
    for gid, rcell in ref.items():
        if gid in seen:
            continue
        at = len(nb.cells)
        i = ref_ids.index(gid)
        prev = [g for g in ref_ids[:i] if g]
        present = {grade_id(c): k for k, c in enumerate(nb.cells) if grade_id(c)}
        for g in reversed(prev):
            if g in present:
                at = present[g] + 1
                break
        new = copy.deepcopy(rcell)
        if new.get("cell_type") == "code":
            new["outputs"] = []
            new["execution_count"] = None
        nb.cells.insert(at, new)
        seen.add(gid)
    return nb


def reorder_tests(nb: NotebookNode, questions) -> bool:
    """Move each question's test cell back after its solution cell when it is not between
    its own solution cell and the next question's (a moved, duplicated or restored test
    cell); True if a cell moved.  ``questions`` in course.yml order (with ``id`` and
    ``test_id``).  Each question's code is then the cells before its test cell, as the
    grader runs it again (:mod:`autograder.grading`)."""
    moved = False
    order = list(questions)
    for k, q in enumerate(order):
        if getattr(q, "manual", False):
            continue
        ids = [grade_id(c) for c in nb.cells]
        if q.id not in ids or q.test_id not in ids:
            continue
        sol, test = ids.index(q.id), ids.index(q.test_id)
        later = [ids.index(o.id) for o in order[k + 1:] if o.id in ids]
        if sol < test and all(test < i for i in later if i > sol):
            continue
        cell = nb.cells.pop(test)
        nb.cells.insert(sol + (0 if test < sol else 1), cell)
        moved = True
    return moved
