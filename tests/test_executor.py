"""The executors' shared loop (``executor._Windowed.run``): a window of jobs in flight,
results in completion order, and a job whose worker was lost tried once more."""

from __future__ import annotations

from concurrent.futures import Future

from autograder.autograde.executor import _Windowed


class Lost(Exception):
    pass


class Fake(_Windowed):
    """Jobs are ``(value, dies)``: a job that dies fails with :class:`Lost` on its first
    try.  Every wait returns all the futures in flight as done (as when several jobs end
    while the instructor's process is busy), so a lost pool meets other finished jobs."""

    window = 3

    def __init__(self):
        self.tried: dict = {}
        self.recovered = 0

    def _submit(self, args):
        value, dies = args
        self.tried[value] = self.tried.get(value, 0) + 1
        fut = Future()
        if dies and self.tried[value] == 1:
            fut.set_exception(Lost(value))
        else:
            fut.set_result(value * 10)
        return fut

    def _wait(self, futures):
        return set(futures)

    def _lost(self, exc):
        return isinstance(exc, Lost)

    def _recover(self, in_flight):
        self.recovered += 1
        self._resubmit_unfinished(in_flight)


def test_every_job_comes_back_once_with_its_result():
    ex = Fake()
    out = dict(ex.run((f"k{i}", (i, False)) for i in range(10)))
    assert out == {f"k{i}": i * 10 for i in range(10)}


def test_a_lost_worker_among_finished_jobs_costs_nothing():
    ex = Fake()
    jobs = [(f"k{i}", (i, i in (1, 4))) for i in range(8)]
    out = list(ex.run(iter(jobs)))
    assert sorted(k for k, _ in out) == sorted(k for k, _ in jobs)  # each exactly once
    assert dict(out) == {f"k{i}": i * 10 for i in range(8)}
    assert ex.recovered == 2 and ex.tried[1] == 2 and ex.tried[4] == 2
    # a job that had finished when the lost one was seen keeps its result: not run again
    assert all(n == 1 for v, n in ex.tried.items() if v not in (1, 4)), ex.tried


def test_a_job_lost_twice_is_reported_not_retried_forever():
    class Always(Fake):
        def _submit(self, args):
            value, _ = args
            self.tried[value] = self.tried.get(value, 0) + 1
            fut = Future()
            fut.set_exception(Lost(value))
            return fut

    ex = Always()
    out = dict(ex.run(iter([("a", (1, True))])))
    assert isinstance(out["a"], Lost) and ex.tried[1] == 2



def test_the_course_command_runs_blas_single_threaded_unless_told_otherwise():
    """The instructor's process and the workers it starts keep one BLAS thread (an idle
    OpenBLAS thread spins: 1.5% of a whole autograde run, measured); a number the
    environment already chose is kept."""
    import os
    import subprocess
    import sys

    code = ("import autograder.cli, numpy, os; "
            "print(os.environ['OPENBLAS_NUM_THREADS'], os.environ['OMP_NUM_THREADS'])")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "1"]
    out = subprocess.run([sys.executable, "-c", code], env={**env, "OPENBLAS_NUM_THREADS": "3"},
                         capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["3", "1"]


def test_grading_processes_reuse_freed_memory_instead_of_faulting_in_new_pages(data_file):
    """The grader's processes (through ``reuse_freed_memory``) and the warm sandbox process
    (through its environment) set glibc's malloc so that the course's own extraction,
    done three times, faults in far fewer fresh pages."""
    import os
    import platform
    import subprocess
    import sys

    import pytest

    from autograder.environment import MALLOC_ENV, reuse_freed_memory
    from autograder.sandbox.runner import _clean_env

    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        pytest.skip("glibc's malloc only")
    assert _clean_env("/nonexistent").items() >= MALLOC_ENV.items()
    code = ("import resource, sys\n"
            "from reference_solution.extraction import extract\n"
            "if sys.argv[1] == 'on':\n"
            "    from autograder.environment import reuse_freed_memory\n"
            "    assert reuse_freed_memory()\n"
            "extract(sys.argv[2])\n"
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
            "for _ in range(3):\n"
            "    extract(sys.argv[2])\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    faults = {mode: int(subprocess.run([sys.executable, "-c", code, mode, str(data_file)], env=env,
                                       capture_output=True, text=True, check=True).stdout)
              for mode in ("off", "on")}
    assert faults["on"] * 3 < faults["off"], faults
    assert reuse_freed_memory()
