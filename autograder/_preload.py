"""Imported once by the local worker pool's fork server, never by the sandbox.

``course autograde`` starts its local workers from a multiprocessing fork server that
has imported this module: every worker then begins with the grader's libraries
(numpy, scipy.ndimage, astropy, nbformat, the checks and ``reference_solution``)
already loaded, instead of importing them itself (about 1.1 s of CPU per worker,
measured).  The fork server is a process of the grader's side: the student's
sandbox is forked from the separate zygote (:mod:`autograder.sandbox.kernel`), which
never imports this.
"""

import signal

signal.signal(signal.SIGINT, signal.SIG_IGN)  # the instructor's Ctrl-C is the instructor's process's
# to handle (the fork server ignores it too once its imports are done)

from .environment import reuse_freed_memory, skip_slow_optional_imports  # noqa: E402

skip_slow_optional_imports()  # before nbformat pulls jsonschema in
reuse_freed_memory()  # the workers forked from here inherit it

import reference_solution  # noqa: E402,F401

from . import data, grading  # noqa: E402,F401
from .autograde import worker  # noqa: E402,F401
from .checks import load_all  # noqa: E402

load_all()
