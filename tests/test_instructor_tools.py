"""collect, export, report and feedback on a tiny course built in tmp_path.

The gradebook is built once per module with nbgrader's own ``Gradebook`` API (which runs
``alembic`` from PATH when it creates a database) and copied into each test's course.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import re
import shutil
import stat
import sys
import time
import warnings
import zipfile
from pathlib import Path

import nbformat
import pytest
import yaml

from autograder import collect as collect_mod
from autograder.collect import CollectError, collect
from autograder.config import parse_course
from autograder.export import export_grades
from autograder.feedback import write_feedback
from autograder.report import class_report
from autograder.results import Outcome, SubmissionRecord

ROOT = Path(__file__).resolve().parents[1]

ASSIGNMENTS = [
    {"id": "intro", "title": "Intro <arrays> & co", "total": 5, "notebooks": [
        {"name": "arrays", "questions": [
            {"id": "make-array", "points": 2, "names": ["a"]},
            {"id": "slice-it", "points": 3, "names": ["b"]},
        ]},
    ]},
    {"id": "masks", "title": "Boolean masks", "total": 4, "notebooks": [
        {"name": "plots", "questions": [{"id": "hist", "points": 1, "names": ["h"]}]},
        {"name": "more_plots", "questions": [{"id": "scatter", "points": 2, "names": ["s"]}]},
        {"name": "common", "questions": [{"id": "masks-common", "points": 1, "names": ["c"]}]},
    ]},
    {"id": "extra", "title": "Extra", "total": 1, "notebooks": [
        {"name": "common", "questions": [{"id": "extra-common", "points": 1, "names": ["c"]}]},
    ]},
]

# scores set in the gradebook: (student, assignment) -> {grade cell: auto score | (auto, manual)}
SCORES = {
    ("alice", "intro"): {"make-array-test": 2, "slice-it-test": 3},
    ("bob", "intro"): {"make-array-test": 2, "slice-it-test": 0},
    ("carol", "intro"): {"make-array-test": 0, "slice-it-test": 0},
    ("alice", "masks"): {},  # submitted, never autograded
    ("bob", "masks"): {"hist-test": 1, "scatter-test": (0, 2), "masks-common-test": 0},
}
STUDENTS = ["alice", "bob", "carol", "dave"]

HIDDEN_SECRET = "assert secret_reference_value_xyz == 42"
PNG_1PX = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


def course_yml() -> dict:
    real = yaml.safe_load((ROOT / "course.yml").read_text())
    return {
        "course": {"id": "tiny-course", "title": "A tiny course"},
        "data": real["data"],
        "tolerances": real["tolerances"],
        "grading": real["grading"],
        "assignments": ASSIGNMENTS,
    }


def make_course(root: Path, db: Path | None = None):
    root.mkdir(parents=True, exist_ok=True)
    data = course_yml()
    (root / "course.yml").write_text(yaml.safe_dump(data))
    if db is not None:
        shutil.copyfile(db, root / "gradebook.db")
    return parse_course(data, root.resolve(), check_files=False)


# --------------------------------------------------------------------------------------
# gradebook fixtures
# --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gradebooks(tmp_path_factory):
    """(empty, full) gradebook files: students and assignments; then submissions and scores."""
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    folder = tmp_path_factory.mktemp("gradebooks")
    full = folder / "full.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PATH", os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]))
        with Gradebook(f"sqlite:///{full}", "tiny-course") as gb:
            for a in ASSIGNMENTS[:2]:  # "extra" is not released: not in the gradebook
                gb.add_assignment(a["id"])
                for nb in a["notebooks"]:
                    gb.add_notebook(nb["name"], a["id"])
                    for q in nb["questions"]:
                        gb.add_grade_cell(f"{q['id']}-test", nb["name"], a["id"], max_score=q["points"], cell_type="code")
            for s in STUDENTS:
                gb.add_student(s)
        empty = folder / "empty.db"
        shutil.copyfile(full, empty)
        with Gradebook(f"sqlite:///{full}", "tiny-course") as gb, warnings.catch_warnings():
            # nbgrader's add_submission builds objects before adding them to the session
            warnings.filterwarnings("ignore", message=r"Object of type <Submitted\w+> not in session",
                                    category=SAWarning)
            for (student, aid), grades in SCORES.items():
                gb.add_submission(aid, student)
                a = next(x for x in ASSIGNMENTS if x["id"] == aid)
                for nb in a["notebooks"]:
                    for q in nb["questions"]:
                        name = f"{q['id']}-test"
                        if name not in grades:
                            continue
                        g = gb.find_grade(name, nb["name"], aid, student)
                        value = grades[name]
                        auto, manual = value if isinstance(value, tuple) else (value, None)
                        g.auto_score = auto
                        g.manual_score = manual
                        g.needs_manual_grade = False
            gb.db.commit()
    return empty, full


@pytest.fixture
def graded_course(tmp_path, gradebooks):
    return make_course(tmp_path / "course", gradebooks[1])


# --------------------------------------------------------------------------------------
# collect
# --------------------------------------------------------------------------------------
def nb_bytes(tag: str = "") -> bytes:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(f"a = 1  # {tag}", id="cell-1"))
    return nbformat.writes(nb).encode()


def put(path: Path, data: bytes | str, mtime: float | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() or p.is_symlink()}


def reasons(report) -> dict[str, str]:
    return {r.source: r.reason for r in report.refused}


def test_collect_folder_layout(tmp_path):
    course = make_course(tmp_path / "course")
    src = tmp_path / "incoming"
    put(src / "alice/intro/arrays.ipynb", nb_bytes("alice"))
    put(src / "alice/intro/timestamp.txt", "2024-01-02 10:00:00 UTC")
    put(src / "alice/intro/notes.txt", "scratch")
    put(src / "alice/intro/wrong.ipynb", nb_bytes())
    put(src / "alice/intro/.ipynb_checkpoints/arrays-checkpoint.ipynb", nb_bytes())
    put(src / "alice/hw9/arrays.ipynb", nb_bytes())
    put(src / "alice/stray.ipynb", nb_bytes())
    put(src / "bob/masks/plots.ipynb", "{ this is not json")
    put(src / "bad$id/intro/arrays.ipynb", nb_bytes())
    put(src / ".hidden/intro/arrays.ipynb", nb_bytes())
    secret = put(tmp_path / "secret.ipynb", nb_bytes("secret"))
    (src / "carol/intro").mkdir(parents=True)
    (src / "carol/intro/arrays.ipynb").symlink_to(secret)
    (tmp_path / "elsewhere/intro").mkdir(parents=True)
    put(tmp_path / "elsewhere/intro/arrays.ipynb", nb_bytes())
    (src / "eve").symlink_to(tmp_path / "elsewhere")

    report = collect(course, src)
    dest = course.root / "submitted"
    assert files_under(dest) == {"alice/intro/arrays.ipynb", "alice/intro/timestamp.txt", "bob/masks/plots.ipynb"}
    assert (dest / "alice/intro/arrays.ipynb").read_bytes() == nb_bytes("alice")
    assert {(t.student, t.assignment, t.notebook) for t in report.taken} == {
        ("alice", "intro", "arrays"), ("alice", "intro", None), ("bob", "masks", "plots")}
    assert all(t.status == "new" for t in report.taken)
    assert [t.dest.name for t in report.warnings] == ["plots.ipynb"]
    assert "not valid JSON" in report.warnings[0].warning
    why = reasons(report)
    assert "not a notebook" in why[str(src / "alice/intro/notes.txt")]
    assert "unknown notebook 'wrong.ipynb'" in why[str(src / "alice/intro/wrong.ipynb")]
    assert "unknown assignment 'hw9'" in why[str(src / "alice/hw9") + "/"]
    assert "not in an assignment folder" in why[str(src / "alice/stray.ipynb")]
    assert "not a safe folder name" in why[str(src / "bad$id") + "/"]
    assert "not a safe folder name" in why[str(src / ".hidden") + "/"]
    assert "symbolic link" in why[str(src / "carol/intro/arrays.ipynb")]
    assert "symbolic link" in why[str(src / "eve")]
    assert "clutter" in why[str(src / "alice/intro/.ipynb_checkpoints") + "/"]
    text = report.summary()
    assert "3 taken" in text and f"{len(report.refused) - 1} refused, 1 ignored" in text
    assert "unknown assignment 'hw9'" in text and [r.ignored for r in report.refused].count(True) == 1

    # idempotent: same source, nothing changes
    before = {p: (dest / p).stat().st_mtime_ns for p in files_under(dest)}
    again = collect(course, src)
    assert [t.status for t in again.taken] == ["unchanged"] * 3
    assert {p: (dest / p).stat().st_mtime_ns for p in files_under(dest)} == before
    assert reasons(again) == why

    # a newer file replaces the older one; an older one does not
    put(src / "alice/intro/arrays.ipynb", nb_bytes("alice v2"), mtime=time.time() + 60)
    put(src / "bob/masks/plots.ipynb", nb_bytes("bob old"), mtime=time.time() - 3600)
    third = collect(course, src)
    status = {(t.student, t.notebook): t.status for t in third.taken}
    assert status[("alice", "arrays")] == "updated"
    assert (dest / "alice/intro/arrays.ipynb").read_bytes() == nb_bytes("alice v2")
    assert ("bob", "plots") not in status
    assert "older than the copy" in reasons(third)[str(src / "bob/masks/plots.ipynb")]
    assert (dest / "bob/masks/plots.ipynb").read_text() == "{ this is not json"


def test_collect_zip_with_wrapper_refuses_unsafe_members(tmp_path, monkeypatch):
    course = make_course(tmp_path / "course")
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("export/", "")
        zf.writestr("export/alice/intro/arrays.ipynb", nb_bytes("zip alice"))
        zf.writestr("export/alice/intro/timestamp.txt", "2024-01-02 10:00:00 UTC")
        zf.writestr("export/bob/masks/more_plots.ipynb", nb_bytes("zip bob"))
        zf.writestr("export/bob/nope/plots.ipynb", nb_bytes())
        zf.writestr("export/carol/intro/arrays.ipynb", b"x" * 2000)  # too big with the patched limit
        zf.writestr("../evil.ipynb", nb_bytes())
        zf.writestr("/tmp/abs_evil.ipynb", nb_bytes())
        zf.writestr("export/alice/intro/../../../../up_evil.ipynb", nb_bytes())
        link = zipfile.ZipInfo("export/dan/intro/arrays.ipynb")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
        zf.writestr("__MACOSX/export/._arrays.ipynb", b"junk")
    monkeypatch.setattr(collect_mod, "MAX_FILE_BYTES", 1000)

    report = collect(course, archive)
    dest = course.root / "submitted"
    assert report.kind == "zip"
    assert files_under(dest) == {"alice/intro/arrays.ipynb", "alice/intro/timestamp.txt", "bob/masks/more_plots.ipynb"}
    assert (dest / "bob/masks/more_plots.ipynb").read_bytes() == nb_bytes("zip bob")
    why = reasons(report)
    assert "path traversal" in why["export.zip:../evil.ipynb"]
    assert "absolute path" in why["export.zip:/tmp/abs_evil.ipynb"]
    assert "path traversal" in why["export.zip:export/alice/intro/../../../../up_evil.ipynb"]
    assert "symbolic link" in why["export.zip:export/dan/intro/arrays.ipynb"]
    assert "unknown assignment 'nope'" in why["export.zip:export/bob/nope/"]
    assert "larger than" in why["export.zip:export/carol/intro/arrays.ipynb"]
    assert "clutter" in why["export.zip:__MACOSX/"]
    # nothing written anywhere but dest
    assert files_under(tmp_path) - {f"course/submitted/{p}" for p in files_under(dest)} == {"export.zip", "course/course.yml", "course/.course/lock"}

    again = collect(course, archive)
    assert {t.status for t in again.taken} == {"unchanged"}

    # the zip-bomb limit counts what would be taken: carol's member (2000 bytes) is refused on its own
    to_take = sum((dest / p).stat().st_size for p in files_under(dest))
    monkeypatch.setattr(collect_mod, "MAX_TOTAL_BYTES", max(to_take, 2000 - 1))
    assert {t.status for t in collect(course, archive).taken} == {"unchanged"}
    monkeypatch.setattr(collect_mod, "MAX_TOTAL_BYTES", to_take - 1)
    bomb = collect(course, archive)
    assert bomb.taken == [] and "zip bomb" in bomb.refused[-1].reason and bomb.refused[-1].source == str(archive)


def test_collect_lms_flat_folder_longest_notebook_name(tmp_path):
    course = make_course(tmp_path / "course")
    src = tmp_path / "lms"
    put(src / "mary_jane_plots.ipynb", nb_bytes("mj"))
    put(src / "bob_more_plots.ipynb", nb_bytes("bob"))
    put(src / "bob_arrays.ipynb", nb_bytes("bob arrays"))
    put(src / "alice_common.ipynb", nb_bytes())  # "common" is in two assignments
    put(src / "alice_unknown.ipynb", nb_bytes())
    put(src / "alice_arrays.txt", "not a notebook")
    put(src / "bad!id_arrays.ipynb", nb_bytes())
    put(src / "README.md", "# the class's uploads")  # the instructor's notes: ignored, not a failure
    put(src / "readme-first.txt", "not a README")  # any other stray file is still refused

    report = collect(course, src)
    dest = course.root / "submitted"
    assert files_under(dest) == {"mary_jane/masks/plots.ipynb", "bob/masks/more_plots.ipynb", "bob/intro/arrays.ipynb"}
    why = reasons(report)
    assert "several assignments" in why[str(src / "alice_common.ipynb")]
    assert "unknown notebook" in why[str(src / "alice_unknown.ipynb")]
    assert "not a notebook" in why[str(src / "alice_arrays.txt")]
    assert "not a safe folder name" in why[str(src / "bad!id_arrays.ipynb")]
    assert "not a notebook" in why[str(src / "readme-first.txt")]
    assert [r.source for r in report.ignored] == [str(src / "README.md")]
    assert len(report.refused) - len(report.ignored) == 5 and len(report.failed) == 5
    assert {t.status for t in collect(course, src).taken} == {"unchanged"}


def test_collect_errors_name_the_source(tmp_path):
    course = make_course(tmp_path / "course")
    with pytest.raises(CollectError, match="no such file"):
        collect(course, tmp_path / "nowhere")
    put(tmp_path / "notes.txt", "hello")
    with pytest.raises(CollectError, match="notes.txt: neither a folder nor a zip"):
        collect(course, tmp_path / "notes.txt")
    put(tmp_path / "broken.zip", "PK not really")
    with pytest.raises(CollectError, match="broken.zip: not a readable zip"):
        collect(course, tmp_path / "broken.zip")
    with pytest.raises(CollectError, match="overlap"):
        collect(course, course.root)


# --------------------------------------------------------------------------------------
# export
# --------------------------------------------------------------------------------------
def test_export_csv_and_json(graded_course):
    result = export_grades(graded_course)
    assert result.path == graded_course.root / "exports/grades.csv"
    rows = list(csv.DictReader(io.StringIO(result.path.read_text())))
    header = result.path.read_text().splitlines()[0].split(",")
    assert header == ["student", "intro/make-array", "intro/slice-it", "intro/raw", "intro/penalty", "intro/total",
                      "intro/status", "masks/hist", "masks/scatter", "masks/masks-common", "masks/raw",
                      "masks/penalty", "masks/total", "masks/status", "extra/extra-common", "extra/raw",
                      "extra/penalty", "extra/total", "extra/status", "total", "max_total"]
    by = {r["student"]: r for r in rows}
    assert list(by) == STUDENTS
    assert by["alice"]["intro/total"] == "5" and by["alice"]["intro/status"] == "graded"
    assert by["alice"]["intro/raw"] == "5" and by["alice"]["intro/penalty"] == "0" and by["dave"]["intro/penalty"] == ""
    assert by["alice"]["masks/status"] == "not graded" and by["alice"]["masks/total"] == ""
    assert by["bob"]["masks/scatter"] == "2"  # the manual score wins over the auto score 0
    assert by["bob"]["masks/total"] == "3" and by["bob"]["total"] == "5"
    assert by["carol"]["masks/hist"] == "missing" and by["carol"]["masks/total"] == "missing"
    assert by["carol"]["masks/status"] == "missing" and by["carol"]["intro/total"] == "0"
    assert all(by["dave"][c] == "missing" for c in header
               if c.startswith(("intro/", "masks/", "extra/")) and not c.endswith("/penalty"))
    assert by["dave"]["total"] == "0" and by["dave"]["max_total"] == "10"
    assert by["alice"]["extra/total"] == "missing"  # not released, not in the gradebook
    maxima = list(csv.DictReader(io.StringIO(result.max_path.read_text())))
    assert result.max_path.name == "grades.max.csv"
    assert maxima[0]["student"] == "(max)" and maxima[0]["intro/slice-it"] == "3" and maxima[0]["max_total"] == "10"
    assert "4 students" in result.summary()

    out = graded_course.root / "elsewhere" / "g.json"
    js = export_grades(graded_course, fmt="json", out=out)
    data = json.loads(out.read_text())
    assert js.path == out and [d["student"] for d in data] == STUDENTS
    bob = data[1]
    assert bob["intro/slice-it"] == 0 and bob["intro/total"] == 2 and bob["masks/total"] == 3
    assert bob["intro/max"] == 5 and bob["masks/max"] == 4 and bob["extra/max"] == 1
    assert data[3]["intro/make-array"] == "missing" and data[0]["masks/total"] is None
    assert data[0]["total"] == 5 and data[0]["max_total"] == 10

    with pytest.raises(ValueError, match="unknown export format 'xml'"):
        export_grades(graded_course, fmt="xml")


def test_export_without_gradebook_names_the_file(tmp_path):
    course = make_course(tmp_path / "course")
    with pytest.raises(FileNotFoundError, match="gradebook.db: no gradebook"):
        export_grades(course)
    assert not (course.root / "gradebook.db").exists()


# --------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------
def test_class_report_pass_rates_and_png(graded_course):
    from matplotlib.image import imread

    report = class_report(graded_course)
    stats = {(r.assignment, r.question): r for r in report.rows}
    assert [k for k in stats] == [("intro", "make-array"), ("intro", "slice-it"), ("masks", "hist"),
                                  ("masks", "scatter"), ("masks", "masks-common"), ("extra", "extra-common")]
    ma, sl = stats[("intro", "make-array")], stats[("intro", "slice-it")]
    assert (ma.submissions, ma.full_points, ma.missing) == (3, 2, 1)
    assert ma.pass_rate == pytest.approx(2 / 3) and ma.mean_score == pytest.approx(4 / 3)
    assert sl.pass_rate == pytest.approx(1 / 3) and sl.mean_score == pytest.approx(1.0)
    assert sl.hardest and not ma.hardest
    # masks: alice is not graded and carol, dave are missing: only bob counts
    hist, common = stats[("masks", "hist")], stats[("masks", "masks-common")]
    assert (hist.submissions, hist.missing, hist.not_graded, hist.pass_rate) == (1, 2, 1, 1.0)
    assert common.pass_rate == 0.0 and common.hardest and not stats[("masks", "scatter")].hardest
    extra = stats[("extra", "extra-common")]
    assert extra.submissions == 0 and extra.pass_rate is None and not extra.hardest
    assert report.totals == {"intro": [5.0, 2.0, 0.0], "masks": [3.0], "extra": []}

    rows = list(csv.DictReader(io.StringIO((graded_course.root / "reports/questions.csv").read_text())))
    assert rows[1]["question"] == "slice-it" and rows[1]["pass_rate"] == "0.3333" and rows[1]["hardest"] == "yes"
    assert rows[5]["pass_rate"] == "" and rows[5]["submissions"] == "0"

    png = graded_course.root / "reports/totals.png"
    assert report.png_path == png and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(report.figure.axes) == 3
    assert imread(png).shape[:2] == (round(2.8 * 3 * 100), 600)
    assert "slice-it" in report.summary() and "excluded" in report.summary()
    table = report.table()
    assert table.row_count == 6 and "excluded" in str(table.caption)


def test_class_report_with_no_submissions(tmp_path, gradebooks):
    course = make_course(tmp_path / "course", gradebooks[0])
    out = tmp_path / "rep"
    report = class_report(course, out_dir=out)
    assert report.png_path is None and report.figure is None and not (out / "totals.png").exists()
    assert "no graded submissions" in report.message and "no graded submissions" in report.summary()
    rows = list(csv.DictReader(io.StringIO((out / "questions.csv").read_text())))
    assert len(rows) == 6 and {r["submissions"] for r in rows} == {"0"} and {r["missing"] for r in rows} == {"4"}


# --------------------------------------------------------------------------------------
# feedback
# --------------------------------------------------------------------------------------
def hidden(body: str) -> str:
    return f"### BEGIN HIDDEN TESTS\n{body}\n### END HIDDEN TESTS\n"


def write_graded_submission(course) -> None:
    """Source notebook with hidden tests, and alice's autograded intro with hostile content."""
    v4 = nbformat.v4
    src = v4.new_notebook()
    src.cells = [
        v4.new_code_cell("a = ...", metadata={"nbgrader": {"grade_id": "make-array", "solution": True}}),
        v4.new_code_cell("assert a.shape == (3,)\n" + hidden(HIDDEN_SECRET),
                         metadata={"nbgrader": {"grade_id": "make-array-test", "grade": True, "points": 2}}),
        v4.new_code_cell("assert b is not None\n" + hidden("assert hidden_slice_check(b, 'other-secret')"),
                         metadata={"nbgrader": {"grade_id": "slice-it-test", "grade": True, "points": 3}}),
    ]
    path = course.source_notebook(course.assignment("intro"), course.assignment("intro").notebooks[0])
    path.parent.mkdir(parents=True)
    nbformat.write(src, path)

    nb = v4.new_notebook()
    md = v4.new_markdown_cell("# My work\n<script>alert('md')</script>\n\n[click](javascript:alert(2))\n\n"
                              "<img src=x onerror=alert(3)>\n\n| x | y |\n|---|---|\n| 1 | 2 |\n\n"
                              "![remote](http://tracker.example/p.png) ![att](attachment:pic.png)")
    md.attachments = {"pic.png": {"image/png": PNG_1PX}}
    solution = v4.new_code_cell("import matplotlib.pyplot as plt\nplt.plot([1, 2])\nprint('<script>x</script>')",
                                execution_count=1,
                                metadata={"nbgrader": {"grade_id": "make-array", "solution": True}})
    solution.outputs = [
        v4.new_output("stream", name="stdout", text="<script>alert('out')</script>\n\x1b[31mred\x1b[0m\n"),
        v4.new_output("display_data", data={"image/png": PNG_1PX, "text/plain": "<Figure size 640x480>"}),
        v4.new_output("display_data", data={"text/html": "<script>alert('html')</script>",
                                            "application/javascript": "alert('js')"}),
        v4.new_output("execute_result", data={"text/html": "<b onmouseover=alert(1)>x</b>", "text/plain": "'safe <text>'"},
                      execution_count=1),
    ]
    passed = v4.new_code_cell(src.cells[1].source, execution_count=2, metadata=src.cells[1].metadata)
    failed = v4.new_code_cell(src.cells[2].source, execution_count=3, metadata=src.cells[2].metadata)
    failed.outputs = [v4.new_output("error", ename="AssertionError", evalue="b should hold the first 3 elements",
                                    traceback=["AssertionError: b should hold the first 3 elements"])]
    nb.cells = [md, solution, passed, failed]
    folder = course.root / "autograded/alice/intro"
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / "arrays.ipynb")
    SubmissionRecord("alice", "intro", "x", "y", [
        Outcome("make-array", 2.0, 2.0),
        Outcome.failed("slice-it", 3.0, "b should hold the first 3 elements <i>see slicing</i>"),
    ], ["arrays: cell 'slice-it-test' was edited; the original was used <script>p</script>"]).write(folder)
    (course.root / "submitted/bob/intro").mkdir(parents=True)


def test_feedback_html_is_complete_and_safe(graded_course):
    course = graded_course
    write_graded_submission(course)
    written = write_feedback(course, assignments=["intro"])
    page = course.root / "feedback/alice/intro/feedback.html"
    assert list(written) == [page]
    assert {(s.student, s.reason) for s in written.skipped} == {
        ("bob", "submitted but not autograded yet"), ("carol", "no autograded submission"),
        ("dave", "no autograded submission")}
    text = page.read_text()
    lower = text.lower()

    # header, totals (the gradebook's: a grader gave slice-it its 3 points by hand), the
    # per-question table with the autograder's messages, problems
    assert "Intro &lt;arrays&gt; &amp; co" in text and "Total: <strong>5 / 5</strong>" in text
    row = re.search(r'<tr id="q-slice-it">(.*?)</tr>', text, re.S).group(1)
    assert row.count(">3<") == 2 and "failed" in row
    assert "b should hold the first 3 elements &lt;i&gt;see slicing&lt;/i&gt;" in row
    row = re.search(r'<tr id="q-make-array">(.*?)</tr>', text, re.S).group(1)
    assert ">2<" in row and "passed" in row
    assert "was edited; the original was used" in text
    # the student's plot and an attachment, embedded
    assert f'<img src="data:image/png;base64,{PNG_1PX}"' in text
    assert text.count("data:image/png;base64,") == 2
    # no hidden tests, from the graded notebook or the source notebook
    assert "HIDDEN TESTS" not in text
    source = nbformat.read(course.source_notebook(course.assignment("intro"), course.assignment("intro").notebooks[0]), 4)
    for cell in source.cells:
        for block in re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.S):
            for line in block.strip().splitlines():
                assert line.strip() not in text
    assert "assert a.shape == (3,)" in text  # the visible part stays
    # nothing from the student can run in the instructor's browser
    assert "<script" not in lower and "javascript:" not in lower.replace("[click](javascript:", "")
    assert "onerror=" not in lower.replace("onerror=alert(3)&gt;", "") and "<b onmouseover" not in lower
    assert "<p>&lt;script&gt;alert('md')&lt;/script&gt;</p>" in text
    assert "alert(&#39;html&#39;)" not in text and "alert('js')" not in text
    assert "not shown" in text and "&#39;safe &lt;text&gt;&#39;" in text
    assert "http://tracker.example/p.png" not in re.findall(r'src="([^"]*)"', text)
    assert "\x1b" not in text and "<table>" in text
    assert "Content-Security-Policy" in text

    # rewriting gives the same bytes
    before = page.read_bytes()
    write_feedback(course, assignments=["intro"], students=["alice"])
    assert page.read_bytes() == before


def test_feedback_shows_the_submitted_pictures_where_the_grader_drew_none(graded_course):
    """grading.plots: none (the default): a plot cell's pictures come from the same
    cell of the submitted notebook (same id and source), labelled; never from an
    edited cell, never doubled when the grader drew one, never other output types."""
    course = graded_course
    write_graded_submission(course)
    v4 = nbformat.v4
    other_png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"not drawn by the grader").decode()
    figure_text = {"text/plain": "<Figure size 640x480 with 1 Axes>"}

    def cell(cid, source, *outputs):
        c = v4.new_code_cell(source, execution_count=1)
        c.id, c.outputs = cid, list(outputs)
        return c

    graded = nbformat.read(course.root / "autograded/alice/intro/arrays.ipynb", 4)
    graded.cells += [
        cell("plot-a", "plt.plot(x)", v4.new_output("display_data", data=figure_text)),
        cell("plot-b", "plt.plot(y)", v4.new_output("display_data", data=figure_text)),
        cell("plot-c", "plt.plot(z)", v4.new_output("display_data", data={"image/png": PNG_1PX, **figure_text})),
    ]
    nbformat.write(graded, course.root / "autograded/alice/intro/arrays.ipynb")
    submitted = v4.new_notebook()
    submitted.cells = [
        cell("plot-a", "plt.plot(x)", v4.new_output("display_data", data={"image/png": other_png, **figure_text}),
             v4.new_output("display_data", data={"text/html": "<script>alert(1)</script>"})),
        cell("plot-b", "plt.plot(y * 2)", v4.new_output("display_data", data={"image/png": other_png})),
        cell("plot-c", "plt.plot(z)", v4.new_output("display_data", data={"image/png": other_png})),
    ]
    (course.root / "submitted/alice/intro").mkdir(parents=True, exist_ok=True)
    raw = json.loads(nbformat.writes(submitted))
    raw["cells"][0]["outputs"] += [5, "junk", {"output_type": "display_data", "data": 7}]  # an untrusted file
    (course.root / "submitted/alice/intro/arrays.ipynb").write_text(json.dumps(raw))

    write_feedback(course, assignments=["intro"], students=["alice"])
    text = (course.root / "feedback/alice/intro/feedback.html").read_text()
    cells = {cid: re.search(rf"plt.plot\({cid}\)</pre>(.*?)</div></div>", text, re.S).group(1) for cid in "xz"}
    assert other_png in cells["x"] and "as it is in your submitted notebook" in cells["x"]
    assert "&lt;Figure size" not in cells["x"] and "alert(1)" not in text
    y_cell = re.search(r"plt.plot\(y\)</pre>(.*?)</div></div>", text, re.S).group(1)
    assert other_png not in y_cell and "&lt;Figure size 640x480 with 1 Axes&gt;" in y_cell  # edited since
    assert PNG_1PX in cells["z"] and other_png not in cells["z"]  # the grader's own picture wins
    assert text.count(other_png) == 1


def test_feedback_unknown_names(graded_course):
    with pytest.raises(KeyError, match="unknown assignment 'nope'"):
        write_feedback(graded_course, assignments=["nope"])
    with pytest.raises(KeyError, match="unknown student.*'zed'"):
        write_feedback(graded_course, students=["zed"])
    result = write_feedback(graded_course, students=["dave"], out_dir=graded_course.root / "fb")
    assert list(result) == [] and len(result.skipped) == 3 and "skipped 3" in result.summary()
    assert not (graded_course.root / "fb").exists()


def test_clean_source_follows_nbgrader_rule():
    from autograder.nbmeta import strip_hidden_tests as clean_source

    assert clean_source("a\n" + hidden("x = 1") + "b\n") == "a\nb\n"
    assert clean_source(["a\n", "  ## BEGIN HIDDEN TESTS\n", "y\n", "## END HIDDEN TESTS\n", "c"]) == "a\nc"
    assert clean_source("a\n# BEGIN HIDDEN TESTS\nsecret()\n") == "a\n"  # unterminated: the rest goes


def test_results_render(graded_course, tmp_path):
    from rich.console import Console

    console = Console(file=io.StringIO(), width=200)
    put(tmp_path / "in/alice/intro/arrays.ipynb", nb_bytes())
    results = [collect(graded_course, tmp_path / "in"), export_grades(graded_course), class_report(graded_course)]
    for r in results:
        assert isinstance(r.summary(), str)
        console.print(r.table())
    out = console.file.getvalue()
    assert "alice" in out and "slice-it" in out and "hardest" in out
