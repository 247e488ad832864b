"""What grading leaves on the machine: nothing in the system's temporary folder, and no
configuration read from a folder other accounts share."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

SCRIPT = """
import sys
from concurrent.futures import ProcessPoolExecutor

from autograder.autograde.executor import worker_context
from autograder.sandbox.limits import Limits
from autograder.sandbox.runner import Zygote, make_workdir


def job():
    return str(make_workdir({}).parent)


if __name__ == "__main__":
    mine = job()
    with ProcessPoolExecutor(2, mp_context=worker_context()) as pool:
        theirs = {pool.submit(job).result() for _ in range(4)}
    print(mine, *theirs)
    zygote = Zygote(plots="jpeg", warm_up=False)
    session = zygote.spawn(make_workdir({}), Limits())
    out = session.run("import matplotlib.pyplot as plt\\nplt.plot([1, 2])\\nplt.show()", timeout=60)
    assert out.status == "ok", out
    session.close()
    zygote.close()
"""


@pytest.fixture
def tmp():
    """The temporary folder the script is given, short: multiprocessing's fork server puts
    a socket in it, and a socket's path has at most 107 bytes (a deeper ``tmp_path``, as
    pytest-xdist's, made the script fail with "AF_UNIX path too long")."""
    folder = Path(tempfile.mkdtemp(prefix="leftovers-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _run(tmp_path: Path, tmp: Path, cache: str) -> tuple[subprocess.CompletedProcess, Path]:
    (tmp_path / "run.py").write_text(SCRIPT)
    env = {**os.environ, "TMPDIR": str(tmp), "XDG_CACHE_HOME": cache}
    env.pop("MPLCONFIGDIR", None)
    done = subprocess.run([sys.executable, str(tmp_path / "run.py")], cwd=tmp_path, capture_output=True, text=True,
                          env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done, tmp


def test_grading_leaves_nothing_in_the_temporary_folder(tmp_path, tmp):
    """Each process that grades keeps its sandboxes' working folders in one folder of the
    temporary folder, gone when that process exits: a pool's worker (which leaves through
    ``os._exit``) as much as the instructor's process (every process left one behind, a
    thousand a day on a busy machine).  The warm process's matplotlib keeps its font list
    in this account's cache, not in a ``matplotlib-*`` folder made at every start; its
    home is its own folder (it was the temporary folder itself, where any account could
    leave a ``.config/matplotlib`` or an ``.ipython`` for it to read)."""
    done, tmp = _run(tmp_path, tmp, str(tmp_path / "cache"))
    roots = done.stdout.split()
    assert len(set(roots)) >= 2 and all(r.startswith(str(tmp)) for r in roots), roots  # really made there
    assert sorted(p.name for p in tmp.iterdir()) == []
    assert list((tmp_path / "cache" / "numpy-3c120-course" / "matplotlib").glob("fontlist-*.json"))


def test_without_a_cache_folder_the_font_list_stays_in_the_warm_process_folder(tmp_path, tmp):
    (tmp_path / "not-a-folder").write_text("")
    _, tmp = _run(tmp_path, tmp, str(tmp_path / "not-a-folder"))
    assert sorted(p.name for p in tmp.iterdir()) == []

