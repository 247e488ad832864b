"""Due dates and late policies: course.yml, nbgrader's late-submission plugin, the gradebook."""

from __future__ import annotations

import datetime as dt

import nbformat
import pytest
from click.testing import CliRunner
from nbconvert.exporters.exporter import ResourcesDict

from autograder.cli import main
from autograder.config import CourseConfigError, LatePolicy, parse_course
from autograder.late import describe, duration, local_time, penalty_fraction, refresh_penalties

from .conftest import ROOT, copy_course, needs_data
from .realclass import course_data, gradebook, make_course, release_in_gradebook, submit

UTC = dt.timezone.utc
BERLIN_DUE = "2026-03-06 23:59"  # in schedule.timezone Europe/Berlin: 22:59 UTC
DUE_UTC = dt.datetime(2026, 3, 6, 22, 59, tzinfo=UTC)
HOUR = 3600.0


@pytest.mark.parametrize(("policy", "seconds", "fraction"), [
    (LatePolicy(), 10 * 86400, 0.0),
    (LatePolicy(policy="zero"), 1, 1.0),
    (LatePolicy(policy="zero", grace_minutes=15), 15 * 60, 0.0),  # within the grace period: on time
    (LatePolicy(policy="zero", grace_minutes=15), 15 * 60 + 1, 1.0),
    (LatePolicy(policy="percent", percent_per_day=10), 1, 0.1),  # a part of a day is a day
    (LatePolicy(policy="percent", percent_per_day=10), 86400, 0.1),
    (LatePolicy(policy="percent", percent_per_day=10), 86401, 0.2),
    (LatePolicy(policy="percent", percent_per_day=10, max_percent=25), 30 * 86400, 0.25),
    (LatePolicy(policy="percent", percent_per_day=10, grace_minutes=60), 3599, 0.0),
    (LatePolicy(policy="percent", percent_per_day=10), 0, 0.0),
])
def test_policy_rules(policy, seconds, fraction):
    assert penalty_fraction(policy, seconds) == pytest.approx(fraction)


def test_policy_words_and_durations():
    assert describe(LatePolicy(policy="percent", percent_per_day=10, max_percent=50, grace_minutes=15)) == (
        "10% of the score per day or part of a day late, at most 50%; 15 min of grace")
    assert describe(LatePolicy(policy="zero")) == "late work scores 0"
    assert duration(90061) == "1 day 1 h 2 min" and duration(0) == "0 min" and duration(2 * 86400) == "2 days"


@pytest.mark.parametrize(("extra", "expected"), [
    ({"assignment_settings": {"intro": {"due": "next friday"}}}, "assignments[0].due: 'next friday' is not a date"),
    ({"schedule": {"timezone": "Mars/Olympus"}}, "unknown time zone 'Mars/Olympus'"),
    ({"assignment_settings": {"intro": {"due": "2026-03-06 23:59 Mars/Base"}}}, "unknown time zone 'Mars/Base'"),
    ({"schedule": {"late": {"policy": "percent"}}}, "policy 'percent' needs percent_per_day"),
    ({"schedule": {"late": {"policy": "zero", "percent_per_day": 5}}}, "percent_per_day is for policy 'percent'"),
    ({"assignment_settings": {"intro": {"late": {"policy": "percent", "percent_per_day": 500}}}},
     "assignments[0].late.percent_per_day"),
])
def test_bad_schedules_are_rejected_naming_the_key(tmp_path, extra, expected):
    with pytest.raises(CourseConfigError) as err:
        parse_course(course_data(**extra), tmp_path, check_files=False)
    assert expected in str(err.value)


def test_due_dates_and_zones():
    course = parse_course(course_data(schedule={"timezone": "Europe/Berlin"}, assignment_settings={
        "intro": {"due": BERLIN_DUE}, "essay": {"due": "2026-03-13T23:59:00-05:00"}}), ".", check_files=False)
    assert course.due_date(course.assignment("intro")) == DUE_UTC
    assert course.due_date(course.assignment("essay")) == dt.datetime(2026, 3, 14, 4, 59, tzinfo=UTC)
    # YAML reads an unquoted date with seconds as a datetime: naive means schedule.timezone
    course = parse_course(course_data(schedule={"timezone": "Europe/Berlin"}, assignment_settings={
        "intro": {"due": dt.datetime(2026, 3, 6, 23, 59)}}), ".", check_files=False)
    assert course.due_date(course.assignment("intro")) == DUE_UTC


def late_course(tmp_path, **late):
    return make_course(tmp_path / "course", schedule={"timezone": "Europe/Berlin", "late": late or {
        "policy": "percent", "percent_per_day": 10, "max_percent": 50, "grace_minutes": 15}},
        assignment_settings={"intro": {"due": BERLIN_DUE}, "essay": {"due": BERLIN_DUE, "late": {"policy": "zero"}}})


def test_nbgraders_own_late_penalty_step_uses_the_course_policy(tmp_path):
    """Plain nbgrader: its AssignLatePenalties, configured by nbgrader_config.py, asks our plugin."""
    from nbgrader.preprocessors import AssignLatePenalties

    from autograder.gradebook import db_url
    from autograder.nbgrader_adapter import nbgrader_config

    course = late_course(tmp_path)
    release_in_gradebook(course)
    with gradebook(course) as gb:
        assert gb.find_assignment("intro").duedate == dt.datetime(2026, 3, 6, 22, 59)  # UTC, as nbgrader keeps it
        gb.add_student("ada")
        gb.add_submission("intro", "ada", timestamp=dt.datetime(2026, 3, 8, 10, 0))  # 1 day 11 h late: 2 days
        for q, score in (("make-array-test", 2.0), ("slice-it-test", 3.0)):
            gb.find_grade(q, "arrays", "intro", "ada").auto_score = score
        gb.db.commit()
    config = nbgrader_config(course)
    resources = ResourcesDict(nbgrader={"db_url": db_url(course), "assignment": "intro", "notebook": "arrays",
                                        "student": "ada"})
    AssignLatePenalties(config=config)(nbformat.v4.new_notebook(), resources)
    with gradebook(course) as gb:
        assert gb.find_submission_notebook("arrays", "intro", "ada").late_submission_penalty == pytest.approx(1.0)
        sub = gb.find_submission("intro", "ada")  # nbgrader's export: score = raw score - penalty = 5 - 20%
        assert (sub.score, sub.late_submission_penalty) == (pytest.approx(5.0), pytest.approx(1.0))


def test_penalties_follow_scores_extensions_and_due_date_changes(tmp_path):
    course = late_course(tmp_path)
    release_in_gradebook(course)
    due = DUE_UTC
    submit(course, "ada", "intro", {"make-array": 2, "slice-it": 3}, due + dt.timedelta(minutes=10))  # grace
    submit(course, "bob", "intro", {"make-array": 2, "slice-it": 0}, due + dt.timedelta(hours=30))   # 2 days
    submit(course, "cy", "intro", {"make-array": 2, "slice-it": 3}, due + dt.timedelta(days=9))      # capped 50%
    submit(course, "dee", "essay", {"compute": 2, "explain": None}, due + dt.timedelta(hours=1))     # zero
    with gradebook(course) as gb:
        pen = {(s.student.id, s.assignment.name): s.late_submission_penalty for a in gb.assignments
               for s in a.submissions}
    assert pen == {("ada", "intro"): 0.0, ("bob", "intro"): pytest.approx(0.4), ("cy", "intro"): pytest.approx(2.5),
                   ("dee", "essay"): pytest.approx(2.0)}
    # a grader scores dee's written answer: the zero policy takes that too
    with gradebook(course) as gb:
        explain = gb.find_grade("explain", "essay", "essay", "dee")
        explain.manual_score, explain.needs_manual_grade = 3.0, False  # as the formgrader saves a grade
        gb.grant_extension("intro", "bob", days=2)  # bob's due date moves past his submission
        gb.db.commit()
    report = refresh_penalties(course)
    assert report.updated == 2
    with gradebook(course) as gb:
        assert gb.find_submission("essay", "dee").late_submission_penalty == pytest.approx(5.0)
        assert gb.find_submission("intro", "bob").late_submission_penalty == 0.0
    assert [(s.student, s.assignment, s.late_by) for s in report.late] == [
        ("cy", "intro", "9 days"), ("dee", "essay", "1 h")]
    # the due date moves in course.yml: the gradebook follows, and so do the penalties
    moved = make_course(tmp_path / "course", with_gradebook=False, schedule=course.schedule.model_dump(), assignment_settings={
        "intro": {"due": "2026-03-20 12:00 UTC"}, "essay": {"due": BERLIN_DUE, "late": {"policy": "zero"}}})
    report = refresh_penalties(moved)
    assert report.due_dates_changed == ["intro"] and [s.student for s in report.late] == ["dee"]


def test_course_late_command(tmp_path):
    course = late_course(tmp_path)
    release_in_gradebook(course)
    submit(course, "bob", "intro", {"make-array": 2, "slice-it": 3}, DUE_UTC + dt.timedelta(hours=30))
    r = CliRunner().invoke(main, ["--course-dir", str(course.root), "late"], terminal_width=200)
    assert r.exit_code == 0, r.output
    assert "bob" in r.output and "1 day 6 h" in r.output and "1 late submissions" in r.output
    # times in course.yml's zone with its abbreviation, as the feedback page shows them (was: UTC, no zone)
    assert "bob/intro: submitted 2026-03-08 05:59 CET, due 2026-03-06 23:59 CET, 1 day 6 h late" in r.output


def test_times_are_shown_in_the_course_time_zone():
    assert local_time(dt.datetime(2026, 3, 6, 22, 59), "Europe/Berlin") == "2026-03-06 23:59 CET"  # naive: UTC
    assert local_time(dt.datetime(2026, 7, 1, 10, 0), "Europe/Berlin") == "2026-07-01 12:00 CEST"
    assert local_time(dt.datetime(2026, 3, 6, 22, 59, tzinfo=UTC), "UTC") == "2026-03-06 22:59 UTC"


def test_course_extension_command(tmp_path):
    course = late_course(tmp_path)
    release_in_gradebook(course)
    submit(course, "bob", "intro", {"make-array": 2, "slice-it": 3}, DUE_UTC + dt.timedelta(hours=30))
    run = CliRunner()
    r = run.invoke(main, ["--course-dir", str(course.root), "extension", "intro", "bob", "--days", "2"])
    assert r.exit_code == 0, r.output
    assert "0 late submissions; 1 penalties updated" in r.output
    r = run.invoke(main, ["--course-dir", str(course.root), "extension", "intro", "bob"])  # taken back
    assert r.exit_code == 0 and "1 late submissions" in r.output
    r = run.invoke(main, ["--course-dir", str(course.root), "extension", "intro", "zed", "--hours", "3"])
    assert r.exit_code == 2 and "unknown student 'zed': not on the roster" in r.output, r.output
    assert len(r.output.strip().splitlines()) == 1
    r = run.invoke(main, ["--course-dir", str(course.root), "extension", "intro2", "bob", "--days", "1"])
    assert r.exit_code == 2 and "unknown assignment 'intro2'" in r.output, r.output


def test_course_extension_prints_the_students_due_date(tmp_path):
    """`course extension` says when the student's work is due now, in course.yml's time
    zone as `course late` shows times; taken back (0), the assignment's own due date; for an
    assignment without a due date, that it has none."""
    course = make_course(tmp_path / "course", schedule={"timezone": "Europe/Berlin"},
                         assignment_settings={"intro": {"due": BERLIN_DUE}})  # essay: no due date
    release_in_gradebook(course)
    with gradebook(course) as gb:
        gb.add_student("grace")
    submit(course, "bob", "intro", {"make-array": 2, "slice-it": 3}, DUE_UTC + dt.timedelta(hours=30))

    def line(*args):
        r = CliRunner().invoke(main, ["--course-dir", str(course.root), "extension", *args], terminal_width=200)
        assert r.exit_code == 0, r.output
        return r.output.splitlines()[0]

    assert line("intro", "grace", "--days", "2") == "grace: intro due 2026-03-08 23:59 CET (extension 2 days)"
    assert line("intro", "grace", "--days", "1", "--hours", "6") == (
        "grace: intro due 2026-03-08 05:59 CET (extension 1 day 6 h)")
    assert line("intro", "grace", "--days", "0") == "grace: intro due 2026-03-06 23:59 CET (no extension)"
    assert line("intro", "bob", "--days", "2") == "bob: intro due 2026-03-08 23:59 CET (extension 2 days)"
    assert line("intro", "bob") == "bob: intro due 2026-03-06 23:59 CET (no extension)"
    assert line("essay", "grace", "--days", "2") == (
        "grace: essay has no due date in course.yml (extension 2 days, counted from the due date once "
        "course.yml gives one)")
    assert line("essay", "grace") == "grace: essay has no due date in course.yml (no extension)"


def test_an_extension_is_granted_before_the_student_submits(tmp_path):
    """Extensions are granted before the due date: nbgrader keeps one on the student's
    submission, so an empty one holds it, counted as missing until the work comes; the
    autograde that then records the submission keeps it (nbgrader's and course's)."""
    from nbgrader.preprocessors import AssignLatePenalties

    from autograder.export import export_grades
    from autograder.gradebook import MISSING, db_url, read_gradebook
    from autograder.nbgrader_adapter import nbgrader_config

    course = late_course(tmp_path)
    release_in_gradebook(course)
    with gradebook(course) as gb:  # the roster
        for student in ("ada", "bob"):
            gb.add_student(student)
    run = CliRunner()

    def cli(*args):
        return run.invoke(main, ["--course-dir", str(course.root), *args], terminal_width=200)

    r = cli("extension", "intro", "ada", "--days", "2")
    assert r.exit_code == 0, r.output  # was: no submission of 'intro' by 'ada' in the gradebook (collect it first)
    assert "0 late submissions" in r.output
    with gradebook(course) as gb:
        sub = gb.find_submission("intro", "ada")
        assert (sub.extension, sub.timestamp) == (dt.timedelta(days=2), None)
        assert sub.duedate == dt.datetime(2026, 3, 8, 22, 59)
    # nothing was submitted: missing everywhere, as before the extension
    assert read_gradebook(course).get("ada", "intro").status == MISSING
    export_grades(course)
    assert "missing" in next(line for line in (course.root / "exports/grades.csv").read_text().splitlines()
                             if line.startswith("ada,"))

    # a second extension before any submission, and one taken back: no submission is left behind
    assert cli("extension", "essay", "bob", "--hours", "5").exit_code == 0
    assert cli("extension", "essay", "bob").exit_code == 0
    with gradebook(course) as gb:
        assert [s.student.id for s in gb.assignment_submissions("essay")] == []

    # ada submits a day and a half after the due date, within her extension.  nbgrader's
    # autograde (and course's, autograder/autograde/batch.py) records the time on the
    # submission it finds: update_or_create_submission; then its late-penalty step
    submit(course, "ada", "intro", {"make-array": 2, "slice-it": 3}, DUE_UTC + dt.timedelta(hours=36))
    resources = ResourcesDict(nbgrader={"db_url": db_url(course), "assignment": "intro", "notebook": "arrays",
                                        "student": "ada"})
    AssignLatePenalties(config=nbgrader_config(course))(nbformat.v4.new_notebook(), resources)
    with gradebook(course) as gb:
        sub = gb.find_submission("intro", "ada")
        assert sub.extension == dt.timedelta(days=2) and sub.total_seconds_late == 0
        assert sub.late_submission_penalty == 0
    scores = read_gradebook(course).get("ada", "intro")
    assert (scores.status, scores.total, scores.penalty) == ("graded", 5.0, 0.0)
    assert "0 late submissions" in cli("late").output
    # taking it back now keeps her submission and makes it late
    r = cli("extension", "intro", "ada")
    assert r.exit_code == 0 and "ada/intro: submitted" in r.output and "1 late submissions" in r.output


def test_an_extension_needs_the_assignment_released(tmp_path):
    course = late_course(tmp_path)  # nothing released: the gradebook knows no assignment
    with gradebook(course) as gb:
        gb.add_student("ada")
    r = CliRunner().invoke(main, ["--course-dir", str(course.root), "extension", "intro", "ada", "--days", "2"])
    assert r.exit_code == 2 and "'intro' is not released yet: run `course release intro` first" in r.output, r.output


@pytest.mark.slow
@needs_data
def test_an_extension_granted_before_submission_holds_through_collect_and_autograde(tmp_path):
    """The real commands: extensions for ada and grace before they submit; all three hand in
    11 h after the due date; ada is graded by `course autograde`, grace by plain `nbgrader
    autograde`: both on time, no penalty; linus, without an extension, is late."""
    import os
    import shutil
    import subprocess
    import sys

    import yaml

    from autograder.config import load_course
    from autograder.gradebook import read_gradebook

    root = copy_course(tmp_path / "course")
    data = yaml.safe_load((root / "course.yml").read_text())
    data["schedule"] = {"timezone": "Europe/Berlin", "late": {"policy": "percent", "percent_per_day": 10}}
    next(a for a in data["assignments"] if a["id"] == "array-creation")["due"] = "2026-02-20 23:59"  # 22:59 UTC
    (root / "course.yml").write_text(yaml.safe_dump(data, sort_keys=False))
    (tmp_path / "roster.csv").write_text("student id,name\nada,Ada L\ngrace,Grace H\nlinus,Linus T\n")

    def cli(*args):
        r = CliRunner().invoke(main, ["--course-dir", str(root), *args], terminal_width=200)
        assert r.exit_code == 0, r.output + repr(r.exception)
        return r.output

    cli("release", "array-creation")
    cli("roster", "import", str(tmp_path / "roster.csv"))
    for student in ("ada", "grace"):
        assert "0 late submissions" in cli("extension", "array-creation", student, "--days", "2")
    cli("release", "array-creation")  # released again (same questions) after the extensions: nbgrader allows it
    incoming = tmp_path / "incoming"
    for student in ("ada", "grace", "linus"):
        folder = incoming / student / "array-creation"
        folder.mkdir(parents=True)
        shutil.copy(ROOT / "examples/submissions" / student / "array-creation/array-creation.ipynb", folder)
        (folder / "timestamp.txt").write_text("2026-02-21 10:00:00.000000 UTC\n")  # 11 h 1 min late
    cli("collect", str(incoming), "--lms", "folder")
    cli("autograde", "array-creation", "--student", "ada", "--student", "linus")
    env = {**os.environ, "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]])}
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "nbgrader"), "autograde", "array-creation",
                           "--student", "grace"], cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]

    out = cli("late")
    assert "linus/array-creation: submitted 2026-02-21 11:00 CET, due 2026-02-20 23:59 CET" in out
    assert "1 late submissions" in out
    course = load_course(root)
    with gradebook(course) as gb:
        for student in ("ada", "grace"):
            sub = gb.find_submission("array-creation", student)
            assert sub.extension == dt.timedelta(days=2) and sub.timestamp == dt.datetime(2026, 2, 21, 10, 0)
            assert sub.total_seconds_late == 0 and not sub.late_submission_penalty
    scores = read_gradebook(course)
    for student in ("ada", "grace", "linus"):
        assert scores.get(student, "array-creation").status == "graded"
    assert scores.get("ada", "array-creation").penalty == 0 and scores.get("grace", "array-creation").penalty == 0
    linus = scores.get("linus", "array-creation")
    assert linus.penalty == pytest.approx(0.1 * linus.raw) and linus.raw > 0


def _add_a_locked_cell(root):
    """A locked note added to slicing's source notebook (a cell nbgrader will not add
    to an assignment that has submissions)."""
    source = next((root / "source/slicing").glob("*.ipynb"))
    nb = nbformat.read(source, as_version=4)
    note = nbformat.v4.new_markdown_cell("A note added after the extension.")
    note.metadata["nbgrader"] = {"schema_version": 3, "grade": False, "solution": False, "locked": True,
                                 "grade_id": "added-note"}
    nb.cells.insert(1, note)
    nbformat.write(nb, source)


def test_a_release_that_changes_cells_names_the_extensions_that_hold_them(tmp_path):
    """nbgrader keeps the cells of an assignment with submissions, extension holders
    included: `course release` says so and which ones, instead of nbgrader's traceback."""
    root = copy_course(tmp_path / "course")
    (tmp_path / "roster.csv").write_text("student id,name\nada,Ada L\n")

    def cli(*args):
        return CliRunner().invoke(main, ["--course-dir", str(root), *args], terminal_width=200)

    assert cli("release", "slicing").exit_code == 0
    assert cli("roster", "import", str(tmp_path / "roster.csv")).exit_code == 0
    assert cli("extension", "slicing", "ada", "--days", "2").exit_code == 0
    _add_a_locked_cell(root)
    r = cli("release", "slicing")
    assert r.exit_code == 2, r.output
    assert "a cell was added or removed" in r.output and "1 only holds an extension" in r.output
    assert "(ada)" in r.output and "Traceback" not in r.output
    assert cli("extension", "slicing", "ada", "--days", "0").exit_code == 0  # as the message says
    r = cli("release", "slicing")
    assert r.exit_code == 0, r.output
    assert cli("extension", "slicing", "ada", "--days", "2").exit_code == 0


def test_a_refused_release_leaves_the_release_folder_as_it_was(tmp_path):
    """nbgrader removes release/<assignment>/ before it refuses a release that adds a cell
    (an extension holds a submission): `course release` puts the folder back, byte for
    byte, and says so instead of asking for a restore from git."""
    root = copy_course(tmp_path / "course")
    (tmp_path / "roster.csv").write_text("student id,name\nada,Ada L\n")

    def cli(*args):
        return CliRunner().invoke(main, ["--course-dir", str(root), *args], terminal_width=200)

    def files(folder):
        return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}

    assert cli("release", "slicing").exit_code == 0
    assert cli("roster", "import", str(tmp_path / "roster.csv")).exit_code == 0
    assert cli("extension", "slicing", "ada", "--days", "2").exit_code == 0
    released = root / "release" / "slicing"
    before = files(released)
    assert any(name.endswith(".ipynb") for name in before)
    _add_a_locked_cell(root)
    r = cli("release", "slicing")
    assert r.exit_code == 2, r.output
    assert "a cell was added or removed" in r.output and "(ada)" in r.output
    assert "was left as it was" in r.output and "git" not in r.output, r.output
    assert files(released) == before
