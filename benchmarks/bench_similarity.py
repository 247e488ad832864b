"""``course similarity`` on a synthetic class of N submissions: wall time and peak memory.

Builds the class with ``tests/similarity_class.py`` (honest students answering the
extraction notebook their own way, plus three planted pairs, plus one notebook that is
not valid JSON, listed and skipped), in a temporary course, then times
:func:`autograder.similarity.similarity_report` for that assignment: reading,
normalising, fingerprinting and scoring every pair, and writing the CSV, the heat map
and the page of every flagged pair.  Prints the time of each stage, the peak resident
memory of the process, and the scores of the planted pairs against the best honest
pair.

Run from the repository root:

    .venv/bin/python benchmarks/bench_similarity.py [-n 200] [--repeat 3] [--seed 0]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder.config import load_course  # noqa: E402
from autograder.similarity import similarity_report  # noqa: E402
from autograder.similarity._compare import analyse_assignment  # noqa: E402
from tests import similarity_class as sc  # noqa: E402


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="submissions in the class (default 200)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs; the median is reported")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-similarity-") as tmp:
        root = sc.make_course(Path(tmp) / "course")
        made = sc.make_class(args.n - 7, seed=args.seed)  # + 6 planted + 1 broken = n
        sc.write_class(root, made.students)
        broken = root / "submitted" / "broken" / sc.ASSIGNMENT
        broken.mkdir(parents=True)
        (broken / f"{sc.NOTEBOOK}.ipynb").write_text('{"cells": [', encoding="utf-8")
        course = load_course(root, check_files=False)
        print(f"class: {args.n} submissions of {sc.ASSIGNMENT} ({len(made.honest_ids)} honest, "
              f"{2 * len(made.planted)} in planted pairs, 1 not valid JSON); peak memory so far {_peak_mb():.0f} MB")
        walls, analyses = [], []
        for k in range(args.repeat):
            t0 = time.perf_counter()
            analyse_assignment(course, course.assignment(sc.ASSIGNMENT), root / "submitted")
            t1 = time.perf_counter()
            report = similarity_report(course, assignments=[sc.ASSIGNMENT], out_dir=Path(tmp) / f"out{k}")
            t2 = time.perf_counter()
            analyses.append(t1 - t0)
            walls.append(t2 - t1)
            print(f"run {k + 1}: similarity_report {t2 - t1:.2f} s; reading, normalising and scoring alone "
                  f"{t1 - t0:.2f} s; {len(report.pairs)} pairs, {len(report.flagged)} flagged, "
                  f"{len(report.skipped)} skipped")
        honest = set(made.honest_ids)
        best = max(p.score for p in report.pairs if p.student_a in honest and p.student_b in honest)
        for (a, b), what in made.planted.items():
            score = next(p.score for p in report.pairs if (p.student_a, p.student_b) == (a, b))
            print(f"  planted ({what}): {score:.3f}")
        print(f"  best honest pair: {best:.3f}; threshold {report.threshold:.2f}")
        print(f"similarity of {args.n} submissions: median {statistics.median(walls):.2f} s wall "
              f"(reading, normalising and scoring alone {statistics.median(analyses):.2f} s), peak memory {_peak_mb():.0f} MB")


if __name__ == "__main__":
    main()
