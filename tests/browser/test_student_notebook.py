"""A student in JupyterLab: answers through the keyboard, runs the notebook, validates it."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("playwright")

from playwright.sync_api import expect  # noqa: E402

from .notebook import open_notebook  # noqa: E402

pytestmark = pytest.mark.browser

SLICING = ("release/slicing/slicing.ipynb", "release/slicing/course_data.py")


def test_student_answers_runs_all_and_validates(lab, page, shot):
    folder = lab.workspace("student", *SLICING)
    nb = open_notebook(page, lab.open_url(folder / "slicing.ipynb"), folder / "slicing.ipynb", shot)
    expect(nb.panel.locator(".jp-Toolbar").get_by_text("Validate", exact=True)).to_be_visible()  # nbgrader's extension

    nb.answer("elements", "pix = img[254, 300]\nlast_pix = img[-1, -1]")
    nb.answer("rows-and-columns", "profile_300 = img[300]\nrow_254 = img[:, 254]")  # rows and columns swapped
    nb.run_all()

    # the answered question: its cell printed two numbers, its visible tests ran and passed (no output)
    expect(nb.output("elements")).to_have_text(re.compile(r"^\s*-?\d[\d.e+-]*\s+-?\d[\d.e+-]*\s*$"))
    expect(nb.cell("elements-test").locator(".jp-InputPrompt")).to_have_text(re.compile(r"\[\d+\]:"))
    expect(nb.output("elements-test").locator(".jp-OutputArea-output")).to_have_count(0)
    # the wrong one fails with that question's own message, and Run All stops there
    failed = nb.output("rows-and-columns-test")
    expect(failed).to_contain_text("AssertionError")
    expect(failed).to_contain_text("`profile_300` has shape (511,); a column has one value per row: shape (512,)")
    expect(nb.cell("strided").locator(".jp-InputPrompt")).to_have_text("[ ]:")
    failed.scroll_into_view_if_needed()
    shot("test-failed")

    dialog = nb.validate()
    report = dialog.inner_text()
    # the wrong answer with its message, the unanswered questions by the names they leave undefined
    assert "`profile_300` has shape (511,); a column has one value per row: shape (512,)" in report
    for name in ("err_samples", "dq_block", "spectrum_src"):
        assert f"NameError: name '{name}' is not defined" in report, name
    # the answered question is not among the failures
    assert "`pix` should be a single number" not in report and "name 'pix'" not in report
    assert "Success!" not in report
    dialog.get_by_role("button", name="Ok").click()
