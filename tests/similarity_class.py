"""A synthetic class for ``course similarity``, written from this repository's release notebook.

Used by ``tests/test_similarity.py`` and ``benchmarks/bench_similarity.py``; no real
student's work is in it.  The assignment is ``longslit-extraction`` (eight questions).

* **Honest students** answer every question independently: for each question they pick
  one of several genuinely different, plausible solutions (the notebook's instructions
  make many of them look alike: ``img.sum(axis=1)``, ``np.sum(img, 1)``, a loop...),
  then make the small choices any person makes (keyword or positional ``axis``,
  ``8 * sigma`` or ``sigma * 8``, an intermediate variable, a print to look at a
  shape), name their own temporaries, order independent lines as they like, and
  comment (or not) in their own words.  They type into the solution cell and leave
  the given lines of the release cell where they are (some also leave the stub).
* **Copiers** (:func:`copy_of`) take another student's notebook and disguise it:
  temporaries renamed, independent lines put in another order, other comments, other
  spacing; or copy just one cell of eight into their own honest notebook.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "longslit-extraction"
NOTEBOOK = "extraction"
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"

Blocks = list[list[str]]  # statements; those in one inner list do not depend on each other

_TEMPS = ["tmp", "t", "x", "vals", "arr", "work", "res", "out", "a", "b", "q", "m", "w", "k", "h", "data",
          "thing", "buf", "y2", "val", "aux", "helper", "scratch", "my_arr", "z1", "cur", "acc", "step", "u", "v"]

_COMMENTS = ["# here we go", "# step 1", "# as in the notes", "# compute it", "# TODO check", "# the answer",
             "# do the sum", "# this should work", "# per the instructions", "# my version", "# careful with axis",
             "# quick check", "# vectorised", "# see lecture 3", "# hmm", "# ok", "# done"]


# --------------------------------------------------------------------------------------
# the solutions: each is f(choices, names) -> blocks; names maps a slot to a temporary
# --------------------------------------------------------------------------------------
def _axis(r: random.Random, n: int) -> str:
    return r.choice([f"axis={n}", f"{n}"])


def read_with_open(r, t) -> Blocks:
    conv = r.choice(["float", "np.float64", '"f8"'])
    key = r.choice([('"SCI"', '"ERR"', '"DQ"'), ("1", "2", "3")])
    dqc = r.choice(["int", "np.int16", "np.int32"])
    return [[f"with fits.open(path) as {t['h']}:\n"
             f"    img = {t['h']}[{key[0]}].data.astype({conv})\n"
             f"    err = {t['h']}[{key[1]}].data.astype({conv})\n"
             f"    dq = {t['h']}[{key[2]}].data.astype({dqc})"]]


def read_with_getdata(r, t) -> Blocks:
    conv = r.choice(["float", "np.float64"])
    lines = [f'img = fits.getdata(path, "SCI").astype({conv})', f'err = fits.getdata(path, "ERR").astype({conv})',
             r.choice(['dq = fits.getdata(path, "DQ").astype(int)', 'dq = np.array(fits.getdata(path, "DQ"), dtype=int)'])]
    return [lines]


def read_with_array(r, t) -> Blocks:
    h = t["h"]
    return [[f"{h} = fits.open(path)"],
            [f"img = np.array({h}[1].data, dtype=float)", f"err = np.array({h}[2].data, dtype=float)",
             f"dq = np.array({h}[3].data, dtype={r.choice(['int', 'np.int16'])})"],
            [f"{h}.close()"]]


def read_with_loop(r, t) -> Blocks:
    d, e = t["d"], t["e"]
    return [[f"{d} = {{}}"],
            [f'for {e} in ("SCI", "ERR", "DQ"):\n    {d}[{e}] = fits.getdata(path, {e})'],
            [f'img = {d}["SCI"].astype(float)', f'err = {d}["ERR"].astype(float)',
             f'dq = {d}["DQ"].astype({r.choice(["int", "np.int64"])})']]


def profile_method(r, t) -> Blocks:
    return [[f"profile = img.sum({_axis(r, 1)})", f"spectrum_raw = img.sum({_axis(r, 0)})"]]


def profile_function(r, t) -> Blocks:
    return [[f"profile = np.sum(img, {_axis(r, 1)})", f"spectrum_raw = np.sum(img, {_axis(r, 0)})"]]


def profile_loop(r, t) -> Blocks:
    i, j = t["i"], t["j"]
    n_rows = r.choice(["img.shape[0]", "512", "len(img)"])
    row = r.choice([f"img[{i}].sum()", f"np.sum(img[{i}, :])", f"sum(img[{i}])", f"img[{i}, :].sum()"])
    spec = r.choice([f"spectrum_raw = np.array([img[:, {j}].sum() for {j} in range(img.shape[1])])",
                     "spectrum_raw = img.sum(axis=0)", "spectrum_raw = np.sum(img, 0)"])
    start = r.choice([f"profile = np.zeros({n_rows})", f"profile = np.empty({n_rows})", "profile = np.zeros(img.shape[0], dtype=float)"])
    return [[start, spec], [f"for {i} in range({n_rows}):\n    profile[{i}] = {row}"]]


def profile_transpose(r, t) -> Blocks:
    return [["profile = img.T.sum(axis=0)", "spectrum_raw = img.T.sum(axis=1)"]] if r.random() < 0.5 else \
        [[f"profile = np.add.reduce(img, {_axis(r, 1)})", f"spectrum_raw = np.add.reduce(img, {_axis(r, 0)})"]]


def rows_method(r, t) -> Blocks:
    sl = r.choice(["img[250:260]", "img[250:260, :]"])
    return [[f"spectrum_src = {sl}.sum({_axis(r, 0)})"]]


def rows_function(r, t) -> Blocks:
    sl = r.choice(["img[250:260]", "img[250:260, :]"])
    return [[f"spectrum_src = np.sum({sl}, {_axis(r, 0)})"]]


def rows_slice_object(r, t) -> Blocks:
    s = t["s"]
    return [[f"{s} = slice(250, 260)"], [f"spectrum_src = img[{s}].sum({_axis(r, 0)})"]]


def rows_loop(r, t) -> Blocks:
    i = t["i"]
    add = r.choice([f"spectrum_src += img[{i}]", f"spectrum_src = spectrum_src + img[{i}]", f"spectrum_src += img[{i}, :]"])
    return [[r.choice(["spectrum_src = np.zeros(img.shape[1])", "spectrum_src = np.zeros(511)", "spectrum_src = 0 * img[0]"])],
            [f"for {i} in range({r.choice(['250, 260', '250, 259 + 1'])}):\n    {add}"]]


def cosmic_rays(r, t) -> Blocks:
    """One parametric recipe: a choice for every line (filter, sigma, threshold, copy,
    repair, protected rows), as real answers differ line by line."""
    d, thr, keep, i, j = t["d"], t["h"], t["k"], t["i"], t["j"]
    ndi = r.random() < 0.35
    head: list[str] = []
    if ndi:
        head = [r.choice(["from scipy import ndimage", "import scipy.ndimage as ndimage"])]
        smooth = r.choice(["img_sm = ndimage.median_filter(img, size=5)", "img_sm = ndimage.median_filter(img, 5)",
                           "img_sm = ndimage.median_filter(img, size=(5, 5))"])
    else:
        smooth = r.choice(["img_sm = scipy.signal.medfilt(img, 5)", "img_sm = scipy.signal.medfilt(img, kernel_size=5)",
                           "img_sm = scipy.signal.medfilt(img, (5, 5))", "img_sm = scipy.signal.medfilt(img, [5, 5])"])
    sigma = r.choice(["sigma = np.median(err)", "sigma = float(np.median(err))", "sigma = np.median(err.ravel())",
                      "sigma = np.percentile(err, 50)", "sigma = np.median(err.flatten())"])
    blocks: Blocks = [head] if head else []
    blocks.append([smooth, sigma])
    limit = r.choice(["8 * sigma", "sigma * 8", "8.0 * sigma"])
    if r.random() < 0.3:
        blocks.append([f"{thr} = {limit}"])
        limit = thr
    absf = r.choice(["np.abs", "abs", "np.absolute"])
    if r.random() < 0.3:
        blocks.append([f"{d} = img - img_sm"])
        blocks.append([f"bad = {absf}({d}) > {limit}"])
    else:
        blocks.append([f"bad = {absf}(img - img_sm) > {limit}"])
    copy_ = r.choice(["img_cr = img.copy()", "img_cr = np.copy(img)", "img_cr = np.array(img)", "img_cr = img.astype(float)"])
    rows = r.choice(["[230:280]", "[230:280, :]"])
    how = r.choice(["mask", "mask", "where", "protect-mask", "loop"])
    if how == "mask":
        blocks += [[copy_], ["img_cr[bad] = img_sm[bad]"], [f"img_cr{rows} = img{rows}"]]
    elif how == "where":
        blocks += [["img_cr = np.where(bad, img_sm, img)"], [f"img_cr{rows} = img{rows}"]]
    elif how == "protect-mask":
        blocks += [[f"{keep} = bad.copy()", copy_], [f"{keep}{rows} = False"], [f"img_cr[{keep}] = img_sm[{keep}]"]]
    else:
        blocks += [[copy_], [f"for {i}, {j} in zip(*np.nonzero(bad)):\n"
                             f"    if not 230 <= {i} < 280:\n"
                             f"        img_cr[{i}, {j}] = img_sm[{i}, {j}]"]]
    return blocks


def background(r, t) -> Blocks:
    """One parametric recipe: rows, fit, evaluation, each with its own choices."""
    c, rows, m, j, p, deg = t["c"], t["r"], t["m"], t["j"], t["p"], t["a"]
    blocks: Blocks = []
    how_rows = r.choice(["r_", "concat", "hstack", "mask", "list"])
    if how_rows == "r_":
        blocks.append(["bkg_rows = np.r_[10:200, 300:480]"])
    elif how_rows == "concat":
        blocks.append(["bkg_rows = np.concatenate([np.arange(10, 200), np.arange(300, 480)])"])
    elif how_rows == "hstack":
        blocks.append(["bkg_rows = np.hstack((np.arange(10, 200), np.arange(300, 480)))"])
    elif how_rows == "list":
        blocks.append(["bkg_rows = np.array(list(range(10, 200)) + list(range(300, 480)))"])
    else:
        blocks += [[f"{m} = np.zeros(img_cr.shape[0], dtype=bool)"], [f"{m}[10:200] = True", f"{m}[300:480] = True"],
                   [f"bkg_rows = {r.choice(['np.nonzero(' + m + ')[0]', 'np.where(' + m + ')[0]', 'np.flatnonzero(' + m + ')'])}"]]
    order = "2"
    if r.random() < 0.3:
        blocks.append([f"{deg} = 2"])
        order = deg
    nrows = r.choice(["img_cr.shape[0]", "512", "len(img_cr)"])
    fit = r.choice(["polyfit", "polyfit", "loop", "polynomial"])
    if fit == "polyfit":
        sel = r.choice(["img_cr[bkg_rows]", "img_cr[bkg_rows, :]"])
        blocks.append([f"{c} = np.polyfit(bkg_rows, {sel}, {order})"])
        ev = r.choice(["quad", "vander", "polyval-loop"])
        if ev == "quad":
            blocks.append([f"{rows} = np.arange({nrows}){r.choice(['[:, np.newaxis]', '[:, None]', '.reshape(-1, 1)'])}"])
            blocks.append([f"bkg = {c}[0] * {rows}**2 + {c}[1] * {rows} + {c}[2]"])
        elif ev == "vander":
            blocks.append([f"bkg = np.vander(np.arange({nrows}), {order} + 1) @ {c}" if order != "2"
                           else f"bkg = np.vander(np.arange({nrows}), 3) @ {c}"])
        else:
            blocks.append([f"{rows} = np.arange({nrows})", "bkg = np.zeros_like(img_cr)"])
            blocks.append([f"for {j} in range(img_cr.shape[1]):\n    bkg[:, {j}] = np.polyval({c}[:, {j}], {rows})"])
    elif fit == "loop":
        blocks.append([f"{rows} = np.arange({nrows})", r.choice(["bkg = np.zeros_like(img_cr)", "bkg = np.empty(img_cr.shape)"])])
        blocks.append([f"for {j} in range(img_cr.shape[1]):\n"
                       f"    {p} = np.polyfit(bkg_rows, img_cr[bkg_rows, {j}], {order})\n"
                       f"    bkg[:, {j}] = np.polyval({p}, {rows})"])
    else:
        blocks.append([f"{rows} = np.arange({nrows})"])
        blocks.append([f"{c} = np.polynomial.polynomial.polyfit(bkg_rows, img_cr[bkg_rows], {order})"])
        blocks.append([f"bkg = np.polynomial.polynomial.polyval({rows}, {c}).T"])
    blocks.append([r.choice(["img_bkg = img_cr - bkg", "img_bkg = np.subtract(img_cr, bkg)"])])
    return blocks


def final_method(r, t) -> Blocks:
    return [[f"spectrum_final = {r.choice(['img_bkg[250:260]', 'img_bkg[250:260, :]'])}.sum({_axis(r, 0)})"]]


def final_function(r, t) -> Blocks:
    return [[f"spectrum_final = np.sum(img_bkg[250:260], {_axis(r, 0)})"]]


def final_loop(r, t) -> Blocks:
    i = t["i"]
    add = r.choice([f"spectrum_final += img_bkg[{i}]", f"spectrum_final = spectrum_final + img_bkg[{i}]"])
    return [[r.choice(["spectrum_final = np.zeros(img_bkg.shape[1])", "spectrum_final = np.zeros(511)"])],
            [f"for {i} in range(250, 260):\n    {add}"]]


def _wave_plot(r) -> list[str]:
    if r.random() < 0.5:
        return []
    return [r.choice(["plt.plot(wavelength, spectrum_final)", "plt.plot(wavelength, spectrum_final, lw=0.8)"]),
            'plt.xlabel("wavelength")']


def wave_reference(r, t) -> Blocks:
    c = t["c"]
    return [[f"{c} = np.arange(img.shape[1])"],
            [f'wavelength = hdr["CRVAL1"] + hdr["CD1_1"] * ({c} + 1 - hdr["CRPIX1"])'],
            *([_wave_plot(r)] if r.random() < 0.5 else [])]


def wave_unpack(r, t) -> Blocks:
    a, b, c, p = t["a"], t["b"], t["c"], t["p"]
    return [[f'{a} = hdr["CRVAL1"]', f'{b} = hdr["CRPIX1"]', f'{c} = hdr["CD1_1"]',
             f"{p} = np.arange(1, {r.choice(['512', 'img.shape[1] + 1'])})"],
            [f"wavelength = {a} + {c} * ({p} - {b})"], *([_wave_plot(r)] if r.random() < 0.5 else [])]


def wave_listcomp(r, t) -> Blocks:
    p = t["p"]
    return [[f'wavelength = np.array([hdr["CRVAL1"] + hdr["CD1_1"] * ({p} + 1 - hdr["CRPIX1"]) '
             f"for {p} in range(img.shape[1])])"]]


def wave_linspace(r, t) -> Blocks:
    a, n = t["a"], t["b"]
    return [[f"{n} = img.shape[1]", f'{a} = hdr["CRVAL1"] + hdr["CD1_1"] * (1 - hdr["CRPIX1"])'],
            [f'wavelength = {a} + hdr["CD1_1"] * np.arange({n})']]


def z_centroid(r, t) -> Blocks:
    zs, nm, rest, i, w, f, net = t["a"], t["b"], t["c"], t["i"], t["w"], t["f"], t["m"]
    half = r.choice(["3", "4", "2"])
    guess = r.choice(["1.029", "1.03", "(1 + 0.03)", "1.0295"])
    near = r.choice([f"np.argmin(np.abs(wavelength - {rest} * {guess}))",
                     f"np.abs(wavelength - {rest} * {guess}).argmin()"])
    cont = r.choice([f"{f} - np.linspace({f}[0], {f}[-1], {f}.size)", f"{f} - np.median(spectrum_final)",
                     f"{f} - {f}.min()"])
    cen = r.choice([f"np.sum({w} * {net}) / np.sum({net})", f"({w} * {net}).sum() / {net}.sum()",
                    f"np.average({w}, weights={net})"])
    loop = (f"for {nm}, {rest} in rest_lines.items():" if r.random() < 0.5
            else f"for {rest} in rest_lines.values():")
    return [[f"{zs} = []"],
            [f"{loop}\n"
             f"    {i} = {near}\n"
             f"    {w} = wavelength[{i} - {half}:{i} + {half} + 1]\n"
             f"    {f} = spectrum_final[{i} - {half}:{i} + {half} + 1]\n"
             f"    {net} = {cont}\n"
             f"    {zs}.append({cen} / {rest} - 1)"],
            [f"z_measured = {r.choice(['float(np.mean(' + zs + '))', 'np.mean(' + zs + ')', 'sum(' + zs + ') / len(' + zs + ')'])}"]]


_OIII = 'rest_lines["[O III] 5007"]'


def z_peaks(r, t) -> Blocks:
    zs, rest, i, s = t["a"], t["c"], t["i"], t["s"]
    peak = r.choice([f"np.argmax(np.where({s}, spectrum_final, -np.inf))",
                     f"np.flatnonzero({s})[np.argmax(spectrum_final[{s}])]"])
    final = r.choice([f"np.mean({zs})", f"np.median({zs})", f"float(np.mean({zs}))"])
    return [[f"{zs} = []"],
            [f"for {rest} in rest_lines.values():\n"
             f"    {s} = np.abs(wavelength - {rest} * {r.choice(['1.03', '1.029'])}) < {r.choice(['20', '25', '30'])}\n"
             f"    {i} = {peak}\n"
             f"    {zs}.append(wavelength[{i}] / {rest} - 1)"],
            [f"z_measured = {final}"]]


def z_single(r, t) -> Blocks:
    i, lam = t["i"], t["w"]
    peak = r.choice(["np.argmax(spectrum_final)", "spectrum_final.argmax()", "np.argmax(spectrum_final[300:450]) + 300"])
    rest = r.choice([_OIII, "5006.84"])
    blocks: Blocks = [[f"{i} = {peak}"]]
    if r.random() < 0.5:
        blocks += [[f"{lam} = wavelength[{i}]"], [f"z_measured = {lam} / {rest} - 1"]]
    else:
        blocks += [[f"z_measured = wavelength[{i}] / {rest} - 1"]]
    return blocks


def z_window(r, t) -> Blocks:
    s = t["s"]
    centre = r.choice([f"np.sum(wavelength[{s}] * spectrum_final[{s}]) / np.sum(spectrum_final[{s}])",
                       f"np.average(wavelength[{s}], weights=spectrum_final[{s}])"])
    return [[f"{s} = np.abs(wavelength - {r.choice(['5155', '5160', '5157', '5158'])}) < {r.choice(['12', '15', '10'])}"],
            [f"z_measured = {centre} / {r.choice([_OIII, '5006.84'])} - 1"]]


SOLUTIONS: dict[str, list[Callable]] = {
    "read-data": [read_with_open, read_with_getdata, read_with_array, read_with_loop],
    "profile-and-spectrum": [profile_method, profile_function, profile_loop, profile_transpose],
    "source-rows": [rows_method, rows_function, rows_slice_object, rows_loop],
    "cosmic-rays": [cosmic_rays],
    "background": [background],
    "final-spectrum": [final_method, final_function, final_loop],
    "wavelength": [wave_reference, wave_unpack, wave_listcomp, wave_linspace],
    "redshift": [z_centroid, z_peaks, z_single, z_window],
}
SLOTS = "abcdefhijkmprsw"
LONG_QUESTIONS = ("cosmic-rays", "background", "redshift")


_LOOKS = {
    "read-data": ["img.shape", "img.dtype", "dq.dtype", "err.mean()", "img.max()", "np.unique(dq)", "dq.max()", "img.min()"],
    "profile-and-spectrum": ["profile.shape", "spectrum_raw.shape", "profile.argmax()", "profile.max()",
                             "spectrum_raw.mean()", "np.argmax(profile)", "profile[250:260]", "spectrum_raw[:5]"],
    "source-rows": ["spectrum_src.shape", "spectrum_src.max()", "spectrum_src[:10]", "spectrum_src.sum()",
                    "np.argmax(spectrum_src)", "spectrum_src.min()"],
    "cosmic-rays": ["bad.sum()", "img_cr.shape", "np.count_nonzero(bad)", "bad.mean()", "sigma", "img_sm.max()",
                    "bad[230:280].sum()", "np.abs(img_cr - img).max()", "(img_cr != img).sum()", "bad.any()"],
    "background": ["bkg.shape", "img_bkg.mean()", "bkg_rows.size", "len(bkg_rows)", "bkg.min()", "img_bkg[254].max()",
                   "np.median(img_bkg)", "bkg[0, :5]"],
    "final-spectrum": ["spectrum_final[:10]", "spectrum_final.shape", "spectrum_final.max()", "spectrum_final.sum()",
                       "np.argmax(spectrum_final)", "spectrum_final.min()"],
    "wavelength": ["wavelength[:5]", "wavelength.min()", "wavelength.max()", "wavelength[1] - wavelength[0]",
                   "np.diff(wavelength).mean()", "wavelength.shape", "wavelength[-1]"],
    "redshift": ["z_measured", "round(z_measured, 4)", "z_measured * 3e5", "float(z_measured)", "z_measured - 0.033"],
}


def _looks_for(question: str, r: random.Random, tmp: str) -> list[list[str]]:
    """Lines to look at results, as students add (none, one or two, in their own way)."""
    blocks: list[list[str]] = []
    for _ in range(r.choice([0, 0, 1, 1, 2])):
        e = r.choice(_LOOKS[question])
        form = r.randrange(4)
        if form == 0:
            blocks.append([f"print({e})"])
        elif form == 1:
            blocks.append([f'print("{e} =", {e})'])
        elif form == 2:
            blocks += [[f"{tmp} = {e}"], [f"print({tmp})"]] if r.random() < 0.5 else [[f"{tmp} = {e}"]]
        else:
            blocks.append([f"display({e})" if r.random() < 0.5 else f"{e}"])
    return blocks


@dataclass
class Answer:
    """How one student answers one question: which solution, and their own choices."""

    solution: int
    choices: int  # seed of the small choices
    names: dict[str, str]
    order: int  # seed of the order of independent lines
    comments: int  # seed of the comments and spacing
    stub_left: bool = False
    look: int = 0  # seed of the optional print

    def code(self, question: str) -> str:
        blocks = SOLUTIONS[question][self.solution % len(SOLUTIONS[question])](random.Random(self.choices), self.names)
        blocks = [*blocks, *_looks_for(question, random.Random(self.look), self.names.get("e", "chk"))]
        order = random.Random(self.order)
        comments = random.Random(self.comments)
        lines: list[str] = []
        for block in blocks:
            block = list(block)
            order.shuffle(block)
            for stmt in block:
                roll = comments.random()
                if roll < 0.15:
                    lines.append(comments.choice(_COMMENTS))
                if roll > 0.85:
                    first, *rest = stmt.split("\n")
                    stmt = "\n".join([f"{first}  {comments.choice(_COMMENTS)}", *rest])
                if comments.random() < 0.1:
                    stmt = stmt.replace(" = ", "=", 1)
                lines.append(stmt)
            if comments.random() < 0.2:
                lines.append("")
        return "\n".join(lines)


def _names(r: random.Random) -> dict[str, str]:
    pool = list(_TEMPS)
    r.shuffle(pool)
    return dict(zip(SLOTS, pool, strict=False))


@dataclass
class Student:
    """A student of the synthetic class: one :class:`Answer` per question, cells added."""

    id: str
    answers: dict[str, Answer]
    scratch_cell: str = ""  # a cell of their own after the last question (or "")
    notes: list[str] = field(default_factory=list)


def honest(student_id: str, seed: int) -> Student:
    """An honest student: every answer their own."""
    r = random.Random(seed)
    answers = {}
    for q in SOLUTIONS:
        answers[q] = Answer(solution=r.randrange(len(SOLUTIONS[q])), choices=r.randrange(10**9), names=_names(r),
                            order=r.randrange(10**9), comments=r.randrange(10**9), stub_left=r.random() < 0.1,
                            look=r.randrange(10**9))
    scratch = ""
    if r.random() < 0.2:
        scratch = r.choice(["print(z_measured)", "plt.plot(spectrum_final)\nplt.show()",
                            "np.set_printoptions(precision=3)", "print(img.max(), img.min())"])
    return Student(student_id, answers, scratch)


def copy_of(source: Student, student_id: str, seed: int, *, only: str | None = None) -> Student:
    """A copier of ``source``: every answer (or only question ``only``) copied and disguised
    (temporaries renamed, independent lines reordered, other comments and spacing)."""
    r = random.Random(seed)
    if only is not None:
        own = honest(student_id, seed)
        answers = dict(own.answers)
        questions = [only]
    else:
        own = None
        answers = {}
        questions = list(SOLUTIONS)
    for q in questions:
        a = source.answers[q]
        answers[q] = Answer(a.solution, a.choices, names=_names(r), order=r.randrange(10**9),
                            comments=r.randrange(10**9), stub_left=r.random() < 0.5, look=a.look)
    return Student(student_id, answers, own.scratch_cell if own else source.scratch_cell,
                   notes=[f"copied {'all' if only is None else only} from {source.id}"])


def release_notebook() -> dict:
    return json.loads((ROOT / "release" / ASSIGNMENT / f"{NOTEBOOK}.ipynb").read_text(encoding="utf-8"))


def notebook_of(student: Student, release: dict) -> dict:
    """The student's notebook: the release with their answers typed into the solution cells."""
    nb = copy.deepcopy(release)
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        q = meta.get("grade_id")
        if meta.get("solution") and q in student.answers:
            src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            answer = student.answers[q]
            mine = answer.code(q)
            typed = src.replace(STUB, f"{STUB}\n{mine}" if answer.stub_left else mine)
            if answer.stub_left:  # left the comment, deleted the raise
                typed = typed.replace("raise NotImplementedError()\n", "", 1)
            cell["source"] = typed
            cell["outputs"] = []
    if student.scratch_cell:
        nb["cells"].append({"cell_type": "code", "execution_count": None, "id": f"scratch-{student.id}",
                            "metadata": {}, "outputs": [], "source": student.scratch_cell})
    return nb


def write_class(root: Path, students: list[Student], release: dict | None = None) -> list[Path]:
    """Write each student's notebook to ``root/submitted/<id>/<assignment>/<notebook>.ipynb``."""
    release = release or release_notebook()
    paths = []
    for s in students:
        folder = root / "submitted" / s.id / ASSIGNMENT
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{NOTEBOOK}.ipynb"
        path.write_text(json.dumps(notebook_of(s, release), indent=1), encoding="utf-8")
        paths.append(path)
    return paths


@dataclass
class SyntheticClass:
    """Who is who in a class made by :func:`make_class`."""

    students: list[Student]
    planted: dict[tuple[str, str], str]  # (student_a, student_b) sorted -> what was copied

    @property
    def honest_ids(self) -> list[str]:
        planted = {s for pair in self.planted for s in pair}
        return [s.id for s in self.students if s.id not in planted]


def make_class(n_honest: int, seed: int = 0, *, planted: bool = True) -> SyntheticClass:
    """``n_honest`` honest students plus, with ``planted``, three planted pairs:
    a whole notebook copied and disguised, a whole notebook with only the comments and
    spacing changed, and one cell of eight copied (a long one)."""
    students = [honest(f"h{i:03d}", seed * 100_003 + i) for i in range(n_honest)]
    base = 10**7 + seed * 10  # planted students' seeds: never an honest student's
    pairs: dict[tuple[str, str], str] = {}
    if planted:
        src1 = honest("src-renamed", base + 1)
        cp1 = copy_of(src1, "cp-renamed", base + 2)
        src2 = honest("src-comments", base + 3)
        cp2 = Student("cp-comments", {q: Answer(a.solution, a.choices, a.names, a.order,
                                                a.comments + 1, a.stub_left, a.look)
                                      for q, a in src2.answers.items()}, src2.scratch_cell)
        src3 = honest("src-onecell", base + 5)
        # the copied cell is a long one with two lines of the student's own (checks of
        # intermediate results, as in most long answers): copying one short cell that
        # many honest students write alike is not something any tool can tell apart
        src3.answers["cosmic-rays"].look = next(
            s for s in range(seed * 1000, seed * 1000 + 1000)
            if len(_looks_for("cosmic-rays", random.Random(s), "x")) == 2)
        cp3 = copy_of(src3, "cp-onecell", base + 6, only="cosmic-rays")
        students += [src1, cp1, src2, cp2, src3, cp3]
        pairs = {("cp-renamed", "src-renamed"): "all, renamed and reordered",
                 ("cp-comments", "src-comments"): "all, comments changed",
                 ("cp-onecell", "src-onecell"): "one cell of eight (cosmic-rays)"}
    return SyntheticClass(students, pairs)


def make_course(root: Path) -> Path:
    """A minimal course folder in ``root``: course.yml and the released notebooks."""
    import shutil

    root.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "course.yml", root / "course.yml")
    shutil.copytree(ROOT / "release", root / "release")
    return root
