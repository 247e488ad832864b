"""``course demo`` (the README's main command) and ``course extract``.

The demo runs the whole course on the bundled example class in
``examples/submissions/``: verify the data, run the reference extraction and plot the
spectrum, release every assignment, collect the examples, autograde them, write
feedback, export the gradebook, the class report and the similarity report, and say
where each output is.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from .config import Course

__all__ = ["ExtractionSummary", "reference_extraction", "run_demo"]


@dataclass
class ExtractionSummary:
    data_path: Path
    plot: Path
    figures: dict[str, str]

    def render(self) -> str:
        width = max(len(k) for k in self.figures)
        lines = [f"reference extraction of {self.data_path}"]
        lines += [f"  {k:<{width}}  {v}" for k, v in self.figures.items()]
        lines.append(f"  spectrum plot{'':<{max(width - 13, 0)}}  {self.plot}")
        return "\n".join(lines)


def reference_extraction(course: Course, *, output: Path | None = None) -> ExtractionSummary:
    """Run the reference pipeline on the verified file and plot the final spectrum."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from reference_solution import extract
    from reference_solution.wavelength import REST_LINES

    from .data import ensure_data

    path = ensure_data(course)
    ex = extract(path)
    out = Path(output) if output else course.reports_dir / "spectrum.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.plot(ex.wavelength, ex.spectrum_final, lw=0.8, color="k")
    for name, rest in REST_LINES.items():
        obs = rest * (1 + ex.z)
        if ex.wavelength.min() < obs < ex.wavelength.max():
            ax.axvline(obs, color="tab:red", lw=0.5, ls=":")
            ax.text(obs, ax.get_ylim()[1] * 0.95, name, rotation=90, fontsize=7, va="top", ha="right")
    ax.set_xlabel("wavelength (Angstrom, header WCS)")
    ax.set_ylabel("counts in rows 250..259")
    ax.set_title(f"3C120, HST/STIS G430L: background-subtracted spectrum (z measured = {ex.z:.4f})")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    peak = int(np.argmax(ex.spectrum_final))
    figures = {
        "image shape (rows, cols)": f"{ex.img.shape}",
        "sigma (median of ERR)": f"{ex.sigma:.4g}",
        "cosmic-ray pixels replaced": f"{int(ex.bad.sum())} flagged, {int((ex.img_cr != ex.img).sum())} changed",
        "raw spectrum total counts": f"{ex.spectrum_raw.sum():.6g}",
        "final spectrum peak": f"{ex.spectrum_final[peak]:.6g} counts at {ex.wavelength[peak]:.1f} A (column {peak})",
        "final spectrum sum": f"{ex.spectrum_final.sum():.6g} counts",
        "wavelength range": f"{ex.wavelength[0]:.1f} .. {ex.wavelength[-1]:.1f} A",
        "redshift measured": f"{ex.z:.5f} (published 0.0330)",
    }
    return ExtractionSummary(path, out, figures)


def run_demo(course: Course, *, console, jobs: int | None = None) -> dict[str, Path]:
    """The whole pipeline on ``examples/submissions``; returns the outputs' paths."""
    from .autograde import autograde, summary_table
    from .collect import collect
    from .export import export_grades
    from .feedback import write_feedback
    from .release import release
    from .report import class_report
    from .similarity import similarity_report

    started = time.monotonic()
    step = lambda text: console.print(f"[bold]>>[/] {text}", highlight=False)  # noqa: E731
    step("data: locating and verifying 3c120_stis.fits.gz")
    summary = reference_extraction(course)
    console.print(summary.render(), highlight=False, markup=False)
    step("release: generating student notebooks with nbgrader")
    released = release(course)
    console.print(f"   {len(released)} notebooks in {course.release_dir}", highlight=False)
    step("collect: examples/submissions")
    collected = collect(course, course.root / "examples" / "submissions")
    console.print(collected.summary(), highlight=False, markup=False)
    step("autograde: every submission, in parallel, in the sandbox")
    results = autograde(course, jobs=jobs)
    console.print(summary_table(results))
    failed = [r for r in results if r.status == "failed"]
    step("feedback, export and report")
    feedback = write_feedback(course)
    csv = export_grades(course, fmt="csv")
    rep = class_report(course)
    console.print(rep.table())
    step("similarity: which students share their code")
    sim = similarity_report(course)
    console.print(sim.table())
    outputs = {
        "spectrum plot": summary.plot,
        "released notebooks": course.release_dir,
        "gradebook": course.gradebook_file,
        "autograded notebooks": course.folder("autograded"),
        "feedback (HTML)": course.folder("feedback"),
        "grades (CSV)": csv.path,
        "class report (PNG)": rep.png_path,
        "per-question table (CSV)": rep.csv_path,
        "similarity (CSV, pages)": sim.csv_path,
    }
    step(f"done in {time.monotonic() - started:.0f} s; outputs:")
    for k, v in outputs.items():
        console.print(f"   {k:<26} {v}", highlight=False, markup=False)
    console.print(f"   {len(feedback)} feedback files", highlight=False)
    if failed:
        raise RuntimeError(f"{len(failed)} submission(s) could not be graded")
    return outputs
