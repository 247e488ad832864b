"""Hostile and broken submissions against the grader, each with its expected outcome.

Student code is untrusted.  Every case below is a submission of ``longslit-extraction``
(built from the released notebook with the source notebook's solutions, then edited
with nbformat) graded the way ``course check`` grades it (``integrity.restore`` then
:meth:`NotebookGrader.grade`, one warm grader for the module) or, at the end, all
together through ``course autograde``.  The expectations, in short:

* cheating the comparisons (overriding numpy.testing, np.allclose, builtins,
  AssertionError, assert-stripping AST/input transformers, a silenced showtraceback,
  fake success text, a shadowing numpy.py): with wrong answers the score does not rise,
  with right answers it stays full;
* ending or breaking the process (sys.exit, KeyboardInterrupt, os._exit, a segfault,
  an endless loop, a huge allocation, a fork bomb, a kernel that lies on the wire or
  trickles bytes): the earlier questions are kept, the lost ones say why, the grader
  never crashes or hangs;
* answers that are not plain data (always-equal objects, masked arrays, subclasses,
  lazy proxies) or wrong in form (NaN, shape, dtype, byte order) cost their own question;
* reaching out (reading the solutions, the checks or the gradebook, writing into the
  course or another student's folder, a detached process that outlives the notebook,
  secrets in the environment, the network): nothing is visible, nothing changes;
* tampering with the notebook (edited/deleted/duplicated/reordered test cells, raised
  points, a bonus graded cell) and unusable files (empty, malformed, symlinks): the
  instructor's cells count, the problems are reported, the batch goes on.

A world-connectable Unix socket anywhere on the machine is out of reach too: the
student's filesystem is an allow-list that holds none (see
test_late_entries_other_students_and_detached_processes).

Run: ``COURSE_DATA_DIR=../shared/data python -m pytest tests/test_adversarial.py``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("COURSE_DATA_DIR") or Path(__file__).resolve().parents[2] / "shared" / "data")
DATA = DATA_DIR / "3c120_stis.fits.gz"

from autograder import integrity  # noqa: E402

from .conftest import copy_course, solutions_of  # noqa: E402
from autograder.config import load_course  # noqa: E402
from autograder.grading import GradedNotebook, NotebookGrader, course_secret  # noqa: E402
from autograder.nbmeta import grade_id  # noqa: E402
from autograder.notebooks import read_notebook  # noqa: E402
from autograder.sandbox.isolation import best_mode  # noqa: E402
_env = dict(os.environ)
from autograder.sandbox.kernel import student_environment  # noqa: E402  (the documented clean set)

os.environ.clear()  # importing the kernel module sets BLAS thread variables: keep this process as it was
os.environ.update(_env)
from autograder.sandbox.runner import make_workdir  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not DATA.is_file(), reason=f"course data file not found at {DATA}"),
    # as root (CI) or as a user through an unprivileged user namespace: the same filesystem
    # and namespaces; only the resource-limits fallback cannot keep these guarantees
    pytest.mark.skipif(best_mode() == "limits", reason="the sandbox's guarantees under test need Linux namespaces"),
]

ASSIGNMENT = "longslit-extraction"
_EXTRACTION = load_course(ROOT, check_files=False).assignment(ASSIGNMENT)
ORDER = [q.id for q in _EXTRACTION.questions]
MANUAL_IDS = {q.id for q in _EXTRACTION.questions if q.manual}  # written answers: a grader's, never the autograder's
MAX = float(_EXTRACTION.total)  # what the gradebook says the assignment is worth
FULL = MAX - sum(q.points for q in _EXTRACTION.questions if q.manual)  # all the autograder can give
CELL_TIMEOUT = 6.0  # small, to keep the endless-loop cases fast; every honest cell takes well under 1 s
NOTEBOOK_TIMEOUT = 120.0
SECRETS = {"COURSE_ADMIN_TOKEN": "s3cret-course", "NBGRADER_DB_PASSWORD": "s3cret-nbgrader",
           "GITHUB_TOKEN": "ghp_s3cret", "AWS_SECRET_ACCESS_KEY": "s3cret-aws"}
MARKER = f"adv-marker-{uuid.uuid4().hex[:12]}"  # in the argv of every process a hostile notebook starts
IPC_KEY = int(MARKER[-7:], 16)  # System V IPC key the probes create objects under


def after(q: str) -> set[str]:
    """``q`` and every question after it (what a process that dies in q's cell loses)."""
    return set(ORDER[ORDER.index(q):]) - MANUAL_IDS


# ---------------------------------------------------------------------------------- notebooks
SOURCE_NB = nbformat.read(ROOT / "source" / ASSIGNMENT / "extraction.ipynb", as_version=4)
SOLUTIONS = solutions_of(SOURCE_NB)


def _cells(nb) -> dict:
    return {grade_id(c): c for c in nb.cells if grade_id(c)}


def _code_cell(source: str, **nbgrader) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    if nbgrader:
        cell.metadata["nbgrader"] = {"schema_version": 3, **nbgrader}
    return cell


def submission(released, *, replace=None, append=None, prepend=None, mutate=None) -> nbformat.NotebookNode:
    """The released notebook answered with the source's solutions, then edited.

    ``replace``/``append``/``prepend`` map a solution cell's grade id to code that
    replaces its source / runs after it / runs before it; ``mutate(nb)`` may change
    anything else (cells added, deleted, moved, metadata).
    """
    nb = copy.deepcopy(released)
    cells = _cells(nb)
    for gid, src in SOLUTIONS.items():
        cells[gid].source = src
    for gid, code in (replace or {}).items():
        cells[gid].source = code
    for gid, code in (append or {}).items():
        cells[gid].source += "\n" + code
    for gid, code in (prepend or {}).items():
        cells[gid].source = code + "\n" + cells[gid].source
    if mutate is not None:
        mutate(nb)
    return nb


# Three wrong answers: a band of nine rows (the slice end excluded), one that also
# fails a visible check (metres), one typed in from the literature.
WRONG = {
    "source-rows": "peak_row = int(np.argmax(profile))\nspectrum_src = img[peak_row - 4 : peak_row + 5].sum(axis=0)",
    "wavelength": (
        'hdr = fits.getheader(path, "SCI")\n'
        "columns = np.arange(img.shape[1])\n"
        'wavelength = (hdr["CRVAL1"] + hdr["CD1_1"] * (columns + 1 - hdr["CRPIX1"])) * 1e-10\n'
        "fig, ax = plt.subplots()\nax.plot(wavelength, spectrum_final)\nplt.show()"
    ),
    "redshift": 'rest_lines = {"[O III] 5007": 5006.84}\nz_measured = 0.0330',
}
WRONG_LOST = set(WRONG)
PARTIAL = FULL - sum(q.points for q in _EXTRACTION.questions if q.id in WRONG_LOST)

# ----------------------------------------------------------------------- cheating the checks
OVERRIDES = {
    "numpy-testing": """
import numpy.testing as _npt
for _n in ("assert_allclose", "assert_array_equal", "assert_equal", "assert_array_almost_equal",
           "assert_almost_equal", "assert_array_less"):
    setattr(_npt, _n, lambda *a, **k: None)
np.allclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
np.array_equiv = lambda *a, **k: True
np.isclose = lambda a, b, *r, **k: np.ones(np.shape(a), bool)
""",
    "builtins": """
import builtins as _builtins
_builtins.AssertionError = type("AssertionError", (Warning,), {})
class AssertionError(Exception):
    pass
isinstance = lambda *a, **k: True
""",
    "ast-transformer": """
import ast as _ast
class _NoAsserts(_ast.NodeTransformer):
    def visit_Assert(self, node):
        return _ast.copy_location(_ast.Pass(), node)
get_ipython().ast_transformers.append(_NoAsserts())
""",
    "input-transformer": """
def _drop_asserts(lines):
    return [(l[: len(l) - len(l.lstrip())] + "pass\\n") if l.lstrip().startswith("assert") else l for l in lines]
get_ipython().input_transformers_post.append(_drop_asserts)
""",
    "silenced-showtraceback": """
_ip = get_ipython()
_ip.showtraceback = lambda *a, **k: None
_ip._showtraceback = lambda *a, **k: None
_ip.showsyntaxerror = lambda *a, **k: None
""",
    "fake-success-text": """
print("All tests passed! Score: 16 / 16")
def _fake(result):
    print("All hidden tests passed: 100%")
    get_ipython().displayhook(2.0)   # an execute_result: nbgrader would read it as partial credit
get_ipython().events.register("post_run_cell", _fake)
""",
    "numpy-py-in-cwd": """
import importlib as _importlib
with open("numpy.py", "w") as _f:
    _f.write("def allclose(*a, **k):\\n    return True\\ndef array_equal(*a, **k):\\n    return True\\n")
_importlib.reload(np)        # np now holds the fake allclose/array_equal (found first: '' leads sys.path)
""",
}

# ------------------------------------------------------------------ ending or breaking the process
PROCESS = {
    # name: (code put at the start of the source-rows solution cell, lost, text expected in problems or None)
    "sys-exit": ("import sys\nsys.exit(0)", {"source-rows"}, None),
    "keyboard-interrupt": ("raise KeyboardInterrupt", {"source-rows"}, None),
    "os-exit": ("import os\nos._exit(3)", after("source-rows"), "the notebook's process ended"),
    "segfault": ("import ctypes\nctypes.string_at(0)", after("source-rows"), "the notebook's process ended"),
    # The student process is the init of its PID namespace: signals it sends itself are
    # ignored by the kernel (only SIGKILL from the grader, outside, ends it); the copy
    # of it that runs the question's code again is not, so that question is lost.
    "self-kill": ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\nos.kill(0, signal.SIGKILL)",
                  {"source-rows"}, None),
    "endless-loop": ("while True:\n    pass", after("source-rows"), f"ran longer than {CELL_TIMEOUT:.0f} s"),
    "huge-allocation": ("_big = np.ones(10**11)", {"source-rows"}, None),
    "slow-loris": ("""
import gc as _gc, socket as _socket, struct as _struct, time as _time
_sk = [o for o in _gc.get_objects() if isinstance(o, _socket.socket) and o.fileno() >= 0][0]
_sk.sendall(_struct.pack("!II", 1000, 0))   # a frame header, then one byte a second for 20 s
for _i in range(20):
    _sk.sendall(b" ")
    _time.sleep(1)
""", after("source-rows"), f"ran longer than {CELL_TIMEOUT:.0f} s"),
}

_HOOK = """
import gc as _gc, struct as _struct, json as _json
_gc.unfreeze()  # the warm process froze its objects out of gc's sight; a hostile student undoes that
_kg = next(o for o in _gc.get_objects() if type(o).__name__ == "function" and o.__name__ == "_serve"
           and "send_frame" in o.__globals__).__globals__
_real_send = _kg["send_frame"]
def _raw(s, body, blobs=b"", n=0):
    s.sendall(_struct.pack("!II", len(body), n) + body + blobs)
"""
GARBAGE = {
    # name: code defining _evil(s, h, b) that replaces the kernel's send_frame from this cell's reply on
    "deep-nesting": "def _evil(s, h, b=()):\n    _raw(s, b'[' * 200000 + b']' * 200000)",
    "huge-integer": "def _evil(s, h, b=()):\n    _raw(s, b'{\"op\": \"result\", \"cell\": ' + b'9' * 100000 + b'}')",
    "not-an-object": "def _evil(s, h, b=()):\n    _raw(s, b'[1, 2, 3]')",
    "oversized-blob": ("def _evil(s, h, b=()):\n"
                       "    _raw(s, _json.dumps(h).encode(), _struct.pack('!Q', 2 << 30) + b'x' * 1000, 1)"),
    "other-cell": "def _evil(s, h, b=()):\n    _real_send(s, {**h, 'cell': (h.get('cell') or 0) + 1}, b)",
    "invalid-utf8": "def _evil(s, h, b=()):\n    _raw(s, b'{\"op\": \"\\xff\\xfe\"}')",
}


def garbage_code(name: str) -> str:
    return _HOOK + GARBAGE[name] + "\n_kg['send_frame'] = _evil\n"


# A kernel that lies about figures on every test cell's reply (only the wavelength
# question is graded from a figure).
LYING_FIGURES = _HOOK + """
def _evil(s, h, b=()):
    if "figures" in h:
        h = {**h, "figures": [{"axes": 5}, {"axes": [{"lines": [{"x": 0, "y": 10**6}] * 100000, "images": 7}]}, 3],
             "captured": h["captured"] + [{"name": 5}, "junk", {"name": "z_measured", "status": "ok", "blob": 10**9}]}
    return _real_send(s, h, b)
_kg["send_frame"] = _evil
"""

FORK_BOMB = f"""
import os as _os, sys as _sys
_forked, _why = 0, None
for _i in range(2000):                      # bounded here too: at most 2000 forks
    try:
        _pid = _os.fork()
    except OSError as _e:
        _why = type(_e).__name__
        break
    if _pid == 0:
        try:
            _os.execv(_sys.executable, [_sys.executable, "-c", "import time; time.sleep(600)", "{MARKER}"])
        finally:
            _os._exit(0)
    _forked += 1
print("FORKED", _forked, _why)
"""

FLOODS = [
    'print("x" * 100_000_000)',
    'for _i in range(2000):\n    print("y" * 100_000)',
    "import sys\nfor _i in range(100_000):\n    sys.stderr.write('e' * 1000)",
    "from IPython.display import display\nfor _i in range(1000):\n    display('z' * 100_000)",
    ("import io, matplotlib.pyplot as _plt\nfrom IPython.display import Image, display\n"
     "_fig = _plt.figure(figsize=(2, 2)); _plt.plot([1, 2]); _buf = io.BytesIO(); _fig.savefig(_buf, format='png')\n"
     "_plt.close(_fig)\n_png = _buf.getvalue() * 40\nfor _i in range(300):\n    display(Image(data=_png, format='png'))"),
    # 100 tracebacks (10 are kept): formatting each is slow, 300 took 1.5 s of the 6 s limit
    "try:\n    1 / 0\nexcept ZeroDivisionError:\n    for _i in range(100):\n        get_ipython().showtraceback()",
]

# ------------------------------------------------------------------------ answers of odd types
RIGHT_SRC = "img[peak_row - 4 : peak_row + 6].sum(axis=0)"
VALUES = {
    # name: (replacements of solution cells, lost, words expected in the first lost question's message)
    "always-equal-raising": ({"source-rows": """
class AlwaysEqual:
    shape = (511,)
    def __eq__(self, other):
        return True
    __ne__ = lambda self, other: False
    def __array__(self, *a, **k):
        raise RuntimeError("no")
spectrum_src = AlwaysEqual()
"""}, {"source-rows"}, ["numpy array"]),
    "always-equal-lying": ({"source-rows": f"""
class AlwaysEqual:
    shape = (511,)
    def __eq__(self, other):
        return True
    def __array__(self, *a, **k):
        return {RIGHT_SRC}       # even the right numbers: it is not a plain array
spectrum_src = AlwaysEqual()
"""}, {"source-rows"}, ["numpy array"]),
    "masked-array": ({"source-rows": f"""
_mask = np.arange(511) % 2 == 0
_data = {RIGHT_SRC}
_data[_mask] = 0.0
spectrum_src = np.ma.masked_array(_data, mask=_mask)
"""}, {"source-rows"}, ["MaskedArray", "plain numpy array", "a sum, not a mean"]),  # (the visible test may speak first)
    "ndarray-subclass": ({"source-rows": """
class Sub(np.ndarray):
    def __eq__(self, other):
        return np.ones(self.shape, bool)
    def __array_finalize__(self, obj):
        pass
spectrum_src = np.zeros(511).view(Sub)
"""}, {"source-rows"}, ["Sub", "plain numpy array", "a sum, not a mean"]),  # (the visible test may speak first)
    "lazy-proxy": ({"source-rows": f"""
class Lazy:
    def __init__(self, make):
        object.__setattr__(self, "_make", make)
    @property
    def __class__(self):
        return np.ndarray               # isinstance(spectrum_src, np.ndarray) is True
    def __getattr__(self, name):
        return getattr(self._make(), name)
    def __array__(self, *a, **k):
        return np.asarray(self._make())
    def __eq__(self, other):
        return True
spectrum_src = Lazy(lambda: {RIGHT_SRC})
"""}, {"source-rows"}, ["Lazy", "plain numpy array"]),
    "nan": ({"profile-and-spectrum": "profile = img.sum(axis=1)\nprofile[100] = np.nan\nspectrum_raw = img.sum(axis=0)"},
            {"profile-and-spectrum"}, ["NaN", "sums, not means"]),  # (the visible test may speak first)
    "wrong-shape": ({"source-rows": f"spectrum_src = {RIGHT_SRC}.reshape(511, 1)"}, {"source-rows"}, ["shape"]),
    "wrong-dtype": ({"read-data": """
with fits.open(path) as hdul:
    img = hdul["SCI"].data.astype(float)
    err = hdul["ERR"].data.astype(float)
    dq = hdul["DQ"].data.astype(float)
"""}, {"read-data"}, ["integer"]),
    "non-native-byte-order": ({"read-data": """
with fits.open(path) as hdul:
    img = hdul["SCI"].data.astype(float)
    err = hdul["ERR"].data.astype(">f8")
    dq = hdul["DQ"].data.astype(np.int16)
"""}, {"read-data"}, ["big-endian"]),
    # "Follows the recipe" must use the results graded earlier: a doctored spectrum
    # placed just before the redshift test cell cannot make the literature value pass.
    "doctored-earlier-result": ({"redshift": """
rest_lines = {"[O III] 5007": 5006.84, "[O III] 4959": 4958.91, "H-beta": 4861.33}
z_measured = 0.0330
spectrum_final = np.zeros(511)
for _rest, _amp in ((5006.84, 3.0), (4958.91, 1.0), (4861.33, 1.0)):
    spectrum_final[np.argmin(np.abs(wavelength - _rest * 1.0330))] = _amp
"""}, {"redshift"}, ["published redshift"]),
}
# the question also asks for the nucleus's row: each odd answer comes with the right one
for _replace, _lost, _words in VALUES.values():
    if "source-rows" in _replace:
        _replace["source-rows"] = "peak_row = int(np.argmax(profile))\n" + _replace["source-rows"]


# ---------------------------------------------------------------------------- notebook tampering
def _tamper_tests(nb) -> None:
    """Every test cell emptied, points raised, one test cell renamed (its original 'deleted')."""
    for cell in nb.cells:
        gid = grade_id(cell)
        if gid and gid.endswith("-test"):
            cell.source = "pass"
            cell.metadata["nbgrader"]["points"] = 200
    _cells(nb)["redshift-test"].metadata["nbgrader"]["grade_id"] = "redshift-test-mine"


def _duplicate(cell):
    """A copy of ``cell`` as Jupyter makes it (a new cell id, the same metadata)."""
    dup = copy.deepcopy(cell)
    dup["id"] = uuid.uuid4().hex[:8]
    return dup


def _restructure(nb) -> None:
    """A deleted test cell, a duplicated one, reordered graded cells, a copied grade id on top."""
    cells = _cells(nb)
    nb.cells.remove(cells["profile-and-spectrum-test"])
    nb.cells.append(_duplicate(cells["source-rows-test"]))  # the last copy keeps the grade id
    fs_test = cells["final-spectrum-test"]
    nb.cells.remove(fs_test)
    nb.cells.insert(nb.cells.index(cells["wavelength-test"]) + 1, fs_test)
    fake = _duplicate(cells["redshift-test"])
    fake.source = "z_measured = 0.03\nprint('redshift: ok')"
    nb.cells.insert(0, fake)


def _delete_pair(nb) -> None:
    cells = _cells(nb)
    nb.cells.remove(cells["source-rows"])
    nb.cells.remove(cells["source-rows-test"])


def _flip_flags(nb) -> None:
    """A test cell no longer graded (a solution instead), a solution cell claiming 50 points."""
    cells = _cells(nb)
    cells["source-rows-test"].metadata["nbgrader"].update(grade=False, solution=True, locked=False)
    cells["read-data"].metadata["nbgrader"].update(grade=True, points=50)


def _bonus_cell(nb) -> None:
    nb.cells.append(_code_cell("print('bonus question: 100 points')", grade=True, solution=False, locked=False,
                               points=100, grade_id="bonus"))


TAMPER = {
    # name: (mutate, wrong answers?, lost, words expected in integrity.inspect's report)
    "edited-test-cells-wrong-answers": (_tamper_tests, True, WRONG_LOST,
                                        ["was edited", "grading metadata changed (points)", "'redshift-test' was deleted"]),
    "edited-test-cells-right-answers": (_tamper_tests, False, set(),
                                        ["was edited", "grading metadata changed (points)", "'redshift-test' was deleted"]),
    "deleted-duplicated-reordered": (_restructure, False, set(),
                                     ["'profile-and-spectrum-test' was deleted", "appears 2 times", "not in their original order"]),
    "deleted-solution-and-test": (_delete_pair, False, {"source-rows"}, ["'source-rows-test' was deleted"]),
    "flipped-grading-flags": (_flip_flags, False, set(), ["'source-rows-test' had its grading metadata changed "
                                                          "(grade, solution, locked)"]),
    "bonus-graded-cell": (_bonus_cell, False, set(), []),
}
# nbgrader 0.9.6's sanitize step (OverwriteCells) raises on each of these notebooks:
# KeyError on the id-less ``nbgrader`` metadata its own DeduplicateIds/OverwriteCells
# leave on duplicated or unknown grade ids and on a deleted solution+test pair,
# MissingEntry on a solution cell whose metadata claims it is graded.
# ``course autograde`` then scores the whole notebook 0 ("...; its questions score 0").
# ``integrity.restore`` (from the source notebook) before sanitize avoids it (see
# test_restore_makes_nbgrader_sanitize_safe); until autograde.py does that, the batch
# test asserts this limitation.
NBGRADER_SANITIZE_CRASH: set[str] = set()  # autograde restores the instructor's cells before nbgrader's sanitize


# ------------------------------------------------------------------------------------ fixtures
def _course_copy(dest: Path) -> Path:
    """A course folder at ``dest`` with a small cell timeout, released with nbgrader."""
    copy_course(dest, grading={"cell_timeout": CELL_TIMEOUT, "notebook_timeout": NOTEBOOK_TIMEOUT})
    env = {**os.environ, "COURSE_DATA_DIR": str(DATA_DIR)}
    done = subprocess.run([str(Path(sys.executable).with_name("course")), "release", ASSIGNMENT], cwd=dest, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    course_secret(load_course(dest))  # made now, not by the first grading (snapshots compare the folder)
    return dest


@pytest.fixture(scope="module")
def secrets_in_env():
    """Secrets in the grader's environment while its sandboxes start (they must not leak)."""
    with pytest.MonkeyPatch.context() as mp:
        for k, v in SECRETS.items():
            mp.setenv(k, v)
        mp.setenv("COURSE_DATA_DIR", str(DATA_DIR))
        yield


@pytest.fixture(scope="module")
def outside():
    """A course copy outside /tmp (which every sandbox gets a private one of), under this
    test folder, so that what the sandbox hides of it is really tested.  Released once."""
    base = _work_folder()
    base.chmod(0o755)  # as a course folder is: readable by anyone, were it not hidden
    try:
        yield _course_copy(base / "course")
    finally:
        shutil.rmtree(base, ignore_errors=True)
        try:
            (ROOT / "tests" / "adversarial").rmdir()
        except OSError:
            pass


def _work_folder() -> Path:
    """A new folder of this test's in tests/adversarial, whose parent another test process
    running at the same time (pytest-xdist) may remove when it finds it empty: made again then."""
    parent = ROOT / "tests" / "adversarial"
    for _ in range(4):
        parent.mkdir(exist_ok=True)
        try:
            return Path(tempfile.mkdtemp(prefix="_work-", dir=parent))
        except FileNotFoundError:
            pass
    parent.mkdir(exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="_work-", dir=parent))  # a fifth try, whose error is the test's


@pytest.fixture(scope="module")
def released(outside):
    return nbformat.read(outside / "release" / ASSIGNMENT / "extraction.ipynb", as_version=4)


@pytest.fixture(scope="module")
def course():
    c = load_course(ROOT)
    return c.model_copy(update={"grading": c.grading.model_copy(
        update={"cell_timeout": CELL_TIMEOUT, "notebook_timeout": NOTEBOOK_TIMEOUT})})


@pytest.fixture(scope="module")
def grader(course, secrets_in_env):
    g = NotebookGrader(course, data_path=DATA)
    g.zygote.start()
    yield g
    g.close()


@pytest.fixture(scope="module")
def outside_grader(outside, secrets_in_env):
    c = load_course(outside)
    g = NotebookGrader(c, data_path=DATA)
    s = g.zygote.spawn(make_workdir({}), g.limits)  # the warm process is up before the late entries appear
    s.close()
    yield g
    g.close()


class _Server:
    """A listening socket of this test's own, counting the connections it accepts."""

    def __init__(self, srv: socket.socket):
        self.srv, self.accepted, self.stop = srv, [], threading.Event()
        srv.settimeout(0.2)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.srv.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted.append(1)
            conn.close()

    def close(self):
        self.stop.set()
        self.thread.join(5)
        self.srv.close()


def _unix_server(path: Path) -> _Server:
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(path))
    path.chmod(0o777)  # anyone may connect, like dbus's or postgres's sockets
    srv.listen()
    return _Server(srv)


@pytest.fixture(scope="module")
def loopback_server():
    """A TCP server on 127.0.0.1 (this test's own): sandboxes must not reach it."""
    server = _Server(socket.create_server(("127.0.0.1", 0)))
    yield server.srv.getsockname()[1], server.accepted
    server.close()


@pytest.fixture(scope="module")
def unix_servers(outside):
    """World-connectable Unix sockets of this test's own: one in /run, where the
    machine's services keep theirs (out of reach), one beside the course copy."""
    paths = [Path(f"/run/{MARKER}.sock"), outside.parent / f"{MARKER}.sock"]
    paths = [p for p in paths if len(str(p)) < 100  # the length limit of a Unix socket's path
             and os.access(p.parent, os.W_OK)]  # /run is root's
    servers = [_unix_server(p) for p in paths]
    yield dict(zip(map(str, paths), servers))
    for p, srv in zip(paths, servers):
        srv.close()
        p.unlink(missing_ok=True)


# ------------------------------------------------------------------------------------- helpers


def grade(grader: NotebookGrader, nb, released) -> tuple[GradedNotebook, list[str]]:
    """Grade as ``course check`` does, and check what must hold for every notebook."""
    problems = integrity.inspect(nb, released)
    restored = integrity.restore(nb, SOURCE_NB)
    a = grader.course.assignment(ASSIGNMENT)
    graded = grader.grade(restored, a, a.notebook("extraction"))
    _invariants(graded)
    return graded, problems


def _invariants(graded: GradedNotebook) -> None:
    """Full marks is the assignment's total whatever the notebook says; nbgrader's own scoring of the rebuilt
    test cells gives the grader's verdicts; test cells show no partial credit or stderr."""
    from nbgrader.utils import determine_grade

    assert graded.result.max_score == MAX
    by_test = {q.question + "-test": q for q in graded.result.outcomes if q.question not in MANUAL_IDS}
    seen = set()
    for cell in graded.nb.cells:
        gid = grade_id(cell)
        if gid in by_test and cell.metadata["nbgrader"].get("grade"):
            seen.add(gid)
            assert not [o for o in cell.outputs if o.output_type == "execute_result"
                        or (o.output_type == "stream" and o.name == "stderr")]
            assert determine_grade(cell)[0] == by_test[gid].points, gid
    assert seen == set(by_test)


def lost(graded: GradedNotebook) -> set[str]:
    """The questions the autograder failed (a written answer waits for a grader: not lost)."""
    return {q.question for q in graded.result.outcomes if not q.passed and q.question not in MANUAL_IDS}


def message(graded: GradedNotebook, qid: str) -> str:
    return next(q.message for q in graded.result.outcomes if q.question == qid)


def marker_processes(marker: str = MARKER) -> list[int]:
    """Live processes (any uid) whose command line holds ``marker``."""
    found = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if marker.encode() in (p / "cmdline").read_bytes():
                    found.append(int(p.name))
            except OSError:
                pass
    return found


def host_ipc_objects(key: int = IPC_KEY) -> list[str]:
    """System V IPC objects with ``key`` in the machine's own IPC namespace."""
    found = []
    for kind in ("shm", "sem", "msg"):
        for line in Path(f"/proc/sysvipc/{kind}").read_text().splitlines()[1:]:
            if line.split() and line.split()[0] == str(key):
                found.append(f"{kind}: {line}")
    return found


def wait_no_marker_processes(marker: str = MARKER, timeout: float = 10.0) -> list[int]:
    end = time.monotonic() + timeout
    while (left := marker_processes(marker)) and time.monotonic() < end:
        time.sleep(0.1)
    return left


def snapshot(folder: Path) -> dict[str, tuple]:
    out = {}
    for p in sorted(folder.rglob("*")):
        st = p.lstat()
        digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() and not p.is_symlink() else ""
        out[str(p.relative_to(folder))] = (st.st_mode, st.st_size, st.st_mtime_ns, digest)
    return out


def cell_text(cell) -> str:
    return "".join(o.get("text", "") + "".join(str(v) for v in o.get("data", {}).values())
                   for o in cell.outputs)


def score_of(lost_ids: set[str], course) -> float:
    return sum(q.points for q in course.assignment(ASSIGNMENT).questions if q.id not in lost_ids and not q.manual)


# ======================================================================================= tests
def test_right_and_wrong_baselines(grader, released):
    right, _ = grade(grader, submission(released), released)
    assert lost(right) == set() and right.result.score == FULL and right.result.problems == []
    wrong, _ = grade(grader, submission(released, replace=WRONG), released)
    assert lost(wrong) == WRONG_LOST and wrong.result.score == PARTIAL
    assert "should be in Angstrom" in message(wrong, "wavelength")  # this one also fails a visible check


@pytest.mark.parametrize("answers", ["wrong", "right"])
@pytest.mark.parametrize("kind", list(OVERRIDES))
def test_overriding_the_comparisons_gains_nothing(grader, released, kind, answers):
    """Overrides run in the first solution cell, before every test cell: the hidden checks
    run in the grader's process on captured data, so the score neither rises nor falls."""
    replace = WRONG if answers == "wrong" else {}
    nb = submission(released, replace=replace, append={"read-data": OVERRIDES[kind]})
    graded, _ = grade(grader, nb, released)
    expected = WRONG_LOST if answers == "wrong" else set()
    assert lost(graded) == expected, [(q.question, q.message) for q in graded.result.outcomes if not q.passed]
    assert graded.result.score == (PARTIAL if answers == "wrong" else FULL)
    assert graded.result.problems == []


@pytest.mark.parametrize("name", list(PROCESS))
def test_ending_or_stalling_the_process(grader, released, name):
    code, expected, problem = PROCESS[name]
    started = time.monotonic()
    graded, _ = grade(grader, submission(released, prepend={"source-rows": code}), released)
    elapsed = time.monotonic() - started
    assert lost(graded) == expected, [(q.question, q.message) for q in graded.result.outcomes if not q.passed]
    assert graded.result.score == FULL - sum(q.max_points for q in graded.result.outcomes if q.question in expected)
    if problem is None:
        assert graded.result.problems == []
    else:
        assert len(graded.result.problems) == 1 and problem in graded.result.problems[0]
        assert "stopped at cell" in graded.result.problems[0]
        for q in expected - {"source-rows"}:  # a clear reason on every question that did not run
            assert message(graded, q).startswith("not run: the notebook stopped at cell")
    if expected:
        assert message(graded, "source-rows")
    if problem and "longer" in problem:  # the limit holds even for a kernel trickling bytes
        assert elapsed < CELL_TIMEOUT + 10
    assert elapsed < 30
    if name == "huge-allocation":
        sol = _cells(graded.nb)["source-rows"]
        assert any(o.output_type == "error" and o.ename == "MemoryError" for o in sol.outputs)


def test_fork_bomb_is_bounded_and_leaves_nothing_running(grader, released, course):
    graded, _ = grade(grader, submission(released, append={"source-rows": FORK_BOMB}), released)
    assert lost(graded) == set() and graded.result.score == FULL
    out = cell_text(_cells(graded.nb)["source-rows"])
    forked, why = out.split("FORKED", 1)[1].split()[:2]
    assert int(forked) < course.grading.max_processes and why == "BlockingIOError"
    assert wait_no_marker_processes() == []


@pytest.mark.parametrize("name", list(GARBAGE))
def test_a_kernel_sending_garbage_ends_its_notebook_not_the_grader(grader, released, name):
    graded, _ = grade(grader, submission(released, prepend={"source-rows": garbage_code(name)}), released)
    assert lost(graded) == after("source-rows")
    assert len(graded.result.problems) == 1
    assert "sent something the grader did not ask for" in graded.result.problems[0]


def test_a_kernel_lying_about_figures_and_captures(grader, released):
    """The notebook's own process lies about its figures and captures from then on: the
    lies cost the own run of the only question graded from a figure, and gain nothing;
    the question's code, run again in copies of the process, is judged on what it does."""
    graded, _ = grade(grader, submission(released, append={"read-data": LYING_FIGURES}), released)
    assert lost(graded) == set()
    wavelength = next(o for o in graded.result.outcomes if o.question == "wavelength")
    assert [(r.kind, r.passed) for r in wavelength.runs] == [("own", False), ("reference", True), ("secret", True)]


def test_enormous_outputs_are_cut_and_grading_goes_on(grader, released, course):
    def add_floods(nb):
        at = nb.cells.index(_cells(nb)["setup"]) + 1
        for i, code in enumerate(FLOODS):
            nb.cells.insert(at + i, _code_cell(code))

    started = time.monotonic()
    graded, _ = grade(grader, submission(released, mutate=add_floods), released)
    assert lost(graded) == set() and graded.result.score == FULL and graded.result.problems == []
    limit = course.grading.max_output_kb * 1024
    at = graded.nb.cells.index(_cells(graded.nb)["setup"]) + 1
    for cell in graded.nb.cells[at:at + len(FLOODS)]:
        text = sum(len(o.get("text", "")) + len(o.get("data", {}).get("text/plain", "")) for o in cell.outputs)
        images = sum(sum(len(v) for k, v in o.get("data", {}).items() if k.startswith("image/")) for o in cell.outputs)
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert text <= limit + 1024 and images <= 16 * 2**20 and len(cell.outputs) <= 500 and len(errors) <= 10
        assert "truncated" in cell_text(cell) or errors, cell.source[:40]
    assert len(nbformat.writes(graded.nb)) < 40 * 2**20
    assert time.monotonic() - started < 60


@pytest.mark.parametrize("name", list(VALUES))
def test_answers_that_are_not_plain_data(grader, released, name):
    replace, expected, words = VALUES[name]
    graded, _ = grade(grader, submission(released, replace=replace), released)
    assert lost(graded) == expected, [(q.question, q.message) for q in graded.result.outcomes if not q.passed]
    msg = message(graded, min(expected, key=ORDER.index))
    assert any(w in msg for w in words), msg


@pytest.mark.parametrize("name", list(TAMPER))
def test_tampering_with_the_instructors_cells(grader, released, name):
    mutate, wrong, expected, reported = TAMPER[name]
    nb = submission(released, replace=WRONG if wrong else None, mutate=mutate)
    graded, problems = grade(grader, nb, released)
    assert lost(graded) == expected, [(q.question, q.message) for q in graded.result.outcomes if not q.passed]
    assert graded.result.score == FULL - sum(q.max_points for q in graded.result.outcomes if q.question in expected)
    report = "\n".join(problems)
    for words in reported:
        assert words in report, report


@pytest.mark.parametrize("name", ["empty", "whitespace", "malformed-json", "binary", "json-list", "nbformat-3",
                                  "invalid-notebook", "symlink-to-source", "symlink-dangling"])
def test_unusable_files_are_refused_in_plain_words(tmp_path, name):
    path = tmp_path / "extraction.ipynb"
    words = {"empty": "empty", "whitespace": "empty", "malformed-json": "not valid JSON", "binary": "not valid JSON",
             "json-list": "not an nbformat 4 notebook", "nbformat-3": "not an nbformat 4 notebook",
             "invalid-notebook": "not a valid notebook", "symlink-to-source": "symbolic link",
             "symlink-dangling": "symbolic link"}[name]
    write_broken(path, name)
    with pytest.raises(ValueError, match=words):
        read_notebook(path)


def test_a_symlinked_submission_folder(tmp_path):
    """``submitted/<student>/<assignment>`` as a link to the instructor's source folder
    (collect never makes one; this is the line behind it): the notebook file itself is
    no link, so only ``read_notebook(..., within=submitted)`` refuses it, which is how
    autograde reads every submission."""
    from autograder.autograde import find_submissions

    root = tmp_path / "course"
    root.mkdir()
    shutil.copy2(ROOT / "course.yml", root / "course.yml")
    shutil.copytree(ROOT / "source", root / "source")
    student = root / "submitted" / "mallory"
    student.mkdir(parents=True)
    (student / ASSIGNMENT).symlink_to(root / "source" / ASSIGNMENT, target_is_directory=True)
    subs = find_submissions(load_course(root), [ASSIGNMENT])
    assert [s.student for s in subs] == ["mallory"]  # the link is taken for a submission folder
    path = subs[0].folder / "extraction.ipynb"
    assert any("BEGIN SOLUTION" in c.source for c in read_notebook(path).cells)  # without `within`
    with pytest.raises(ValueError, match="symbolic link"):
        read_notebook(path, within=root / "submitted")
    ok = root / "submitted" / "alice" / ASSIGNMENT
    ok.mkdir(parents=True)
    shutil.copy2(root / "source" / ASSIGNMENT / "extraction.ipynb", ok / "extraction.ipynb")
    assert read_notebook(ok / "extraction.ipynb", within=root / "submitted").cells


def write_broken(path: Path, name: str) -> None:
    if name == "empty":
        path.write_bytes(b"")
    elif name == "whitespace":
        path.write_bytes(b" \n\t\n")
    elif name == "malformed-json":
        path.write_text('{"cells": [], "nbformat": 4, ')
    elif name == "binary":
        path.write_bytes(bytes(range(256)) * 4)
    elif name == "json-list":
        path.write_text("[1, 2, 3]")
    elif name == "nbformat-3":
        path.write_text(json.dumps({"nbformat": 3, "nbformat_minor": 0, "worksheets": [], "metadata": {}}))
    elif name == "invalid-notebook":
        path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": 5}))
    elif name == "symlink-to-source":
        path.symlink_to(ROOT / "source" / ASSIGNMENT / "extraction.ipynb")
    elif name == "symlink-dangling":
        path.symlink_to(path.with_name("nowhere.ipynb"))


# ------------------------------------------------------------------------- reaching outside
def probe_code(root: Path, port: int, extra_reads=(), extra_writes=(), unix=()) -> str:
    """A cell that tries to read, list, import, write, plant a grade, connect, and reports it all."""
    up = "../" * 12
    reads = [root / "source" / ASSIGNMENT / "extraction.ipynb", root / "course.yml", root / "gradebook.db",
             ROOT / "reference_solution" / "__init__.py", ROOT / "autograder" / "checks" / "longslit_extraction.py",
             *extra_reads]
    reads = [str(p) for p in reads] + [up + str(reads[0]).lstrip("/"), f"/proc/self/root{reads[0]}",
                                       f"/proc/self/cwd/{up}{str(reads[0]).lstrip('/')}"]
    writes = [str(root / "pwned.txt"), str(root / "source" / ASSIGNMENT / "extraction.ipynb"),
              str(root / "gradebook.db"), f"/run/lock/{MARKER}", str(DATA_DIR / MARKER), f"../{MARKER}",
              *map(str, extra_writes)]
    config = {"reads": reads, "lists": [str(root), str(root / "submitted"), str(root / "autograded"), "..", "/tmp"],
              "writes": writes, "gradebook": str(root / "gradebook.db"), "port": port,
              "unix": [str(u) for u in unix], "ipc_key": IPC_KEY}
    return (Path(__file__).parent / "files" / "probe.py").read_text().replace("__CONFIG__", json.dumps(config))


def _probe_result(graded) -> dict:
    for cell in graded.nb.cells:
        for o in cell.get("outputs", []):
            if o.get("output_type") == "stream" and "PROBE{" in o.get("text", ""):
                return json.loads(o["text"].split("PROBE", 1)[1])
    raise AssertionError("the probe cell printed nothing")


def _skeleton(folder: str) -> set[str]:
    """Names a hidden or private folder may still show: the empty directories leading to
    a mount point inside it -- the course folder's when it lives there (a clone in /tmp),
    the Python environment's, bound back when it lives in the course folder (.venv)."""
    names = set()
    for inner in (ROOT, Path(sys.prefix)):
        try:
            names.add(inner.resolve().relative_to(Path(folder).resolve()).parts[0])
        except (ValueError, IndexError):
            pass
    return names


def _assert_sealed(r: dict, port_accepted: list) -> None:
    import ast

    for p, v in r["read"].items():
        assert v.startswith("ERR:"), (p, v)  # not visible: no file, not even an empty one
    for p, v in r["list"].items():
        if p == "..":
            assert v == f"OK:{[Path(r['cwd']).name]!r}", v  # other students' folders are not there
        elif p == "/tmp":  # a private /tmp: its own sandbox folder (and what it wrote there) only
            assert v.startswith("OK:"), v
            names = ast.literal_eval(v[3:])
            # the one folder leading to its working folder: course-sandboxes-* in TMPDIR
            # (TMPDIR is /tmp, or a folder of its own in it per pytest-xdist worker)
            own = Path(r["cwd"]).relative_to("/tmp").parts
            assert any(part.startswith("course-sandboxes-") for part in own), r["cwd"]
            assert own[0] in names, v
            assert all(n in {own[0], MARKER} or n in _skeleton("/tmp") for n in names), v
        else:
            assert v == "ERR:FileNotFoundError" or (v.startswith("OK:") and set(ast.literal_eval(v[3:])) <= _skeleton(p)), (p, v)
    for p, v in r["write"].items():
        if p == f"../{MARKER}" and best_mode() == "userns":
            # through a user namespace the student keeps the grader's (mapped) uid, so it may
            # write beside its working folder: inside its own private /tmp, which ends with it
            assert v.startswith(("OK:", "ERR:")), (p, v)
            continue
        assert v.startswith("ERR:"), (p, v)
    assert all(v.startswith("ERR:") for v in r["import"]), r["import"]
    assert r["plant"].startswith("ERR:"), r["plant"]
    assert r["connect"].startswith("ERR:") and port_accepted == []
    assert r["ipc_found"] == [-1, -1, -1]  # nothing left by an earlier notebook ...
    assert all(i >= 0 for i in r["ipc_made"])  # ... and what this one makes stays in its namespace
    assert host_ipc_objects() == []
    env = r["env"]
    assert env == student_environment(r["cwd"]), env  # exactly the documented clean set
    assert not [k for k in env if k.startswith(("COURSE", "NBGRADER")) or "TOKEN" in k or "SECRET" in k]
    assert r["proc_environ"].startswith("ERR:") or not any(s in r["proc_environ"] for s in SECRETS.values())
    assert r["pids"] == [1] or all(p < 64 for p in r["pids"]), r["pids"]  # its own PID namespace
    assert r["status"]["NoNewPrivs"] == "1"
    if best_mode() == "root":
        assert int(r["status"]["Uid"].split()[0]) >= 200000  # a private uid
    else:  # a user namespace: no capability at all
        assert int(r["status"]["CapEff"], 16) == 0 and int(r["status"]["CapPrm"], 16) == 0, r["status"]
    assert not list(Path(tempfile.gettempdir()).glob(f"course-sandboxes-*/{MARKER}"))  # nothing reached the real /tmp


def test_the_course_and_the_machine_are_out_of_reach(grader, released, loopback_server, unix_servers):
    """Main course folder: solutions, checks, gradebook unreadable; nothing writable; no
    network, no host Unix socket, no IPC object left behind, no secrets."""
    port, accepted = loopback_server
    code = probe_code(ROOT, port, unix=list(unix_servers))
    nb = submission(released, mutate=lambda nb: nb.cells.append(_code_cell(code)))
    before = {p: p.stat().st_mtime_ns for p in (ROOT / "course.yml", ROOT / "source" / ASSIGNMENT / "extraction.ipynb")}
    graded, _ = grade(grader, nb, released)
    assert graded.result.score == FULL
    r = _probe_result(graded)
    _assert_sealed(r, accepted)
    assert all(v.startswith("ERR:") for v in r["unix"].values()), r["unix"]  # both: the course folder is hidden too
    assert all(srv.accepted == [] for srv in unix_servers.values())
    assert not (ROOT / "pwned.txt").exists() and not Path(f"/run/lock/{MARKER}").exists()
    assert not (DATA_DIR / MARKER).exists()
    assert before == {p: p.stat().st_mtime_ns for p in before}


DETACHED = f"""
import os as _os, sys as _sys
_code = '''
import sys, time
for _ in range(200):
    for t in sys.argv[2:]:
        try:
            with open(t, "a") as fh:
                fh.write("pwned by a detached process")
        except OSError:
            pass
    time.sleep(0.05)
'''
_pid = _os.fork()
if _pid == 0:
    try:
        _os.setsid()
        if _os.fork() == 0:
            _os.execv(_sys.executable, [_sys.executable, "-c", _code, "{MARKER}", *_TARGETS])
    finally:
        _os._exit(0)
_os.waitpid(_pid, 0)
print("DETACHED started")
"""


def test_late_entries_other_students_and_detached_processes(outside, outside_grader, released, loopback_server,
                                                           unix_servers):
    """A course folder outside /tmp: what appears in it after the warm process started
    (other students' submissions and graded notebooks) is hidden too; nothing in it or
    in world-writable folders changes, even from a detached process that outlives the
    notebook, which is dead when grading returns."""
    port, accepted = loopback_server
    other_sub = outside / "submitted" / "bob" / ASSIGNMENT / "extraction.ipynb"
    other_graded = outside / "autograded" / "bob" / ASSIGNMENT / "extraction.ipynb"
    for p in (other_sub, other_graded):
        p.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(SOURCE_NB, p)
    targets = [outside / "course.yml", other_sub, other_graded, outside / "gradebook.db", outside / "new-file",
               Path(f"/run/lock/{MARKER}"), Path(f"/tmp/{MARKER}"), Path(f"/var/tmp/{MARKER}"), DATA_DIR / MARKER]
    code = probe_code(outside, port, extra_reads=[other_sub, other_graded], extra_writes=[other_sub, other_graded],
                      unix=list(unix_servers))
    detached = f"_TARGETS = {[str(t) for t in targets]!r}\n" + DETACHED

    def add(nb):
        nb.cells.append(_code_cell(code))
        nb.cells.insert(nb.cells.index(_cells(nb)["setup"]) + 1, _code_cell(detached))

    before = snapshot(outside)
    graded, _ = grade(outside_grader, submission(released, mutate=add), released)
    assert graded.result.score == FULL
    assert "DETACHED started" in "".join(cell_text(c) for c in graded.nb.cells if c.cell_type == "code")
    r = _probe_result(graded)
    _assert_sealed(r, accepted)
    run_sock, *other = unix_servers
    assert r["unix"][run_sock].startswith("ERR:") and unix_servers[run_sock].accepted == []
    for sock in other:  # the student's filesystem holds no socket of the machine's
        assert r["unix"][sock].startswith("ERR:") and unix_servers[sock].accepted == []
    assert wait_no_marker_processes() == []
    time.sleep(0.5)  # had it survived, it would write again by now
    assert snapshot(outside) == before
    for t in targets[5:]:
        assert not t.exists(), t


def test_the_sandbox_gets_only_trusted_files(grader):
    """make_workdir's inputs: the course's own helper and the verified data file, never
    anything from a submission folder (a shipped numpy.py or course_data.py)."""
    files = grader.sandbox_files()
    assert files == {"course_data.py": ROOT / "course_data.py", DATA.name: DATA}


def test_restore_makes_nbgrader_sanitize_safe(outside, grader, released, secrets_in_env):
    """The way out of NBGRADER_SANITIZE_CRASH: ``integrity.restore`` first, then nbgrader's
    own sanitize step accepts every tampered notebook, and grading it gives the same
    verdicts as ``course check``."""
    from nbgrader.api import MissingEntry

    from autograder import nbgrader_adapter

    course = load_course(outside)
    config = nbgrader_adapter.nbgrader_config(course)
    a = grader.course.assignment(ASSIGNMENT)
    for name in sorted(NBGRADER_SANITIZE_CRASH):
        mutate, wrong, expected, _ = TAMPER[name]
        nb = submission(released, replace=WRONG if wrong else None, mutate=mutate)
        with pytest.raises((KeyError, MissingEntry)):  # nbgrader alone
            nbgrader_adapter.sanitize(course, config, copy.deepcopy(nb), ASSIGNMENT, "extraction", "mallory")
        clean = nbgrader_adapter.sanitize(course, config, integrity.restore(nb, SOURCE_NB), ASSIGNMENT,
                                          "extraction", "mallory")
        graded = grader.grade(clean, a, a.notebook("extraction"))
        _invariants(graded)
        assert lost(graded) == expected, name


# ------------------------------------------------------------------- the batch, all together
SHIPPED_NUMPY = """
import hashlib as _h, os as _os
print("LISTING", sorted(_os.listdir(".")))
print("HELPER", _h.sha256(open("course_data.py", "rb").read()).hexdigest())
print("NUMPY", np.__file__)
"""


def all_cases(released, port: int, root: Path) -> dict[str, tuple[object, float | None]]:
    """Every hostile submission of this module (name -> (notebook, expected score)), plus
    the two normal ones and the unusable files (name -> (writer name, 0))."""
    c = load_course(ROOT)

    def s(lost_ids):
        return score_of(lost_ids, c)

    cases: dict[str, tuple[object, float | None]] = {
        "normal-right": (submission(released), FULL),
        "normal-partial": (submission(released, replace=WRONG), PARTIAL),
    }
    for kind, code in OVERRIDES.items():
        cases[f"override-{kind}-wrong"] = (submission(released, replace=WRONG, append={"read-data": code}), PARTIAL)
        cases[f"override-{kind}-right"] = (submission(released, append={"read-data": code}), FULL)
    for name, (code, lost_ids, _) in PROCESS.items():
        cases[name] = (submission(released, prepend={"source-rows": code}), s(lost_ids))
    cases["fork-bomb"] = (submission(released, append={"source-rows": FORK_BOMB}), FULL)
    for name in GARBAGE:
        cases[f"garbage-{name}"] = (submission(released, prepend={"source-rows": garbage_code(name)}),
                                    s(after("source-rows")))
    cases["lying-figures"] = (submission(released, append={"read-data": LYING_FIGURES}), FULL)
    cases["floods"] = (submission(released, mutate=lambda nb: [nb.cells.insert(3, _code_cell(f)) for f in FLOODS]),
                       FULL)
    for name, (replace, lost_ids, _) in VALUES.items():
        cases[name] = (submission(released, replace=replace), s(lost_ids))
    for name, (mutate, wrong, lost_ids, _) in TAMPER.items():
        cases[name] = (submission(released, replace=WRONG if wrong else None, mutate=mutate), s(lost_ids))
    cases["probe"] = (submission(released, mutate=lambda nb: nb.cells.append(_code_cell(probe_code(root, port)))),
                      FULL)
    cases["shipped-numpy"] = (submission(released, mutate=lambda nb: nb.cells.append(_code_cell(SHIPPED_NUMPY))),
                              FULL)
    for name in ("empty", "malformed-json", "nbformat-3", "symlink-to-source"):
        cases[f"file-{name}"] = (name, 0.0)
    return cases


def test_autograde_batch_with_everything_hostile(outside, released, loopback_server, secrets_in_env):
    """The whole hostile suite graded in one ``course autograde`` (2 workers) next to two
    normal submissions: every submission gets exactly its expected score, the normal
    ones exactly their scores graded alone, the gradebook agrees, nothing crashes."""
    from nbgrader.api import Gradebook

    from autograder.autograde import autograde
    from autograder.gradebook import db_url

    port, accepted = loopback_server
    course = load_course(outside)
    cases = all_cases(released, port, outside)
    for leftover in ("submitted", "autograded"):  # bob, from the late-entries test
        shutil.rmtree(outside / leftover, ignore_errors=True)
    submitted = outside / "submitted"
    for student, (nb, _) in cases.items():
        folder = submitted / student / ASSIGNMENT
        folder.mkdir(parents=True, exist_ok=True)
        if isinstance(nb, str):
            write_broken(folder / "extraction.ipynb", nb)
        else:
            nbformat.write(nb, folder / "extraction.ipynb")
    shipped = submitted / "shipped-numpy" / ASSIGNMENT
    (shipped / "numpy.py").write_text("raise SystemExit('shadowed numpy')\n")
    (shipped / "course_data.py").write_text("def fetch():\n    raise SystemExit('shadowed helper')\n")

    alone = {}
    with NotebookGrader(course, data_path=DATA) as g:
        for name in ("normal-right", "normal-partial"):
            alone[name] = grade(g, cases[name][0], released)[0].result.score

    started = time.monotonic()
    results = {r.student: r for r in autograde(course, assignments=[ASSIGNMENT], jobs=2)}
    elapsed = time.monotonic() - started

    assert set(results) == set(cases)
    failed = {s: r.error for s, r in results.items() if r.status != "graded"}
    assert failed == {}, failed
    got = {s: r.score for s, r in results.items()}
    expected = {s: exp for s, (_, exp) in cases.items()}
    for name in NBGRADER_SANITIZE_CRASH:  # the documented limitation, until autograde restores first
        assert got.pop(name) == 0.0 and expected.pop(name) > 0
        assert any("its questions score 0" in p for p in results[name].problems), results[name].problems
    assert got == expected, {s: results[s].problems for s in got if got[s] != expected.get(s)}
    assert got["normal-right"] == alone["normal-right"] == FULL
    assert got["normal-partial"] == alone["normal-partial"] == PARTIAL
    with Gradebook(db_url(course), course.course.id) as gb:
        for student in expected:
            sub = gb.find_submission(ASSIGNMENT, student)
            assert (sub.score, sub.max_score) == (expected[student], MAX), student
    for name in ("empty", "malformed-json", "nbformat-3", "symlink-to-source"):
        assert any("extraction" in p for p in results[f"file-{name}"].problems)
    shown = nbformat.read(outside / "autograded" / "shipped-numpy" / ASSIGNMENT / "extraction.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in shown.cells if c.cell_type == "code" for o in c.outputs)
    listing = printed.split("LISTING", 1)[1].split("\n", 1)[0]
    assert "course_data.py" in listing and "numpy.py" not in listing
    helper = hashlib.sha256((ROOT / "course_data.py").read_bytes()).hexdigest()
    assert f"HELPER {helper}" in printed and "site-packages/numpy" in printed
    assert accepted == []
    assert wait_no_marker_processes() == []
    assert host_ipc_objects() == []
    # no submission waited out more than its own limits (about 100 s on a quiet 2-core
    # machine; the bound is loose because a loaded machine can double it: not a speed target)
    assert elapsed < 400
