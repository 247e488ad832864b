"""Grade the same class with plain nbgrader and with `course autograde`, side by side.

Builds N submissions of the extraction assignment (a mix: 60% complete, 30% partial,
10% broken, from examples/submissions), grades them in the same run

* with ``nbgrader autograde`` in the repository's configuration, one notebook at a time,
  a fresh interpreter (imports paid) for every notebook as stock nbgrader starts a fresh
  kernel per notebook, and plots drawn as a stock kernel draws them (PNG) -- the
  baseline.  It runs the same checks, so scores can be compared; it does not pay a
  Jupyter kernel's start-up, shutdown and shutdown stalls (about 1 s per notebook in the
  issue's measurements), so it is a little faster than truly stock nbgrader and the
  speedup printed is an underestimate;
* with ``course autograde`` at the course's settings (one worker per core forked from a
  fork server that imported the grader's libraries once, warm sandbox zygotes, no
  pictures drawn: ``grading.plots: none``), and once more with ``grading.plots: jpeg``
  (the pictures drawn into the graded notebooks as 72-dpi JPEG),

each in its own copy of the course and gradebook, and prints wall time, submissions per
second, the ratio, peak memory, whether every score is identical, and the floor (import
the libraries once + the reference pipeline's own compute per submission, spread over the
cores), and a second floor: the submitted notebooks run once each, ungraded, in warm
processes, one per core (the students' own computing, which grading cannot avoid).
Also: ``course check`` latency on one notebook, and (``--sizes``) worker memory at
two class sizes.  Ends with ``speedup: X.XX scores-identical: yes|no``.

Run from the repository root (the data file must be reachable, e.g. COURSE_DATA_DIR):

    .venv/bin/python benchmarks/bench_autograde.py [-n 100] [--repeat 3] [--sizes 50,200]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import astuple, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "longslit-extraction"
BIN = Path(sys.executable).parent


def _env() -> dict[str, str]:
    return {**os.environ, "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")])}


def make_course(dest: Path, n: int, plots: str | None = None) -> Path:
    """A course copy with a released assignment and ``n`` submissions in submitted/
    (``plots``: override course.yml's grading.plots)."""
    for name in ("course.yml", "nbgrader_config.py", "course_data.py"):
        shutil.copy2(ROOT / name, dest / name)
    if plots:
        yml = dest / "course.yml"
        yml.write_text(re.sub(r"(?m)^(  plots:) *\w+", rf"\1 {plots}", yml.read_text()))
    for name in ("source", "release"):
        shutil.copytree(ROOT / name, dest / name)
    subprocess.run([BIN / "course", "release", ASSIGNMENT], cwd=dest, env=_env(), check=True, capture_output=True)
    kinds = ["ada"] * 6 + ["grace"] * 3 + ["linus"]
    for i in range(n):
        src = ROOT / "examples" / "submissions" / kinds[i % 10] / ASSIGNMENT / "extraction.ipynb"
        folder = dest / "submitted" / f"s{i:04d}" / ASSIGNMENT
        folder.mkdir(parents=True)
        shutil.copy2(src, folder / "extraction.ipynb")
    return dest


def scores(course_dir: Path) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as gb:
        return {s.student.id: float(s.score) for s in gb.assignment_submissions(ASSIGNMENT)}


@dataclass
class Memory:
    """Peak resident memory (MiB) of the processes a command started, sampled every 0.2 s."""

    main: float = 0.0  # the command's own process (the instructor's, for course autograde)
    worker: float = 0.0  # the largest grading worker (a process pool worker or the fork server they start from)
    sandbox: float = 0.0  # the largest sandbox process (warm zygote or a student's notebook)
    total: float = 0.0  # the whole tree at once (an upper bound: forks share pages)

    def sample(self, root) -> None:
        import psutil

        try:
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        total = 0.0
        for p in procs:
            try:
                rss = p.memory_info().rss / 2**20
                kind = "sandbox" if "autograder.sandbox.kernel" in " ".join(p.cmdline()) else \
                    "main" if p.pid == root.pid else "worker"
            except psutil.Error:
                continue
            total += rss
            setattr(self, kind, max(getattr(self, kind), rss))
        self.total = max(self.total, total)

    def merge(self, other: Memory) -> Memory:
        return Memory(*(max(a, b) for a, b in zip(astuple(self), astuple(other))))

    def __str__(self) -> str:
        return (f"peak RSS: main {self.main:.0f} MiB, largest worker {self.worker:.0f} MiB, "
                f"largest sandbox {self.sandbox:.0f} MiB, whole tree {self.total:.0f} MiB")


def timed(cmd: list, cwd: Path) -> tuple[float, Memory]:
    """Wall seconds and peak memory of a command (exits with its output if it fails)."""
    import psutil

    mem = Memory()
    with tempfile.TemporaryFile("w+") as out:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=_env(), stdout=out, stderr=subprocess.STDOUT, text=True)
        root = psutil.Process(proc.pid)
        while proc.poll() is None:
            mem.sample(root)
            time.sleep(0.2)
        wall = time.perf_counter() - t
        if proc.returncode != 0:
            out.seek(0)
            sys.exit(f"{' '.join(map(str, cmd))} failed:\n{out.read()[-4000:]}")
    return wall, mem


def floor_seconds(data_path: str) -> tuple[float, float]:
    """(import once, reference pipeline compute per submission) in fresh/warm processes."""
    code = (
        "import time; t=time.perf_counter();"
        "import numpy, scipy.signal, astropy.io.fits, astropy.wcs, matplotlib; matplotlib.use('Agg');"
        "import matplotlib.pyplot; print(time.perf_counter()-t)"
    )
    imports = statistics.median(
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
        for _ in range(3)
    )
    from reference_solution import extract

    extract(data_path)  # warm up
    runs = []
    for _ in range(5):
        t = time.perf_counter()
        extract(data_path)
        runs.append(time.perf_counter() - t)
    return imports, statistics.median(runs)


def notebooks_floor(course_dir: Path, cores: int) -> float:
    """Wall time to run every submitted notebook once, ungraded, on ``cores`` warm
    processes (the libraries imported once each, one BLAS thread each, as in the
    sandbox): the students' own computing."""
    import multiprocessing

    paths = sorted(str(p) for p in (course_dir / "submitted").glob(f"*/{ASSIGNMENT}/*.ipynb"))
    threads = {v: "1" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    saved = {v: os.environ.get(v) for v in threads}
    os.environ.update(threads)  # the spawned processes start with them
    # the workers' functions live in a module of their own: IPython's shell replaces
    # sys.modules["__main__"], so a spawned worker could not find them in this script
    import _floor

    try:
        with multiprocessing.get_context("spawn").Pool(cores, initializer=_floor.warm,
                                                       initargs=(str(course_dir),)) as pool:
            pool.map(_floor.run_notebook, paths[:cores], chunksize=1)  # every process warm before the clock starts
            t = time.perf_counter()
            pool.map(_floor.run_notebook, paths, chunksize=1)
            return time.perf_counter() - t
    finally:
        for v, old in saved.items():
            if old is None:
                os.environ.pop(v, None)
            else:
                os.environ[v] = old


def check_latency(course_dir: Path) -> float:
    nb = ROOT / "examples" / "submissions" / "ada" / ASSIGNMENT / "extraction.ipynb"
    runs = []
    for _ in range(3):
        t = time.perf_counter()
        subprocess.run([BIN / "course", "check", str(nb)], cwd=course_dir, env=_env(), capture_output=True)
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


def one_round(n: int, jobs: int | None) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-stock-") as a, tempfile.TemporaryDirectory(prefix="bench-course-") as b:
        stock_dir, ours_dir = make_course(Path(a), n), make_course(Path(b), n)
        stock_wall, stock_rss = timed(
            [BIN / "nbgrader", "autograde", ASSIGNMENT, "--SandboxedExecute.warm=False",
             "--SandboxedExecute.plots=png", "--log-level=WARN"], stock_dir)
        ours_wall, ours_rss = timed(_autograde_cmd(jobs), ours_dir)
        s_stock, s_ours = scores(stock_dir), scores(ours_dir)
        return {"stock": stock_wall, "ours": ours_wall, "stock_rss": stock_rss, "ours_rss": ours_rss,
                "scores": s_ours,
                "identical": s_stock == s_ours and len(s_ours) == n,
                "mismatch": {k: (s_stock.get(k), s_ours.get(k)) for k in set(s_stock) | set(s_ours)
                             if s_stock.get(k) != s_ours.get(k)}}


def _autograde_cmd(jobs: int | None) -> list:
    return [BIN / "course", "autograde", ASSIGNMENT] + (["--jobs", str(jobs)] if jobs else [])


def course_alone(n: int, jobs: int | None, plots: str | None = None) -> tuple[float, Memory, dict[str, float]]:
    """``course autograde`` alone on a fresh class of ``n``: wall, memory and scores."""
    with tempfile.TemporaryDirectory(prefix="bench-alone-") as d:
        course_dir = make_course(Path(d), n, plots=plots)
        wall, mem = timed(_autograde_cmd(jobs), course_dir)
        return wall, mem, scores(course_dir)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=100, help="submissions (default 100)")
    ap.add_argument("--repeat", type=int, default=1, help="rounds; medians are printed (default 1)")
    ap.add_argument("--jobs", type=int, default=None, help="course autograde --jobs (default: one per core)")
    ap.add_argument("--sizes", default="", help="two class sizes for the memory check, e.g. 50,200")
    args = ap.parse_args()

    sys.path.insert(0, str(ROOT))
    from autograder.config import load_course
    from autograder.data import ensure_data

    data_path = str(ensure_data(load_course(ROOT)))
    data_dir = Path(tempfile.mkdtemp(prefix="bench-data-"))
    shutil.copy2(data_path, data_dir / "3c120_stis.fits.gz")
    os.environ["COURSE_DATA_DIR"] = str(data_dir)  # the course copies live elsewhere: tell them where the file is
    cores = os.cpu_count() or 1
    print(f"machine: {cores} cores; {args.n} submissions of {ASSIGNMENT}; {args.repeat} round(s)", flush=True)
    rounds = []
    for i in range(args.repeat):  # each round as it ends: a long run shows where it is
        rounds.append(one_round(args.n, args.jobs))
        r = rounds[-1]
        print(f"  round {i + 1}: nbgrader {r['stock']:.1f} s, course {r['ours']:.1f} s, "
              f"ratio {r['stock'] / r['ours']:.2f}, scores {'identical' if r['identical'] else 'DIFFERENT'}", flush=True)
    stock = statistics.median(r["stock"] for r in rounds)
    ours = statistics.median(r["ours"] for r in rounds)
    identical = all(r["identical"] for r in rounds)
    imports, compute = floor_seconds(data_path)
    floor_total = imports + args.n * compute / cores
    print(f"nbgrader autograde (fresh interpreter per notebook): {stock:8.1f} s  {args.n / stock:6.2f} subm/s  "
          f"{stock / args.n:.3f} s/subm")
    print(f"course autograde ({args.jobs or cores} workers, warm zygotes):      {ours:8.1f} s  {args.n / ours:6.2f} subm/s  "
          f"{ours / args.n:.3f} s/subm")
    if len(rounds) > 1:
        print("  each round (nbgrader / course = ratio): " + ", ".join(
            f"{r['stock']:.1f} / {r['ours']:.1f} = {r['stock'] / r['ours']:.2f}" for r in rounds))
    stock_mem, ours_mem = Memory(), Memory()
    for r in rounds:
        stock_mem, ours_mem = stock_mem.merge(r["stock_rss"]), ours_mem.merge(r["ours_rss"])
    print(f"  nbgrader autograde {stock_mem}")
    print(f"  course autograde   {ours_mem}")
    print(f"floor: import once {imports:.2f} s + reference pipeline {compute:.3f} s/subm over {cores} cores "
          f"= {floor_total:.1f} s for {args.n} ({floor_total / args.n:.3f} s/subm); "
          f"course autograde is {ours / floor_total:.2f}x the floor")
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as d:
        ran = notebooks_floor(make_course(Path(d), args.n), cores)
    print(f"floor: the {args.n} notebooks run once each, ungraded, on {cores} warm processes = {ran:.1f} s "
          f"({ran / args.n:.3f} s/subm); course autograde is {ours / ran:.2f}x that")
    if not identical:
        print("score mismatches (student: stock, course):", json.dumps(rounds[-1]["mismatch"])[:2000])
    drawn, _, drawn_scores = course_alone(args.n, args.jobs, plots="jpeg")
    print(f"course autograde with grading.plots: jpeg (pictures drawn): {drawn:8.1f} s  "
          f"{drawn / args.n:.3f} s/subm  {stock / drawn:.2f}x stock; scores "
          f"{'identical' if drawn_scores == rounds[-1]['scores'] else 'DIFFERENT'}")
    with tempfile.TemporaryDirectory(prefix="bench-check-") as d:
        course_dir = make_course(Path(d), 0)
        print(f"course check, one extraction notebook, end to end: {check_latency(course_dir):.2f} s (median of 3)")
    if args.sizes:
        small, large = (int(x) for x in args.sizes.split(","))
        m_small, m_large = course_alone(small, args.jobs)[1], course_alone(large, args.jobs)[1]
        print(f"memory at {small} submissions: {m_small}")
        print(f"memory at {large} submissions: {m_large}")
    print(f"speedup: {stock / ours:.2f} scores-identical: {'yes' if identical else 'no'}")


if __name__ == "__main__":
    main()
