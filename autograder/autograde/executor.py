"""Where the notebooks are graded: local worker processes, or a dask cluster.

Both executors take an iterable of jobs ``(key, args)`` and yield ``(key, outcome)``
in completion order, keeping a bounded window of jobs in flight (memory stays flat
however large the class).  ``outcome`` is what :func:`~autograder.autograde.worker.grade_job`
returned, or the exception that job ended with.

* :class:`LocalExecutor`: a process pool whose workers are forked from a fork server
  that imported the grader's libraries once (:mod:`autograder._preload`), where the
  platform has one, else spawned; the workers share one warm sandbox process started
  by the instructor's process.  A worker that dies (say, killed by the machine's OOM
  killer) takes only its own job with it: the pool is rebuilt and the job is tried
  once more.
* :class:`DaskExecutor`: ``client.submit`` on a dask.distributed cluster (the
  ``[cluster]`` extra); every worker keeps a warm sandbox process of its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from ..errors import UserError
from .worker import grade_job, init_local_worker

__all__ = ["LocalExecutor", "DaskExecutor", "worker_context"]


def worker_context():
    """How local workers start: forked from a fork server that imported the grader's
    libraries once, where the platform has one; else spawned (each worker imports them
    itself).  Never plain fork: the instructor's process may run threads (the progress
    display) when the pool starts."""
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["autograder._preload"])
    return ctx


class _Windowed:
    """The shared loop: submit a window of jobs ahead, yield results as they complete."""

    window = 4

    def _submit(self, args):  # pragma: no cover - abstract
        raise NotImplementedError

    def _wait(self, futures):  # pragma: no cover - abstract
        raise NotImplementedError

    def _lost(self, exc: BaseException) -> bool:
        """Whether ``exc`` means the job's worker was lost (the job may be tried again)."""
        return False

    def _recover(self, in_flight: dict) -> None:
        """After a lost worker: make a new place to run and resubmit what was in flight."""

    def _resubmit_unfinished(self, in_flight: dict) -> None:
        """Submit again the jobs in flight that have not finished, or were lost too; a job
        that finished (its result waits in the same wait's batch) keeps its result."""
        for fut, (key, args, tries) in list(in_flight.items()):
            if fut.done() and not (fut.exception() is not None and self._lost(fut.exception())):
                continue
            del in_flight[fut]
            in_flight[self._submit(args)] = (key, args, tries)

    def run(self, jobs: Iterable[tuple[object, tuple]]) -> Iterator[tuple[object, object]]:
        in_flight: dict = {}
        source = iter(jobs)
        exhausted = False
        while True:
            while not exhausted and len(in_flight) < self.window:
                item = next(source, None)
                if item is None:
                    exhausted = True
                    break
                key, args = item
                in_flight[self._submit(args)] = (key, args, 0)
            if not in_flight:
                return
            for fut in self._wait(in_flight):
                if fut not in in_flight:  # resubmitted by _recover (its pool was lost) since the wait
                    continue
                key, args, tries = in_flight.pop(fut)
                try:
                    out = fut.result()
                except Exception as exc:  # noqa: BLE001 - the job failed: reported on its submission
                    if self._lost(exc) and tries == 0:
                        self._recover(in_flight)
                        in_flight[self._submit(args)] = (key, args, 1)
                        continue
                    out = exc
                yield key, out

    def close(self) -> None:
        pass

    def abort(self) -> None:
        """Stop at once, leaving the jobs in flight unfinished (the instructor pressed
        Ctrl-C): by default the same as :meth:`close`."""
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
            self.abort()
        else:
            self.close()


class LocalExecutor(_Windowed):
    """Local worker processes sharing the warm sandbox process at ``zygote_address``."""

    def __init__(self, *, workers: int, zygote_address: str | None):
        self.workers = max(1, workers)
        self.window = 2 * self.workers
        self.zygote_address = zygote_address
        self.pool: ProcessPoolExecutor | None = None
        self._new_pool()

    def _new_pool(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
        self.pool = ProcessPoolExecutor(self.workers, mp_context=worker_context(), initializer=init_local_worker,
                                        initargs=(self.zygote_address, os.getpid()))

    def _submit(self, args):
        try:
            return self.pool.submit(grade_job, *args)
        except BrokenProcessPool:
            self._new_pool()
            return self.pool.submit(grade_job, *args)

    def _wait(self, futures):
        return wait(list(futures), return_when=FIRST_COMPLETED).done

    def _lost(self, exc: BaseException) -> bool:
        return isinstance(exc, BrokenProcessPool)

    def _recover(self, in_flight: dict) -> None:
        self._new_pool()
        self._resubmit_unfinished(in_flight)  # lost with the old pool

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None

    def abort(self) -> None:
        """Terminate the workers rather than wait for their notebooks (seconds each):
        what they were grading is simply not saved, and the next run grades it."""
        if self.pool is not None:
            for proc in list((getattr(self.pool, "_processes", None) or {}).values()):
                try:
                    proc.terminate()
                except Exception:  # noqa: BLE001 - gone already
                    pass
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None


class DaskExecutor(_Windowed):
    """A dask.distributed cluster at ``scheduler`` (an address, or a ``Client``)."""

    def __init__(self, *, scheduler):
        try:
            from distributed import Client
        except ImportError:
            raise UserError("grading on a cluster (--scheduler) needs dask.distributed: "
                            "pip install 'numpy-3c120-course[cluster]'") from None
        if isinstance(scheduler, Client):
            self.client, self._own = scheduler, False
        else:
            self.client, self._own = Client(scheduler), True
        self.window = 4 * max(1, len(self.client.scheduler_info().get("workers", {})))

    def _submit(self, args):
        return self.client.submit(grade_job, *args, pure=False)

    def _wait(self, futures):
        from distributed import wait as dask_wait

        return dask_wait(list(futures), return_when="FIRST_COMPLETED").done

    def close(self) -> None:
        if self._own:
            self.client.close()


def local_workers(jobs: int | None, n_jobs: int) -> int:
    """How many local workers for ``n_jobs`` notebooks (default: one per core)."""
    return max(1, min(jobs or os.cpu_count() or 1, n_jobs))
