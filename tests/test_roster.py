"""``course roster``: rosters as this course, Canvas and Moodle write them, into nbgrader's student table."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from autograder.cli import main
from autograder.roster import RosterError, import_roster, load_roster, read_roster

from .realclass import gradebook, make_course

# Canvas: Grades > Export (made-up people); the second row is Canvas's "Points Possible"
CANVAS_EXPORT = (
    "\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,Intro (12345),Current Points,Final Points,Current Score,"
    "Unposted Current Score,Final Score,Unposted Final Score\n"
    "    Points Possible,,,,,5.00,(read only),(read only),(read only),(read only),(read only),(read only)\n"
    '"Lovelace, Ada",1001,S-1001,ada,Astro 101 A,,0.00,0.00,,,0.00,0.00\n'
    '"Noether, Emmy",1002,S-1002,emmy,Astro 101 B,,0.00,0.00,,,0.00,0.00\n'
    '"Student, Test",9999,,,Astro 101 A,,0.00,0.00,,,0.00,0.00\n'
)
# Moodle: Grades > Export > Plain text file (its default identity fields)
MOODLE_EXPORT = (
    "First name,Last name,ID number,Institution,Department,Email address,Assignment: Intro (Real),"
    "Last downloaded from this course\n"
    "Ada,Lovelace,S-1001,Uni,Astro,ada@example.org,-,1733140000\n"
    "Émilie,du Châtelet,S-1003,Uni,Astro,emilie@example.org,-,1733140000\n"
)
COURSE_ROSTER = (
    "student id,name,email,LMS user id,LMS login\n"
    "ada,\"Lovelace, Ada\",ada@example.org,1001,ada\n"
    "emmy,Emmy Noether,emmy@example.org,1002,emmy\n"
)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_course_roster_is_stored_in_nbgraders_student_table_and_is_idempotent(tmp_path):
    course = make_course(tmp_path / "course")
    path = write(tmp_path, "roster.csv", COURSE_ROSTER)
    first = import_roster(course, path)
    assert first.layout == "course" and first.added == ["ada", "emmy"] and not first.refused
    with gradebook(course) as gb:
        ada = gb.find_student("ada")
        assert (ada.first_name, ada.last_name, ada.email, ada.lms_user_id) == ("Ada", "Lovelace", "ada@example.org",
                                                                              "1001")
        assert gb.find_student("emmy").last_name == "Noether"
    side = json.loads((course.root / ".course/roster.json").read_text())
    assert side["students"]["ada"]["lms_login"] == "ada"
    again = import_roster(course, path)
    assert again.added == [] and again.updated == [] and again.unchanged == ["ada", "emmy"]
    assert "2 unchanged" in again.summary() and ".course/roster.json" in again.summary()
    roster = load_roster(course)
    assert [s.id for s in roster.students] == ["ada", "emmy"]
    assert roster.find("lms_login", "ADA")[0].id == "ada" and roster.by_name("ada lovelace")[0].id == "ada"


def test_canvas_gradebook_export_as_it_comes(tmp_path):
    course = make_course(tmp_path / "course")
    result = import_roster(course, write(tmp_path, "canvas.csv", CANVAS_EXPORT))
    assert result.layout == "canvas" and result.added == ["ada", "emmy"]
    assert result.skipped == [(2, "Canvas's points-possible row, not a student")]
    assert [(line, "test student" in why) for line, why in result.refused] == [(5, True)]
    ada = load_roster(course).get("ada")
    assert (ada.first_name, ada.last_name, ada.lms_user_id, ada.sis_user_id, ada.lms_login, ada.section) == (
        "Ada", "Lovelace", "1001", "S-1001", "ada", "Astro 101 A")
    assert ada.sortable_name == "Lovelace, Ada"
    # the student id may come from another column
    other = make_course(tmp_path / "other")
    by_id = import_roster(other, write(tmp_path, "canvas.csv", CANVAS_EXPORT), id_from="lms_user_id")
    assert by_id.added == ["1001", "1002", "9999"][:2] and load_roster(other).get("1001").lms_login == "ada"


def test_moodle_export_as_it_comes_and_partial_updates_keep_other_fields(tmp_path):
    course = make_course(tmp_path / "course")
    import_roster(course, write(tmp_path, "canvas.csv", CANVAS_EXPORT))
    moodle = make_course(tmp_path / "moodle")
    result = import_roster(moodle, write(tmp_path, "moodle.csv", MOODLE_EXPORT))
    assert result.layout == "moodle" and result.added == ["ada@example.org", "emilie@example.org"]
    emilie = load_roster(moodle).get("emilie@example.org")
    assert (emilie.first_name, emilie.last_name, emilie.sis_user_id) == ("Émilie", "du Châtelet", "S-1003")
    assert load_roster(moodle).by_name("Emilie du Chatelet")[0] == emilie  # accents and case ignored
    # a file with fewer columns updates only what it has
    write(tmp_path, "emails.csv", "student id,email\nada,ada.lovelace@example.org\n")
    update = import_roster(course, tmp_path / "emails.csv")
    assert update.updated == ["ada"]
    ada = load_roster(course).get("ada")
    assert ada.email == "ada.lovelace@example.org" and ada.lms_user_id == "1001" and ada.section == "Astro 101 A"


def test_unknown_and_ambiguous_rows_are_refused_with_reasons(tmp_path):
    course = make_course(tmp_path / "course")
    import_roster(course, write(tmp_path, "roster.csv", COURSE_ROSTER))
    text = ("student id,name,email,LMS user id,LMS login\n"
            "grace,Grace Hopper,grace@example.org,1003,grace\n"      # 2: fine
            "lin,Lin One,lin@example.org,1004,lin\n"                 # 3: same id as line 4, other values
            "lin,Lin Two,lin2@example.org,1005,lin2\n"               # 4
            ",No Id,noid@example.org,1006,noid\n"                    # 5: no id
            "../etc,Bad Id,bad@example.org,1007,bad\n"               # 6: unsafe id
            "kate,Kate A,kate@example.org,1008,kate\n"               # 7: LMS id shared with line 8
            "kim,Kim B,kim@example.org,1008,kim\n"                   # 8
            "mary,Mary C,mary@example.org,1001,mary\n"               # 9: LMS id of ada (gradebook)
            "grace,Grace Hopper,grace@example.org,1003,grace\n")     # 10: exact repeat of line 2: fine
    result = import_roster(course, write(tmp_path, "more.csv", text))
    assert result.added == ["grace"]
    why = dict(result.refused)
    assert sorted(why) == [3, 4, 5, 6, 7, 8, 9]
    assert "ambiguous: student id 'lin'" in why[3] and "no student id" in why[5]
    assert "not a safe folder name" in why[6] and "lms user id '1008'" in why[7]
    assert "belongs to student 'ada' already in the gradebook" in why[9]
    assert {s.id for s in load_roster(course).students} == {"ada", "emmy", "grace"}


def test_unreadable_rosters_are_one_line_errors(tmp_path):
    course = make_course(tmp_path / "course")
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00a")
    with pytest.raises(RosterError, match="not UTF-8"):
        read_roster(tmp_path / "bin.csv")
    with pytest.raises(RosterError, match="no column for the student id"):
        read_roster(write(tmp_path, "x.csv", "name,email\nAda,ada@example.org\n"))
    with pytest.raises(KeyError, match="no such roster file"):
        import_roster(course, tmp_path / "nope.csv")
    (tmp_path / "link.csv").symlink_to(tmp_path / "x.csv")
    with pytest.raises(RosterError, match="symbolic link"):
        read_roster(tmp_path / "link.csv")


def test_roster_commands(tmp_path):
    course = make_course(tmp_path / "course")
    runner = CliRunner()
    path = write(tmp_path, "canvas.csv", CANVAS_EXPORT)
    r = runner.invoke(main, ["--course-dir", str(course.root), "roster", "import", str(path)])
    assert r.exit_code == 1 and "2 added" in r.output and "line 5" in r.output  # the test student
    r = runner.invoke(main, ["--course-dir", str(course.root), "roster", "import", str(path)])
    assert r.exit_code == 1 and "2 unchanged" in r.output
    r = runner.invoke(main, ["--course-dir", str(course.root), "roster", "list"], terminal_width=200)
    assert r.exit_code == 0 and "Lovelace" in r.output and "1002" in r.output and "roster.json" in r.output
    r = runner.invoke(main, ["--course-dir", str(course.root), "roster", "import", str(tmp_path / "nope.csv")])
    assert r.exit_code == 2 and "no such roster file" in r.output
