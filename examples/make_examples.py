"""Regenerate examples/submissions/: a small class of three students.

For every assignment: ``ada`` hands in a complete notebook, ``grace`` a partial one (two
plausible mistakes), ``linus`` a broken one (a syntax error, an exception, a deleted
test cell, an unfinished or unreadable notebook...).  Each notebook starts from the
released student version, as a real student's would, with answers typed into the
solution cells.  The expected scores are in examples/submissions/README.md and are
asserted by tests/test_examples.py.

Each notebook then carries the outputs its student's own run would leave (plots as
72-dpi JPEG): the cells are run in order in a sandboxed process, as in Jupyter, and a
cell that fails keeps its error and the next cells run on.

Run from the repository root:  python examples/make_examples.py  (the data file must be
available: see README, "The data").
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "examples" / "submissions"

PARTIAL = {  # grace: two plausible mistakes per assignment
    "array-creation": {
        "sine-vectorized": "sines_vec = np.array([np.sin(v) for v in values])",
        "ranges": "exptimes = np.array(exposure_list)\npixels = np.arange(511)\n"
                  "wave = np.linspace(2900.0, 5700.0, 510)\nfreqs = np.logspace(8, 11, 7)",
    },
    "broadcasting-ripple": {
        "ripple-surface": "r = np.sqrt(x**2 + y**2)\nz = np.cos(r) / r + 5",
        "spectral-index-table": "alpha_col = alpha.reshape(-1, 1)\ntable = (nu / 1.4e9) ** alpha_col",
    },
    "slicing": {
        "strided": "err_samples = err[254, 10:200]",
        "dq-block": "dq_block = dq[251:253, 101:104]",
    },
    "boolean-masks": {
        "combine": "between = (a > 6) | (a < 17)\noutside = ~between",
        "disk-mask": "in_disk = (x - 10)**2 + (y - 15)**2 <= 10**2",
    },
    "copy-vs-view": {
        "alias-and-copy": "same = frame\nbackup = frame",
        "new-arrays": "doubled = frame * 2\npicked = frame > 30",
    },
    "longslit-extraction": {
        "source-rows": "peak_row = int(np.argmax(profile))\nspectrum_src = img[peak_row - 4 : peak_row + 5].sum(axis=0)",
        "one-column-fit": "bkg_rows = np.append(np.arange(10, 199), np.arange(300, 479))\n"
                          "pfit = np.polyfit(bkg_rows, img_cr[bkg_rows, col], 2)\n"
                          "col_fit = np.polyval(pfit, np.arange(img_cr.shape[0]))",
    },
}

WRITTEN = {  # answers to the questions graded by hand (a text cell), per assignment and student
    "longslit-extraction": {"redshift-offset": {
        "ada": "Every line is bluer than the published redshift predicts by about the same number of "
               "Angstrom, so the wavelength axis itself is probably shifted: this is the _crj file, and "
               "DISPCORR = PERFORM says the dispersion solution was never applied, so CRVAL1 is just "
               "CENWAVE at a reference pixel. V_HELIO (28 km/s) and SHIFTA1 are far too small. To check, "
               "I would download the _x1d product of the same observation from MAST and measure the "
               "lines there.",
        "grace": "The published redshift is probably from a different part of the galaxy, or the "
                 "lines were measured wrongly.",
        "linus": None,  # left empty
    }},
}

BROKEN = {  # linus: what breaks, per assignment (None: leave that answer unfinished)
    "array-creation": {"answers": {"reshape": "stamp = np.arange(20)\nstamp.shape = (4, 5\nstamp_col = stamp.reshape(-1, 1)"}},
    "broadcasting-ripple": {"answers": {"ripple-surface": "r = np.sqrt(x**2 + y**2)\nz = np.cos(r) / (r + radius_offset)"}},
    "slicing": {"answers": {"better-spectrum": None}, "delete": ["rows-and-columns-test"]},
    "boolean-masks": {"unreadable": True},
    "copy-vs-view": {"answers": {"new-arrays": "doubled = frame * 2\npicked = frame[frame > thirty]"}},
    "longslit-extraction": {"answers": {"cosmic-rays": "img_sm = scipy.signal.medfilt(img, 5)\nsigma = np.median(err\n"}},
}


def _answers(source: nbformat.NotebookNode) -> dict[str, str]:
    out = {}
    for cell in source.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            out[meta["grade_id"]] = cell.source
    return out


def _student_code(source_cell: str, answer: str | None = None) -> str:
    """The source cell as a student would leave it: given lines kept, markers gone,
    the solution block replaced by ``answer`` if given."""
    head, rest = source_cell.split("### BEGIN SOLUTION\n", 1)
    block, tail = rest.split("### END SOLUTION", 1)
    return head + (block if answer is None else answer + "\n") + tail.lstrip("\n")


def _fill(released, answers: dict[str, str | None]) -> nbformat.NotebookNode:
    nb = copy.deepcopy(released)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers and answers[gid] is not None:
            cell.source = answers[gid]
    return nb


def _run(nb: nbformat.NotebookNode, zygote, files: dict) -> None:
    """Run ``nb``'s code cells in order in a fresh sandboxed process; keep their outputs."""
    from autograder.sandbox.limits import Limits
    from autograder.sandbox.runner import make_workdir

    session = zygote.spawn(make_workdir(files), Limits())
    try:
        count = 0
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            result = session.run(cell.source, timeout=120)
            count += 1
            cell.execution_count = count
            cell.outputs = [nbformat.from_dict(o) for o in result.outputs]
            if result.status != "ok":
                break
    finally:
        session.close()


def main() -> None:
    import yaml

    from autograder.config import load_course
    from autograder.data import ensure_data
    from autograder.sandbox.runner import Zygote

    data = ensure_data(load_course(ROOT))
    files = {data.name: data, "course_data.py": ROOT / "course_data.py"}
    zygote = Zygote(plots="jpeg")

    course = yaml.safe_load((ROOT / "course.yml").read_text())
    for a in course["assignments"]:
        for nbdef in a["notebooks"]:
            name = f"{nbdef['name']}.ipynb"
            source = nbformat.read(ROOT / "source" / a["id"] / name, as_version=4)
            released = nbformat.read(ROOT / "release" / a["id"] / name, as_version=4)
            given = _answers(source)
            written = WRITTEN.get(a["id"], {})
            right = {gid: _student_code(src) for gid, src in given.items() if gid not in written}
            wrong = lambda changes: {gid: None if code is None else _student_code(given[gid], code)  # noqa: E731
                                     for gid, code in changes.items()}
            broken = BROKEN[a["id"]]
            subs = {
                "ada": _fill(released, right),
                "grace": _fill(released, {**right, **wrong(PARTIAL[a["id"]])}),
                "linus": _fill(released, {**right, **wrong(broken.get("answers", {}))}),
            }
            for gid, by_student in written.items():
                for student, text in by_student.items():
                    if text is not None:
                        subs[student] = _fill(subs[student], {gid: text})
            for gid, code in broken.get("answers", {}).items():
                if code is None:  # left unfinished: keep the released stub
                    for cell in subs["linus"].cells:
                        if cell.metadata.get("nbgrader", {}).get("grade_id") == gid:
                            cell.source = next(c.source for c in released.cells
                                               if c.metadata.get("nbgrader", {}).get("grade_id") == gid)
            subs["linus"].cells = [c for c in subs["linus"].cells
                                   if c.metadata.get("nbgrader", {}).get("grade_id") not in broken.get("delete", [])]
            for student, nb in subs.items():
                folder = OUT / student / a["id"]
                folder.mkdir(parents=True, exist_ok=True)
                _run(nb, zygote, files)
                if student == "linus" and broken.get("unreadable"):
                    text = nbformat.writes(nb)
                    (folder / name).write_text(text[: len(text) // 2])  # a truncated upload
                else:
                    nbformat.write(nb, folder / name)
    zygote.close()


if __name__ == "__main__":
    main()
