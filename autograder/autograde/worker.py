"""What runs in a grading worker process: a local worker or a dask worker.

Trusted code, holding no gradebook and writing no course file.  :func:`grade_job`
receives one notebook already sanitized by the instructor's process (as JSON), grades
it with a :class:`~autograder.grading.NotebookGrader` kept warm for the life of the
process, and returns the graded notebook and its result as plain JSON-able data.

Process state lives in :data:`_STATE`: the warm graders (one per course folder) and
the address of the warm sandbox process shared by the local workers, set by
:func:`init_local_worker` when a local worker starts.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

__all__ = ["grade_job", "init_local_worker"]

_STATE: dict = {"graders": {}, "zygote": None}


def grade_job(course_root: str, data_path: str | None, assignment_id: str, notebook_name: str, nb_json: str) -> dict:
    """Grade one sanitized notebook; returns ``{"nb", "result", "pid"}`` (JSON-able).

    ``result`` is :meth:`NotebookResult <autograder.results.NotebookResult>` as a dict
    (outcomes as :meth:`~autograder.results.Outcome.to_json`).
    """
    import nbformat

    grader = _grader(course_root, data_path)
    assignment = grader.course.assignment(assignment_id)
    graded = grader.grade(nbformat.from_dict(json.loads(nb_json)), assignment, assignment.notebook(notebook_name))
    r = graded.result
    return {
        "nb": json.dumps(graded.nb),
        "result": {"notebook": r.notebook, "outcomes": [o.to_json() for o in r.outcomes],
                   "problems": r.problems, "seconds": r.seconds},
        "pid": os.getpid(),
    }


def _grader(course_root: str, data_path: str | None):
    """This process's warm grader for ``course_root`` (made on first use)."""
    graders = _STATE["graders"]
    if course_root not in graders:
        from multiprocessing.util import Finalize

        from ..config import load_course
        from ..data import ensure_data
        from ..grading import NotebookGrader

        course = load_course(course_root)
        path = Path(data_path) if data_path and Path(data_path).is_file() else ensure_data(course)
        if not graders:
            # when this worker ends (a local one however started, or a dask one): stop its
            # warm sandbox process, if it started one, and remove its folder
            Finalize(None, _close_graders, exitpriority=100)
        graders[course_root] = NotebookGrader(course, data_path=path, zygote_address=_STATE["zygote"])
    return graders[course_root]


def _close_graders() -> None:
    for grader in _STATE["graders"].values():
        grader.close()
    _STATE["graders"].clear()


def init_local_worker(zygote_address: str | None = None, instructor_pid: int | None = None) -> None:
    """Initializer of a local worker process (see :mod:`autograder.autograde.executor`).

    ``instructor_pid``: the process that started the pool; the worker leaves as soon as
    it is gone (see :func:`_leave_with`)."""
    import atexit

    from ..environment import skip_slow_optional_imports

    skip_slow_optional_imports()
    _STATE["zygote"] = zygote_address
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the instructor's Ctrl-C is handled by the parent
    atexit.register(_quick_exit)  # a spawned worker skips the interpreter's tear-down
    if instructor_pid is not None:
        _leave_with(instructor_pid)


def _leave_with(pid: int) -> None:
    """Exit this worker (closing its warm sandbox process, if it has one) when process
    ``pid`` ends.

    A worker otherwise waits for its next job forever once the instructor's process is
    killed outright (``kill -9``, the OOM killer, a batch system's hard time limit): the
    pool's queues give it no end-of-file, because every worker holds both of their
    ends, and the fork server it came from stays up as long as a worker does.  Watched
    through a pidfd (Linux 5.3+) by a daemon thread, else by asking every 2 seconds."""
    import select
    import threading
    import time

    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None

    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except OSError:
            return False
        return False

    def watch() -> None:
        if pidfd is not None:
            select.select([pidfd], [], [])
        else:
            while not gone():
                time.sleep(2)
        try:
            _close_graders()
        finally:
            os._exit(1)

    threading.Thread(target=watch, name="leave-with-instructor", daemon=True).start()


def _quick_exit() -> None:
    """Leave without the interpreter's slow tear-down of numpy, scipy, astropy & co.

    Runs when the pool stops a spawned worker (a worker forked by the fork server
    leaves through ``os._exit`` already), after its last result was sent (the pool's
    result queue writes synchronously) and after multiprocessing's finalizers (which
    closed the grader): nothing is left to flush but our own streams.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - leaving anyway
            pass
    os._exit(0)
