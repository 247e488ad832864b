"""A JupyterHub class end to end through nbgrader's exchange, with two student accounts.

The instructor's steps are the ``course`` commands; the students' are nbgrader's own
(``fetch_assignment``, ``submit``, ``fetch_feedback``), run as two operating-system
accounts made for the test (nbgrader takes the student id from the account), in homes
of their own, against a temporary exchange folder.
"""

from __future__ import annotations

import datetime as dt
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from nbgrader.api import Gradebook

from autograder.cli import main
from autograder.config import load_course
from autograder.gradebook import db_url

from .conftest import ROOT, LentEnvironment, answered_with_solutions, copy_course, environment_for_accounts, needs_data

ASSIGNMENT = "array-creation"


@pytest.fixture
def accounts():
    """Two student accounts (made with useradd, removed afterwards) and a folder they can reach."""
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        pytest.skip("needs root and useradd to make the students' accounts")
    base = Path(tempfile.mkdtemp(prefix="course-exchange-", dir="/tmp"))
    base.chmod(0o755)
    made = []
    try:
        for _ in range(2):
            name = f"st{secrets.token_hex(4)}"
            home = base / name
            subprocess.run(["useradd", "--no-create-home", "--home-dir", str(home), "--shell", "/bin/sh", name],
                           check=True, capture_output=True)
            made.append(name)
            home.mkdir()
            entry = pwd.getpwnam(name)
            os.chown(home, entry.pw_uid, entry.pw_gid)
        with environment_for_accounts(base) as lent:
            yield base, [pwd.getpwnam(n) for n in made], lent
    finally:
        for name in made:
            subprocess.run(["userdel", name], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def as_student(account, course, lent: LentEnvironment, *args: str) -> subprocess.CompletedProcess:
    """An nbgrader command run by the student ``account``, as a student's Jupyter server runs it."""
    env = {"HOME": account.pw_dir, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONPATH": lent.pythonpath}
    done = subprocess.run([*lent.python, "-m", "nbgrader", *args, f"--course={course.course.id}",
                           f"--Exchange.root={course.exchange.root}"], cwd=account.pw_dir, env=env,
                          user=account.pw_uid, group=account.pw_gid, extra_groups=[], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def answer(account, source: Path) -> None:
    """The student fills in every answer (here: the solutions, put in the fetched notebook)."""
    path = answered_with_solutions(Path(account.pw_dir) / ASSIGNMENT / "array-creation.ipynb", source)
    scratch = path.with_name("scratch.py")  # a file of the student's own, submitted with the notebook
    scratch.write_text("print('trying things')\n")
    for p in (path, scratch):
        os.chown(p, account.pw_uid, account.pw_gid)


@needs_data
@pytest.mark.slow
def test_exchange_round_trip(tmp_path, accounts):
    base, (ada, bob), lent = accounts
    root = copy_course(tmp_path / "course")
    data = yaml.safe_load((root / "course.yml").read_text())
    due = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=2)  # already past: bob is late
    data["exchange"] = {"root": str(base / "exchange")}
    data["schedule"] = {"timezone": "UTC", "late": {"policy": "percent", "percent_per_day": 10}}
    for a in data["assignments"]:
        if a["id"] == ASSIGNMENT:
            a["due"] = due.strftime("%Y-%m-%d %H:%M UTC")
    (root / "course.yml").write_text(yaml.safe_dump(data, sort_keys=False))
    course = load_course(root)
    run = CliRunner()

    def course_cmd(*args):
        r = run.invoke(main, ["--course-dir", str(root), *args], catch_exceptions=False)
        assert r.exit_code == 0, r.output
        return r.output

    out = course_cmd("release", ASSIGNMENT, "--exchange")
    assert f"published {ASSIGNMENT}" in out and "c.Exchange.root" in out
    for student in (ada, bob):
        as_student(student, course, lent, "fetch_assignment", ASSIGNMENT)
        answer(student, ROOT / "source" / ASSIGNMENT / "array-creation.ipynb")
        as_student(student, course, lent, "submit", ASSIGNMENT)
    out = course_cmd("collect", "--exchange", "--assignment", ASSIGNMENT)
    for student in (ada, bob):
        folder = course.folder("submitted", student.pw_name, ASSIGNMENT)
        assert sorted(p.name for p in folder.iterdir()) == ["array-creation.ipynb", "submission_secret.txt",
                                                            "timestamp.txt"]
    assert "scratch.py: not a notebook of the assignment: left in the exchange" in out and "2 ignored" in out
    # bob submits in ada's name: nbgrader takes it as ada's newest; collect refuses it
    as_student(bob, course, lent, "submit", ASSIGNMENT, f"--CourseDirectory.student_id={ada.pw_name}")
    r = run.invoke(main, ["--course-dir", str(root), "collect", "--exchange", "--assignment", ASSIGNMENT])
    assert r.exit_code == 1 and f"submitted as '{ada.pw_name}' by the account '{bob.pw_name}'" in r.output

    # ada had an extension (nbgrader's): only bob is late
    course_cmd("autograde", ASSIGNMENT, "--jobs", "2")
    with Gradebook(db_url(course), course.course.id) as gb:
        gb.grant_extension(ASSIGNMENT, ada.pw_name, days=1)
    out = course_cmd("feedback", ASSIGNMENT, "--release")
    assert "released 2 feedback pages to the exchange" in out

    pages = {}
    for student in (ada, bob):
        as_student(student, course, lent, "fetch_feedback", ASSIGNMENT)
        found = list((Path(student.pw_dir) / ASSIGNMENT / "feedback").glob("*/array-creation.html"))
        assert len(found) == 1, found
        pages[student.pw_name] = found[0].read_text()
    total = course.assignment(ASSIGNMENT).total
    assert f"Total: <strong>{total:g} / {total:g}</strong>" in pages[ada.pw_name]
    assert "late</strong>" not in pages[ada.pw_name] and "Late penalty" not in pages[ada.pw_name]
    assert f"Total: <strong>{total * 0.9:g} / {total:g}</strong>" in pages[bob.pw_name]
    assert "Late penalty: <strong>&minus;1</strong>" in pages[bob.pw_name]
    out = course_cmd("export")
    assert "exported 2 students" in out


def test_exchange_collect_refuses_what_nbgrader_would_copy(tmp_path):
    """Inbound folders as nbgrader's submit makes them, and as a hostile student might."""
    from autograder.collect import collect_submission_folders

    from .realclass import make_course, notebook_bytes

    course = make_course(tmp_path / "course")
    inbound = tmp_path / "inbound"
    me = pwd.getpwuid(os.getuid()).pw_name

    def submission(name: str, files: dict[str, bytes]) -> str:
        folder = inbound / name
        folder.mkdir(parents=True)
        for rel, data in files.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes(data)
        return name

    ok = submission(f"{me}+intro+2026-03-06 10:00:00.000000 UTC+abc", {
        "arrays.ipynb": notebook_bytes("mine"), "timestamp.txt": b"2026-03-06 10:00:00.000000 UTC",
        "submission_secret.txt": b"f00d", "course_data.py": b"# shipped", "work/tmp.ipynb": notebook_bytes("x")})
    secret = tmp_path / "solutions.ipynb"
    secret.write_bytes(notebook_bytes("the instructor's solutions"))
    linked = submission("zoe+intro+2026-03-06 10:00:00.000000 UTC+def", {})
    (inbound / linked / "arrays.ipynb").symlink_to(secret)
    (inbound / "yan+intro+2026-03-06 10:00:00.000000 UTC+ghi").symlink_to(tmp_path)
    folders = [(me, "intro", ok), ("zoe", "intro", linked),
               ("yan", "intro", "yan+intro+2026-03-06 10:00:00.000000 UTC+ghi"), ("not me", "intro", ok)]
    report = collect_submission_folders(course, inbound, folders)
    got = {t.dest.relative_to(course.folder("submitted")).as_posix() for t in report.taken}
    assert got == {f"{me}/intro/arrays.ipynb", f"{me}/intro/timestamp.txt", f"{me}/intro/submission_secret.txt"}
    why = {r.source.rsplit("/", 1)[-1]: r.reason for r in report.refused}
    assert why["course_data.py"].endswith("left in the exchange") and why["tmp.ipynb"].startswith("in a sub-folder")
    assert "symbolic link" in why["arrays.ipynb"]
    assert "not a folder" in why["yan+intro+2026-03-06 10:00:00.000000 UTC+ghi"]
    assert "not a safe folder name" in why[ok]
    assert not course.folder("submitted", "zoe", "intro").exists()
    # an account submitting in another student's name, when owners are checked
    report = collect_submission_folders(course, inbound, [("ada", "intro", ok)], check_owner=True,
                                        known=lambda s: s in ("ada", me))
    assert f"submitted as 'ada' by the account '{me}'" in report.refused[0].reason
    report = collect_submission_folders(course, inbound, [("bob", "intro", ok)], known=lambda s: s == "ada")
    assert "not in the roster" in report.refused[0].reason


def test_exchange_needs_course_yml_to_name_it(tmp_path):
    from autograder.exchange import NoExchange, collect_from_exchange, student_config

    from .realclass import make_course

    course = make_course(tmp_path / "course")
    with pytest.raises(NoExchange, match="names no exchange"):
        collect_from_exchange(course)
    r = CliRunner().invoke(main, ["--course-dir", str(course.root), "feedback", "--release"])
    assert r.exit_code == 2 and "names no exchange" in r.output
    hub = make_course(tmp_path / "hub", exchange={"root": "/srv/nbgrader/exchange"})
    assert "c.Exchange.root = '/srv/nbgrader/exchange'" in student_config(hub)
    from autograder.config import CourseConfigError, parse_course

    from .realclass import course_data

    with pytest.raises(CourseConfigError, match="root must be an absolute path"):
        parse_course(course_data(exchange={"root": "exchange"}), tmp_path, check_files=False)


def test_collect_from_exchange_chooses_the_newest_and_reads_no_hand_made_names(tmp_path):
    """nbgrader's exchange collect chooses (the newest per student); names it cannot read are refused."""
    from autograder.exchange import collect_from_exchange
    from autograder.roster import import_roster

    from .realclass import gradebook, make_course, notebook_bytes

    exchange = tmp_path / "exchange"
    course = make_course(tmp_path / "course", exchange={"root": str(exchange), "check_owner": False})
    inbound = exchange / course.course.id / "inbound"
    for name, tag in (("ada+intro+2026-03-06 10:00:00.000000 UTC+a1", "old"),
                      ("ada+intro+2026-03-06 11:00:00.000000 UTC+b2", "new"),
                      ("bob+intro+not a time+c3", "bob")):
        folder = inbound / name
        folder.mkdir(parents=True)
        (folder / "arrays.ipynb").write_bytes(notebook_bytes(tag))
        (folder / "timestamp.txt").write_text(name.split("+")[2])
    exchange.chmod(0o777)
    with gradebook(course) as gb:  # a student course autograde met: no roster, ada is taken
        gb.update_or_create_student("zed")
    reports = collect_from_exchange(course, assignments=["intro"])
    assert len(reports) == 1
    report = reports[0]
    assert (course.folder("submitted", "ada", "intro") / "arrays.ipynb").read_bytes() == notebook_bytes("new")
    assert (course.folder("submitted", "ada", "intro") / "timestamp.txt").read_text().startswith("2026-03-06 11:00")
    assert any("bob+intro+not a time+c3" in r.source and "not read" in r.reason for r in report.refused)
    assert not course.folder("submitted", "bob").exists()
    again = collect_from_exchange(course, assignments=["intro"])[0]
    assert {t.status for t in again.taken} == {"unchanged"}

    # once a roster is imported, a student not in it is refused, with how to add one
    (tmp_path / "roster.csv").write_text("student id,name\nada,Ada Lovelace\n")
    import_roster(course, tmp_path / "roster.csv")
    folder = inbound / "cy+intro+2026-03-06 12:00:00.000000 UTC+d4"
    folder.mkdir()
    (folder / "arrays.ipynb").write_bytes(notebook_bytes("cy"))
    third = collect_from_exchange(course, assignments=["intro"])[0]
    why = next(r.reason for r in third.refused if r.source.endswith(folder.name))
    assert "student 'cy' is not in the roster" in why and "course roster import" in why
    assert not course.folder("submitted", "cy").exists()
