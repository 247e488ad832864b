"""Process environment fixes that must not import anything heavy (the CLI calls them first)."""

from __future__ import annotations

import os
import sys

__all__ = ["ensure_alembic_on_path", "reuse_freed_memory", "single_threaded_blas", "skip_slow_optional_imports"]


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


#: glibc's ``mallopt`` parameters (malloc.h) and their values, see :func:`reuse_freed_memory`
_M_TRIM_THRESHOLD, _M_TOP_PAD = -1, -2
_KEEP_FREE, _GROW_BY = 512 << 20, 64 << 20
#: the same settings for a process started with this environment (glibc reads them at start)
MALLOC_ENV = {"MALLOC_TRIM_THRESHOLD_": str(_KEEP_FREE), "MALLOC_TOP_PAD_": str(_GROW_BY)}


def reuse_freed_memory() -> bool:
    """Set glibc's malloc so that image-sized temporaries cost few page faults, in this
    process and the processes it forks; returns whether it could.

    By default glibc raises its ``mmap`` threshold once a large block is freed, so later
    image-sized temporaries (the course's image is 4 MiB as float32) come from the
    heap, which it trims back to the kernel as soon as enough free space sits at its
    top: each new temporary then faults in, and zeroes, fresh 4 KiB pages.  Setting
    the trim threshold and the top pad (which also fixes the ``mmap`` threshold at its
    128 KiB start) changes that: every large array gets a mapping of its own, which the
    kernel backs with 2 MiB pages where transparent huge pages are on (one fault per
    2 MiB, not 512), and smaller objects come from a heap that grows 64 MiB at a time
    and keeps up to 512 MiB free.  Peak memory is unchanged.  Measured, six extractions
    of the course's file in one process: 21-30 thousand page faults and 0.08-0.13 s of
    system time become 4 thousand and 0.02-0.04 s; over ``course autograde`` of 20
    extraction notebooks, 2.6 million page faults become 2.0 million.  Elsewhere than
    glibc on Linux the call does nothing."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
        return bool(mallopt(_M_TRIM_THRESHOLD, _KEEP_FREE)) and bool(mallopt(_M_TOP_PAD, _GROW_BY))
    except (OSError, AttributeError):
        return False


def ensure_alembic_on_path() -> None:
    """nbgrader runs ``alembic`` from PATH when it creates a gradebook: put this
    environment's ``bin`` first so that a virtual environment works unactivated."""
    bindir = os.path.dirname(sys.executable)
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if bindir not in parts:
        os.environ["PATH"] = os.pathsep.join([bindir, *parts])
