"""The student's interpreter: an IPython shell whose outputs are collected for the grader.

Built once in the warm process (:func:`prepare`), inherited by every student process
forked from it: the shell and its display hooks, the collector of a cell's outputs
(:data:`OUT`, capped by the sandbox's :class:`~autograder.sandbox.limits.Limits`), the
streams that feed it, and the figures drawn since the last graded question, summarised
as data for the checks.  :func:`warm_up` does the libraries' first-use work once.
"""

from __future__ import annotations

import os
import re
import sys
import warnings

from . import capture
from .limits import Limits

_ALLOWED_MIME = ("text/plain", "image/png", "image/jpeg")


class Outputs:
    """Outputs of the cell being run, in nbformat form, with a cap on what one cell shows.

    The caps are the sandbox's :class:`~autograder.sandbox.limits.Limits`: printed text
    and the text of displayed objects share one budget (``max_output_kb``), images share
    ``max_images_kb`` (each at most ``max_image_kb``), at most ``max_outputs`` outputs and
    ``max_errors`` errors are kept.  Past a cap, one "output truncated" note is added and
    further output is dropped, so a cell that prints or displays without end is cut
    short instead of producing a reply too large to send (which would end the notebook).
    """

    def __init__(self, limits: Limits | None = None) -> None:
        self.configure(limits or Limits())
        self.begin()

    def configure(self, limits: Limits) -> None:
        self.limit = limits.output_chars
        self.max_image = limits.max_image_kb * 1024
        self.max_images = limits.max_images_kb * 1024
        self.max_outputs = limits.max_outputs
        self.max_errors = limits.max_errors

    def begin(self) -> None:
        self.outputs: list[dict] = []
        self.printed, self.images, self.truncated = 0, 0, False

    def _truncate(self) -> None:
        if not self.truncated:
            self.truncated = True
            self.outputs.append({"output_type": "stream", "name": "stdout",
                                 "text": f"\n... output truncated after {self.limit // 1024} KiB ...\n"})

    def stream(self, name: str, text: str) -> None:
        if self.truncated:
            return
        room = self.limit - self.printed
        cut = len(text) > room
        text = text[: max(room, 0)]
        self.printed += len(text)
        if text:
            if self.outputs and self.outputs[-1].get("output_type") == "stream" and self.outputs[-1]["name"] == name:
                self.outputs[-1]["text"] += text
            elif len(self.outputs) < self.max_outputs:
                self.outputs.append({"output_type": "stream", "name": name, "text": text})
            else:
                cut = True
        if cut:
            self._truncate()

    def data(self, output_type: str, data: dict, count: int | None = None) -> None:
        if self.truncated:
            return
        if len(self.outputs) >= self.max_outputs:
            self._truncate()
            return
        clean = {}
        for mime in _ALLOWED_MIME:
            if mime in data:
                value = data[mime]
                if mime == "text/plain":
                    value = str(value)
                    if len(value) > self.limit - self.printed:
                        self._truncate()
                        return
                    self.printed += len(value)
                elif not isinstance(value, str) or len(value) > self.max_image:
                    continue
                elif self.images + len(value) > self.max_images:
                    self._truncate()
                    return
                else:
                    self.images += len(value)
                clean[mime] = value
        if not clean:
            return
        out = {"output_type": output_type, "data": clean, "metadata": {}}
        if output_type == "execute_result":
            out["execution_count"] = count
        self.outputs.append(out)

    def error(self, ename: str, evalue: str, traceback: list[str]) -> None:
        if sum(o["output_type"] == "error" for o in self.outputs) >= self.max_errors:
            return  # the first errors tell the story; a loop of showtraceback() adds nothing
        self.outputs.append(
            {
                "output_type": "error",
                "ename": str(ename)[:200],
                "evalue": str(evalue)[:4000],
                "traceback": [str(line)[:4000] for line in traceback[:200]],
            }
        )


OUT = Outputs()


class Stream:
    """sys.stdout / sys.stderr replacement feeding the collector."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, name: str) -> None:
        self.name = name

    def write(self, text) -> int:
        text = str(text)
        OUT.stream(self.name, text)
        return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return 1 if self.name == "stdout" else 2

    def readable(self) -> bool:
        return False

    def writable(self) -> bool:
        return True


def make_shell():
    """Create the IPython shell (in the zygote, before any fork)."""
    from IPython.core.displayhook import DisplayHook
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    class _DisplayHook(DisplayHook):
        def start_displayhook(self):
            self._data = None

        def write_output_prompt(self):
            pass

        def write_format_data(self, format_dict, md_dict=None):
            self._data = format_dict

        def finish_displayhook(self):
            if self._data is not None:
                OUT.data("execute_result", self._data, self.prompt_count)
            self._data = None

    class _DisplayPub(DisplayPublisher):
        def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kwargs):
            OUT.data("display_data", data)

        def clear_output(self, wait=False):
            OUT.outputs = [o for o in OUT.outputs if o["output_type"] == "error"]

    class StudentShell(InteractiveShell):
        displayhook_class = _DisplayHook
        display_pub_class = _DisplayPub

        def enable_gui(self, gui=None):
            pass

        def _showtraceback(self, etype, evalue, stb):
            OUT.error(getattr(etype, "__name__", str(etype)), str(evalue), list(stb))

    cfg = Config()
    cfg.HistoryManager.enabled = False
    cfg.InteractiveShell.colors = "nocolor"
    cfg.InteractiveShell.autoindent = False
    # Tracebacks in the standard Python layout (each frame: file, line, its source line;
    # then the error), not IPython's default "Context" layout: that one parses the whole
    # source file of every library frame to mark the failing expression, in each student
    # process and each copy afresh, and formats it twice (shown and stored).  Measured
    # in a forked student process: a failed assert 25 -> 9 ms, an error raised inside
    # numpy or astropy 120-200 ms -> 7-10 ms; unfinished notebooks raise many.  A
    # student's own %xmode still applies to their notebook.
    cfg.InteractiveShell.xmode = "Plain"
    shell = StudentShell.instance(config=cfg)
    _time_once(shell)
    return shell


_TIMEIT_OPTION = re.compile(r"\s*-(?:([nrp])\s*(\S+)|([tcqo]+))(?=\s|$)")


def _timeit_parts(line: str) -> tuple[list[str], str]:
    """``%timeit``'s options other than the loop and repeat counts, and its statement."""
    kept, rest = [], line
    while (m := _TIMEIT_OPTION.match(rest)) is not None:
        if m.group(1) == "p":
            kept.append(f"-p{m.group(2)}")
        elif m.group(3):
            kept.append(f"-{m.group(3)}")
        rest = rest[m.end():]
    return kept, rest.lstrip()


def timeit_once_line(line: str) -> str:
    """``%timeit``'s options with the loop and repeat counts replaced by 1: ``-n 100 -r7
    x.sum()`` becomes ``-n1 -r1 x.sum()`` (``-p``, ``-t``, ``-c``, ``-q``, ``-o`` kept)."""
    kept, statement = _timeit_parts(line)
    return " ".join(["-n1", "-r1", *kept, statement])


def timeit_statement(line: str) -> str:
    """The statement ``%timeit`` times (for ``%%timeit``: its setup), without options."""
    return _timeit_parts(line)[1]


def _time_once(shell) -> None:
    """``%timeit`` and ``%%timeit`` run the timed code once when graded (``-n1 -r1``).

    A timing is never graded, but IPython's own ``%timeit`` runs the code hundreds of
    times: the cell then took hundreds of times numpy's own work, and the rule "no
    Python loop" (judged by the time the question's code took) failed a vectorised
    answer with ``%timeit np.sin(values)`` above it; it also cost grading seconds per
    magic.  The student's own Jupyter is unchanged: only the graded copy shows a timing
    of one run.
    """
    from IPython.core.magics.execution import ExecutionMagics

    original = ExecutionMagics(shell=shell).timeit

    def timeit(line="", cell=None, local_ns=None):
        return original(timeit_once_line(line), cell, local_ns=local_ns)

    timeit.needs_local_scope = True
    shell.register_magic_function(timeit, magic_kind="line_cell", magic_name="timeit")


class Figures:
    """Matplotlib figures drawn since the last graded question, summarised as data."""

    def __init__(self) -> None:
        self.pending: dict[int, tuple[list, list]] = {}

    def snapshot(self, plt, managers) -> None:
        for manager in list(managers):
            fig = manager.canvas.figure
            figs, blobs = capture.figure_summary(_SingleFigure(plt, fig))
            self.pending[id(fig)] = (figs, blobs)

    def take(self) -> tuple[list, list[bytes]]:
        figs, blobs = [], []
        for f, b in self.pending.values():
            offset = len(blobs)
            for fig in f:
                for ax in fig["axes"]:
                    for ln in ax["lines"]:
                        ln["x"] = None if ln["x"] is None else ln["x"] + offset
                        ln["y"] = None if ln["y"] is None else ln["y"] + offset
                    for im in ax["images"]:
                        im["array"] = None if im["array"] is None else im["array"] + offset
                figs.append(fig)
            blobs += b
        self.pending = {}
        return figs, blobs


class _SingleFigure:
    """A pyplot-like view exposing one figure to :func:`capture.figure_summary`."""

    def __init__(self, plt, fig) -> None:
        self._fig = fig

    def get_fignums(self):
        return [0]

    def figure(self, num):
        return self._fig


def install_figure_hooks(shell, figures: Figures) -> None:
    import matplotlib.pyplot as plt
    from matplotlib._pylab_helpers import Gcf

    def snap_all(*_args, **_kwargs):
        figures.snapshot(plt, Gcf.get_all_fig_managers())

    orig_destroy, orig_destroy_all = Gcf.destroy.__func__, Gcf.destroy_all.__func__

    def destroy(cls, num):
        manager = num if hasattr(num, "canvas") else cls.figs.get(num)
        if manager is not None:
            figures.snapshot(plt, [manager])
        return orig_destroy(cls, num)

    def destroy_all(cls):
        snap_all()
        return orig_destroy_all(cls)

    Gcf.destroy = classmethod(destroy)
    Gcf.destroy_all = classmethod(destroy_all)
    shell.events.register("post_execute", snap_all)  # before the inline backend's flush
    shell.enable_matplotlib("inline")


#: The largest gzip-compressed FITS file (compressed size) that :func:`read_gzip_fits_in_memory` reads at once.
GZIP_FITS_IN_MEMORY = 64 << 20
#: Decompressed gzip FITS files of this process (see :func:`read_gzip_fits_in_memory`),
#: by a hash of their compressed bytes.
_GZIP_FITS: dict[bytes, bytes] = {}


def read_gzip_fits_in_memory() -> None:
    """Make astropy decompress a gzip-compressed FITS file opened by name for reading
    once, into memory (as its own ``decompress_in_memory`` option does), and remember the
    result in this process by a hash of the compressed bytes, so that opening the same
    file again does not decompress it again.

    By default astropy decompresses on the fly and, since gzip cannot seek backwards,
    starts again from the top each time it goes back for an extension.  Measured on the
    course's file: reading SCI, ERR and DQ takes 87 ms that way and 14 ms from the
    decompressed bytes, and a notebook opens the file several times (``fits.info``,
    reading the images, ``fits.getheader`` for the wavelengths), in its own run and
    again in the re-runs.  The bytes astropy reads are the same, so every value the
    student's code gets is the same.  Files over :data:`GZIP_FITS_IN_MEMORY`, files the
    ``gzip`` module cannot decompress whole (astropy then reads them its usual way and
    reports what it reports), file objects the student opened, and modes other than
    reading are left as they are.
    """
    import gzip
    import hashlib
    import io

    from astropy.io.fits import file as fits_file

    original = fits_file._File._try_read_compressed
    if getattr(original, "_course_in_memory", False):
        return

    def _try_read_compressed(self, obj_or_name, magic, mode, ext=""):
        found = original(self, obj_or_name, magic, mode, ext)
        if self.compression != "gzip" or mode not in ("readonly", "copyonwrite", "denywrite") \
                or not isinstance(obj_or_name, str):
            return found
        try:
            if os.path.getsize(obj_or_name) > GZIP_FITS_IN_MEMORY:
                return found
            with open(obj_or_name, "rb") as fh:
                raw = fh.read(GZIP_FITS_IN_MEMORY + 1)
            key = hashlib.blake2b(raw, digest_size=20).digest()
            data = _GZIP_FITS.get(key)
            if data is None:
                data = gzip.decompress(raw)
                if len(_GZIP_FITS) >= 4:
                    _GZIP_FITS.clear()
                _GZIP_FITS[key] = data
        except Exception:  # noqa: BLE001 - damaged or unreadable: astropy's own way, unchanged
            return found
        self._file.close()
        self._file = io.BytesIO(data)
        return found

    _try_read_compressed._course_in_memory = True
    _try_read_compressed.__wrapped__ = original
    fits_file._File._try_read_compressed = _try_read_compressed


def prepare(plots: str = "jpeg"):
    """Import the scientific stack and build the shell once (inherited by every fork).

    ``plots``: "jpeg" draws inline plots as 72-dpi JPEG; "png" keeps the inline
    backend's default (PNG, tight bounding box), as a stock Jupyter kernel draws them;
    "none" draws no picture at all (figures are still summarised for the checks).
    """
    warnings.simplefilter("default")
    import astropy.io.fits  # noqa: F401
    import astropy.units  # noqa: F401
    import astropy.wcs  # noqa: F401
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401
    import numpy  # noqa: F401
    import scipy.ndimage  # noqa: F401
    import scipy.signal  # noqa: F401

    read_gzip_fits_in_memory()
    shell = make_shell()
    figures = Figures()
    install_figure_hooks(shell, figures)
    if plots == "png":
        return shell, figures
    import matplotlib.pyplot as plt
    from matplotlib_inline.backend_inline import set_matplotlib_formats

    # Without a PNG to match stock Jupyter's, pyplot's own end-of-cell redraw of every
    # open figure is pure cost: "none" uses no picture and "jpeg" draws its picture once
    # more anyway (measured on a one-line plot cell: 69 -> 15 ms with "none", 122 -> 85
    # ms with "jpeg").  What the cell did to the figure is unchanged and read the same
    # way; only an undrawn figure's renderer cache stays empty (code that reads pixels
    # calls fig.canvas.draw() itself, as in any script).
    plt.uninstall_repl_displayhook()

    # Plots are drawn for the feedback page, not for print: JPEG at 72 dpi without the
    # second "tight bbox" drawing pass renders in ~1/6 of the time of the default PNG
    # (measured: 27 ms vs 160 ms for an imshow of the 3C120 image), and plot cells are
    # most of an extraction notebook's grading time.  The figure checks read the data of
    # the plot (capture.figure_summary), never the picture.
    if plots == "none":  # no image formatter: a figure shows as its text repr, never drawn
        set_matplotlib_formats()
    else:
        set_matplotlib_formats("jpeg", dpi=72, bbox_inches=None, pil_kwargs={"quality": 80})
    return shell, figures


def warm_up(shell, figures: Figures, *, draw: bool) -> None:
    """Do once, here, the first-use work every notebook would otherwise pay again.

    A forked student process starts as a copy of this one, so whatever the libraries
    load or build on first use is done once for all notebooks instead of once per
    notebook: IPython's traceback formatter (measured: the first error of a process
    takes 50 ms to show, later ones 2.5 ms; unfinished and broken notebooks raise
    several), astropy's FITS and WCS readers, gzip, LAPACK, IPython's cell compiler and,
    with ``draw``, fonts, text layout, mathtext and the inline backend's image encoder
    (5-10% of an extraction notebook's grading when pictures are drawn).  It costs
    this process 0.1-0.3 s once.

    Only library code runs here, on made-up data in this process's own temporary
    folder; nothing of it stays visible to the student: no figure stays open, no
    figure summary is pending, the IPython namespace, history, execution count and
    ``sys.last_*`` are as before, the random generators are never drawn from, and the
    student process resets the warning filters (so no "once" warning is swallowed).
    """
    import gzip
    import io
    import tarfile  # noqa: F401  (course_data imports it)

    import matplotlib.pyplot as plt
    import numpy as np
    import scipy.ndimage
    import scipy.signal
    from astropy.io import fits
    from astropy.wcs import WCS

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        img = np.linspace(0.0, 100.0, 64 * 64, dtype=np.float32).reshape(64, 64)
        header = fits.Header({"CTYPE1": "WAVE", "CUNIT1": "Angstrom", "CRPIX1": 1.0, "CRVAL1": 4000.0,
                              "CD1_1": 5.0, "CTYPE2": "ANGLE", "CRPIX2": 1.0, "CRVAL2": 0.0, "CD2_2": 0.05})
        hdus = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(img.astype(">f4"), header, name="SCI"),
                             fits.ImageHDU(img, name="ERR"), fits.ImageHDU(img.astype(np.int16), name="DQ")])
        raw = io.BytesIO()
        hdus.writeto(raw)
        path = os.path.join(os.getcwd(), "warm-up.fits.gz")
        with gzip.open(path, "wb") as f:
            f.write(raw.getvalue())
        try:
            with fits.open(path) as hdul:
                sci = hdul["SCI"].data.astype(float)
                hdul.info(output=io.StringIO())
                wcs = WCS(hdul["SCI"].header)
                wcs.pixel_to_world_values(np.arange(4.0), np.zeros(4))
            fits.getheader(path, "SCI")
            fits.getdata(path, "ERR")
        finally:
            os.remove(path)
        np.percentile(sci, [5, 99.5])
        np.median(sci, axis=0)
        np.polyfit(np.arange(64.0), sci[:, 0], 2)
        np.polyval([1.0, 2.0, 3.0], np.arange(4.0))
        scipy.signal.medfilt(sci, 5)
        scipy.ndimage.median_filter(sci, size=5)
        capture.encode_value("sci", {"sci": sci})
        capture.encode_value("n", {"n": 1.5})

        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3), sharey=True)
        ax1.imshow(sci, origin="lower", cmap="gray", vmin=0, vmax=90, interpolation="nearest", extent=(0, 64, 0, 64))
        ax1.set_title("warm-up")
        ax2.plot(sci[:, 3], ".-", label="a")
        ax2.plot(sci[:, 5], lw=0.8, ls="--", color="C3")
        ax2.axvspan(1, 2, color="C1", alpha=0.3)
        ax2.axvline(3, color="C0")
        ax2.text(3, 50, "x", rotation=90, va="top", ha="right", fontsize=8)
        ax2.set_yscale("symlog", linthresh=10)
        ax2.set_xlabel("column")
        ax2.set_ylabel("counts [$\\AA$]")
        ax2.legend(loc="best")
        if draw:
            shell.display_formatter.format(fig)  # draws the picture as the cells' figures will be drawn
        capture.figure_summary(plt)
        plt.close("all")
        shell.run_cell("_warm = 1 + 1", store_history=False, silent=True)
        shell.run_cell("raise ValueError('warm-up')", store_history=False, silent=True)
        shell.user_ns.pop("_warm", None)
        for name in ("last_type", "last_value", "last_traceback", "last_exc"):
            if hasattr(sys, name):
                delattr(sys, name)
    figures.pending = {}
    OUT.begin()


# ---------------------------------------------------------------------------------
# the forked student process
# ---------------------------------------------------------------------------------


def take_outputs(names, ns: dict, figures: Figures, blobs: list[bytes]) -> dict:
    """The reply fields for captured ``names`` and the figures drawn since the last
    capture; their data is appended to ``blobs``."""
    heads = []
    for name in names:
        head, data = capture.encode_value(str(name), ns)
        if data:
            head["blob"] = len(blobs)
            blobs.append(data)
        heads.append(head)
    figs, fblobs = figures.take()
    offset = len(blobs)
    blobs += fblobs
    return {"captured": heads, "figures": figs, "figure_blob_offset": offset}


def run_cell(shell, code: str, *, silent: bool = False):
    """Run one cell; the exception that ended it, if any (also recorded as an output)."""
    try:
        result = shell.run_cell(code, store_history=not silent, silent=silent)
        err = result.error_before_exec or result.error_in_exec
        if err is not None and not any(o["output_type"] == "error" for o in OUT.outputs):
            OUT.error(type(err).__name__, str(err), [f"{type(err).__name__}: {err}"])
        return err
    except BaseException as exc:  # noqa: BLE001 - anything the student raised past IPython
        OUT.error(type(exc).__name__, str(exc), [f"{type(exc).__name__}: {exc}"])
        return exc
