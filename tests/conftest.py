"""Shared fixtures: the course, the real data file, a warm grader."""

from __future__ import annotations

import contextlib
import os
import shutil
import site
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("COURSE_DATA_DIR", ROOT.parent / "shared" / "data"))
DATA_FILE = DATA_DIR / "3c120_stis.fits.gz"

needs_data = pytest.mark.skipif(not DATA_FILE.is_file(), reason=f"course data file not found at {DATA_FILE}")

# Tests grade in copies of the course under a temporary folder, where course.yml's
# search dir ../shared/data does not exist: tell every course (and subprocess) where the
# file is, as the data issue asks of tests and CI.
if DATA_FILE.is_file():
    os.environ.setdefault("COURSE_DATA_DIR", str(DATA_DIR.resolve()))

# nbgrader runs `alembic` from PATH when it creates a gradebook
os.environ["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])

#: The most pytest-xdist workers ``-n auto`` starts (pyproject's addopts): most tests wait
#: on a sandbox, a server, a browser or an install, and each worker may run a whole
#: class's grading or a JupyterLab server with Chromium of its own.
MAX_WORKERS = 4


def pytest_xdist_auto_num_workers(config):
    return max(1, min(os.cpu_count() or 1, MAX_WORKERS))


def pytest_configure(config):
    """Under pytest-xdist, each worker gets a temporary folder of its own (TMPDIR, short:
    a sandbox's socket path must fit in 107 bytes), so that a test which checks what a
    run left in the temporary folder sees only its own worker's files."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return
    import tempfile

    own = tempfile.mkdtemp(prefix=f"pytest-{worker}-", dir="/tmp" if os.path.isdir("/tmp") else None)
    os.chmod(own, 0o755)  # the accounts some tests create reach their folders in it, as in /tmp
    os.environ["TMPDIR"] = own
    tempfile.tempdir = None  # gettempdir() reads TMPDIR again
    config.add_cleanup(lambda: shutil.rmtree(own, ignore_errors=True))


@pytest.fixture(scope="session")
def course():
    from autograder.config import load_course

    return load_course(ROOT)


@pytest.fixture(scope="session")
def data_file() -> Path:
    if not DATA_FILE.is_file():
        pytest.skip(f"course data file not found at {DATA_FILE}")
    return DATA_FILE


@pytest.fixture(scope="session")
def grader(course, data_file):
    """One warm NotebookGrader (and sandbox zygote) for the whole test session."""
    from autograder.grading import NotebookGrader

    g = NotebookGrader(course, data_path=data_file)
    yield g
    g.close()


def copy_course(dest: Path, *, grading: dict | None = None) -> Path:
    """A private copy of the course repository (no runtime folders) to grade in: the one
    way tests make a course.  ``grading``: course.yml grading settings to change."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("course.yml", "nbgrader_config.py", "course_data.py"):
        shutil.copy2(ROOT / name, dest / name)
    for name in ("source", "release", "examples"):
        if (ROOT / name).exists():
            shutil.copytree(ROOT / name, dest / name, symlinks=False)
    if grading:
        import yaml

        data = yaml.safe_load((dest / "course.yml").read_text())
        data["grading"].update(grading)
        (dest / "course.yml").write_text(yaml.safe_dump(data, sort_keys=False))
    return dest


def course_questions(assignment_id: str) -> list:
    """The questions of an assignment, from course.yml (tests never list them by hand)."""
    from autograder.config import load_course

    return load_course(ROOT, check_files=False).assignment(assignment_id).questions


def solutions_of(source) -> dict[str, str]:
    """The answer cells of a source notebook (a path, or one already read): grade id -> source."""
    import nbformat

    from autograder.nbmeta import grade_id, is_solution

    nb = nbformat.read(source, as_version=4) if isinstance(source, (str, Path)) else source
    return {grade_id(c): c.source for c in nb.cells if is_solution(c)}


def answered_with_solutions(notebook: Path, source: Path, dest: Path | None = None) -> Path:
    """``notebook`` (a release or fetched copy) with every answer cell holding the source
    notebook's solution (the model answers, written ones included), saved at ``dest``
    (default: in place); the path written."""
    import nbformat

    from autograder.nbmeta import grade_id

    solutions = solutions_of(source)
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        if grade_id(cell) in solutions:
            cell.source = solutions[grade_id(cell)]
    dest = Path(dest or notebook)
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)
    return dest


def reachable_by_others(path: Path) -> bool:
    """Whether an account with no rights of its own here can reach ``path``: every folder
    above it searchable by others."""
    return all(p.stat().st_mode & 0o001 for p in Path(path).parents)


@dataclass(frozen=True)
class LentEnvironment:
    """This test environment as another account runs it (a student's Jupyter server)."""

    prefix: Path  # the environment (``sys.prefix``), as the account reaches it
    python: list[str]  # an interpreter the account may run
    pythonpath: str  # the environment's packages, for ``PYTHONPATH``


@contextlib.contextmanager
def environment_for_accounts(base: Path):
    """This environment's packages and Jupyter data for the accounts a test creates.

    A clone in a private folder (``mktemp -d`` makes it 0700) puts the environment out of
    other accounts' reach: then ``sys.prefix`` is lent as a read-only bind under ``base``
    (which they can reach; root only, as the tests that make accounts are), unmounted at
    the end.  The interpreter is the system's of the same version when this one's own file
    is out of their reach too (a pyenv under /root).
    """
    prefix = Path(sys.prefix)
    mount = None
    if not reachable_by_others(prefix):
        mount = base / "lent-environment"
        mount.mkdir()
        subprocess.run(["mount", "--bind", "-o", "ro", str(prefix), str(mount)], check=True)
    try:
        lent = mount or prefix

        def seen(path: str) -> str:
            p = Path(path)
            return str(lent / p.relative_to(prefix)) if p.is_relative_to(prefix) else path

        real = Path(os.path.realpath(sys.executable))
        if reachable_by_others(real) and real.stat().st_mode & 0o005 == 0o005:
            python = [str(real)]
        else:
            version = f"python{sys.version_info.major}.{sys.version_info.minor}"
            found = [Path(f) / version for f in ("/usr/bin", "/usr/local/bin") if (Path(f) / version).is_file()]
            if not found:
                pytest.skip(f"no {version} the accounts can run")
            python = [str(found[0])]
        yield LentEnvironment(lent, python, os.pathsep.join(seen(p) for p in site.getsitepackages()))
    finally:
        if mount is not None:
            subprocess.run(["umount", "-l", str(mount)], check=False)
