"""The student side: a warm "zygote" process and the notebook runner it forks.

``python -m autograder.sandbox.kernel CONTROL_FD`` starts a zygote: it imports the
scientific stack once (numpy, scipy, astropy, matplotlib, IPython) and then, for each
spawn request from the grader, forks a child that isolates itself
(:mod:`autograder.sandbox.isolation`) and runs the student's cells one by one in an
IPython shell, answering over its own socket.

Nothing secret is ever loaded here: not the hidden checks, not ``reference_solution``,
not course.yml.  The grader (:mod:`autograder.sandbox.runner`) sends cell sources and
the names to capture, and receives outputs and captured values; every comparison
happens on the grader's side.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import warnings

from . import capture, isolation
from .limits import Limits
from .wire import ProtocolError, recv_frame, send_frame

_ALLOWED_MIME = ("text/plain", "image/png", "image/jpeg")


class _Collector:
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


_out = _Collector()


class _Stream:
    """sys.stdout / sys.stderr replacement feeding the collector."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, name: str) -> None:
        self.name = name

    def write(self, text) -> int:
        text = str(text)
        _out.stream(self.name, text)
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


def _make_shell():
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
                _out.data("execute_result", self._data, self.prompt_count)
            self._data = None

    class _DisplayPub(DisplayPublisher):
        def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kwargs):
            _out.data("display_data", data)

        def clear_output(self, wait=False):
            _out.outputs = [o for o in _out.outputs if o["output_type"] == "error"]

    class StudentShell(InteractiveShell):
        displayhook_class = _DisplayHook
        display_pub_class = _DisplayPub

        def enable_gui(self, gui=None):
            pass

        def _showtraceback(self, etype, evalue, stb):
            _out.error(getattr(etype, "__name__", str(etype)), str(evalue), list(stb))

    cfg = Config()
    cfg.HistoryManager.enabled = False
    cfg.InteractiveShell.colors = "nocolor"
    cfg.InteractiveShell.autoindent = False
    cfg.InteractiveShell.xmode = "Context"
    shell = StudentShell.instance(config=cfg)
    return shell


class _Figures:
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


def _install_figure_hooks(shell, figures: _Figures) -> None:
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


def _prepare_zygote(plots: str = "jpeg"):
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

    shell = _make_shell()
    figures = _Figures()
    _install_figure_hooks(shell, figures)
    if plots == "png":
        return shell, figures
    from matplotlib_inline.backend_inline import set_matplotlib_formats

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


def _warm_up(shell, figures: _Figures, *, draw: bool) -> None:
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
    _out.begin()


# ---------------------------------------------------------------------------------
# the forked student process
# ---------------------------------------------------------------------------------
def _student_environment(workdir: str) -> dict[str, str]:
    bindir = os.path.dirname(sys.executable)
    return {
        "HOME": workdir,
        "PATH": f"{bindir}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TERM": "xterm-color",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "MPLCONFIGDIR": os.path.join(workdir, ".config", "matplotlib"),
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    }


def _become_student(sess: socket.socket, req: dict) -> None:
    """In the forked child: isolate (see :mod:`autograder.sandbox.isolation`), then serve
    cells until told to stop."""
    limits = Limits.from_json(req["limits"])
    _out.configure(limits)
    mode, view = _MODE, _VIEW
    uid = req.get("uid") if mode == "root" else None
    workdir = os.path.realpath(req["workdir"])
    os.setsid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    if mode == "root":
        for d in req.get("cgroups") or []:  # the whole sandbox's memory and processes
            with open(os.path.join(d, "cgroup.procs"), "w") as fh:
                fh.write(str(os.getpid()))
    if mode in ("root", "userns"):
        isolation.enter_namespaces(user=mode == "userns")
        pid = os.fork()
        if pid:  # the outer process: report the student's pid, then wait for it
            try:
                send_frame(sess, {"op": "started", "pid": pid, "mode": mode})
                sess.close()
                os.waitpid(pid, 0)
            finally:
                os._exit(0)
        # an extra path to hide matters only inside a folder the student may read (the
        # course folder around a virtual environment is simply not shown)
        extra = {os.path.realpath(h) for h in req.get("hide", ())}
        extra = {h for h in extra if any(_inside(h, a) and h != a for a in view.allowed)}
        view = isolation.View(view.allowed, tuple(sorted({*view.hidden, *extra})))
        isolation.build_root(workdir, view, limits, uid=uid)
    else:
        send_frame(sess, {"op": "started", "pid": os.getpid(), "mode": mode})
    os.chdir(workdir)
    os.environ.clear()
    os.environ.update(_student_environment(workdir))
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    os.closerange(3, sess.fileno())
    os.closerange(sess.fileno() + 1, 65536)
    if mode != "limits":  # only what the student can see is on its path
        sys.path[:] = [""] + [p for p in sys.path if p and any(_inside(os.path.realpath(p), a) for a in view.allowed)]
    else:
        sys.path[:] = [""] + [p for p in sys.path if p]
    for name in [m for m in sys.modules if m == "autograder" or m.startswith("autograder.")]:
        if name != "autograder.sandbox.kernel":
            sys.modules.pop(name, None)
    if mode == "root" and uid is not None:
        isolation.drop_privileges(uid)
    elif mode == "userns":
        isolation.drop_capabilities()
    isolation.no_new_privileges()
    isolation.apply_limits(limits, extra_address_space=isolation.current_address_space(), nproc=mode != "limits")
    _serve(sess)


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _capture(names, ns: dict, figures: _Figures, blobs: list[bytes]) -> dict:
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


def _run_cell(shell, code: str, *, silent: bool = False):
    """Run one cell; the exception that ended it, if any (also recorded as an output)."""
    try:
        result = shell.run_cell(code, store_history=not silent, silent=silent)
        err = result.error_before_exec or result.error_in_exec
        if err is not None and not any(o["output_type"] == "error" for o in _out.outputs):
            _out.error(type(err).__name__, str(err), [f"{type(err).__name__}: {err}"])
        return err
    except BaseException as exc:  # noqa: BLE001 - anything the student raised past IPython
        _out.error(type(exc).__name__, str(exc), [f"{type(exc).__name__}: {exc}"])
        return exc


def _serve(sess: socket.socket) -> None:
    """The student process: run cells, take snapshots, put files back, until told to stop.

    Requests (one frame each, answered in order):

    * ``run``: run ``code`` (after capturing ``capture`` names, when given);
    * ``snapshot``: fork a copy of this process as it is now, which serves the channel
      that came with the request (:func:`_serve_snapshot`);
    * ``restore``: put back the files a rerun replaced (see :func:`_replace_files`).
    """
    shell, figures = _ZYGOTE
    import matplotlib.pyplot as plt

    sys.stdout, sys.stderr = _Stream("stdout"), _Stream("stderr")
    sys.stdin = open(os.devnull)
    warnings.resetwarnings()
    warnings.simplefilter("default")
    ns = shell.user_ns
    snapshots: set[int] = set()
    while True:
        fds: list[int] = []
        try:
            req, _ = recv_frame(sess, max_bytes=64 << 20, fds=fds)
        except (ProtocolError, OSError):
            return
        op = req.get("op")
        # the earlier copies are done (the grader closed them): reap them, waiting a moment
        # before a new copy, so that their process slots are free again
        _reap(snapshots, wait=1.0 if op == "snapshot" else 0.0)
        if op == "snapshot" and fds:
            try:
                pid = os.fork()
            except OSError:  # no process left (the student's own processes used them up)
                pid = -1
            if pid == 0:
                sess.close()
                code = 0
                try:
                    _serve_snapshot(socket.socket(fileno=fds[0]))
                except BaseException:  # noqa: BLE001
                    code = 1
                os._exit(code)
            for fd in fds:
                os.close(fd)
            if pid > 0:
                snapshots.add(pid)
            reply: dict = {"op": "snapshot" if pid > 0 else "no-snapshot", "cell": req.get("cell")}
            blobs: list[bytes] = []
        elif op == "restore":
            _restore_files(req.get("files") or [])
            reply, blobs = {"op": "restored"}, []
        elif op == "run":
            for fd in fds:
                os.close(fd)
            reply = {"op": "result", "cell": req.get("cell")}
            blobs = []
            if req.get("capture") is not None:
                reply.update(_capture(req["capture"], ns, figures, blobs))
            _out.begin()
            _run_cell(shell, str(req.get("code", "")))
            plt.close("all")
            reply["outputs"] = _out.outputs
        else:
            return
        try:
            send_frame(sess, reply, blobs)
        except OSError:
            return


def _reap(pids: set[int], *, wait: float) -> None:
    """Reap the ended processes of ``pids`` (removed from it), waiting up to ``wait`` s."""
    import time

    deadline = time.monotonic() + wait
    while pids:
        for pid in list(pids):
            try:
                if os.waitpid(pid, os.WNOHANG)[0]:
                    pids.discard(pid)
            except ChildProcessError:
                pids.discard(pid)
        if not pids or time.monotonic() >= deadline:
            return
        time.sleep(0.002)


def _serve_snapshot(chan: socket.socket) -> None:
    """A copy of the student's process at a question's boundary, waiting for the grader.

    Requests: ``fork`` (another copy, serving the channel that came with it) and
    ``rerun`` (:func:`_rerun`, after which this copy ends).  The channel closing ends it.
    """
    while True:
        fds: list[int] = []
        req, blobs = recv_frame(chan, max_bytes=1 << 30, fds=fds)
        if req.get("op") == "fork" and fds:
            try:
                pid = os.fork()
            except OSError:
                pid = -1
            if pid == 0:
                chan.close()
                _serve_snapshot(socket.socket(fileno=fds[0]))
                return
            for fd in fds:
                os.close(fd)
            send_frame(chan, {"op": "forked" if pid > 0 else "not-forked"})
        elif req.get("op") == "rerun":
            for fd in fds:
                os.close(fd)
            reply, out_blobs = _rerun(req, blobs)
            send_frame(chan, reply, out_blobs)
            return
        else:
            return


_ORIGINAL = ".course-original-"  # prefix of the hard link keeping a replaced file's original


def _replace_files(files: list, blobs: list[bytes]) -> None:
    """Put the grader's bytes at the working folder's file names (a rerun on a second
    input file), keeping each original as a hard link for :func:`_restore_files`."""
    for item in files:
        name = os.path.basename(str(item.get("name", "")))
        data = blobs[item["blob"]]
        if not name or name.startswith("."):
            continue
        backup = _ORIGINAL + name
        if os.path.exists(name) and not os.path.exists(backup):
            os.link(name, backup)
        tmp = f".course-new-{name}"
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, name)


def _restore_files(names: list) -> None:
    for name in names:
        name = os.path.basename(str(name))
        backup = _ORIGINAL + name
        if name and os.path.exists(backup):
            os.replace(backup, name)


def _rerun(req: dict, blobs: list[bytes]) -> tuple[dict, list[bytes]]:
    """Run the question's cells again with the grader's inputs; capture its names.

    ``inject``: values put into the namespace first, and again after each given cell;
    ``files``: files replaced at their own paths before the first cell of the
    student's after the last given one; ``cells``: the sources to run, in order (a cell that fails stops the run); ``capture``: the names to send back, with the figures drawn; ``trace``:
    count the Python lines run and time the cells (for the rules about *how*: see
    :class:`_Tracer`).  Outputs are not kept.
    """
    import time

    shell, figures = _ZYGOTE
    import matplotlib.pyplot as plt

    ns = shell.user_ns

    def inject() -> None:
        for item in req.get("inject") or []:
            ns[str(item["name"])] = capture.decode_input(item, blobs[item["blob"]])

    inject()
    cells = req.get("cells") or []
    givens = [i for i, c in enumerate(cells) if isinstance(c, dict) and c.get("given")]
    files_at = givens[-1] + 1 if givens else 0  # after the given cells (a setup cell reads the real file)
    files_in_place = False
    figures.take()
    plt.close("all")
    figures.take()
    calibration = None
    if isinstance(req.get("calibration"), str):  # the grader's own statement: the yardstick of speed
        try:
            code = compile(req["calibration"], "<calibration>", "exec")
            times = []
            for _ in range(2):  # the faster of two: the first pays for fresh memory
                scratch = dict(ns)
                t0 = time.process_time()
                exec(code, scratch)  # noqa: S102 - the grader's own text
                times.append(time.process_time() - t0)
                del scratch
            calibration = min(times)
        except Exception:  # noqa: BLE001 - no yardstick then
            calibration = None
    tracer = _Tracer(int(req.get("trace_limit") or 0)) if req.get("trace") else None
    error = None
    scratch_before = _scratch_entries()
    cpu = time.process_time()
    for index, cell in enumerate(cells):
        given = isinstance(cell, dict) and bool(cell.get("given"))
        code = str(cell.get("code", "")) if isinstance(cell, dict) else str(cell)
        if index >= files_at and not files_in_place:  # the second input file, for the student's cells
            _replace_files(req.get("files") or [], blobs)
            files_in_place = True
        _out.begin()
        if tracer and not given:
            tracer.start()
        err = _run_cell(shell, code, silent=True)
        if tracer and not given:
            tracer.stop()
        if err is not None:
            error = f"{type(err).__name__}: {err}"[:500]
            break
        if given:  # a given cell may have set an input to the notebook's own value
            inject()
    cpu = time.process_time() - cpu
    plt.close("all")
    out_blobs: list[bytes] = []
    reply = {"op": "rerun", "error": error, "cpu": cpu, "calibration": calibration,
             **_capture(req.get("capture") or [], ns, figures, out_blobs)}
    _remove_new_entries(scratch_before)  # what the rerun wrote is not left for the notebook
    if tracer:
        reply["trace"] = tracer.report()
    return reply, out_blobs


def _scratch_entries() -> set[str]:
    """The files and folders of the working folder and /tmp (what a rerun may add to)."""
    found = set()
    for folder in (".", "/tmp"):
        try:
            found |= {os.path.join(folder, n) for n in os.listdir(folder)}
        except OSError:
            pass
    return found


def _remove_new_entries(before: set[str]) -> None:
    import shutil

    for path in _scratch_entries() - before:
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.remove(path)
        except OSError:
            pass


class _Tracer:
    """Counts what a question's code did in Python while it ran (for "no loop" rules).

    Every Python line run in code that is not a library's: the cells, code they compile
    or ``exec`` (``%time``'s ``<timed exec>`` too), helpers defined in other cells or in
    the student's own files; not IPython's, numpy's or the standard library's lines
    (files under the Python installation and the folders of ``sys.path``).  Also calls
    into the numpy helpers that loop in Python (``np.vectorize``, ``np.frompyfunc``,
    ``np.fromiter``, ``np.apply_along_axis``, ``np.piecewise``).  Past ``limit`` lines it
    stops counting (the code loops; no need to slow it further).
    """

    def __init__(self, limit: int) -> None:
        import numpy as np

        self.limit = limit or 10_000
        self.lines = 0
        self.helpers: set[str] = set()
        self._helper_codes = {}
        for name in ("vectorize", "apply_along_axis", "piecewise"):
            obj = getattr(np, name, None)
            fn = obj.__call__ if name == "vectorize" else obj
            code = getattr(fn, "__code__", None)
            if code is not None:
                self._helper_codes[code] = f"np.{name}"
        self._c_helpers = {getattr(np, n): f"np.{n}" for n in ("frompyfunc", "fromiter") if hasattr(np, n)}
        cwd = os.path.realpath(os.getcwd())
        places = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.abspath(__file__)),
                  *(p for p in sys.path if p and os.path.isabs(p))}
        self._library = tuple(sorted({os.path.realpath(p).rstrip("/") + "/" for p in places
                                      if os.path.realpath(p) != cwd}))

    def _students(self, frame) -> bool:
        """Whether ``frame`` runs the student's code: a cell, ``%time``'s code, a file of
        theirs, or code compiled at run time (``<string>``) by code of theirs."""
        while frame is not None:
            name = frame.f_code.co_filename
            if name.startswith(("<ipython-input", "<timed ")):
                return True
            if name.startswith("<frozen ") or name.startswith(self._library):
                return False
            if not name.startswith("<"):
                return True
            frame = frame.f_back  # compiled at run time: whoever compiled it
        return False

    def _global(self, frame, event, arg):
        name = self._helper_codes.get(frame.f_code)
        if name:
            self.helpers.add(name)
        if not self._students(frame):
            return None  # a library's lines (IPython running the cell, numpy, the standard library)
        return self._local

    def _local(self, frame, event, arg):
        if event == "line":
            self.lines += 1
            if self.lines > self.limit:
                sys.settrace(None)
                return None
        return self._local

    def _profile(self, frame, event, arg):
        if event == "c_call":
            name = self._c_helpers.get(arg)
            if name:
                self.helpers.add(name)

    def start(self) -> None:
        sys.setprofile(self._profile)
        sys.settrace(self._global)

    def stop(self) -> None:
        sys.settrace(None)
        sys.setprofile(None)

    def report(self) -> dict:
        return {"lines": self.lines, "helpers": sorted(self.helpers), "limit_reached": self.lines > self.limit}


_ZYGOTE = None
_MODE = "limits"  # the isolation this machine allows (isolation.best_mode), found at start
_VIEW = isolation.View((), ())  # what a student may see (isolation.student_view), found at start


def zygote_main(control_fd: int, plots: str = "jpeg", warm_up: bool = True, listen_fd: int = -1) -> None:
    """Serve spawn requests from the grader until ``control_fd`` closes.

    ``warm_up``: see :func:`_warm_up` (off for a process that serves one notebook).
    ``listen_fd``: a listening Unix socket (bound by the grader in its private folder
    before starting this process, so that nobody connects too early): accept
    connections on it from processes of this user only, and serve their spawn requests
    too; the local grading workers of ``course autograde`` share one warm process.
    """
    import select
    import struct

    global _ZYGOTE, _MODE, _VIEW
    _MODE = isolation.best_mode()
    _VIEW = isolation.student_view() if _MODE != "limits" else isolation.View((), ())
    _ZYGOTE = _prepare_zygote(plots)
    if warm_up:
        try:
            _warm_up(*_ZYGOTE, draw=plots != "none")
        except Exception as exc:  # noqa: BLE001 - a slower start, not a broken one
            print(f"warm-up skipped: {type(exc).__name__}: {exc}", file=sys.stderr)
    import gc

    gc.collect()  # the warm-up's garbage is not kept ...
    gc.freeze()  # ... and the forked children's collections never scan (and so never copy) these objects
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped automatically
    control = socket.socket(fileno=control_fd)
    listener = socket.socket(fileno=listen_fd) if listen_fd >= 0 else None
    hello = json.dumps({"op": "ready", "pid": os.getpid(), "mode": _MODE}).encode()
    control.send(hello)
    clients: list[socket.socket] = []
    ucred = struct.Struct("3i")
    while True:
        ready, _, _ = select.select([control, *clients, *([listener] if listener else [])], [], [])
        for sock in ready:
            if sock is listener:
                try:
                    conn, _ = listener.accept()
                    _pid, uid, _gid = ucred.unpack(conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, ucred.size))
                    if uid != os.getuid():
                        conn.close()
                        continue
                    conn.send(hello)
                except OSError:
                    continue
                clients.append(conn)
                continue
            try:
                msg, fds, _flags, _addr = socket.recv_fds(sock, 1 << 20, 1)
            except OSError:
                msg, fds = b"", []
            if not msg:
                for fd in fds:
                    os.close(fd)
                if sock is control:  # the grader that started this process is gone
                    return
                clients.remove(sock)
                sock.close()
                continue
            _spawn(msg, fds, [s for s in (control, listener, *clients) if s is not None])


def _spawn(msg: bytes, fds: list[int], ours: list[socket.socket]) -> None:
    """Fork a student process for one spawn request (its session socket in ``fds``);
    the child first closes ``ours``, this process's sockets to the graders."""

    if not fds:
        return
    try:
        req = json.loads(msg)
    except ValueError:
        for fd in fds:
            os.close(fd)
        return
    for fd in fds[1:]:
        os.close(fd)
    sess = socket.socket(fileno=fds[0])
    pid = os.fork()
    if pid == 0:
        try:
            for s in ours:
                s.close()
            _become_student(sess, req)
        except BaseException:  # noqa: BLE001
            pass
        finally:
            os._exit(0)
    sess.close()


if __name__ == "__main__":
    zygote_main(int(sys.argv[1]), *(sys.argv[2:3] or ["jpeg"]), warm_up=sys.argv[3:4] != ["cold"],
                listen_fd=int(sys.argv[4]) if len(sys.argv) > 4 else -1)
