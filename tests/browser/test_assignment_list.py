"""The JupyterHub round trip as a student sees it: nbgrader's Assignment List in JupyterLab.

The instructor publishes an assignment to nbgrader's exchange (``course release
--exchange``).  A student, in JupyterLab run under their own account with the students'
nbgrader configuration (what a hub gives every student), fetches it in the Assignment
List, answers it and submits it there.  The instructor collects from the exchange,
autogrades and releases feedback (``course feedback --release``); the student fetches the
feedback in the Assignment List and opens the page, which shows their score.  Meanwhile
the instructor's formgrader shows what ``course`` did: the assignment released, its due
date from course.yml, the submission collected and its score.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

pytest.importorskip("playwright")

from playwright.sync_api import expect  # noqa: E402

from autograder.config import load_course  # noqa: E402
from autograder.exchange import student_config  # noqa: E402

from ..conftest import ROOT, answered_with_solutions, copy_course, environment_for_accounts  # noqa: E402
from .conftest import course, running_lab  # noqa: E402
from .notebook import accept_kernel_dialog  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ASSIGNMENT = "array-creation"
NOTEBOOK = "array-creation.ipynb"


@pytest.fixture
def student_account():
    """A student's account (useradd, removed afterwards) with a home other accounts can
    enter, beside a folder for the exchange."""
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        pytest.skip("needs root and useradd to make a student's account")
    base = Path(tempfile.mkdtemp(prefix="course-hub-", dir="/tmp"))
    base.chmod(0o755)
    name = f"st{secrets.token_hex(4)}"
    home = base / name
    try:
        subprocess.run(["useradd", "--no-create-home", "--home-dir", str(home), "--shell", "/bin/sh", name],
                       check=True, capture_output=True)
        home.mkdir()
        account = pwd.getpwnam(name)
        os.chown(home, account.pw_uid, account.pw_gid)
        with environment_for_accounts(base) as lent:
            yield base, account, lent
    finally:
        subprocess.run(["userdel", name], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


DUE = "2030-01-15 17:00"


def hub_course(tmp_path: Path, exchange: Path):
    """A copy of the course whose course.yml names the exchange, and a due date."""
    root = copy_course(tmp_path / "course")
    data = yaml.safe_load((root / "course.yml").read_text())
    data["exchange"] = {"root": str(exchange)}
    for a in data["assignments"]:
        if a["id"] == ASSIGNMENT:
            a["due"] = DUE
    (root / "course.yml").write_text(yaml.safe_dump(data, sort_keys=False))
    return root, load_course(root)


def fill_in(path: Path, account) -> None:
    """The student's answers (the source notebook's solutions) in the fetched notebook,
    saved by the student's account."""
    answered_with_solutions(path, ROOT / "source" / ASSIGNMENT / NOTEBOOK)
    os.chown(path, account.pw_uid, account.pw_gid)


def row(page, list_id: str, assignment: str):
    """The row of ``assignment`` in one of the Assignment List's three lists."""
    return page.locator(f"#{list_id} > .list_item:not(.nested_list_item)").filter(has_text=assignment)


def test_student_fetches_submits_and_reads_feedback_in_the_assignment_list(tmp_path, data_file, student_account,
                                                                           page, shot):
    base, student, lent = student_account
    exchange = base / "exchange"
    root, course_obj = hub_course(tmp_path, exchange)
    out = course(root, "release", ASSIGNMENT, "--exchange")
    assert f"published {ASSIGNMENT}" in out

    # the student's JupyterLab: their own account, their home as its root, the students'
    # nbgrader configuration (course id and exchange) in its working folder
    home = Path(student.pw_dir)
    (home / "nbgrader_config.py").write_text(student_config(course_obj))
    env = {
        "HOME": str(home), "USER": student.pw_name, "LOGNAME": student.pw_name, "LANG": "C.UTF-8",
        "PATH": "/usr/bin:/bin",
        # this environment's packages, Jupyter data (lab, nbgrader's extension) and server config
        "PYTHONPATH": lent.pythonpath,
        "JUPYTER_PATH": str(lent.prefix / "share" / "jupyter"),
        "JUPYTER_CONFIG_PATH": str(lent.prefix / "etc" / "jupyter"),
        "JUPYTERLAB_DIR": str(lent.prefix / "share" / "jupyter" / "lab"),
    }
    # the instructor's JupyterLab, in the course: the formgrader shows what `course` did
    instructor = tmp_path / "instructor-lab"
    instructor.mkdir()
    with contextlib.ExitStack() as labs:
        formgrader = labs.enter_context(running_lab(root, instructor))
        lab = labs.enter_context(running_lab(home, home / ".lab", python=lent.python, env=env, account=student))
        fg = page.context.new_page()
        fg.goto(f"{formgrader.url}formgrader/manage_assignments?token={formgrader.token}")
        listed = fg.locator("tr", has=fg.locator("td.name", has_text=ASSIGNMENT))
        expect(listed.locator("td.status")).to_have_text("released", timeout=60_000)
        expect(listed.locator("td.duedate")).to_contain_text(DUE.split()[0])
        expect(listed.locator("td.num-submissions")).to_have_text("0")
        shot("formgrader-released", fg)

        accept_kernel_dialog(page)
        page.goto(f"{lab.url}lab?reset&token={lab.token}")
        page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").click()
        page.locator(".lm-Menu-itemLabel", has_text="Assignment List").click()

        released = row(page, "released_assignments_list", ASSIGNMENT)
        expect(released).to_be_visible(timeout=60_000)
        shot("assignment-list")
        released.get_by_role("button", name="Fetch").click()
        fetched = row(page, "fetched_assignments_list", ASSIGNMENT)
        expect(fetched).to_be_visible(timeout=60_000)
        shot("fetched")
        path = home / ASSIGNMENT / NOTEBOOK
        assert path.is_file() and path.stat().st_uid == student.pw_uid

        fill_in(path, student)
        fetched.get_by_role("button", name="Submit").click()
        submitted = row(page, "submitted_assignments_list", ASSIGNMENT)
        expect(submitted).to_be_visible(timeout=60_000)
        shot("submitted")

        # the instructor's side: collect from the exchange, grade, release feedback
        out = course(root, "collect", "--exchange", "--assignment", ASSIGNMENT)
        assert (course_obj.folder("submitted", student.pw_name, ASSIGNMENT) / NOTEBOOK).is_file(), out
        course(root, "autograde", ASSIGNMENT, "--jobs", "1")
        out = course(root, "feedback", ASSIGNMENT, "--release")
        assert "released 1 feedback page to the exchange" in out
        fg.reload()
        expect(listed.locator("td.num-submissions")).to_have_text("1", timeout=60_000)
        fg.goto(f"{formgrader.url}formgrader/gradebook/{ASSIGNMENT}/{NOTEBOOK.removesuffix('.ipynb')}"
                f"?token={formgrader.token}")
        total = course_obj.assignment(ASSIGNMENT).total
        graded = fg.locator("tr", has=fg.get_by_text("Submission #1"))
        expect(graded.locator("td.score")).to_have_text(f"{total:g} / {total:g}", timeout=60_000)
        shot("formgrader-graded", fg)

        page.locator("#refresh_assignments_list").click()
        expect(submitted.first).to_contain_text("feedback available to fetch", timeout=60_000)
        submitted.first.get_by_role("button", name="Fetch Feedback").click()
        view = submitted.first.get_by_text("(view feedback)")
        expect(view).to_be_visible(timeout=60_000)
        shot("feedback-fetched")
        pages = list((home / ASSIGNMENT / "feedback").glob(f"*/{ASSIGNMENT}.html"))
        assert len(pages) == 1, pages

        # "view feedback" goes to the page's folder in the file browser; the student opens it
        view.click()
        item = page.locator(".jp-DirListing-item", has_text=f"{ASSIGNMENT}.html")
        expect(item).to_be_visible(timeout=60_000)
        item.dblclick()
        frame = page.frame_locator(".jp-HTMLViewer iframe")
        expect(frame.locator("body")).to_contain_text(f"Total: {total:g} / {total:g}", timeout=60_000)
        shot("feedback-open")
