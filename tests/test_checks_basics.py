"""Hidden checks of the five basics assignments, and their notebooks graded whole.

array-creation, broadcasting-ripple, slicing, boolean-masks, copy-vs-view.

Unit tests drive each check as the grader does (:meth:`autograder.checks.Judge.verdict`
on values captured with :func:`~autograder.sandbox.capture.local_value`), on the
reference inputs and on the secret ones: the right answer passes with an empty message;
plausible wrong answers fail with a message that names the variable, gives the hint
meant for that mistake and shows no expected value; valid alternatives pass (and pass
the visible checks too); an answer worked out from the notebook's own data fails on the
secret input.

End-to-end tests grade whole notebooks with one :class:`~autograder.grading.NotebookGrader`
for this module: each source notebook scores full marks with a secret run for every
question that has one; a typed or pasted answer loses its question (secret run); an
early mistake followed by correct code loses only the early question (reference run);
a loop where broadcasting is asked for, an alias where a copy is asked for lose theirs.
"""

from __future__ import annotations

import ast
import copy
import math
from functools import lru_cache

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from autograder import integrity  # noqa: E402
from autograder.checks import Judge, spec_for  # noqa: E402
from autograder.config import load_course  # noqa: E402
from autograder.nbmeta import strip_hidden_tests  # noqa: E402
from autograder.sandbox.capture import Alias, encode_input, local_figures, local_value  # noqa: E402

from .conftest import DATA_FILE as DATA  # noqa: E402
from .conftest import ROOT, needs_data  # noqa: E402

COURSE = load_course(ROOT)
# the assignments whose checks this file covers (their modules); every assignment of
# course.yml is graded end to end by tests/test_notebooks.py
ASSIGNMENTS = [a.id for a in COURSE.assignments if a.id != "longslit-extraction"]
KEY = b"the secret of the tests' course"


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------
def _question(aid: str, qid: str):
    for q in COURSE.assignment(aid).questions:
        if q.id == qid:
            return q
    raise KeyError(f"{aid}/{qid} not in course.yml")


@lru_cache(maxsize=None)
def judge(aid: str) -> Judge:
    return Judge(aid, DATA if DATA.is_file() else None, KEY)


def inputs(aid: str, qid: str, run: str = "own") -> dict:
    """The inputs of one run: the reference state, or the question's secret one (read-only:
    tests copy what they change)."""
    return judge(aid).secret(qid) if run == "secret" else judge(aid).reference()


def grade(aid: str, qid: str, ns: dict, *, run: str = "own", figures=None):
    """Judge one run of a question on the names of ``ns``, captured as the grader would.
    The question's code, which a check may read (the predictions must be typed in it), is
    written from ``ns``: a list as its numbers, anything else as computed from an array."""
    q = _question(aid, qid)
    names = dict.fromkeys([*q.names, *spec_for(aid, qid).watch])
    values = {n: local_value(n, ns) for n in names}
    code = "\n".join(f"{n} = {ns[n]!r}" if isinstance(ns[n], list | tuple) else f"{n} = np.asarray(spectrum)"
                     for n in q.names if n in ns)
    return judge(aid).verdict(q, values, tolerance=COURSE.tolerance(q), figures=figures, run=run,
                              code=[{"code": code, "given": False}])


def _secrets(expected) -> list[str]:
    """Text forms of distinctive expected numbers that must never appear in a message."""
    out = []
    for v in np.ravel(np.asarray(expected, dtype=float))[:50]:
        if not np.isfinite(v) or (float(v).is_integer() and abs(v) < 1000):
            continue  # 0, 1, 13... also appear as counts and shapes in honest messages
        out += [repr(float(v)), f"{v:.6g}"]
    return out


def assert_fails(result, name: str, *expected, hint: str = "") -> None:
    assert not result.passed, "a wrong answer passed"
    assert f"`{name}`" in result.message, f"message does not name `{name}`: {result.message!r}"
    assert "could not be checked" not in result.message, result.message
    assert hint in result.message, f"hint {hint!r} missing: {result.message!r}"
    for e in expected:
        for s in _secrets(e):
            assert s not in result.message, f"message leaks an expected value ({s}): {result.message!r}"


def assert_passes(result) -> None:
    assert result.passed, result.message
    assert result.message == ""


def _source(aid: str) -> nbformat.NotebookNode:
    assignment = COURSE.assignment(aid)
    return nbformat.read(COURSE.source_notebook(assignment, assignment.notebooks[0]), as_version=4)


def _visible_checks(aid: str, qid: str) -> str:
    for cell in _source(aid).cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == f"{qid}-test":
            return strip_hidden_tests(cell.source)
    raise KeyError(f"{aid}: no test cell {qid}-test")


def visible_checks_pass(aid: str, qid: str, ns: dict) -> bool:
    """Whether the visible asserts of the question's test cell accept ``ns``."""
    env = {"np": np, "math": math, "plt": plt, **ns}
    try:
        exec(compile(_visible_checks(aid, qid), f"<{aid}:{qid}-test>", "exec"), env)
    except Exception:
        return False
    return True


def assert_alternative_passes(aid: str, qid: str, ns: dict, result) -> None:
    """A valid alternative passes the hidden check AND the visible checks."""
    assert_passes(result)
    assert visible_checks_pass(aid, qid, ns), "the visible checks reject an answer the hidden check accepts"


def _figures(draw) -> list:
    plt.close("all")
    try:
        draw()
        return local_figures(plt)
    finally:
        plt.close("all")


def _imshow(arr, **kw):
    def draw():
        plt.figure()
        plt.imshow(arr, **kw)
        plt.colorbar()

    return draw


# --------------------------------------------------------------------------------------
# every question: inputs, secrets, structure of the notebooks
# --------------------------------------------------------------------------------------
MINE = ["broadcasting-ripple", "slicing", "boolean-masks", "copy-vs-view"]
NO_SECRET = {("broadcasting-ripple", "ripple-grid"), ("copy-vs-view", "predict")}
ALL_QUESTIONS = [(a, q.id) for a in ASSIGNMENTS for q in COURSE.assignment(a).questions]


def _data_needed(aid: str):
    return [pytest.mark.skipif(not DATA.is_file(), reason="course data file needed")] if aid == "slicing" else []


@pytest.mark.parametrize(("aid", "qid"), [pytest.param(a, q, marks=_data_needed(a)) for a, q in ALL_QUESTIONS
                                          if a in MINE])
def test_inputs_and_secrets_are_plain_and_differ(aid, qid):
    """Every input is in the reference state; the secret changes every input, with plain
    values the grader can put into the student's process, the same for every call."""
    spec = spec_for(aid, qid)
    ref = judge(aid).reference()
    assert set(spec.inputs) <= set(ref), f"inputs missing from the reference state: {set(spec.inputs) - set(ref)}"
    assert set(spec.watch) <= set(spec.inputs) or qid == "predict"
    if (aid, qid) in NO_SECRET:
        assert spec.secret is None
        return
    secret = judge(aid).secret(qid)
    for name in spec.inputs:
        if isinstance(secret[name], Alias):  # a second name of another input: the same object in the rerun
            assert isinstance(ref[name], Alias) and secret[name].target in spec.inputs
            continue
        encode_input(name, secret[name])  # raises on anything but numbers, lists and arrays
        a, b = np.asarray(ref[name]), np.asarray(secret[name])
        assert a.shape != b.shape or not np.array_equal(a, b), f"the secret {name} is the reference one"
    again = Judge(aid, judge(aid).data_path, KEY).secret(qid)
    other = Judge(aid, judge(aid).data_path, b"another course").secret(qid)
    name = spec.inputs[0]
    assert np.array_equal(np.asarray(again[name]), np.asarray(secret[name]))
    assert not np.array_equal(np.asarray(other[name]), np.asarray(secret[name]))


def _nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_notebook_matches_course_yml(aid):
    assignment = COURSE.assignment(aid)
    (notebook,) = assignment.notebooks
    assert notebook.name == aid
    nb = _source(aid)
    nbformat.validate(nb)
    ids = [c.id for c in nb.cells]
    assert len(ids) == len(set(ids))
    solutions = [_nbgrader(c)["grade_id"] for c in nb.cells if _nbgrader(c).get("solution")]
    tests = {_nbgrader(c)["grade_id"]: _nbgrader(c)["points"] for c in nb.cells if _nbgrader(c).get("grade")}
    assert solutions == [q.id for q in notebook.questions]
    assert tests == {q.test_id: q.points for q in notebook.questions}
    for cell in nb.cells:
        meta = _nbgrader(cell)
        if meta.get("solution"):
            assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source
        if meta.get("grade"):
            assert meta["locked"] and "### BEGIN HIDDEN TESTS" in cell.source
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_given_code_is_locked_and_answers_never_assign_inputs(aid):
    """Every code cell is a locked given cell, an answer or a test; no answer cell assigns
    a name its question reads (it would overwrite the inputs a rerun puts in place)."""
    for cell in _source(aid).cells:
        if cell.cell_type != "code":
            continue
        meta = _nbgrader(cell)
        assert meta.get("solution") or meta.get("grade") or meta.get("locked"), f"{cell.id} is neither given nor graded"
        if meta.get("solution"):
            assigned = {n.id for n in ast.walk(ast.parse(cell.source)) if isinstance(n, ast.Name)
                        and isinstance(n.ctx, ast.Store)}
            assert assigned & set(spec_for(aid, meta["grade_id"]).inputs) == set(), cell.id


# --------------------------------------------------------------------------------------
# array-creation
# --------------------------------------------------------------------------------------
AC = "array-creation"


def ac_answers(inp: dict) -> dict:
    """A right notebook's names for these inputs."""
    SEED, N = inp["SEED"], inp["N"]
    rng = np.random.default_rng(SEED)
    values = rng.random(N)
    sines_loop = [math.sin(v) for v in values]
    sines_vec = np.sin(values)
    exposure_list = list(inp["exposure_list"])
    exptimes = np.array(exposure_list)
    pixels = np.arange(511)
    wave = np.linspace(2900.0, 5700.0, 511)
    freqs = np.logspace(8, 11, 7)
    yy, xx = np.mgrid[0:4, 0:6]
    flat = np.ones((512, 511))
    dq_good = np.zeros((512, 511), dtype=np.int16)
    sky = np.zeros_like(flat)
    stamp = np.arange(20)
    stamp.shape = (4, 5)
    stamp_col = stamp.reshape(-1, 1)
    counts, exptime = np.array(inp["counts"]), inp["exptime"]
    flux_list = list(inp["flux_list"])
    flux = np.array(flux_list)
    rate = counts / exptime
    snr = counts / np.sqrt(counts)
    twice_list = flux_list * 2
    twice_array = flux * 2
    del inp, rng
    return dict(locals())


@pytest.fixture(scope="module")
def ac():
    return ac_answers(judge(AC).reference())


AC_QUESTIONS = ["sine-loop", "sine-vectorized", "ranges", "grids-and-fills", "reshape", "arithmetic"]


@pytest.mark.parametrize("qid", AC_QUESTIONS)
def test_array_creation_right_answers_pass(ac, qid):
    assert_alternative_passes(AC, qid, ac, grade(AC, qid, ac))


@pytest.mark.parametrize("qid", ["sine-loop", "ranges", "arithmetic"])
def test_array_creation_right_answers_pass_on_the_secret_input(qid):
    ns = ac_answers(inputs(AC, qid, "secret"))
    assert_passes(grade(AC, qid, ns, run="secret"))


def test_array_creation_vectorized_on_the_secret_input():
    values = inputs(AC, "sine-vectorized", "secret")["values"]
    assert_passes(grade(AC, "sine-vectorized", {"sines_vec": np.sin(values)}, run="secret"))
    assert_fails(grade(AC, "sine-vectorized", {"sines_vec": np.sin(values[:100_000])}, run="secret"), "sines_vec")


def _stamp_54():
    s = np.arange(20)
    s.shape = (5, 4)
    return s


AC_WRONG = {
    "sine-loop": [
        ("values", lambda ns: {"values": np.random.default_rng(2025).random(ns["N"])}, "default_rng(SEED)"),
        ("values", lambda ns: {"values": (lambda g: (g.random(ns["N"]), g.random(ns["N"]))[1])(
            np.random.default_rng(ns["SEED"]))}, "drawing twice"),
        ("sines_loop", lambda ns: {"sines_loop": [math.cos(v) for v in ns["values"]]}, "cosines"),
        ("sines_loop", lambda ns: {"sines_loop": list(np.sin(np.random.default_rng(7).random(ns["N"])))},
         "not of new random numbers"),
        ("sines_loop", lambda ns: {"sines_loop": ns["sines_loop"][:-1]}, "one sine per number"),
        ("values", lambda ns: {"values": list(ns["values"])}, "numpy.ndarray"),
    ],
    "sine-vectorized": [
        ("sines_vec", lambda ns: {"sines_vec": np.cos(ns["values"])}, "cosines"),
        ("sines_vec", lambda ns: {"sines_vec": np.sin(np.random.default_rng(2024).random(ns["N"]) + 0.5)},
         "do not draw new numbers"),
        ("sines_vec", lambda ns: {"sines_vec": list(ns["sines_vec"])}, "numpy.ndarray"),
    ],
    "ranges": [
        ("exptimes", lambda ns: {"exptimes": [720, 720, 360, 1200]}, "numpy.ndarray"),
        ("pixels", lambda ns: {"pixels": np.arange(1, 512)}, "starts at 1"),
        ("pixels", lambda ns: {"pixels": np.arange(512)}, "numbered from 0"),
        ("wave", lambda ns: {"wave": np.linspace(2900.0, 5700.0, 511, endpoint=False)}, ""),
        ("wave", lambda ns: {"wave": np.arange(2900.0, 5700.0, 5.5)}, "both end points"),
        ("freqs", lambda ns: {"freqs": np.linspace(1e8, 1e11, 7)}, "np.logspace"),
        ("freqs", lambda ns: {"freqs": np.logspace(8, 11, 8)}, "shape"),
    ],
    "grids-and-fills": [
        ("yy", lambda ns: {"yy": ns["xx"], "xx": ns["yy"]}, "swapped"),
        ("yy", lambda ns: dict(zip(("yy", "xx"), np.mgrid[0:6, 0:4])), "transposed"),
        ("dq_good", lambda ns: {"dq_good": np.zeros((512, 511))}, "np.int16"),
        ("dq_good", lambda ns: {"dq_good": np.zeros((512, 511), dtype=np.int64)}, "np.int16"),
        ("sky", lambda ns: {"sky": np.zeros_like(ns["dq_good"])}, "zeros_like(flat)"),
        ("flat", lambda ns: {"flat": np.ones((511, 512))}, "shape"),
        ("flat", lambda ns: {"flat": np.zeros((512, 511))}, ""),
    ],
    "reshape": [
        ("stamp", lambda ns: {"stamp": _stamp_54()}, "4 rows of 5"),
        ("stamp_col", lambda ns: {"stamp_col": ns["stamp"].reshape(1, -1)}, "a row"),
        ("stamp_col", lambda ns: {"stamp_col": ns["stamp"].T.reshape(-1, 1)}, ""),
    ],
    "arithmetic": [
        ("twice_list", lambda ns: {"twice_list": [2 * f for f in ns["flux_list"]]}, "try it"),
        ("twice_list", lambda ns: {"twice_list": np.array(ns["flux_list"]) * 2}, "flux_list * 2"),
        ("twice_array", lambda ns: {"twice_array": ns["flux_list"] * 2}, "numpy.ndarray"),
        ("twice_array", lambda ns: {"twice_array": np.concatenate([ns["flux"], ns["flux"]])}, "doubles each"),
        ("rate", lambda ns: {"rate": ns["counts"] * ns["exptime"]}, ""),
        ("snr", lambda ns: {"snr": ns["rate"] / np.sqrt(ns["rate"])}, "count rate"),
    ],
}


@pytest.mark.parametrize(("qid", "name", "change", "hint"),
                         [(q, n, c, h) for q, cases in AC_WRONG.items() for n, c, h in cases])
def test_array_creation_wrong_answers_fail(ac, qid, name, change, hint):
    ns = {**ac, **change(ac)}
    right = ac_answers(judge(AC).reference())
    expected = [right[name]] if name in right and not isinstance(right[name], list) else []
    assert_fails(grade(AC, qid, ns), name, *expected, hint=hint)


AC_ALTERNATIVES = {
    "sine-loop": [
        lambda ns: {"sines_loop": np.array(ns["sines_loop"])},
        lambda ns: {"values": np.random.default_rng(ns["SEED"]).uniform(0, 1, ns["N"])},
    ],
    "sine-vectorized": [lambda ns: {"sines_vec": np.sin(ns["values"].astype(np.float32)).astype(float)}],
    "ranges": [
        lambda ns: {"exptimes": np.array([720.0, 720.0, 360.0, 1200.0])},
        lambda ns: {"freqs": 10.0 ** np.linspace(8, 11, 7)},
        lambda ns: {"wave": np.arange(511) * (2800.0 / 510) + 2900.0},
    ],
    "grids-and-fills": [
        lambda ns: dict(zip(("xx", "yy"), np.meshgrid(np.arange(6), np.arange(4)))),
        lambda ns: {"sky": np.zeros((512, 511))},
    ],
    "reshape": [
        lambda ns: {"stamp": np.arange(20).reshape(4, 5)},  # a reshaped view passes too
        lambda ns: {"stamp": (lambda s: (s.resize((4, 5)), s)[1])(np.arange(20))},
        lambda ns: {"stamp_col": ns["stamp"].ravel()[:, np.newaxis]},
    ],
    "arithmetic": [lambda ns: {"snr": np.sqrt(ns["counts"])}],
}


@pytest.mark.parametrize(("qid", "change"), [(q, c) for q, cases in AC_ALTERNATIVES.items() for c in cases])
def test_array_creation_alternatives_pass(ac, qid, change):
    ns = {**ac, **change(ac)}
    assert_alternative_passes(AC, qid, ns, grade(AC, qid, ns))


# --------------------------------------------------------------------------------------
# broadcasting-ripple
# --------------------------------------------------------------------------------------
BR = "broadcasting-ripple"


def _surface(x, y):
    r = np.sqrt(x**2 + y**2)
    return r, np.cos(r) / (r + 5)


def br_answers(inp: dict, qid: str = "") -> dict:
    """A right notebook for these inputs (the image question draws the run's own z)."""
    x = np.array(inp["x"])
    y = np.array(inp["y"])
    r, z = _surface(x, y)
    if qid == "ripple-image":
        z = np.array(inp["z"])
    nu, alpha = np.array(inp["nu"]), np.array(inp["alpha"])
    alpha_col = alpha.reshape(-1, 1)
    table = (nu / 1.4e9) ** (-alpha_col)
    return {"x": x, "y": y, "r": r, "z": z, "nu": nu, "alpha": alpha, "alpha_col": alpha_col, "table": table}


@pytest.fixture(scope="module")
def br():
    return br_answers(judge(BR).reference())


def br_grade(qid: str, ns: dict, run: str = "own"):
    figures = _figures(_imshow(ns["z"], origin="lower")) if qid == "ripple-image" else None
    return grade(BR, qid, ns, run=run, figures=figures)


@pytest.mark.parametrize("run", ["own", "reference", "secret"])
@pytest.mark.parametrize("qid", ["ripple-grid", "ripple-surface", "ripple-image", "spectral-index-table"])
def test_broadcasting_right_answers_pass(qid, run):
    if run == "secret" and (BR, qid) in NO_SECRET:
        pytest.skip("no secret run")
    # the surface's inputs (x, y) are the grid's answer: on the secret grid, ripple-grid is not asked
    ns = br_answers(inputs(BR, qid, run), qid)
    result = br_grade(qid, ns, run)
    if run == "own" and qid != "ripple-image":
        assert_alternative_passes(BR, qid, ns, result)
    else:
        assert_passes(result)


def _swapped_mgrid(ns=None):
    x, y = np.mgrid[-20:20:161j, -20:20:161j]
    return {"x": x, "y": y}


def _no_parens(ns):
    with np.errstate(divide="ignore", invalid="ignore"):
        return {"z": np.cos(ns["r"]) / ns["r"] + 5}


BR_WRONG = {
    "ripple-grid": [
        ("x", lambda ns: {"x": np.arange(-20, 20, 0.25).reshape(1, -1)}, "one point short"),
        ("x", lambda ns: {"x": np.arange(-20.0, 21.0).reshape(1, -1)}, "accepts"),
        ("x", lambda ns: {"x": np.arange(-20, 21).reshape(1, -1)}, "floating-point"),
        ("x", _swapped_mgrid, "transposed"),
        ("y", lambda ns: {"y": ns["x"].copy()}, "a row"),
        ("x", lambda ns: {"x": ns["y"].copy()}, "a column"),
        ("y", lambda ns: {"y": ns["x"].ravel()[:, np.newaxis] + 0.25}, "as broadcast to the full grid"),
        ("y", lambda ns: {"y": np.arange(-20, 20.25, 0.5).reshape(-1, 1)}, "accepts"),
    ],
    "ripple-surface": [
        ("z", _no_parens, "parentheses"),
        ("z", lambda ns: {"z": np.sin(ns["r"]) / (ns["r"] + 5)}, ""),
        ("r", lambda ns: {"r": ns["x"] ** 2 + ns["y"] ** 2}, "square root"),
        ("r", lambda ns: {"r": np.sqrt(ns["x"] ** 2 + ns["y"] ** 2)[:1]}, "broadcasting gives"),
        ("r", lambda ns: {"r": np.sqrt(ns["x"] ** 2 + ns["y"] ** 2)[0]}, "dimension"),
        ("z", lambda ns: {"z": ns["z"][:, :80]}, "one value per point"),
    ],
    "spectral-index-table": [
        ("table", lambda ns: {"table": ns["table"].T.copy()}, "transposed"),
        ("table", lambda ns: {"table": (ns["nu"] / 1.4e9) ** ns["alpha_col"]}, "sign flipped"),
        ("table", lambda ns: {"table": (ns["nu"] / 1.4e6) ** (-ns["alpha_col"])}, "in Hz: 1.4e9"),
        ("alpha_col", lambda ns: {"alpha_col": ns["alpha"].reshape(1, -1)}, "a column has shape"),
        ("alpha_col", lambda ns: {"alpha_col": ns["alpha"].copy()}, "alpha.reshape(-1, 1)"),
        ("table", lambda ns: {"table": list(ns["table"])}, "numpy.ndarray"),
    ],
}


@pytest.mark.parametrize("run", ["own", "secret"])
@pytest.mark.parametrize(("qid", "name", "change", "hint"),
                         [(q, n, c, h) for q, cases in BR_WRONG.items() for n, c, h in cases])
def test_broadcasting_wrong_answers_fail(qid, name, change, hint, run):
    if run == "secret" and (qid == "ripple-grid" or name == "x" or name == "y"):
        pytest.skip("the grid is fixed by the wording: no secret")
    ns = br_answers(inputs(BR, qid, run))
    right = dict(ns)
    ns.update(change(ns))
    assert_fails(grade(BR, qid, ns, run=run), name, right[name], hint=hint)


@pytest.mark.parametrize(
    ("label", "draw", "hint"),
    [
        ("origin upper", lambda ns: _imshow(ns["z"]), "origin 'upper'"),
        ("r instead of z", lambda ns: _imshow(ns["r"], origin="lower"), "draw z itself"),
        ("transposed", lambda ns: _imshow(ns["z"].T, origin="lower"), "draw z itself"),
        ("nothing drawn", lambda ns: (lambda: None), "was not drawn"),
        ("a line plot", lambda ns: (lambda: plt.plot(ns["z"][5])), "was not drawn"),
    ],
)
def test_broadcasting_image_wrong_fails(label, draw, hint):
    run = "secret"  # a surface that is not symmetric: a transposed image shows
    ns = br_answers(inputs(BR, "ripple-image", run), "ripple-image")
    result = grade(BR, "ripple-image", ns, run=run, figures=_figures(draw(ns)))
    assert_fails(result, "z", ns["z"], hint=hint)


def _meshgrid():
    xs = np.linspace(-20, 20, 161)
    x, y = np.meshgrid(xs, xs)
    return {"x": x, "y": y}


def _mgrid():
    y, x = np.mgrid[-20:20.25:0.25, -20:20.25:0.25]
    return {"x": x, "y": y}


@pytest.mark.parametrize(
    ("qid", "change"),
    [
        ("ripple-grid", lambda ns: _meshgrid()),
        ("ripple-grid", lambda ns: _mgrid()),
        ("ripple-grid", lambda ns: {"x": np.linspace(-20, 20, 161)}),
        ("ripple-grid", lambda ns: {"x": np.arange(-20, 20.25, 0.25, dtype=np.float32),
                                    "y": np.arange(-20, 20.25, 0.25, dtype=np.float32)[:, np.newaxis]}),
        ("ripple-surface", lambda ns: dict(zip(("r", "z"), _surface(*np.broadcast_arrays(ns["x"], ns["y"]))))),
        ("ripple-surface", lambda ns: {"r": (r := np.hypot(ns["x"], ns["y"])), "z": np.cos(r) / (r + 5)}),
        ("ripple-surface", lambda ns: {"r": (r := np.sqrt(ns["x"] * ns["x"] + ns["y"] * ns["y"])),
                                       "z": np.cos(r) * (r + 5) ** -1.0}),
        ("spectral-index-table", lambda ns: {"alpha_col": ns["alpha"][:, np.newaxis],
                                             "table": np.exp(-np.outer(ns["alpha"], np.log(ns["nu"] / 1.4e9)))}),
        ("spectral-index-table", lambda ns: {"table": np.power.outer(ns["nu"] / 1.4e9, -ns["alpha"]).T}),
        ("spectral-index-table", lambda ns: {"table": (ns["nu"].astype(np.float32) / np.float32(1.4e9))
                                             ** (-ns["alpha_col"].astype(np.float32))}),
    ],
)
def test_broadcasting_alternatives_pass(br, qid, change):
    ns = {**br, **change(br)}
    assert_alternative_passes(BR, qid, ns, grade(BR, qid, ns))


def test_broadcasting_image_alternatives_pass(br):
    def two_axes():
        fig, (ax1, ax2) = plt.subplots(1, 2)
        ax1.plot(br["z"][80])
        ax2.imshow(br["z"], origin="lower", extent=(-20, 20, -20, 20))

    assert_passes(grade(BR, "ripple-image", br, figures=_figures(two_axes)))
    assert_passes(grade(BR, "ripple-image", br, figures=_figures(_imshow(br["z"].astype(np.float32), origin="lower"))))


def test_broadcasting_table_secret_is_large_and_its_yardstick_runs():
    """The secret table has about a million entries (a loop over the indices runs more
    lines than the no-loop rule allows), and the speed reference runs on its inputs."""
    from autograder.grading import LOOP_LINES

    spec = spec_for(BR, "spectral-index-table")
    inp = inputs(BR, "spectral-index-table", "secret")
    assert spec.rules == ("no-loop",)
    assert inp["alpha"].size > LOOP_LINES and inp["nu"].size > LOOP_LINES
    ns = {"np": np, "nu": inp["nu"], "alpha": inp["alpha"]}
    exec(compile(spec.speed_reference, "<yardstick>", "exec"), ns)  # noqa: S102


# --------------------------------------------------------------------------------------
# slicing
# --------------------------------------------------------------------------------------
SL = "slicing"
SL_QUESTIONS = ["elements", "rows-and-columns", "strided", "dq-block", "better-spectrum"]


def sl_answers(inp: dict) -> dict:
    img, err, dq = inp["img"], inp["err"], inp["dq"]
    return {
        "img": img, "err": err, "dq": dq,
        "pix": img[254, 300], "last_pix": img[-1, -1],
        "profile_300": img[:, 300], "row_254": img[254, :],
        "err_samples": err[254, 10:200:3],
        "dq_block": dq[251:254, 101:105],
        "spectrum_src": img[250:260].sum(axis=0),
    }


@pytest.fixture(scope="module")
def sl():
    if not DATA.is_file():
        pytest.skip(f"course data file not found at {DATA}")
    return sl_answers(judge(SL).reference())


@needs_data
@pytest.mark.parametrize("run", ["own", "reference", "secret"])
@pytest.mark.parametrize("qid", SL_QUESTIONS)
def test_slicing_right_answers_pass(qid, run):
    ns = sl_answers(inputs(SL, qid, run))
    result = grade(SL, qid, ns, run=run)
    if run == "own":
        assert_alternative_passes(SL, qid, ns, result)
    else:
        assert_passes(result)


SL_WRONG = {
    "elements": [
        ("pix", lambda ns: {"pix": ns["img"][300, 254]}, "rows first"),
        ("pix", lambda ns: {"pix": ns["img"][254, 301]}, "row 254, column 300"),
        ("pix", lambda ns: {"pix": ns["img"][254]}, "single number"),
        ("last_pix", lambda ns: {"last_pix": ns["img"][-2, -2]}, "one pixel in from the corner"),
        ("last_pix", lambda ns: {"last_pix": ns["img"][0, 0]}, "last row, last column"),
    ],
    "rows-and-columns": [
        ("profile_300", lambda ns: {"profile_300": ns["img"][300]}, "that is a row"),
        ("profile_300", lambda ns: {"profile_300": ns["img"][:, 301]}, "neighbouring column"),
        ("profile_300", lambda ns: {"profile_300": list(ns["img"][:, 300])}, "numpy.ndarray"),
        ("row_254", lambda ns: {"row_254": ns["img"][:, 254]}, "that is a column"),
        ("row_254", lambda ns: {"row_254": ns["img"][255]}, "neighbouring row"),
    ],
    "strided": [
        ("err_samples", lambda ns: {"err_samples": ns["err"][254, 10:200]}, "a step of 3"),
        ("err_samples", lambda ns: {"err_samples": ns["img"][254, 10:200:3]}, "science image"),
        ("err_samples", lambda ns: {"err_samples": ns["err"][10:200:3, 254]}, "runs down column 254"),
        ("err_samples", lambda ns: {"err_samples": ns["err"][254, 11:200:3]}, ""),
        ("err_samples", lambda ns: {"err_samples": ns["err"][254, 10:190:3]}, "give shape"),
    ],
    "dq-block": [
        ("dq_block", lambda ns: {"dq_block": ns["dq"][251:253, 101:104]}, "inclusive"),
        ("dq_block", lambda ns: {"dq_block": ns["dq"][101:105, 251:254]}, "transposed"),
        ("dq_block", lambda ns: {"dq_block": ns["dq"][250:253, 100:104]}, "shifted by one pixel"),
        ("dq_block", lambda ns: {"dq_block": ns["dq"][252:255, 102:106]}, "shifted by one pixel"),
        ("dq_block", lambda ns: {"dq_block": ns["dq"][251:254, 101:105] > 0}, ""),
    ],
    "better-spectrum": [
        ("spectrum_src", lambda ns: {"spectrum_src": ns["img"][250:259].sum(axis=0)}, "sums 9 rows"),
        ("spectrum_src", lambda ns: {"spectrum_src": ns["img"][250:261].sum(axis=0)}, "sums 11 rows"),
        ("spectrum_src", lambda ns: {"spectrum_src": ns["img"][250:260].sum(axis=1)}, "wrong axis"),
        ("spectrum_src", lambda ns: {"spectrum_src": ns["img"][250:260].mean(axis=0)}, "mean of the rows"),
        ("spectrum_src", lambda ns: {"spectrum_src": ns["img"].sum(axis=0)}, ""),
    ],
}


@needs_data
@pytest.mark.parametrize("run", ["own", "secret"])
@pytest.mark.parametrize(("qid", "name", "change", "hint"),
                         [(q, n, c, h) for q, cases in SL_WRONG.items() for n, c, h in cases])
def test_slicing_wrong_answers_fail(qid, name, change, hint, run):
    inp = inputs(SL, qid, run)
    ns = sl_answers(inp)
    if run == "secret" and qid == "strided":
        ns["img"] = judge(SL).reference()["img"]  # the notebook's own image: not an input of this question
    right = dict(ns)
    ns.update(change(ns))
    result = grade(SL, qid, ns, run=run)
    assert_fails(result, name, right[name], hint=hint)
    if name in ("pix", "last_pix"):
        assert "differ" not in result.message  # a single number: never how much it differs


@needs_data
@pytest.mark.parametrize(
    ("qid", "change"),
    [
        ("elements", lambda ns: {"pix": float(ns["img"][254, 300]), "last_pix": ns["img"][511, 510]}),
        ("elements", lambda ns: {"pix": ns["img"][254:255, 300:301], "last_pix": ns["img"][-1][-1]}),
        ("rows-and-columns", lambda ns: {"profile_300": ns["img"].T[300], "row_254": ns["img"][254].copy()}),
        ("rows-and-columns", lambda ns: {"profile_300": ns["img"][:, 300].astype(np.float32)}),
        ("strided", lambda ns: {"err_samples": ns["err"][254][10:201:3]}),  # 200 is never reached anyway
        ("dq-block", lambda ns: {"dq_block": ns["dq"][251:254][:, 101:105].astype(float)}),
        ("better-spectrum", lambda ns: {"spectrum_src": np.sum([ns["img"][i] for i in range(250, 260)], axis=0)}),
        ("better-spectrum", lambda ns: {"spectrum_src": ns["img"][250:260].astype(np.float32).sum(axis=0)}),
    ],
)
def test_slicing_alternatives_pass(sl, qid, change):
    ns = {**sl, **change(sl)}
    assert_alternative_passes(SL, qid, ns, grade(SL, qid, ns))


@needs_data
def test_slicing_secret_block_is_flagged():
    """The secret flags around the block are not zero, so a block of zeros (or the
    file's own flags) cannot pass by luck."""
    ref, secret = inputs(SL, "dq-block")["dq"], inputs(SL, "dq-block", "secret")["dq"]
    assert secret.dtype == np.int16 and secret.shape == ref.shape
    block = secret[251:254, 101:105]
    assert np.count_nonzero(block) >= 4 and not np.array_equal(block, ref[251:254, 101:105])


# --------------------------------------------------------------------------------------
# boolean-masks
# --------------------------------------------------------------------------------------
BM = "boolean-masks"
BM_QUESTIONS = ["compare", "combine", "bad-pixels", "disk-mask", "zero-disk"]


def bm_answers(inp: dict, qid: str = "") -> dict:
    """A right notebook for these inputs (fresh arrays: tests may change them); zero-disk
    reads the run's own in_disk."""
    a = np.array(inp["a"])
    gt6 = a > 6
    n_gt6 = gt6.sum()
    between = (a > 6) & (a < 17)
    outside = ~between
    sci, dq = np.array(inp["sci"]), np.array(inp["dq"])
    clean = sci.copy()
    clean[dq != 0] = np.nan
    x, y, r, z = (np.array(inp[n]) for n in ("x", "y", "r", "z"))
    in_disk = (x - 10) ** 2 + (y - 15) ** 2 < 10**2
    if qid == "zero-disk":
        in_disk = np.array(inp["in_disk"])
    z_disk = z.copy()
    z_disk[in_disk] = 0
    del inp, qid
    return dict(locals())


@pytest.fixture(scope="module")
def bm():
    return bm_answers(judge(BM).reference())


@pytest.mark.parametrize("run", ["own", "reference", "secret"])
@pytest.mark.parametrize("qid", BM_QUESTIONS)
def test_boolean_masks_right_answers_pass(qid, run):
    ns = bm_answers(inputs(BM, qid, run), qid)
    result = grade(BM, qid, ns, run=run)
    if run == "own":
        assert_alternative_passes(BM, qid, ns, result)
    else:
        assert_passes(result)


def _alias_clean(ns):
    clean = ns["sci"]
    clean[ns["dq"] != 0] = np.nan
    return {"clean": clean}


def _changed_sci(ns):
    clean = np.where(ns["dq"] != 0, np.nan, ns["sci"])
    ns["sci"][ns["dq"] != 0] = np.nan  # a second line that flags sci itself
    return {"clean": clean}


def _alias_z_disk(ns):
    z_disk = ns["z"]
    z_disk[ns["in_disk"]] = 0
    return {"z_disk": z_disk}


BM_WRONG = {
    "compare": [
        ("gt6", lambda ns: {"gt6": ns["a"] >= 6}, "strictly greater"),
        ("gt6", lambda ns: {"gt6": (ns["a"] > 6).astype(int)}, "boolean"),
        ("gt6", lambda ns: {"gt6": list(ns["a"] > 6)}, "numpy.ndarray"),
        ("n_gt6", lambda ns: {"n_gt6": len(ns["gt6"])}, "counts every element"),
        ("n_gt6", lambda ns: {"n_gt6": ns["a"][ns["gt6"]].sum()}, "number of True values"),
    ],
    "combine": [
        ("between", lambda ns: {"between": (ns["a"] >= 6) & (ns["a"] <= 17)}, "end point"),
        ("between", lambda ns: {"between": (ns["a"] > 6) & (ns["a"] <= 17)}, "end point"),
        ("between", lambda ns: {"between": (ns["a"] > 6) | (ns["a"] < 17)}, "EITHER"),
        ("between", lambda ns: {"between": np.where((ns["a"] > 6) & (ns["a"] < 17), 1, 0)}, "boolean"),
        ("outside", lambda ns: {"outside": (ns["a"] < 6) | (ns["a"] > 17)}, "misses the end points"),
        ("outside", lambda ns: {"outside": ns["between"]}, "invert it"),
    ],
    "bad-pixels": [
        ("clean", _alias_clean, "shares memory with `sci`"),
        ("clean", _changed_sci, "`sci` was changed"),
        ("clean", lambda ns: {"clean": np.where(ns["dq"] == 0, np.nan, ns["sci"])}, "inverted"),
        ("clean", lambda ns: {"clean": np.where(ns["dq"] != 0, 0.0, ns["sci"])}, "np.nan"),
        ("clean", lambda ns: {"clean": np.where(ns["sci"] > 200, np.nan, ns["sci"])}, "NaN"),
        ("clean", lambda ns: {"clean": ns["clean"][:, :-1]}, "shape"),
    ],
    "disk-mask": [
        ("in_disk", lambda ns: {"in_disk": (ns["x"] - 10) ** 2 + (ns["y"] - 15) ** 2 <= 10**2}, "exactly 10"),
        ("in_disk", lambda ns: {"in_disk": (ns["x"] - 15) ** 2 + (ns["y"] - 10) ** 2 < 10**2}, "centred on x = 15"),
        ("in_disk", lambda ns: {"in_disk": (ns["x"] - 10) ** 2 + (ns["y"] - 15) ** 2 < 10}, "10**2"),
        ("in_disk", lambda ns: {"in_disk": ~ns["in_disk"]}, "inverted"),
        ("in_disk", lambda ns: {"in_disk": ns["in_disk"].astype(float)}, "boolean"),
    ],
    "zero-disk": [
        ("z_disk", _alias_z_disk, "shares memory with `z`"),
        ("z_disk", lambda ns: {"z_disk": np.where(ns["in_disk"], np.nan, ns["z"])}, "NaN in the disk"),
        ("z_disk", lambda ns: {"z_disk": ns["z"] * ns["in_disk"]}, "INSIDE"),
        ("z_disk", lambda ns: {"z_disk": ns["z"].copy()}, "z unchanged"),
        ("z_disk", lambda ns: {"z_disk": np.where(ns["in_disk"], -1.0, ns["z"])}, ""),
    ],
}


@pytest.mark.parametrize("run", ["own", "secret"])
@pytest.mark.parametrize(("qid", "name", "change", "hint"),
                         [(q, n, c, h) for q, cases in BM_WRONG.items() for n, c, h in cases])
def test_boolean_masks_wrong_answers_fail(qid, name, change, hint, run):
    ns = bm_answers(inputs(BM, qid, run), qid)
    right = bm_answers(inputs(BM, qid, run), qid)
    ns.update(change(ns))
    result = grade(BM, qid, ns, run=run)
    assert_fails(result, name, right[name] if name != "n_gt6" else [], hint=hint)
    if name == "n_gt6":
        assert str(int(right["n_gt6"])) not in result.message


def test_boolean_masks_z_changed_fails_only_where_it_is_known(bm):
    """z is checked unchanged after the code in the reruns, where it was put in place just
    before; in the notebook's own run earlier cells could have changed it."""
    ns = bm_answers(judge(BM).reference())
    ns["z_disk"] = np.where(ns["in_disk"], 0.0, ns["z"])
    ns["z"][ns["in_disk"]] = 0.0  # an extra line that zeroes z itself
    assert_passes(grade(BM, "zero-disk", ns, run="own"))
    for run in ("reference", "secret"):
        ns = bm_answers(inputs(BM, "zero-disk", run), "zero-disk")
        ns["z_disk"] = np.where(ns["in_disk"], 0.0, ns["z"])
        ns["z"][ns["in_disk"]] = 0.0
        assert_fails(grade(BM, "zero-disk", ns, run=run), "z", hint="this question asks for a copy")


@pytest.mark.parametrize(
    ("qid", "change"),
    [
        ("compare", lambda ns: {"n_gt6": np.count_nonzero(ns["gt6"])}),
        ("compare", lambda ns: {"n_gt6": int(ns["gt6"].sum())}),
        ("combine", lambda ns: {"between": np.logical_and(ns["a"] > 6, ns["a"] < 17),
                                "outside": (ns["a"] <= 6) | (ns["a"] >= 17)}),
        ("bad-pixels", lambda ns: {"clean": np.where(ns["dq"] > 0, np.nan, ns["sci"])}),
        ("bad-pixels", lambda ns: {"clean": np.where(ns["dq"].astype(bool), np.nan, ns["sci"]).astype(np.float32)}),
        ("disk-mask", lambda ns: {"in_disk": np.hypot(ns["x"] - 10, ns["y"] - 15) < 10}),
        ("disk-mask", lambda ns: {"in_disk": np.sqrt((ns["x"] - 10) ** 2 + (ns["y"] - 15) ** 2) < 10}),
        ("zero-disk", lambda ns: {"z_disk": np.where(ns["in_disk"], 0, ns["z"])}),
        ("zero-disk", lambda ns: {"z_disk": ns["z"] * ~ns["in_disk"]}),
    ],
)
def test_boolean_masks_alternatives_pass(bm, qid, change):
    ns = {**bm, **change(bm)}
    assert_alternative_passes(BM, qid, ns, grade(BM, qid, ns))


def test_boolean_masks_secret_grid_has_points_on_the_circle():
    """Points at distance exactly 10 exist on the secret grid (so `<=` shows) and the
    grid is not square (so x and y cannot be swapped unnoticed)."""
    inp = inputs(BM, "disk-mask", "secret")
    d2 = (inp["x"] - 10) ** 2 + (inp["y"] - 15) ** 2
    assert (d2 == 100).any() and (d2 < 100).any()
    assert inp["x"].shape[1] != inp["y"].shape[0]
    a = inputs(BM, "compare", "secret")["a"]
    assert 6 in a and 17 in a and a.size != 20


def test_boolean_masks_secret_flags_are_not_only_the_values_the_notebook_names():
    """The prose names 16, 512, 1024 and 8192; "every pixel whose dq is nonzero" must also
    catch a flag it never names and two flags combined (a bitwise OR, as in STIS DQ)."""
    named = {16, 512, 1024, 8192}
    dq = inputs(BM, "bad-pixels", "secret")["dq"]
    values = {int(v) for v in dq[dq != 0]}
    assert dq.dtype == np.int16 and (dq >= 0).all()
    assert any(v not in named and v & (v - 1) == 0 for v in values)  # a single flag never named
    assert any(v & (v - 1) != 0 for v in values)  # flags combined


# --------------------------------------------------------------------------------------
# copy-vs-view
# --------------------------------------------------------------------------------------
CV = "copy-vs-view"
CV_QUESTIONS = ["alias-and-copy", "views", "new-arrays", "predict"]
PREDICTIONS = {
    "pred_spectrum": [5.0, 0.0, 0.0, 0.0, 34.0, -1.0],
    "pred_snapshot": [5.0, 8.0, 13.0, 21.0, 34.0, 55.0],
    "pred_window": [0.0, 0.0, 0.0],
    "pred_bright": [21.0, 34.0, 55.0],
}


def cv_answers(inp: dict) -> dict:
    """A fresh namespace (views must point into this namespace's own frame)."""
    frame = np.array(inp["frame"])
    same = frame
    backup = frame.copy()
    row = frame[1]
    col = frame[:, 2]
    doubled = frame * 2
    picked = frame[frame > 30]
    spectrum = np.array([5.0, 8.0, 13.0, 21.0, 34.0, 55.0])
    alias = spectrum
    snapshot = spectrum.copy()
    window = spectrum[1:4]
    bright = spectrum[spectrum > 20]
    window[:] = 0.0
    alias[-1] = -1.0
    del inp
    ns = dict(locals())
    ns.update({k: list(v) for k, v in PREDICTIONS.items()})
    return ns


@pytest.mark.parametrize("run", ["own", "reference", "secret"])
@pytest.mark.parametrize("qid", CV_QUESTIONS)
def test_copy_vs_view_right_answers_pass(qid, run):
    if run == "secret" and qid == "predict":
        pytest.skip("no secret run")
    ns = cv_answers(inputs(CV, qid, run))
    result = grade(CV, qid, ns, run=run)
    if run == "own":
        assert_alternative_passes(CV, qid, ns, result)
    else:
        assert_passes(result)


def _in_place_double(ns):
    doubled = ns["frame"]
    doubled *= 2
    return {"doubled": doubled}


def _changed_frame(ns):
    ns["frame"][0, 0] = -1.0
    return {}


CV_WRONG = {
    "alias-and-copy": [
        ("same", lambda ns: {"same": ns["frame"][:]}, "a view of `frame`"),
        ("same", lambda ns: {"same": ns["frame"].copy()}, "it is a copy"),
        ("same", lambda ns: {"same": ns["frame"].view()}, "a view of `frame`"),
        ("backup", lambda ns: {"backup": ns["frame"]}, "itself under another name"),
        ("backup", lambda ns: {"backup": ns["frame"][:]}, "is a view of `frame`"),
        ("backup", lambda ns: {"backup": ns["frame"][:-1].copy()}, "same values"),
        ("frame", _changed_frame, "no longer holds its original values"),
    ],
    "views": [
        ("row", lambda ns: {"row": ns["frame"][1].copy()}, "does not share memory"),
        ("row", lambda ns: {"row": ns["frame"][[1]][0]}, "does not share memory"),
        ("row", lambda ns: {"row": ns["frame"][2]}, "counted from 0"),
        ("col", lambda ns: {"col": ns["frame"][:, [2]]}, "expects shape"),
        ("col", lambda ns: {"col": ns["frame"][:, 2].copy()}, "does not share memory"),
        ("col", lambda ns: {"col": ns["frame"][2]}, ""),
    ],
    "new-arrays": [
        ("doubled", _in_place_double, "doubles frame itself"),
        ("doubled", lambda ns: {"doubled": ns["frame"] ** 2}, "times 2"),
        ("picked", lambda ns: {"picked": ns["frame"] > 30}, "the mask itself"),
        ("picked", lambda ns: {"picked": ns["frame"][ns["frame"] > 20]}, "above 30"),
        ("picked", lambda ns: {"picked": np.where(ns["frame"] > 30, ns["frame"], 0.0)}, "1-D array"),
        ("picked", lambda ns: {"picked": np.sort(ns["frame"][ns["frame"] > 30])}, "in frame's order"),
    ],
    "predict": [
        ("pred_spectrum", lambda ns: {"pred_spectrum": [5.0, 8.0, 13.0, 21.0, 34.0, 55.0]}, "did change"),
        ("pred_spectrum", lambda ns: {"pred_spectrum": [5.0, 8.0, 13.0, 21.0, 34.0, -1.0]}, "is a view"),
        ("pred_spectrum", lambda ns: {"pred_spectrum": [5.0, 0.0, 0.0, 0.0, 34.0, 55.0]}, "another name"),
        ("pred_snapshot", lambda ns: {"pred_snapshot": [5.0, 0.0, 0.0, 0.0, 34.0, -1.0]}, "a copy made before"),
        ("pred_window", lambda ns: {"pred_window": ns["window"]}, "not typed as numbers"),
        ("pred_window", lambda ns: {"pred_window": [8.0, 13.0, 21.0]}, "writes into window"),
        ("pred_bright", lambda ns: {"pred_bright": [21.0, 34.0, -1.0]}, "indexing with a mask"),
        ("pred_bright", lambda ns: {"pred_bright": [34.0]}, "has 3 after the cell"),
    ],
}


@pytest.mark.parametrize("run", ["own", "secret"])
@pytest.mark.parametrize(("qid", "name", "change", "hint"),
                         [(q, n, c, h) for q, cases in CV_WRONG.items() for n, c, h in cases])
def test_copy_vs_view_wrong_answers_fail(qid, name, change, hint, run):
    if run == "secret" and qid == "predict":
        pytest.skip("no secret run")
    ns = cv_answers(inputs(CV, qid, run))
    frame = np.array(inputs(CV, qid, run)["frame"])
    ns.update(change(ns))
    result = grade(CV, qid, ns, run=run)
    expected = PREDICTIONS.get(name, frame * 2 if name == "doubled" else frame)
    assert_fails(result, name, expected, hint=hint)
    if name in PREDICTIONS:
        assert str(PREDICTIONS[name]) not in result.message
        assert "34" not in result.message and "55" not in result.message


def test_copy_vs_view_secret_frame_tells_strictly_above():
    inp = inputs(CV, "new-arrays", "secret")
    assert inp["frame"].shape == (5, 7) and (inp["frame"] == 30).any()
    ns = cv_answers(inp)
    ns["picked"] = ns["frame"][ns["frame"] >= 30]
    assert_fails(grade(CV, "new-arrays", ns, run="secret"), "picked", hint="values equal to 30")


@pytest.mark.parametrize(
    ("qid", "change"),
    [
        ("alias-and-copy", lambda ns: {"backup": np.array(ns["frame"])}),
        ("alias-and-copy", lambda ns: {"backup": ns["frame"].copy(order="F")}),
        ("views", lambda ns: {"row": ns["frame"][1, :], "col": ns["frame"].T[2]}),
        ("new-arrays", lambda ns: {"doubled": ns["frame"] + ns["frame"],
                                   "picked": np.extract(ns["frame"] > 30, ns["frame"])}),
        ("new-arrays", lambda ns: {"doubled": 2.0 * ns["frame"], "picked": ns["frame"][np.nonzero(ns["frame"] > 30)]}),
        # typed as whole numbers, or as a tuple
        ("predict", lambda ns: {"pred_spectrum": [5, 0, 0, 0, 34, -1], "pred_bright": (21, 34, 55)}),
    ],
)
def test_copy_vs_view_alternatives_pass(qid, change):
    ns = cv_answers(judge(CV).reference())
    ns.update(change(ns))
    assert_alternative_passes(CV, qid, ns, grade(CV, qid, ns))


# --------------------------------------------------------------------------------------
# whole notebooks, graded as the course grades them
# --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def grader(course, data_file):
    """One warm grader for this module's notebooks."""
    from autograder.grading import NotebookGrader

    with NotebookGrader(course, data_path=data_file) as g:
        yield g


def _answer(source, **answers) -> nbformat.NotebookNode:
    """The source notebook with the answer cells of these grade ids replaced (a
    ``grade_id: (before, code)`` pair adds a cell of the student's before that cell)."""
    nb = copy.deepcopy(source)
    for gid, code in answers.items():
        index = next(i for i, c in enumerate(nb.cells) if _nbgrader(c).get("grade_id") == gid)
        if isinstance(code, tuple):
            nb.cells.insert(index, nbformat.v4.new_code_cell(code[1]))
            code = code[0]
        if code is not None:
            nb.cells[index].source = code
    return nb


def graded(grader, aid: str, **answers) -> dict:
    """Grade the source notebook of ``aid`` with these answers: {question: Outcome}."""
    a = COURSE.assignment(aid)
    nbcfg = a.notebooks[0]
    source = _source(aid)
    result = grader.grade(integrity.restore(_answer(source, **answers), source), a, nbcfg).result
    assert result.problems == []
    return {o.question: o for o in result.outcomes}


def runs(outcome) -> list[tuple[str, bool]]:
    return [(r.kind, r.passed) for r in outcome.runs]


def lost(outcomes: dict) -> set[str]:
    return {q for q, o in outcomes.items() if not o.passed}


SECRET_FAILED = [("own", True), ("secret", False)]
RESCUED = [("own", False), ("reference", True), ("secret", True)]


@needs_data
@pytest.mark.parametrize("aid", MINE)
def test_source_notebook_full_marks_with_a_secret_run_per_question(grader, aid):
    outcomes = graded(grader, aid)
    assert lost(outcomes) == set()
    for qid, o in outcomes.items():
        assert runs(o) == ([] if (aid, qid) in NO_SECRET else [("own", True), ("secret", True)]), qid


TABLE = "### BEGIN SOLUTION\nalpha_col = alpha.reshape(-1, 1)\n{}\n### END SOLUTION\nprint(np.round(table, 3))"


@needs_data
def test_ripple_table_loops_lose_the_question_and_broadcasting_keeps_it(grader):
    loops = {
        "loop": "table = np.empty((alpha.size, nu.size))\nfor i in range(alpha.size):\n"
                "    table[i] = (nu / 1.4e9) ** (-alpha[i])",
        "comprehension": "table = np.array([(nu / 1.4e9) ** (-a) for a in alpha])",
        "vectorize": "table = np.vectorize(lambda a, f: (f / 1.4e9) ** (-a))(alpha_col, nu)",
        "helper": "table = spectra(nu, alpha)",
    }
    helper = ("def spectra(nu, alpha):\n    out = np.empty((len(alpha), len(nu)))\n"
              "    for i, a in enumerate(alpha):\n        out[i] = (nu / 1.4e9) ** (-a)\n    return out\n")
    for label, code in loops.items():
        answers = {"spectral-index-table": TABLE.format(code)}
        if label == "helper":  # defined in a cell of the student's, two questions earlier
            answers["ripple-surface"] = (None, helper)
        outcomes = graded(grader, BR, **answers)
        assert lost(outcomes) == {"spectral-index-table"}, label
        o = outcomes["spectral-index-table"]
        assert runs(o) == SECRET_FAILED, label
        assert "vectorized numpy operations" in o.message, label
        assert ("np.vectorize" in o.message) == (label == "vectorize"), label
    timed = TABLE.format("%time table = (nu / 1.4e9) ** (-alpha_col)")
    outcomes = graded(grader, BR, **{"spectral-index-table": timed})
    assert lost(outcomes) == set()


@needs_data
def test_ripple_pasted_answers_and_early_mistake(grader):
    pasted = graded(grader, BR, **{
        "spectral-index-table": "alpha_col = np.array([[0.5], [0.6], [0.7], [0.8], [0.9]])\n"
                                "table = (np.array([0.15, 0.33, 1.4, 5.0, 8.4, 15.0, 43.0]) / 1.4) ** (-alpha_col)",
        "ripple-image": "xs = np.linspace(-20, 20, 161)\nrr = np.sqrt(xs**2 + xs[:, None]**2)\n"
                        "im = plt.imshow(np.cos(rr) / (rr + 5), origin='lower')"})
    assert lost(pasted) == {"spectral-index-table", "ripple-image"}
    for o in pasted.values():
        if not o.passed:
            assert runs(o) == SECRET_FAILED and "run again on a second input" in o.message
    early = graded(grader, BR, **{"ripple-grid": "x = np.arange(-20, 20, 0.25).reshape(1, -1)\ny = x.reshape(-1, 1)"})
    assert lost(early) == {"ripple-grid"}
    assert runs(early["ripple-surface"]) == RESCUED and runs(early["ripple-image"]) == RESCUED


@needs_data
def test_slicing_pasted_numbers_and_early_mistake(grader):
    ref = judge(SL).reference()
    block = repr(ref["dq"][251:254, 101:105].tolist())
    pasted = graded(grader, SL, elements=f"pix = {float(ref['img'][254, 300])!r}\nlast_pix = img[-1, -1]",
                    **{"dq-block": f"dq_block = np.array({block}, dtype=np.int16)"})
    assert lost(pasted) == {"elements", "dq-block"}
    assert all(runs(pasted[q]) == SECRET_FAILED for q in ("elements", "dq-block"))
    # "normalising" the image in the first answer: that question is lost, the slices after it are not
    early = graded(grader, SL, elements="img = img / img.max()\npix = img[254, 300]\nlast_pix = img[-1, -1]")
    assert lost(early) == {"elements"}
    for qid in ("rows-and-columns", "better-spectrum"):
        assert runs(early[qid]) == RESCUED, qid


@needs_data
def test_boolean_masks_typed_count_alias_and_early_mistake(grader):
    outcomes = graded(grader, BM, compare="gt6 = a > 6\nn_gt6 = 13",
                      **{"zero-disk": "z_disk = z\nz_disk[in_disk] = 0", "bad-pixels": "clean = sci\n"
                         "clean[dq != 0] = np.nan"})
    assert lost(outcomes) == {"compare", "bad-pixels", "zero-disk"}
    assert runs(outcomes["compare"]) == SECRET_FAILED
    assert "shares memory with `z`" in outcomes["zero-disk"].message
    assert "copy" in outcomes["zero-disk"].message
    # (the visible test says it first: sci itself was changed)
    assert "`sci` was changed" in outcomes["bad-pixels"].message
    early = graded(grader, BM, **{"disk-mask": "in_disk = (x - 10)**2 + (y - 15)**2 <= 10**2",
                                  "zero-disk": "z_disk = np.where(in_disk, 0, z)"})
    assert lost(early) == {"disk-mask"}
    assert "exactly 10" in early["disk-mask"].message
    assert runs(early["zero-disk"]) == RESCUED


@needs_data
def test_copy_vs_view_pasted_copy_and_early_mistake(grader):
    pasted = graded(grader, CV, **{
        "alias-and-copy": "same = frame\nbackup = np.array([[12., 15., 11., 14., 13.], [20., 42., 95., 40., 21.],\n"
                          "                   [18., 37., 88., 35., 19.], [11., 14., 12., 13., 15.]])",
        "new-arrays": "doubled = frame * 2\npicked = frame[frame >= 30]"})
    assert lost(pasted) == {"alias-and-copy", "new-arrays"}
    assert runs(pasted["alias-and-copy"]) == SECRET_FAILED and runs(pasted["new-arrays"]) == SECRET_FAILED
    assert "values equal to 30" in pasted["new-arrays"].message
    # the first answer changes frame in place: it loses its question, the later ones run again on a fresh frame
    early = graded(grader, CV, **{"alias-and-copy": "same = frame\nbackup = frame.copy()\nsame[0, 0] = 0"})
    assert lost(early) == {"alias-and-copy"}
    assert "no longer holds its original values" in early["alias-and-copy"].message
    assert runs(early["views"]) == RESCUED and runs(early["new-arrays"]) == RESCUED
    alias = graded(grader, CV, **{"alias-and-copy": "same = frame[:]\nbackup = frame.copy()",
                                  "new-arrays": "doubled = frame\ndoubled *= 2\npicked = frame[frame > 30]"})
    assert lost(alias) == {"alias-and-copy", "new-arrays"}
    assert runs(alias["alias-and-copy"]) == [("own", False), ("reference", False)]


@pytest.mark.parametrize(("code", "numbers"), [
    ("[5., 0, -1.]", [5.0, 0.0, -1.0]),
    ("(21, 34, 55)", [21.0, 34.0, 55.0]),
    ("[0.] * 3", [0.0, 0.0, 0.0]),
    ("2 * [1, 2]", [1.0, 2.0, 1.0, 2.0]),
    ("list((0., 0., 0.))", [0.0, 0.0, 0.0]),
    ("np.array([21., 34., 55.])", [21.0, 34.0, 55.0]),
    ("[5.] + [0.] * 3 + [34., -1.]", [5.0, 0.0, 0.0, 0.0, 34.0, -1.0]),
    ("(21.,) + (34., 55.)", [21.0, 34.0, 55.0]),
    ("list((5.,)) + 2 * [0.]", [5.0, 0.0, 0.0]),
    # computed from the arrays, or not numbers: not a typed prediction
    ("window.tolist()", None),
    ("list(window)", None),
    ("[0.] * n", None),
    ("np.array(window)", None),
    ("[window[0], 1.]", None),
    ("['5', 0]", None),
    ("[0.] * 10**9", None),
    ("[5.] + window.tolist()", None),
    ("spectrum.tolist() + [0.]", None),
    ("[0.] * 3 + list(window)", None),
    ("np.array([5., 0.]) + [1., 2.]", None),  # added element by element, not joined
    ("[5.] + [0.] * 10**9", None),
])
def test_a_prediction_is_typed_as_numbers_in_any_usual_spelling(code, numbers):
    import ast

    from autograder.checks.copy_vs_view import _literal_numbers

    assert _literal_numbers(ast.parse(code, mode="eval").body) == numbers


@pytest.mark.parametrize(("code", "typed"), [
    ("stamp = np.arange(20).reshape(4, 5)\nstamp_col = stamp.reshape(-1, 1)", False),
    ("yy, xx = np.mgrid[0:4, 0:6]\nflat = np.ones((512, 511))\nprint(f'mean {flat.mean():.2f} of {flat.size}')", False),
    ("x = np.arange(-20, 20.25, 0.25).reshape(1, -1)\ny = x.reshape(-1, 1)\nprint('x:', x.shape, '  y:', y.shape)", False),
    ("%%time\nfreqs = np.logspace(8, 11, 7)\nwave = np.linspace(2900.0, 5700.0, 511)", False),
    ("stamp = np.array([[0, 1, 2, 3], [4, 5, 6, 7]])", True),
    ("xx = np.array([[0, 1, 2, 3, 4, 5]] * 4)", True),
    ("yy = np.array([[0] * 6, [1] * 6, [2] * 6, [3] * 6])", True),
    ("%time stamp = np.fromstring('0 1 2 3 4 5 6 7', sep=' ')", True),
    ("freqs = [1e8, 3.2e8, 1e9, 3.2e9, 1e10, 3.2e10, -1e11]", True),
    # split into short literals, or in an f-string that is not only shown: typed all the same
    ("r0 = [0, 1, 2, 3, 4]\nr1 = [5, 6, 7, 8, 9]\nr2 = [10, 11, 12, 13, 14]\nr3 = [15, 16, 17, 18, 19]\n"
     "stamp = np.array([r0, r1, r2, r3])\nstamp_col = stamp.reshape(-1, 1)\nprint(stamp)", True),
    ("stamp = np.array(eval(f'[[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11, 12, 13, 14], [15, 16, 17, 18, 19]]'))", True),
    ("stamp = np.fromstring(f'{0} {1} {2} {3} {4} {5} {6} {7}', sep=' ')", True),
    ("freqs = np.array([1e8, 3.16e8, 1e9] + [3.16e9, 1e10, 3.16e10, 1e11])", True),
    ("top = [[0] * 6, [1] * 6]\nbottom = [[2] * 6, [3] * 6]\nyy = np.array(top + bottom)\nrow = [0, 1, 2, 3, 4, 5]\n"
     "xx = np.array([row, row, row, row])\nflat = np.ones((512, 511))", True),
    # inside a display call, but passed on to a call or bound to a name: not only shown
    ("print(stamp := np.array([[0, 1, 2, 3], [4, 5, 6, 7]]))", True),
    ("print(exec('stamp = np.array([[0, 1, 2, 3], [4, 5, 6, 7]])'))", True),
    ("t = plt.title('0 1 2 3 4 5 6 7')\nstamp = np.fromstring(t.get_text(), sep=' ')", True),
    ("plt.xticks([0, 1, 2, 3, 4, 5, 6, 7])\nstamp = plt.xticks()[0]", True),
    # shapes typed again and again, a figure's settings, text only shown: computed
    ("yy, xx = np.indices((4, 6))\nflat = np.ones((512, 511))\ndq_good = np.zeros((512, 511), dtype='int16')\n"
     "sky = np.zeros((512, 511))\nplt.imshow(yy, extent=(-0.5, 5.5, 3.5, -0.5))", False),
    ("bkg_rows = np.append(np.arange(10, 200), np.arange(300, 480))\nfig, ax = plt.subplots(figsize=(10, 4))\n"
     "for lo, hi in [(10, 200), (300, 480)]:\n    ax.axvspan(lo, hi, alpha=0.2)\nax.set_xlim((0, 511))\n"
     "ax.set_ylabel(f'counts in column {col} (rows 0 to 511)')\nplt.figure(figsize=(6, 3))\n"
     "ax.plot(col_fit, 'r-', label=f'fit of column {col} (2nd order)')", False),
    ("stamp = np.arange(20).reshape((4, 5))\nstamp_col = stamp.reshape((20, 1))\n"
     "print(f'rows 0-4, 5-9, 10-14, 15-19 {stamp.shape}')\ndisplay(Markdown('rows 0 to 19, 4 by 5'))", False),
    # self-checks, as the visible tests write them, and places in an array: not an answer
    ("stamp = np.arange(20).reshape(4, 5)\nstamp_col = stamp.reshape(-1, 1)\nassert stamp.shape == (4, 5)\n"
     "assert stamp[3, 0] == 15 and stamp[0, 4] == 4 and stamp[2, 3] == 13, 'rows of 5: 0-4, 5-9, 10-14, 15-19'\n"
     "assert stamp_col.shape == (20, 1)", False),
    ("freqs = np.logspace(8, 11, 7)\nassert np.allclose(freqs, [1e8, 3.16e8, 1e9, 3.16e9, 1e10, 3.16e10, 1e11], rtol=1e-2)",
     False),
    # ... unless the check binds the answer
    ("assert (stamp := np.array([[0, 1, 2, 3], [4, 5, 6, 7]])) is not None", True),
    # a self-check printed or made with np.testing compares; it is not the answer ...
    ("stamp = np.arange(20).reshape(4, 5)\nstamp_col = stamp.reshape(-1, 1)\n"
     "print(np.array_equal(stamp[0], [0, 1, 2, 3, 4]), np.array_equal(stamp[:, 0], [0, 5, 10, 15]))", False),
    ("stamp = np.arange(20).reshape(4, 5)\nnp.testing.assert_array_equal(stamp[0], [0, 1, 2, 3, 4])\n"
     "np.testing.assert_array_equal(stamp[:, 0], [0, 5, 10, 15])", False),
    # ... unless it binds the answer
    ("print(np.array_equal(stamp := np.array([[0, 1, 2, 3], [4, 5, 6, 7]]), 0))", True),
    # a cell timed with %%time is read as the Python it runs: its text is not a string typed out ...
    ("%%time\nexptimes = np.asarray(exposure_list)\npixels = np.arange(511)\n"
     "wave = np.linspace(2900, 5700, 511)  # 511 steps from 2900 to 5700\nfreqs = np.logspace(8, 11, 7)", False),
    ("%%time\nx = np.linspace(-20, 20, 161).reshape(1, -1)\ny = x.reshape(-1, 1)\nprint(x.shape, y.shape)", False),
    # ... and what it types is counted there
    ("%%time\nstamp = np.array([[0, 1, 2, 3], [4, 5, 6, 7]])", True),
    ("%%timeit -n 1 s = [0, 1, 2, 3, 4, 5, 6, 7]\nstamp = np.array(s)", True),
])
def test_answers_typed_out_are_told_from_computed_ones(code, typed):
    from autograder.checks._code import TYPED_LIMIT, different_typed_numbers, most_typed_numbers

    cells = [{"code": code}]
    assert (max(most_typed_numbers(cells), different_typed_numbers(cells)) > TYPED_LIMIT) is typed
    given = [{"code": code, "given": True}]  # the instructor's cells are not the student's
    assert most_typed_numbers(given) == different_typed_numbers(given) == 0


def test_different_numbers_are_counted_across_the_questions_cells():
    from autograder.checks._code import TYPED_LIMIT, different_typed_numbers, most_typed_numbers

    cells = [{"code": f"r{i} = [{', '.join(str(5 * i + j) for j in range(5))}]"} for i in range(4)]
    cells.append({"code": "stamp = np.array([r0, r1, r2, r3])"})
    assert most_typed_numbers(cells) == 5 and different_typed_numbers(cells) == 20 > TYPED_LIMIT
    # numbers alone (arguments of np.linspace, np.logspace) are not lists typed out
    assert different_typed_numbers([{"code": "pixels = np.arange(0, 511)\nwave = np.linspace(2900.0, 5700.0, 511)\n"
                                              "freqs = np.logspace(8, 11, 7)"}]) == 0
