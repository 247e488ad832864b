"""A self-learner checks a notebook from inside JupyterLab with one line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("playwright")

from playwright.sync_api import expect  # noqa: E402

from ..conftest import ROOT  # noqa: E402
from .notebook import open_notebook  # noqa: E402

pytestmark = pytest.mark.browser

SLICING = ("release/slicing/slicing.ipynb", "release/slicing/course_data.py")
CHECK_LINE = "from autograder.jupyter import check; check()"
DOCS_IMAGE = ROOT / "docs" / "images" / "jupyterlab-check.png"


def table_rows(output) -> list[tuple[str, ...]]:
    return [tuple(td.inner_text().strip() for td in tr.locator("td").all())
            for tr in output.locator("table tbody tr").all()]


NOT_ANSWERED = ("not answered yet: this question's cell still raises NotImplementedError (replace "
                "`raise NotImplementedError()` with your code)")


def test_one_line_check_in_jupyterlab(lab, page, shot):
    folder = lab.workspace("self-learner", *SLICING)
    path = folder / "slicing.ipynb"
    nb = open_notebook(page, lab.open_url(path), path, shot)
    nb.answer("elements", "pix = img[254, 300]\nlast_pix = img[-1, -1]")
    nb.answer("rows-and-columns", "profile_300 = img[300]\nrow_254 = img[:, 254]")  # rows and columns swapped
    for grade_id in ("setup", "elements", "rows-and-columns"):
        nb.run_cell(grade_id)
    check_cell = nb.append_cell(CHECK_LINE)
    nb.run_cell(check_cell)
    out = nb.output(check_cell)
    # the kernel ran answers the file does not hold: no stale report, but what to do
    expect(out).to_contain_text("Your notebook has unsaved changes: save it (Ctrl+S) and run this again.")
    expect(out.locator("table")).to_have_count(0)

    nb.save()
    nb.run_cell(check_cell)
    table = out.locator("table")
    expect(table).to_be_visible()
    out.scroll_into_view_if_needed()
    shot("report")
    picture = shot("check-cell", nb.cell(check_cell))  # the line and its report
    # the report of `course check` for this file (tests/test_jupyter_check.py compares the two)
    expect(table.locator("caption")).to_have_text("slicing/slicing: 1 / 9")
    assert table_rows(out) == [
        ("elements", "1/1", "pass", ""),
        ("rows-and-columns", "0/2", "fail", "AssertionError: `profile_300` has shape (511,); a column has one value per row: shape (512,)"),
        ("strided", "0/2", "fail", NOT_ANSWERED),
        ("dq-block", "0/2", "fail", NOT_ANSWERED),
        ("better-spectrum", "0/2", "fail", NOT_ANSWERED),
    ]
    # nothing of the hidden checks
    text = out.inner_text()
    assert "HIDDEN" not in text and "autograder/checks" not in text and "reference_solution" not in text

    if os.environ.get("UPDATE_DOCS_IMAGES"):  # docs/jupyterlab.md shows this output
        save_small_png(picture, DOCS_IMAGE)


def save_small_png(src: Path, dest: Path) -> None:
    """A copy of a screenshot with a small palette: a few tens of kB instead of hundreds."""
    from PIL import Image

    dest.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(src) as im:
        im.convert("RGB").quantize(colors=64).save(dest, optimize=True)
