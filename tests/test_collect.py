"""``course collect`` against the roster, with oversized zip members and with notebooks
the grader cannot read (made-up students, made here).

* Once a class list is imported, a student who is not in it is refused per file in the
  folder, zip and flat layouts (as the exchange and the LMS downloads refuse one), with
  a hint: the roster's closest id, how to add a new student, or ``--lms canvas`` for a
  file named as Canvas names its downloads; the other files are taken.  Without an
  imported roster (nbgrader's student table filled by autograde is none) every student
  is taken, as before.
* A zip member over the per-file cap is refused on its own; the zip-bomb limit counts
  only what would be taken.
* A notebook the grader would score 0 (UTF-16, a byte order mark, no ``cells``) is
  taken with a warning giving the grader's own reason.
"""

from __future__ import annotations

import json
import zipfile

from click.testing import CliRunner

from autograder import collect as collect_mod
from autograder.cli import main
from autograder.collect import collect
from autograder.notebooks import NotebookError, read_notebook
from autograder.roster import import_roster, load_roster

from .realclass import CANVAS_ROSTER, gradebook, make_course, notebook_bytes


def roster_course(tmp_path, roster: str | None = CANVAS_ROSTER):
    """A course with no lms section (as the shipped course.yml), its roster imported."""
    course = make_course(tmp_path / "course")
    if roster is not None:
        (tmp_path / "roster.csv").write_text(roster)
        import_roster(course, tmp_path / "roster.csv")
    return course


def put(path, data: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def run(course, *args: str):
    return CliRunner().invoke(main, ["--course-dir", str(course.root), "collect", *args])


def submitted(course) -> set[str]:
    sub = course.folder("submitted")
    return {p.relative_to(sub).as_posix() for p in sub.rglob("*") if p.is_file()} if sub.exists() else set()


def canvas_download(path):
    """Canvas's download of the intro assignment, plus one student's folder in the plain layout."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("lovelaceada_1001_5001_arrays.ipynb", notebook_bytes("ada"))
        zf.writestr("hoppergrace_LATE_1003_5003_arrays.ipynb", notebook_bytes("grace"))
        zf.writestr("doejane_1077_5077_arrays.ipynb", notebook_bytes("not on the roster"))
        zf.writestr("emmy/intro/arrays.ipynb", notebook_bytes("emmy"))


def test_a_canvas_download_collected_without_lms_canvas_is_refused_per_file_with_the_option_to_use(tmp_path):
    course = roster_course(tmp_path)
    archive = put(tmp_path / "submissions.zip", b"")
    canvas_download(archive)

    r = run(course, str(archive))
    assert r.exit_code == 1, r.output
    lines = r.output.splitlines()
    assert "1 taken" in lines[0] and "3 refused" in lines[0]
    for name, student in (("lovelaceada_1001_5001_arrays.ipynb", "lovelaceada_1001_5001"),
                          ("hoppergrace_LATE_1003_5003_arrays.ipynb", "hoppergrace_LATE_1003_5003"),
                          ("doejane_1077_5077_arrays.ipynb", "doejane_1077_5077")):
        line = next(x for x in lines if f"submissions.zip:{name}:" in x)
        assert line.startswith("  refused") and f"student '{student}' is not in the roster" in line
        assert "looks like a Canvas download" in line and "use --lms canvas" in line
    assert submitted(course) == {"emmy/intro/arrays.ipynb"}  # the other file of the zip is taken
    assert sorted(s.id for s in load_roster(course).students) == ["ada", "emmy", "grace", "marie"]

    # collected the right way, the same files go to their students (the stranger is refused)
    r = run(course, str(archive), "--lms", "canvas")
    assert {"ada/intro/arrays.ipynb", "grace/intro/arrays.ipynb"} <= submitted(course)
    assert "LMS user id 1077 (doejane) is not in the roster" in r.output
    assert not any("_" in p.split("/")[0] for p in submitted(course))


def test_without_an_imported_roster_every_student_is_taken_and_canvas_names_are_noted(tmp_path):
    course = roster_course(tmp_path, roster=None)
    with gradebook(course) as gb:  # students course autograde met: no roster
        gb.update_or_create_student("zed")
    assert not load_roster(course).imported and load_roster(course)
    archive = put(tmp_path / "submissions.zip", b"")
    canvas_download(archive)
    put(tmp_path / "more/newbie/intro/arrays.ipynb", notebook_bytes("newbie"))

    report = collect(course, archive)
    assert not report.failed
    assert submitted(course) == {f"{s}/intro/arrays.ipynb" for s in (
        "lovelaceada_1001_5001", "hoppergrace_LATE_1003_5003", "doejane_1077_5077", "emmy")}
    note = " ".join(report.notes)
    assert "3 notebooks taken for students such as 'doejane_1077_5077' are named as an LMS's download" in note
    assert "use --lms canvas" in note
    assert not collect(course, tmp_path / "more").failed
    assert "newbie/intro/arrays.ipynb" in submitted(course)


def test_a_folder_student_not_in_the_roster_is_refused_per_file_and_a_new_one_can_be_added(tmp_path):
    course = roster_course(tmp_path)
    src = tmp_path / "incoming"
    put(src / "grce/intro/arrays.ipynb", notebook_bytes("grace, mistyped"))
    put(src / "grce/intro/timestamp.txt", b"2026-03-06 10:00:00 UTC")
    put(src / "Ada/essay/essay.ipynb", notebook_bytes("ada, capitalised"))
    put(src / "ada/intro/arrays.ipynb", notebook_bytes("ada"))
    put(src / "zoe_arrays.ipynb", notebook_bytes("zoe, flat"))
    put(src / "Ada Lovelace_421_assignsubmission_file_/arrays.ipynb", notebook_bytes("moodle's folder"))

    report = collect(course, src)
    assert submitted(course) == {"ada/intro/arrays.ipynb"}
    why = {r.source.removeprefix(f"{src}/"): r.reason for r in report.refused}
    moodle = why.pop("Ada Lovelace_421_assignsubmission_file_/")
    assert "not a safe folder name" in moodle and "looks like a Moodle download" in moodle and "--lms moodle" in moodle
    assert set(why) == {"grce/intro/arrays.ipynb", "grce/intro/timestamp.txt", "Ada/essay/essay.ipynb",
                        "zoe_arrays.ipynb"}
    assert why["grce/intro/arrays.ipynb"].startswith("student 'grce' is not in the roster (did you mean 'grace'?)")
    assert "(did you mean 'ada'?)" in why["Ada/essay/essay.ipynb"]
    assert "did you mean" not in why["zoe_arrays.ipynb"]
    assert all("course roster import" in reason for reason in why.values())
    assert len(report.failed) == 5

    # zoe is new to the class: the instructor adds her, then collects again
    (tmp_path / "zoe.csv").write_text("student id,name\nzoe,Zoe Zed\n")
    added = import_roster(course, tmp_path / "zoe.csv")
    assert added.added == ["zoe"]
    again = collect(course, src)
    assert "zoe/intro/arrays.ipynb" in submitted(course)
    assert len(again.failed) == 4
    assert sorted(s.id for s in load_roster(course).students) == ["ada", "emmy", "grace", "marie", "zoe"]


def test_an_oversized_member_is_refused_alone_and_the_rest_of_the_zip_is_taken(tmp_path, monkeypatch):
    course = roster_course(tmp_path)
    archive = tmp_path / "canvas.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("lovelaceada_1001_5001_arrays.ipynb", notebook_bytes("ada"))
        zf.writestr("hoppergrace_1003_5003_arrays.ipynb", notebook_bytes("grace"))
        zf.writestr("noetheremmy_1002_5002_arrays.ipynb", b" " * 100_000)  # compresses to a few hundred bytes
    # at scale: 50 MB per file, and a huge member alone over what the whole zip may bring
    monkeypatch.setattr(collect_mod, "MAX_FILE_BYTES", 10_000)
    monkeypatch.setattr(collect_mod, "MAX_TOTAL_BYTES", 50_000)

    r = run(course, str(archive), "--lms", "canvas")
    assert r.exit_code == 1, r.output
    refused = [x for x in r.output.splitlines() if x.startswith("  refused")]
    assert len(refused) == 1 and refused[0].startswith("  refused  canvas.zip:noetheremmy_1002_5002_arrays.ipynb: "
                                                      "larger than")
    assert submitted(course) == {f"{s}/intro/{f}" for s in ("ada", "grace") for f in ("arrays.ipynb", "timestamp.txt")}


def test_a_notebook_the_grader_cannot_read_is_taken_with_the_graders_reason(tmp_path):
    course = roster_course(tmp_path, roster=None)
    good = notebook_bytes("fine")
    no_cells = json.loads(good)
    del no_cells["cells"]
    src = tmp_path / "incoming"
    files = {
        "utf16": good.decode("utf-8").encode("utf-16"),  # a Windows editor's "Unicode"
        "bom": b"\xef\xbb\xbf" + good,
        "nocells": json.dumps(no_cells).encode(),
        "fine": good,
    }
    for student, data in files.items():
        put(src / student / "intro/arrays.ipynb", data)

    report = collect(course, src)
    assert {t.student for t in report.taken} == set(files)
    warned = {t.student: t.warning for t in report.warnings}
    assert set(warned) == {"utf16", "bom", "nocells"}
    assert "saved as UTF-16, not UTF-8" in warned["utf16"]
    assert "saved as UTF-8 with a byte order mark" in warned["bom"]
    assert "not a valid notebook" in warned["nocells"] and "cells" in warned["nocells"]
    for student, warning in warned.items():
        assert warning.endswith("; taken, the grader will score it 0")
        try:  # the grader's own reading gives the same reason
            read_notebook(course.folder("submitted", student, "intro") / "arrays.ipynb")
        except NotebookError as exc:
            assert warning.startswith(str(exc))
        else:
            raise AssertionError(f"the grader reads {student}'s notebook")
    assert "3 warnings" in report.summary()


def test_a_recorded_time_is_readable_as_nbgrader_reads_it():
    from nbgrader.utils import parse_utc

    from autograder.collect import _readable_time

    for text, readable in (("2026-03-06 22:59:00.000000 UTC", True), ("2026-03-06 23:59:00 Europe/Berlin", True),
                           ("2026-03-06T23:59:00+01:00", True), ("6 March 2026", False), ("", False), ("-", False)):
        assert _readable_time(text) is readable, text
        if readable:
            assert parse_utc(text)
