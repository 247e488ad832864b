"""The feedback page an instructor sends, as a student sees it in a browser."""

from __future__ import annotations

import html

import pytest

pytest.importorskip("playwright")

from playwright.sync_api import expect  # noqa: E402

from ..conftest import ROOT, copy_course  # noqa: E402
from .a11y import axe_violations, describe  # noqa: E402
from .conftest import course  # noqa: E402

pytestmark = pytest.mark.browser

HIDDEN_MARKERS = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS",
                  "The grader compares your values with the reference solution here")


@pytest.fixture(scope="module")
def feedback_dir(tmp_path_factory, data_file, chromium_path):
    """The example class's slicing submissions collected, autograded and sent feedback
    (not made where there is no browser to show them)."""
    root = copy_course(tmp_path_factory.mktemp("feedback") / "course")
    course(root, "release", "slicing")
    # The example class holds a README and one broken notebook on purpose: collect takes the
    # rest and says so with exit status 1.
    out = course(root, "collect", "examples/submissions", status=1)
    assert "18 taken" in out and "not valid JSON" in out
    course(root, "autograde", "slicing", "--jobs", "2")
    course(root, "feedback", "slicing")
    return root / "feedback"


def hidden_check_lines() -> set[str]:
    """Every line of the hidden checks long enough to be telling."""
    lines = set()
    for path in (ROOT / "autograder" / "checks").glob("*.py"):
        lines |= {s for s in (line.strip() for line in path.read_text(encoding="utf-8").splitlines()) if len(s) >= 30}
    return lines


def open_feedback(page, shot, feedback_dir, student: str):
    page.goto((feedback_dir / student / "slicing" / "feedback.html").as_uri())
    shot(f"feedback-{student}")
    return page


def test_feedback_shows_scores_messages_and_plots(feedback_dir, page, shot):
    open_feedback(page, shot, feedback_dir, "grace")
    body = page.locator("body")
    expect(body).to_contain_text("Total: 5 / 9")
    rows = page.locator("table.questions tbody tr")
    expect(rows).to_have_count(5)
    expect(rows.filter(has_text="strided")).to_contain_text("failed")
    expect(rows.filter(has_text="strided")).to_contain_text("columns 10, 13, ..., 199 are 64 (start 10, stop 200, step 3)")
    expect(rows.filter(has_text="dq-block")).to_contain_text("both ends included, are 3 rows and 4 columns")
    expect(rows.filter(has_text="better-spectrum")).to_contain_text("passed")

    # the student's plots: pictures that loaded (the setup image and two plots of hers)
    images = page.locator("img")
    assert images.count() >= 3
    for i in range(images.count()):
        img = images.nth(i)
        img.scroll_into_view_if_needed()
        expect(img).to_be_visible()
        assert img.evaluate("el => el.complete && el.naturalWidth > 0"), f"image {i} did not load"
    images.nth(1).scroll_into_view_if_needed()
    shot("plot")

    assert page.console_errors == []  # the page's Content-Security-Policy blocked nothing, no script failed
    # nothing of the hidden checks
    text = html.unescape(page.content())
    for marker in HIDDEN_MARKERS:
        assert marker not in text
    leaked = [line for line in hidden_check_lines() if line in text]
    assert leaked == []


def test_feedback_of_a_broken_submission_names_the_problem(feedback_dir, page, shot):
    open_feedback(page, shot, feedback_dir, "linus")
    expect(page.locator("body")).to_contain_text("Total: 7 / 9")
    expect(page.locator("body")).to_contain_text("'rows-and-columns-test' was deleted")
    assert page.console_errors == []


# -- accessibility: axe-core in the page ------------------------------------------------------
A11Y = {
    "headings in order": ["heading-order", "page-has-heading-one", "empty-heading"],
    "images with text alternatives": ["image-alt", "role-img-alt", "svg-img-alt", "object-alt", "image-redundant-alt"],
    "enough contrast": ["color-contrast"],
    "landmarks": ["landmark-one-main", "region"],
    "document": ["document-title", "html-has-lang", "html-lang-valid", "duplicate-id-aria", "list", "listitem",
                 "td-headers-attr", "th-has-data-cells", "empty-table-header", "link-name"],
}
@pytest.mark.parametrize("student", ["grace", "linus"])
@pytest.mark.parametrize("concern", list(A11Y))
def test_feedback_accessibility(feedback_dir, page, shot, student, concern):
    open_feedback(page, shot, feedback_dir, student)
    violations = axe_violations(page, A11Y[concern])
    assert violations == [], describe(violations)


def test_feedback_images_say_what_they_show(feedback_dir, page, shot):
    """A text alternative that says which cell drew the picture (WCAG 1.1.1), not "output"."""
    open_feedback(page, shot, feedback_dir, "grace")
    alts = page.locator("img").evaluate_all("imgs => imgs.map(i => i.alt.trim().toLowerCase())")
    assert alts and not set(alts) & {"", "output", "image", "figure", "plot", "picture"}, alts
