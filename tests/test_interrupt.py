"""Stopping ``course autograde`` part way: Ctrl-C stops it at once with one line saying
what was kept, and a run killed outright (``kill -9``) leaves no process behind.  Either
way the next run grades the rest."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from .conftest import ROOT, copy_course, needs_data

pytestmark = [needs_data, pytest.mark.slow]
ASSIGNMENT = "longslit-extraction"
BIN = Path(sys.executable).parent


@pytest.fixture
def busy_course(tmp_path, data_file):
    """A course with 12 example submissions, released: enough for a run of many seconds."""
    root = copy_course(tmp_path / "course")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "COURSE_DATA_DIR": str(data_file.parent)}
    subprocess.run([BIN / "course", "release", ASSIGNMENT], cwd=root, env=env, check=True, capture_output=True)
    for i in range(12):
        kind = ("ada", "grace", "linus")[i % 3]
        folder = root / "submitted" / f"s{i:02d}" / ASSIGNMENT
        folder.mkdir(parents=True)
        shutil.copy2(ROOT / "examples" / "submissions" / kind / ASSIGNMENT / "extraction.ipynb", folder)
    return root, env


def _group(pgid: int) -> list[str]:
    """The processes still in process group ``pgid`` (pid and command line)."""
    out = subprocess.run(["ps", "-ww", "-eo", "pid=,pgid=,args="], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.split()[1] == str(pgid)]


def _as_a_shell_does() -> None:
    """In the child: Ctrl-C and Ctrl-\\ back to their defaults, as a terminal's shell sets
    them for a foreground job: the process running the tests may have them ignored (as
    a shell's background job does; seen in a pytest-xdist worker after earlier tests)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


def _start(root, env, *, early: bool = False):
    """``course autograde -j 2`` as a terminal would run it: a process group of its own;
    returned once grading has begun (the fork server and both workers are up), or with
    ``early`` while the fork server is still importing."""
    proc = subprocess.Popen([BIN / "course", "autograde", "-j", "2"], cwd=root, env=env, start_new_session=True,
                            preexec_fn=_as_a_shell_does, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if sum("forkserver" in line for line in _group(proc.pid)) >= (1 if early else 3):
            break
        time.sleep(0.05 if early else 0.2)
    else:
        proc.kill()
        out, err = proc.communicate(timeout=60)
        pytest.fail(f"the workers never started: {_group(proc.pid)}\n{out}\n{err}")
    time.sleep(0.3 if early else 3)
    return proc


def _next_run_grades_the_rest(root, env):
    out = subprocess.run([BIN / "course", "autograde", "-j", "2"], cwd=root, env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        assert len(gb.assignment_submissions(ASSIGNMENT)) == 12


@pytest.mark.parametrize("when", ["while starting", "while grading"])
def test_ctrl_c_stops_at_once_and_says_what_was_kept(busy_course, when):
    root, env = busy_course
    proc = _start(root, env, early=when == "while starting")
    pressed = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
    try:
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - pressed
    finally:
        time.sleep(2)
        left = _group(proc.pid)
        for line in left:  # what a failure left behind
            os.kill(int(line.split()[0]), signal.SIGKILL)
    assert proc.returncode == 130, (out, err)
    assert "interrupted:" in err and "course autograde` again grades the rest" in err, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert took < 8, f"{took:.1f} s to stop"
    assert left == []
    _next_run_grades_the_rest(root, env)


def test_a_run_killed_outright_leaves_no_process_behind(busy_course):
    root, env = busy_course
    folders = set(Path(tempfile.gettempdir()).glob("course-zygote-*"))
    proc = _start(root, env)
    try:
        proc.kill()  # SIGKILL to the instructor's process only, as the OOM killer would
        proc.wait(timeout=60)
        deadline = time.monotonic() + 20
        while _group(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _group(proc.pid) == []
        assert set(Path(tempfile.gettempdir()).glob("course-zygote-*")) <= folders  # the sandbox's own, removed
    finally:
        for line in _group(proc.pid):  # what a failure left behind
            os.kill(int(line.split()[0]), signal.SIGKILL)
        proc.communicate(timeout=60)
    _next_run_grades_the_rest(root, env)
