"""Grading under real installs: nothing of the grader reachable, whatever the install.

Each test installs the project into a fresh virtual environment, either non-editably
(a wheel built from a copy of the repository, ``pip install``) or editably (``pip
install -e`` of a clone of the repository kept under /srv, as a teacher who works in
their checkout has it), copies the course to another folder outside /tmp (under /srv:
a course under /tmp would be hidden by the sandbox's private /tmp for free), plants a
readable copy of ``source/`` (the solutions) elsewhere on the machine, and grades a
small class with ``course autograde`` from that environment, for both installs:

* as root (the full sandbox: namespaces, a private uid, control groups); the editable
  case with everything under /tmp instead (the environment too, as in a clone made in
  a temporary folder: the sandbox's private /tmp must not cover it);
* as a non-root user the test creates (the sandbox through an unprivileged user
  namespace), with a second Python (Debian's) so that nothing of root's is borrowed.

The class: an honest student; one who calls ``fetch()`` again and reads the data file
again in later questions' cells (valid: full marks); one whose notebook imports ``reference_solution`` (from
the installed wheel: it is in the environment's site-packages) to take every answer;
one that searches the whole filesystem for the grader's files, the solutions and the
gradebook and would use what it finds.  Asserted: the importer and the prober score
zero, their notebooks saw nothing, and the honest student keeps full marks.

The environments reuse the test run's own installed dependencies (their site-packages
folder is bind-mounted read-only and named in a ``.pth`` file), so nothing is
downloaded but the build backend of the wheel.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import uuid
from pathlib import Path

import nbformat
import pytest

from autograder.config import load_course
from autograder.nbmeta import grade_id

from .conftest import DATA_FILE, ROOT, copy_course, solutions_of

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux") or os.geteuid() != 0,
                       reason="installs, bind mounts and a new user need root on Linux"),
    pytest.mark.skipif(not DATA_FILE.is_file(), reason=f"course data file not found at {DATA_FILE}"),
]

ASSIGNMENT = "longslit-extraction"
MARK = f"course-probe-{uuid.uuid4().hex[:8]}"

PROBE = r'''
import os, json, glob, sys, importlib.util
found = {"spec": {}, "files": [], "reads": {}}
for name in ("reference_solution", "autograder", "autograder.checks"):
    try:
        found["spec"][name] = bool(importlib.util.find_spec(name))
    except Exception as exc:
        found["spec"][name] = False
seen = 0
for top, dirs, files in os.walk("/", onerror=lambda e: None):
    if top.startswith(("/proc", "/sys", "/dev")):
        dirs[:] = []
        continue
    seen += 1
    for name in dirs + files:
        if name in ("reference_solution", "extraction.ipynb", "course.yml", "longslit_extraction.py") or name.startswith("__editable__") or "numpy_3c120_course" in name:
            p = os.path.join(top, name)
            try:  # what it holds: a covered name is an empty folder or an empty file
                size = len(os.listdir(p)) if os.path.isdir(p) else os.path.getsize(p)
            except OSError:
                size = 0
            found["files"].append([p, size])
    if seen > 200000:
        break
for path in TARGETS:
    try:
        with open(path, "rb") as fh:
            found["reads"][path] = len(fh.read())
    except Exception as exc:
        found["reads"][path] = type(exc).__name__
print("PROBE-RESULT " + json.dumps(found))
'''


def _solutions(course_root: Path) -> dict[str, str]:
    return solutions_of(course_root / "source" / ASSIGNMENT / "extraction.ipynb")


def _submission(course_root: Path, answers: dict[str, str], *, first: str = "") -> nbformat.NotebookNode:
    nb = nbformat.read(course_root / "release" / ASSIGNMENT / "extraction.ipynb", as_version=4)
    for cell in nb.cells:
        if grade_id(cell) in answers:
            cell.source = answers[grade_id(cell)]
    if first:
        at = next(i for i, c in enumerate(nb.cells) if grade_id(c) == "read-data")
        nb.cells.insert(at, nbformat.v4.new_code_cell(first))
    return nb


def _class(course_root: Path, targets: list[str]) -> dict[str, nbformat.NotebookNode]:
    solutions = _solutions(course_root)
    importer_first = ("from reference_solution import extract\n_ex = extract(path)\n")
    importer = {
        "read-data": "img, err, dq = _ex.img, _ex.err, _ex.dq",
        "profile-and-spectrum": "profile, spectrum_raw = _ex.profile, _ex.spectrum_raw",
        "source-rows": "spectrum_src = _ex.spectrum_src",
        "cosmic-rays": "img_sm, sigma, bad, img_cr = _ex.img_sm, _ex.sigma, _ex.bad, _ex.img_cr",
        "background": "bkg_rows, bkg, img_bkg = _ex.bkg_rows, _ex.bkg, _ex.img_bkg",
        "final-spectrum": "spectrum_final = _ex.spectrum_final",
        "wavelength": "wavelength = _ex.wavelength\nplt.plot(wavelength, spectrum_final)",
        "redshift": "z_measured = _ex.z",
    }
    probe = PROBE.replace("TARGETS", repr(targets))
    # valid: fetch() again in the read-data cell, the file read again in later questions'
    # cells (their secret runs put a matching file in place; the real one is back after)
    rereads = {**solutions,
               "read-data": "from course_data import fetch\npath = fetch()\n" + solutions["read-data"],
               "err-dq-images": "err = fits.getdata(path, 'ERR').astype(float)\n" + solutions["err-dq-images"],
               "cosmic-rays": "img = fits.getdata(path, 'SCI').astype(float)\n" + solutions["cosmic-rays"]}
    return {
        "honest": _submission(course_root, solutions),
        "rereader": _submission(course_root, rereads),
        "importer": _submission(course_root, importer, first=importer_first),
        "prober": _submission(course_root, {k: "" for k in solutions}, first=probe),
    }


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A clean copy of the repository (what a clone holds)."""
    src = tmp_path_factory.mktemp("src") / "repo"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", ".venv", "venv", "build", "*.egg-info",
                                                             "__pycache__", "submitted", "autograded", "feedback",
                                                             "gradebook.db", ".course", "exports", "reports", "_work-*", "*.sock"))
    return src


@pytest.fixture(scope="module")
def wheel(tmp_path_factory, repo) -> Path:
    """The project built as a wheel, from a copy of the repository."""
    src = repo
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(src)], check=True,
                   stdout=subprocess.DEVNULL)
    (found,) = out.glob("numpy_3c120_course-*.whl")
    return found


class Setup:
    """A fresh environment with the project installed (the wheel, or ``pip install -e`` of
    the clone ``source``), a course copy and a planted copy of the solutions, all under a
    folder of /srv; mounts and the user are undone at the end."""

    def __init__(self, install: Path, python: str, user: str | None, *, editable: bool = False, under: str = "/srv"):
        Path(under).mkdir(exist_ok=True)
        self.base = Path(tempfile.mkdtemp(prefix="course-install-", dir=under))
        self.base.chmod(0o755)
        self.user = user
        self.mounts: list[Path] = []
        self.venv = self.base / "venv"
        subprocess.run([python, "-m", "venv", "--without-pip", str(self.venv)], check=True)
        site = Path(subprocess.run([str(self.venv / "bin" / "python"), "-c",
                                    "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                   check=True, capture_output=True, text=True).stdout.strip())
        self.clone = None
        if editable:  # the installed clone lives beside the course, readable by everyone
            self.clone = self.base / "clone"
            shutil.copytree(install, self.clone)
            install_args = ["-e", str(self.clone)]
        else:
            install_args = [str(install)]
        subprocess.run([sys.executable, "-m", "pip", "--python", str(self.venv / "bin" / "python"), "install",
                        "-q", "--no-deps", *install_args], check=True, stdout=subprocess.DEVNULL)
        # the outer environment's packages, without its copy of the grader if it holds one (an
        # environment installed with `pip install .`): the copy graded, and the one to keep out
        # of reach, is the install's under test.  A tmpfs with a read-only bind of each entry.
        deps = self.base / "deps"
        deps.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=755", "tmpfs", str(deps)], check=True)
        self.mounts.append(deps)
        outer = Path(sysconfig.get_paths()["purelib"])
        script = []
        for entry in sorted(outer.iterdir()):
            if entry.name in ("autograder", "reference_solution", "course_data.py") or \
                    entry.name.startswith(("numpy_3c120_course", "__editable__")):
                continue
            if entry.is_symlink():
                (deps / entry.name).symlink_to(os.readlink(entry))
                continue
            (deps / entry.name).mkdir() if entry.is_dir() else (deps / entry.name).touch()
            script.append(f"mount --bind -o ro '{entry}' '{deps / entry.name}'")
        subprocess.run(["sh", "-ec", "\n".join(script)], check=True)
        subprocess.run(["mount", "-o", "remount,ro", str(deps)], check=True)
        (site / "deps.pth").write_text(f"{deps}\n")
        # the one program of a dependency the course runs (nbgrader runs `alembic` from PATH)
        alembic = self.venv / "bin" / "alembic"
        alembic.write_text(f"#!{self.venv / 'bin' / 'python'}\nimport sys\nfrom alembic.config import main\n"
                           "sys.exit(main())\n")
        alembic.chmod(0o755)
        self.site = site
        self.course = copy_course(self.base / "course")
        (self.base / "data").mkdir()
        shutil.copy2(DATA_FILE, self.base / "data" / DATA_FILE.name)
        self.planted = self.base / "backup-of-the-course"
        shutil.copytree(ROOT / "source", self.planted / "source")
        (self.base / "home").mkdir()
        if user:
            for path in (self.course, self.base / "home"):
                subprocess.run(["chown", "-R", user, str(path)], check=True)

    def course_cmd(self, *args: str) -> subprocess.CompletedProcess:
        env = {"PATH": f"{self.venv / 'bin'}:/usr/bin:/bin", "HOME": str(self.base / "home"), "LANG": "C.UTF-8",
               "COURSE_DATA_DIR": str(self.base / "data")}
        cmd = [str(self.venv / "bin" / "course"), "--course-dir", str(self.course), *args]
        if self.user:
            runuser = shutil.which("runuser") or "/usr/sbin/runuser"
            cmd = [runuser, "-u", self.user, "--", "env", *[f"{k}={v}" for k, v in env.items()], *cmd]
        return subprocess.run(cmd, env=env, cwd=self.base, capture_output=True, text=True, timeout=900)

    def close(self) -> None:
        for m in reversed(self.mounts):
            subprocess.run(["umount", "-l", str(m)], check=False)
        shutil.rmtree(self.base, ignore_errors=True)


def _grade_the_class(setup: Setup) -> tuple[dict, dict]:
    installed = setup.clone or setup.site  # where the installed grader's files are
    targets = [str(installed / "reference_solution" / "extraction.py"),
               str(installed / "autograder" / "checks" / "longslit_extraction.py"),
               str(setup.course / "source" / ASSIGNMENT / "extraction.ipynb"),
               str(setup.course / "gradebook.db"),
               str(setup.planted / "source" / ASSIGNMENT / "extraction.ipynb"),
               str(ROOT / "source" / ASSIGNMENT / "extraction.ipynb")]
    run = setup.course_cmd("release", ASSIGNMENT)
    assert run.returncode == 0, run.stdout + run.stderr
    for student, nb in _class(setup.course, targets).items():
        folder = setup.course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / "extraction.ipynb")
        if setup.user:
            subprocess.run(["chown", "-R", setup.user, str(setup.course / "submitted")], check=True)
    run = setup.course_cmd("autograde", "-j", "2")
    assert run.returncode == 0, run.stdout + run.stderr
    from autograder.config import load_course
    from autograder.gradebook import read_gradebook

    data = read_gradebook(load_course(setup.course))
    totals = {s: data.get(s, ASSIGNMENT).total for s in data.students}
    graded = nbformat.read(setup.course / "autograded" / "prober" / ASSIGNMENT / "extraction.ipynb", as_version=4)
    text = "".join(o.get("text", "") for c in graded.cells if c.cell_type == "code" for o in c.get("outputs", []))
    line = next(ln for ln in text.splitlines() if ln.startswith("PROBE-RESULT "))
    return totals, json.loads(line[len("PROBE-RESULT "):])


def _assert_sealed(totals: dict, probe: dict) -> None:
    course = load_course(ROOT, check_files=False).assignment(ASSIGNMENT)
    full = course.total - sum(q.points for q in course.questions if q.manual)  # a written answer waits for a grader
    assert totals == {"honest": full, "rereader": full, "importer": 0.0, "prober": 0.0}, totals
    assert probe["spec"] == {"reference_solution": False, "autograder": False, "autograder.checks": False}, probe
    assert probe["files"] == [], probe["files"]
    assert all(isinstance(v, str) for v in probe["reads"].values()), probe["reads"]  # every read failed


@pytest.fixture(params=["wheel", "editable"])
def install(request, repo):
    """How the project is installed: ``(path, editable)``."""
    if request.param == "editable":
        return repo, True
    return request.getfixturevalue("wheel"), False


def test_an_install_graded_as_root(install):
    """The wheel with everything under /srv; the editable install with everything (the
    environment, the clone, the course, the planted copy) under /tmp, as a clone made in a
    temporary folder has it: the sandbox's private /tmp must not cover the environment's
    packages (it did: every lazily imported module failed)."""
    path, editable = install
    setup = Setup(path, sys._base_executable if hasattr(sys, "_base_executable") else sys.executable, None,
                  editable=editable, under=tempfile.gettempdir() if editable else "/srv")
    try:
        if editable:  # really an editable install: the environment points into the clone
            assert not (setup.site / "reference_solution").exists()
            assert any(p.name.startswith("__editable__") for p in setup.site.iterdir())
        else:
            assert (setup.site / "reference_solution" / "extraction.py").is_file()  # really installed there
        grader = subprocess.run([str(setup.venv / "bin" / "python"), "-c", "import autograder; print(autograder.__file__)"],
                                check=True, capture_output=True, text=True, cwd=setup.base).stdout
        assert grader.startswith(str(setup.clone if editable else setup.site)), grader  # the install under test
        _assert_sealed(*_grade_the_class(setup))
    finally:
        setup.close()


@pytest.mark.skipif(not Path("/usr/bin/python3.11").exists(), reason="needs Debian's python3.11 for the user")
def test_an_install_graded_by_a_non_root_user(install):
    path, editable = install
    user = f"cgrader{uuid.uuid4().hex[:6]}"
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", user], check=True)
    setup = None
    try:
        pwd.getpwnam(user)
        setup = Setup(path, "/usr/bin/python3.11", user, editable=editable)
        _assert_sealed(*_grade_the_class(setup))
        # as the user, the sandbox ran through a user namespace: no private uid, no cgroup
        run = setup.course_cmd("check", str(setup.course / "submitted" / "honest" / ASSIGNMENT / "extraction.ipynb"))
        assert run.returncode == 0, run.stdout + run.stderr
    finally:
        if setup is not None:
            setup.close()
        subprocess.run(["userdel", user], check=False)

