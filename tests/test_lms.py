"""Collecting LMS downloads as Canvas and Moodle make them (made-up students, made here).

The layouts are the LMSs' own (see autograder/lms.py for where each rule comes from):
Canvas's ``<name>[_LATE]_<user id>_<attachment id>_<file>`` at the top of its zip, with
``-N`` before the extension for a file uploaded again; Moodle's
``<Full Name>_<participant id>_assignsubmission_file_/<file>`` folders (or flat files).
"""

from __future__ import annotations

import datetime as dt
import stat
import struct
import zipfile

import pytest
from click.testing import CliRunner
from nbgrader.utils import parse_utc

from autograder.cli import main
from autograder.collect import collect
from autograder.roster import import_roster

from .realclass import CANVAS_ROSTER, DUE, UTC, make_course, notebook_bytes

MOODLE_ROSTER = (
    "First name,Last name,ID number,Institution,Department,Email address\n"
    "Ada,Lovelace,S1,,,ada@example.org\n"
    "Emmy,Noether,S2,,,emmy@example.org\n"
    "Wei,Zhang,S5,,,wei.a@example.org\n"
    "Wei,Zhang,S6,,,wei.b@example.org\n"
    "Émilie,du Châtelet,S7,,,emilie@example.org\n"
    "Grace,Hopper,S3,,,grace@example.org\n"
)


def lms_course(tmp_path, roster: str, **extra):
    extra.setdefault("schedule", {"timezone": "Europe/Berlin"})
    extra.setdefault("assignment_settings", {"intro": {"due": "2026-03-06 23:59"}})
    course = make_course(tmp_path / "course", **extra)
    (tmp_path / "roster.csv").write_text(roster)
    import_roster(course, tmp_path / "roster.csv")
    return course


def member(zf: zipfile.ZipFile, name: str, data: bytes, when: dt.datetime, *, utc_field: bool = False) -> None:
    """A zip member dated ``when`` (its DOS date in UTC, as the course's lms.zip_timezone says),
    optionally with Info-ZIP's UTC time field as well."""
    info = zipfile.ZipInfo(name, date_time=when.astimezone(UTC).timetuple()[:6])
    if utc_field:
        info.extra = struct.pack("<HHBI", 0x5455, 5, 1, int(when.timestamp()))
    zf.writestr(info, data)


def timestamp(course, student: str, assignment: str = "intro") -> dt.datetime:
    text = (course.folder("submitted", student, assignment) / "timestamp.txt").read_text()
    return parse_utc(text).replace(tzinfo=UTC)  # nbgrader's own reading of it


def canvas_zip(path, made: dt.datetime):
    with zipfile.ZipFile(path, "w") as zf:
        # ada uploaded arrays.ipynb, then again: Canvas called the second one arrays-1.ipynb
        member(zf, "lovelaceada_1001_50001_arrays.ipynb", notebook_bytes("ada first"), DUE - dt.timedelta(hours=3))
        member(zf, "lovelaceada_1001_50017_arrays-1.ipynb", notebook_bytes("ada second"),
               DUE - dt.timedelta(hours=1), utc_field=True)
        member(zf, "lovelaceada_1001_50002_notes.txt", b"scratch", DUE - dt.timedelta(hours=3))
        # emmy was late (Canvas: LATE); grace too, in an older Canvas's lower case, with two resubmissions
        member(zf, "noetheremmy_LATE_1002_50020_arrays.ipynb", notebook_bytes("emmy"), DUE + dt.timedelta(hours=35))
        member(zf, "hoppergrace_late_1003_50031_arrays-2.ipynb", notebook_bytes("grace 2"), DUE + dt.timedelta(days=2))
        member(zf, "hoppergrace_late_1003_50030_arrays-1.ipynb", notebook_bytes("grace 1"), DUE + dt.timedelta(days=1))
        # marie was on time, but this member is dated when Canvas made the zip
        member(zf, "curiemarie_1004_50040_arrays.ipynb", notebook_bytes("marie"), made)
        member(zf, "strangerx_1099_50050_arrays.ipynb", notebook_bytes("who?"), DUE)
        member(zf, "anon_x7k2p_50060_arrays.ipynb", notebook_bytes("anonymous"), DUE)
        member(zf, "lovelaceada_1001_50070_essay-final.ipynb", notebook_bytes("renamed"), DUE)
        member(zf, "__MACOSX/._lovelaceada_1001_50001_arrays.ipynb", b"junk", DUE)
        link = zipfile.ZipInfo("emmyx_1002_50080_arrays.ipynb", date_time=(2026, 3, 6, 12, 0, 0))
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")


def test_canvas_zip_to_the_right_students_with_the_right_times(tmp_path):
    course = lms_course(tmp_path, CANVAS_ROSTER, lms={"kind": "canvas", "zip_timezone": "UTC"})
    archive = tmp_path / "Astro101-Intro submissions.zip"
    canvas_zip(archive, made=DUE + dt.timedelta(days=3))
    report = collect(course, archive, lms="canvas")
    sub = course.folder("submitted")
    notebooks = {t.student: t.dest.read_bytes() for t in report.taken if t.notebook}
    assert notebooks == {"ada": notebook_bytes("ada second"), "emmy": notebook_bytes("emmy"),
                         "grace": notebook_bytes("grace 2"), "marie": notebook_bytes("marie")}
    assert {t.dest.relative_to(sub).as_posix() for t in report.taken} == {
        f"{s}/intro/{f}" for s in ("ada", "emmy", "grace", "marie") for f in ("arrays.ipynb", "timestamp.txt")}
    assert timestamp(course, "ada") == DUE - dt.timedelta(hours=1)  # from the UTC time field
    assert timestamp(course, "emmy") == DUE + dt.timedelta(hours=35)
    assert timestamp(course, "grace") == DUE + dt.timedelta(days=2)
    assert timestamp(course, "marie") == DUE  # Canvas did not mark it late: the zip's date is not the submission's
    why = {r.source.split(":", 1)[1]: r.reason for r in report.refused}
    assert "a later resubmission" in why["lovelaceada_1001_50001_arrays.ipynb"]
    assert "a later resubmission" in why["hoppergrace_late_1003_50030_arrays-1.ipynb"]
    assert "LMS user id 1099 (strangerx) is not in the roster" in why["strangerx_1099_50050_arrays.ipynb"]
    assert "anonymous grading" in why["anon_x7k2p_50060_arrays.ipynb"]
    assert "'notes.txt' is not a notebook" in why["lovelaceada_1001_50002_notes.txt"]
    assert "'essay-final.ipynb' is not a notebook" in why["lovelaceada_1001_50070_essay-final.ipynb"]
    assert "symbolic link" in why["emmyx_1002_50080_arrays.ipynb"]
    assert "clutter" in why["__MACOSX/"]
    # collecting the same download again changes nothing
    again = collect(course, archive, lms="canvas")
    assert {t.status for t in again.taken} == {"unchanged"}


def moodle_zip(path, *, trailing: str = "_"):
    with zipfile.ZipFile(path, "w") as zf:
        late = DUE + dt.timedelta(days=4)  # Moodle dates every member when it makes the zip
        member(zf, f"Ada Lovelace_421_assignsubmission_file{trailing}/arrays.ipynb", notebook_bytes("ada"), late)
        member(zf, "Ada Lovelace_421_assignsubmission_onlinetext_/onlinetext.html", b"<p>hi</p>", late)
        member(zf, "Emmy Noether_422_assignsubmission_file/arrays.ipynb", notebook_bytes("emmy"), late)
        member(zf, "Wei Zhang_423_assignsubmission_file_/arrays.ipynb", notebook_bytes("wei"), late)
        member(zf, "Nobody Known_424_assignsubmission_file_/arrays.ipynb", notebook_bytes("nobody"), late)
        member(zf, "Émilie du Châtelet_426_assignsubmission_file_/arrays.ipynb", notebook_bytes("emilie"), late)
        member(zf, "Émilie du Châtelet_426_assignsubmission_file_/sub/arrays.ipynb", notebook_bytes("x"), late)
        # "Download submissions in folders" off: flat files
        member(zf, "Grace Hopper_425_assignsubmission_file_arrays.ipynb", notebook_bytes("grace"), late)


WORKSHEET = (
    "Identifier,Full name,Email address,Status,Grade,Maximum Grade,Grade can be changed,"
    "Last modified (submission),Online text,Last modified (grade),Feedback comments\n"
    'Participant 421,Ada Lovelace,ada@example.org,Submitted for grading,,5.00,Yes,"Friday, 6 March 2026, 11:30 PM",'
    ',-,\n'
    'Participant 422,Emmy Noether,emmy@example.org,Submitted for grading,,5.00,Yes,'
    '"Sunday, 8 March 2026, 9:05 AM",,-,\n'
    'Participant 423,Wei Zhang,wei.b@example.org,Submitted for grading,,5.00,Yes,"Friday, 6 March 2026, 10:00 PM",'
    ',-,\n'
    "Participant 426,Émilie du Châtelet,emilie@example.org,No submission,,5.00,Yes,-,,-,\n"
    'Participant 425,Grace Hopper,grace@example.org,Submitted for grading,,5.00,Yes,'
    '"Friday, 6 March 2026, 11:59 PM",,-,\n'
)


def test_moodle_download_by_name_then_with_its_grading_worksheet(tmp_path):
    course = lms_course(tmp_path, MOODLE_ROSTER)
    archive = tmp_path / "ASTRO101-Intro-1234.zip"
    moodle_zip(archive)
    report = collect(course, archive, lms="moodle")
    taken = {t.student: t.dest.name for t in report.taken}
    assert taken == {"ada@example.org": "arrays.ipynb", "emmy@example.org": "arrays.ipynb",
                     "emilie@example.org": "arrays.ipynb", "grace@example.org": "arrays.ipynb"}
    assert not (course.folder("submitted", "ada@example.org", "intro") / "timestamp.txt").exists()
    assert any("pass its grading worksheet" in n for n in report.notes)
    why = {r.source.split(":", 1)[1]: r.reason for r in report.refused}
    assert "2 students of that name" in why["Wei Zhang_423_assignsubmission_file_/arrays.ipynb"]
    assert "nobody of that name" in why["Nobody Known_424_assignsubmission_file_/arrays.ipynb"]
    assert "sub-folder" in why["Émilie du Châtelet_426_assignsubmission_file_/sub/arrays.ipynb"]
    ignored = [r for r in report.refused if r.ignored]
    assert [r.source.split(":", 1)[1] for r in ignored] == [
        "Ada Lovelace_421_assignsubmission_onlinetext_/onlinetext.html"]

    # the grading worksheet names every participant and says when each submitted (Berlin time)
    (tmp_path / "worksheet.csv").write_text(WORKSHEET)
    report = collect(course, archive, lms="moodle", worksheet=tmp_path / "worksheet.csv")
    assert "wei.b@example.org" in {t.student for t in report.taken}
    assert timestamp(course, "ada@example.org") == dt.datetime(2026, 3, 6, 22, 30, tzinfo=UTC)
    assert timestamp(course, "emmy@example.org") == dt.datetime(2026, 3, 8, 8, 5, tzinfo=UTC)
    assert timestamp(course, "grace@example.org") == DUE
    assert not (course.folder("submitted", "emilie@example.org", "intro") / "timestamp.txt").exists()
    why = {r.source.split(":", 1)[1]: r.reason for r in report.refused}
    assert "not in the grading worksheet" in why["Nobody Known_424_assignsubmission_file_/arrays.ipynb"]


def test_moodle_folder_extracted_and_newer_moodle_naming(tmp_path):
    course = lms_course(tmp_path, MOODLE_ROSTER)
    archive = tmp_path / "m.zip"
    moodle_zip(archive, trailing="")
    folder = tmp_path / "extracted" / "ASTRO101-Intro-1234"  # unzipped into a folder of its own
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(folder)
    report = collect(course, tmp_path / "extracted", lms="moodle")
    assert {t.student for t in report.taken} == {"ada@example.org", "emmy@example.org", "emilie@example.org",
                                                 "grace@example.org"}


def test_any_other_lms_through_a_named_pattern(tmp_path):
    pattern = r"^(?P<login>[a-z]+)__(?P<timestamp>\d{8}T\d{6})__(?P<file_id>[^/]+)$"
    course = lms_course(tmp_path, CANVAS_ROSTER, lms={"kind": "pattern", "pattern": pattern})
    src = tmp_path / "download"
    src.mkdir()
    (src / "ada__20260306T230000__arrays.ipynb").write_bytes(notebook_bytes("ada"))  # 23:00 Berlin
    (src / "emmy__20260307T090000__arrays.ipynb").write_bytes(notebook_bytes("emmy"))
    (src / "zed__20260307T090000__arrays.ipynb").write_bytes(notebook_bytes("zed"))
    (src / "readme.txt").write_text("hi")
    report = collect(course, src, lms="pattern")
    assert {t.student for t in report.taken if t.notebook} == {"ada", "emmy"}
    assert timestamp(course, "ada") == dt.datetime(2026, 3, 6, 22, 0, tzinfo=UTC)
    assert timestamp(course, "emmy") == dt.datetime(2026, 3, 7, 8, 0, tzinfo=UTC)
    why = {r.source.rsplit("/", 1)[1]: r.reason for r in report.refused}
    assert "login zed is not in the roster" in why["zed__20260307T090000__arrays.ipynb"]
    assert "does not match course.yml's lms.pattern" in why["readme.txt"]


def test_lms_settings_are_validated(tmp_path):
    from autograder.config import CourseConfigError, parse_course

    from .realclass import course_data

    for lms, expected in ((({"kind": "pattern"}), "needs pattern"),
                          ({"kind": "pattern", "pattern": "(?P<file_id>.*)"}, "one identity group"),
                          ({"kind": "pattern", "pattern": "(?P<who>.*)"}, "unknown named group"),
                          ({"kind": "pattern", "pattern": "(?P<login>"}, "not a regular expression"),
                          ({"kind": "canvas", "zip_timezone": "Nowhere/Land"}, "unknown time zone")):
        with pytest.raises(CourseConfigError, match=expected):
            parse_course(course_data(lms=lms), tmp_path, check_files=False)


def test_collect_command_with_an_lms(tmp_path):
    course = lms_course(tmp_path, CANVAS_ROSTER, lms={"kind": "canvas", "zip_timezone": "UTC"})
    archive = tmp_path / "canvas.zip"
    canvas_zip(archive, made=DUE)
    runner = CliRunner()
    r = runner.invoke(main, ["--course-dir", str(course.root), "collect", str(archive)])  # lms.kind: canvas
    assert r.exit_code == 1 and "canvas download" in r.output and "not in the roster" in r.output
    r = runner.invoke(main, ["--course-dir", str(course.root), "collect", str(archive), "--lms", "canvas",
                             "--assignment", "essay"])
    assert "is not a notebook of assignment 'essay'" in r.output
    r = runner.invoke(main, ["--course-dir", str(course.root), "collect", str(archive), "--worksheet",
                             str(archive)])
    assert r.exit_code == 2 and "use it with --lms moodle" in r.output


# --------------------------------------------------------------------------------------
# grades back to the LMS
# --------------------------------------------------------------------------------------
def graded_class(tmp_path, roster: str, ada: str = "ada", emmy: str = "emmy", lms_ids=("12345", "12346")):
    from .realclass import release_in_gradebook, submit

    course = lms_course(tmp_path, roster, assignment_settings={
        "intro": {"due": "2026-03-06 23:59", "lms_id": lms_ids[0]}, "essay": {"lms_id": lms_ids[1]}},
        schedule={"timezone": "Europe/Berlin", "late": {"policy": "percent", "percent_per_day": 10}})
    release_in_gradebook(course)
    submit(course, ada, "intro", {"make-array": 2, "slice-it": 3}, DUE - dt.timedelta(hours=1))
    submit(course, emmy, "intro", {"make-array": 2, "slice-it": 3}, DUE + dt.timedelta(hours=30))  # -20%
    submit(course, ada, "essay", {"compute": 2, "explain": None})
    return course


def read_csv(path) -> list[list[str]]:
    import csv

    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def test_canvas_export_is_canvas_gradebook_import_format(tmp_path):
    from autograder.export import export_grades

    roster = CANVAS_ROSTER + '"=HYPERLINK(""http://x""), Evil",1005,S5,evil,B\n'
    course = graded_class(tmp_path, roster)
    (tmp_path / "more.csv").write_text("student id,name\nzed,Zed Nobody\n")  # no LMS identity at all
    import_roster(course, tmp_path / "more.csv")
    result = export_grades(course, fmt="canvas")
    assert result.path == course.root / "exports/grades-canvas.csv"
    rows = read_csv(result.path)
    # Canvas's documented import columns, then "<assignment title> (<Canvas assignment id>)"
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Intro (12345)",
                       "Essay and code (12346)"]
    assert rows[1] == ["    Points Possible", "", "", "", "", "5", "6"]
    by = {r[3]: r for r in rows[2:]}
    assert by["ada"] == ["Lovelace, Ada", "1001", "S1", "ada", "A", "5", "2"]  # essay: explain not graded yet
    assert by["emmy"][5] == "4"  # 5 minus the late penalty
    assert by["grace"][5:] == ["", ""]  # no submission: no change in Canvas
    assert by["evil"][0].startswith("'=")  # spreadsheet-safe
    assert "Nobody" not in result.path.read_text() and "could not match them" in result.summary()
    assert "zed" in result.summary() and "not exported" not in result.summary()


def test_moodle_export_is_keyed_by_email_and_id_number(tmp_path):
    from autograder.export import export_grades

    # a Moodle class: the roster's ids are e-mails; lms_id is the grade item's name in Moodle
    course = graded_class(tmp_path, MOODLE_ROSTER, "ada@example.org", "emmy@example.org",
                          lms_ids=("Intro notebook", "Essay"))
    result = export_grades(course, fmt="moodle", out=tmp_path / "moodle.csv")
    rows = read_csv(result.path)
    assert rows[0] == ["First name", "Last name", "ID number", "Email address", "Intro notebook", "Essay"]
    by = {r[3]: r for r in rows[1:]}
    assert by["ada@example.org"] == ["Ada", "Lovelace", "S1", "ada@example.org", "5", "2"]
    assert by["emmy@example.org"][4] == "4" and by["grace@example.org"][4:] == ["", ""]
    assert by["emilie@example.org"][:2] == ["Émilie", "du Châtelet"]


def test_lms_exports_need_a_roster_and_ids(tmp_path):
    from autograder.errors import BadInput
    from autograder.export import export_grades

    from .realclass import release_in_gradebook

    course = make_course(tmp_path / "course")
    release_in_gradebook(course)
    with pytest.raises(BadInput, match="no assignment of course.yml has an lms_id"):
        export_grades(course, fmt="canvas")
    with pytest.raises(BadInput, match="the roster is empty"):
        export_grades(course, fmt="moodle")


def test_lms_exports_write_ids_and_headers_exactly_as_the_lms_gave_them(tmp_path):
    from autograder.export import export_grades

    # ids that look like numbers (leading zeros, an exponent) and numeric grade-item names:
    # the importers compare them as text, so they must come back byte for byte
    canvas = ("Student,ID,SIS User ID,SIS Login ID,Section\n"
              "    Points Possible,,,,\n"
              '"Lovelace, Ada",1001,0012345,ada,A\n'
              '"Noether, Emmy",1002,1e5,0042,=cmd\n'
              '"=HYPERLINK(""http://x""), Evil",1005,S5,evil,-3\n')
    course = graded_class(tmp_path / "canvas", canvas, lms_ids=("48213", "48214"))
    rows = read_csv(export_grades(course, fmt="canvas").path)
    assert rows[0][5:] == ["Intro (48213)", "Essay and code (48214)"]
    by = {r[1]: r for r in rows[2:]}
    assert by["1001"][:5] == ["Lovelace, Ada", "1001", "0012345", "ada", "A"]
    assert by["1002"][2:5] == ["1e5", "0042", "'=cmd"]  # the section is not an id: formula guard only
    assert by["1005"][0].startswith("'=") and by["1005"][4] == "-3"  # a plain number is no formula

    moodle = ("First name,Last name,ID number,Institution,Department,Email address\n"
              "Ada,Lovelace,0012001,,,ada@example.org\n"
              "Emmy,Noether,00120e2,,,emmy@example.org\n"
              "@Evil,-2,S9,,,evil@example.org\n")
    course = graded_class(tmp_path / "moodle", moodle, "ada@example.org", "emmy@example.org",
                          lms_ids=("48213", "0048214"))
    text = export_grades(course, fmt="moodle").path.read_text(encoding="utf-8")
    rows = read_csv(course.root / "exports/grades-moodle.csv")
    assert rows[0] == ["First name", "Last name", "ID number", "Email address", "48213", "0048214"]
    by = {r[3]: r for r in rows[1:]}
    assert by["ada@example.org"] == ["Ada", "Lovelace", "0012001", "ada@example.org", "5", "2"]
    assert by["emmy@example.org"][2] == "00120e2"
    assert by["evil@example.org"][:3] == ["'@Evil", "-2", "S9"]
    assert "'0" not in text and "'4" not in text


def test_moodle_worksheet_times_in_other_english_forms_and_a_time_that_cannot_be_read(tmp_path):
    course = lms_course(tmp_path, MOODLE_ROSTER)
    archive = tmp_path / "ASTRO101-Intro-1234.zip"
    moodle_zip(archive)
    # a Moodle in US English (lang/en_us strftimedaydatetime '%A, %B %d, %Y, %I:%M %p'), with
    # seconds, in ISO form; one in a language whose dates are not read; one with none ('-')
    header, *rows = WORKSHEET.splitlines(keepends=True)
    text = header + "".join(rows).replace(
        '"Friday, 6 March 2026, 11:30 PM"', '"Friday, March 6, 2026, 11:30 PM"').replace(
        '"Sunday, 8 March 2026, 9:05 AM"', '"Sunday, March 8, 2026, 9:05:30 AM"').replace(
        '"Friday, 6 March 2026, 10:00 PM"', '"2026-03-06 22:00"').replace(
        '"Friday, 6 March 2026, 11:59 PM"', '"Freitag, 6. März 2026, 23:59"').replace(
        "Participant 426,Émilie du Châtelet,emilie@example.org,No submission,,5.00,Yes,-,",
        "Participant 426,Émilie du Châtelet,emilie@example.org,Submitted for grading,,5.00,Yes,-,")
    (tmp_path / "worksheet.csv").write_text(text)
    report = collect(course, archive, lms="moodle", worksheet=tmp_path / "worksheet.csv")
    assert timestamp(course, "ada@example.org") == dt.datetime(2026, 3, 6, 22, 30, tzinfo=UTC)  # Berlin time
    assert timestamp(course, "emmy@example.org") == dt.datetime(2026, 3, 8, 8, 5, 30, tzinfo=UTC)
    assert timestamp(course, "wei.b@example.org") == dt.datetime(2026, 3, 6, 21, 0, tzinfo=UTC)
    # grace's notebook is taken, but her time is refused, quoting the column and the text
    assert (course.folder("submitted", "grace@example.org", "intro") / "arrays.ipynb").is_file()
    assert not (course.folder("submitted", "grace@example.org", "intro") / "timestamp.txt").exists()
    why = {r.source.split(":", 1)[1]: r.reason for r in report.refused}
    reason = why["Grace Hopper_425_assignsubmission_file_arrays.ipynb (time)"]
    assert "'Last modified (submission)'" in reason and "'Freitag, 6. März 2026, 23:59'" in reason
    assert "Tuesday, March 10, 2026, 1:05 AM" in reason and "not a date" in reason
    assert report.failed  # exit status 1
    # a worksheet that gives no time: said so, not "pass its grading worksheet"
    assert not any("--worksheet" in n for n in report.notes)
    assert any("1 submissions: the grading worksheet gives none" in n for n in report.notes), report.notes
    r = CliRunner().invoke(main, ["--course-dir", str(course.root), "collect", str(archive), "--lms", "moodle",
                                  "--worksheet", str(tmp_path / "worksheet.csv")])
    assert r.exit_code == 1 and "Freitag, 6. März 2026, 23:59" in r.output
