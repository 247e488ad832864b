"""The second floor's workers (bench_autograde.notebooks_floor): run a notebook's code
cells once, ungraded, in a warm IPython shell.  A module of its own so that spawned
processes can import it (IPython's shell replaces ``sys.modules["__main__"]``)."""

from __future__ import annotations

import contextlib
import io
import sys
import time


def run_notebook(path: str) -> float:
    """Run one notebook's code cells once, in this (warm) process: no grading, no sandbox."""
    import matplotlib.pyplot as plt
    import nbformat
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.reset(new_session=False)
    nb = nbformat.read(path, as_version=4)
    t = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        for cell in nb.cells:
            if cell.cell_type == "code":
                shell.run_cell(cell.source, store_history=False, silent=True)
    plt.close("all")
    return time.perf_counter() - t


def warm(course_dir: str) -> None:
    sys.path.insert(0, course_dir)  # course_data, as beside a notebook
    import matplotlib

    matplotlib.use("Agg")
    import astropy.io.fits  # noqa: F401
    import matplotlib.pyplot  # noqa: F401
    import scipy.ndimage  # noqa: F401
    import scipy.signal  # noqa: F401
    from IPython.core.interactiveshell import InteractiveShell

    InteractiveShell.instance()
