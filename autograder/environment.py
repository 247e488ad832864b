"""Process environment fixes that must not import anything heavy (the CLI calls them first)."""

from __future__ import annotations

import os
import sys

__all__ = ["ensure_alembic_on_path", "single_threaded_blas", "skip_slow_optional_imports"]


def skip_slow_optional_imports() -> None:
    """Keep jsonschema from importing ``rfc3987_syntax`` (about 1 s: it compiles a lark
    grammar at import).  jsonschema imports it only to check the ``iri`` string formats,
    which no notebook or nbgrader schema uses, and does without it when it is absent.
    Call before anything imports nbformat or jsonschema; only this process is affected."""
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]  (None makes the import fail)


def single_threaded_blas() -> None:
    """One BLAS/OpenMP thread for this process and those it starts (unless the
    environment already chooses a number).

    The grader's own processes (the instructor's, the grading workers) do little linear
    algebra, and they run one per core already: OpenBLAS's extra thread per process only
    spins between calls, measured at 1.5% of a whole ``course autograde``'s CPU time.
    The student's process gets one thread from the sandbox's own environment.  Call
    before anything imports numpy."""
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")


def ensure_alembic_on_path() -> None:
    """nbgrader runs ``alembic`` from PATH when it creates a gradebook: put this
    environment's ``bin`` first so that a virtual environment works unactivated."""
    bindir = os.path.dirname(sys.executable)
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if bindir not in parts:
        os.environ["PATH"] = os.pathsep.join([bindir, *parts])
