"""Copies of a student's process at a question's boundary, and the question's code run again.

The grader (:class:`autograder.sandbox.runner.Snapshot`) asks the student's process for a
copy of itself just before a question's code (:func:`autograder.sandbox.kernel.serve`'s
``snapshot``); the copy waits (:func:`serve_snapshot`) and, once the question's test cell
has run in the notebook itself, runs the question's code again with the inputs the
grader sends (:func:`rerun`): the correct ones, or a secret second input, possibly a
file put at the data file's own path.  With a "no loop" rule the run is traced
(:class:`Tracer`).  A copy ends after its run, and before it replies it leaves the
working folder, /tmp and /dev/shm as it found them: files it added are removed, files it changed
or removed are written back (:func:`_keep_files`), a replaced file is put back (or by
the notebook's own process, if the copy died: :func:`restore_files`).  The notebook's
own process is idle while a copy runs, so it never sees what the copy wrote.  A copy
that puts a second input file in place first sets aside what the question's own run
made in the folder (:func:`_hide_later`), so that the code meets the folder as it was
at the boundary: a decompressed copy of the data file made only "if it is missing" is
then made again from the second input instead of read as it was.
"""

from __future__ import annotations

import builtins
import hashlib
import itertools
import json
import os
import socket
import stat
import sys
import threading
import time

from . import capture
from .shell import OUT, run_cell, take_outputs
from .wire import recv_frame, send_frame

def reap(pids: set[int], *, wait: float) -> None:
    """Reap the ended processes of ``pids`` (removed from it), waiting up to ``wait`` s."""
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


def serve_snapshot(chan: socket.socket, shell, figures) -> None:
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
                serve_snapshot(socket.socket(fileno=fds[0]), shell, figures)
                return
            for fd in fds:
                os.close(fd)
            send_frame(chan, {"op": "forked" if pid > 0 else "not-forked"})
        elif req.get("op") == "rerun":
            for fd in fds:
                os.close(fd)
            reply, out_blobs = rerun(req, blobs, shell, figures)
            send_frame(chan, reply, out_blobs)
            return
        else:
            return


_ORIGINAL = ".course-original-"  # prefix of the hard link keeping a replaced file's original
_LATER = ".course-later"  # folder (in each scratch folder) holding what the notebook made after a copy's boundary
#: The working folder's (and a private /tmp's) entries when this copy was made, set by the
#: notebook's own process just before it forks a copy (:func:`mark_boundary`); None: unknown.
_AT_BOUNDARY: set[str] | None = None
SECOND_INPUT_ENV = "COURSE_DATA_SECOND_INPUT"  # read by course_data.verify (the notebooks' helper)


def replace_files(files: list, blobs: list[bytes]) -> None:
    """Put the grader's bytes at the working folder's file names (a rerun on a second
    input file), keeping each original as a hard link for :func:`restore_files`."""
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
        # course_data.fetch() accepts this file for the rest of this copy's life (it
        # refuses any file but the course's own otherwise): see course_data.verify
        accepted = [a for a in os.environ.get(SECOND_INPUT_ENV, "").split(",") if a]
        accepted.append(f"{len(data)}:{hashlib.sha256(data).hexdigest()}")
        os.environ[SECOND_INPUT_ENV] = ",".join(accepted)


def restore_files(names: list) -> None:
    """Put back the originals of replaced files and what :func:`_hide_later` set aside
    (called by the notebook's own process when the copy that replaced them died)."""
    for name in names:
        name = os.path.basename(str(name))
        backup = _ORIGINAL + name
        if name and os.path.exists(backup):
            os.replace(backup, name)
    _unhide()


def mark_boundary() -> None:
    """Note the scratch folders' entries as they are now, and hold their files' contents
    (:func:`_hold_files`), just before the notebook's own process forks a copy at a
    question's boundary: the copy inherits both."""
    global _AT_BOUNDARY
    _AT_BOUNDARY = _scratch_entries()
    _hold_files(_AT_BOUNDARY)


#: The scratch folders' files as the notebook's own process read them at a boundary
#: (path -> (identity, mode, bytes)), inherited by its copies: a copy that finds a file
#: with the same identity (:func:`_identity`) keeps these bytes instead of reading the
#: file again (:func:`_keep_files`).  The data file is then read once per notebook
#: rather than once per rerun (measured: about 2 ms and 500 page faults a rerun).
_HELD: dict[str, tuple] = {}
#: What the notebook's process holds at most (bytes; it counts against its memory limit).
HELD_BYTES = 16 << 20
#: A file is held only if it was last changed this long before it is read: a change
#: within the same tick of the file system's clock as the previous one can leave both
#: times as they were (on kernels without fine-grained timestamps), so a file must have
#: settled (two ticks of the coarsest kernel clock, 100 Hz) for a change after the read to
#: show in its change time.
_SETTLED_NS = 20_000_000


def _identity(st: os.stat_result) -> tuple:
    """What tells that a file is the one it was: code can set a modification time back,
    but no process can set a change time."""
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _regular_file(path: str) -> os.stat_result | None:
    """``path``'s ``lstat`` if it is a regular file a copy may keep (not the original of
    a replaced file, which :func:`restore_files` puts back), else None."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode) or os.path.basename(path).startswith(_ORIGINAL):
        return None
    return st


def _hold_files(paths) -> None:
    """Refresh :data:`_HELD` from ``paths`` (in the notebook's own process, at a
    boundary): a file still as it was stays held, a settled file is read, anything else
    is left out."""
    global _HELD
    held: dict[str, tuple] = {}
    total = 0
    now = time.time_ns()
    for path in paths:
        if len(held) >= KEEP_FILES:
            break
        st = _regular_file(path)
        if st is None or st.st_size + total > HELD_BYTES:
            continue
        ident = _identity(st)
        entry = _HELD.get(path)
        if entry is None or entry[0] != ident:
            if now - st.st_ctime_ns < _SETTLED_NS:
                continue
            try:
                with open(path, "rb") as fh:
                    data = fh.read(st.st_size + 1)
                if len(data) != st.st_size or _identity(os.lstat(path)) != ident:  # changed while read
                    continue
            except (OSError, MemoryError):
                continue
            entry = (ident, st.st_mode, data)
        held[path] = entry
        total += st.st_size
    _HELD = held


def _hide_later() -> None:
    """Set aside what the notebook made in its scratch folders after this copy's
    boundary (its later cells ran before this rerun): a second input file must not be
    passed over for a copy the notebook made of the first one, such as a decompressed
    ``3c120_stis.fits`` that its cell makes only when it is missing.  A manifest in
    each holding folder lets :func:`restore_files` put them back, from this copy or
    from the notebook's own process if this copy dies.  Files the notebook changed after
    the boundary are not undone."""
    if _AT_BOUNDARY is None or len(_AT_BOUNDARY) > 4 * KEEP_FILES:  # unknown, or too many to tell
        return
    later = sorted(p for p in _scratch_entries() - _AT_BOUNDARY if not os.path.basename(p).startswith(".course-"))
    tops = [p for p in later if os.path.dirname(p) not in later]  # a folder, not also what is in it
    for index, path in enumerate(tops):
        hold = os.path.join(next((f for f in _folders() if path.startswith(f + "/")), "."), _LATER)
        place = os.path.join(hold, str(index))
        try:
            os.makedirs(hold, exist_ok=True)
            with open(os.path.join(hold, "manifest"), "a") as fh:  # first: for the own process, if this copy dies
                fh.write(json.dumps([path, place]) + "\n")
            os.rename(path, place)
        except OSError:
            continue


def _unhide() -> None:
    """Put back what :func:`_hide_later` set aside, over whatever the rerun made at the
    same paths."""
    import shutil

    held = []
    for folder in _folders():
        try:
            with open(os.path.join(folder, _LATER, "manifest")) as fh:
                held += [json.loads(line) for line in fh if line.strip()]
        except (OSError, ValueError):
            pass
    for path, place in held:
        try:
            if not os.path.lexists(place):  # not moved (the copy ended first, or the move failed)
                continue
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            elif os.path.lexists(path):
                os.remove(path)
            os.rename(place, path)
        except (OSError, TypeError):
            pass
    for folder in _folders():
        shutil.rmtree(os.path.join(folder, _LATER), ignore_errors=True)


def rerun(req: dict, blobs: list[bytes], shell, figures) -> tuple[dict, list[bytes]]:
    """Run the question's cells again with the grader's inputs; capture its names.

    ``inject``: values put into the namespace first, and again after each given cell
    (grid coordinates in the notebook's own form; with ``forms: "grid"``, only if its
    own coordinates make the grid);
    a cell of the student's marked ``before_answer`` (one they added above the answer
    cell) that binds an input's name to something else gets the input back after it
    (a cell that recomputes ``peak_row`` from the notebook's own ``profile`` must not turn
    the run's input back into the notebook's value); a given cell that raises (on what an
    earlier wrong answer left undefined, as it raised in the notebook itself) does not
    stop the run;
    ``files``: files replaced at their own paths before the first cell of the
    student's after the last given one; ``cells``: the sources to run, in order (a cell that fails stops the run); ``capture``: the names to send back, with the figures drawn; ``trace``:
    count the Python lines run and time the cells (for the rules about *how*: see
    :class:`Tracer`); ``cpu_limit``: ``[factor, slack]``, a run slower than ``factor``
    times the calibration plus ``slack`` is timed once more (see below).  Outputs are not kept.
    """
    import matplotlib.pyplot as plt

    ns = shell.user_ns
    injected: dict[str, object] = {}  # the objects last put in place, by name
    grid: dict[str, object] = {}  # grid coordinates as the grader sent them (a row and a column)

    def inject() -> None:
        import numpy as np

        items = req.get("inject") or []
        likes = {}
        for item in items:
            if "alias" not in item:
                value = capture.decode_input(item, blobs[item["blob"]])
                if item.get("like"):  # in the form of the notebook's own value (a grid coordinate)
                    likes[str(item["name"])] = value
                else:
                    ns[str(item["name"])] = value
        if likes:
            try:
                full = np.broadcast_shapes(*(np.shape(v) for v in likes.values()))
            except ValueError:
                full = None
            # on the correct inputs (``forms: "grid"``), the notebook's own form only if its
            # coordinates make the grid: a y left 1-D by a wrong ripple-grid answer would
            # turn the correct y into a 1-D one again, and the surface's code, right on
            # the correct inputs, would fail for the earlier mistake
            own_forms = True
            if req.get("forms") == "grid":
                try:
                    own_forms = np.broadcast_shapes(*(np.shape(ns.get(name)) for name in likes)) == full
                except ValueError:
                    own_forms = False
            for name, value in likes.items():
                ns[name] = capture.in_form_of(ns.get(name), value, full) if own_forms else value
            grid.update(likes)
        for item in items:  # a second name for an input just put in place: the same object
            if "alias" in item and str(item["alias"]) in ns:
                ns[str(item["name"])] = ns[str(item["alias"])]
        injected.clear()
        injected.update((str(item["name"]), ns[str(item["name"])]) for item in items if str(item["name"]) in ns)

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
                scratch = {**ns, **grid}  # the grid as sent: the yardstick computes the whole surface
                t0 = time.process_time()
                exec(code, scratch)  # noqa: S102 - the grader's own text
                times.append(time.process_time() - t0)
                del scratch
            calibration = min(times)
        except Exception:  # noqa: BLE001 - no yardstick then
            calibration = None
    trace_limit = int(req.get("trace_limit") or 0)
    tracer = Tracer(trace_limit) if req.get("trace") else None
    kept = _keep_files()
    scratch_before = _scratch_entries()

    def run_cells(tracer: Tracer | None) -> tuple[str | None, float]:
        """Run the cells once: (the first error of a student's cell, CPU seconds)."""
        nonlocal files_in_place
        error = None
        children = _children_cpu()
        cpu = time.process_time()
        for index, cell in enumerate(cells):
            given = isinstance(cell, dict) and bool(cell.get("given"))
            code = str(cell.get("code", "")) if isinstance(cell, dict) else str(cell)
            if index >= files_at and not files_in_place:  # the second input file, for the student's cells
                if req.get("files"):
                    _hide_later()
                replace_files(req.get("files") or [], blobs)
                files_in_place = True
            OUT.begin()
            if tracer and not given:
                tracer.start()
            err = run_cell(shell, code, silent=True)
            if tracer and not given:
                tracer.stop()
            if err is not None and not given:
                error = f"{type(err).__name__}: {err}"[:500]
                break
            if given:  # a given cell may have set an input to the notebook's own value
                inject()
            elif isinstance(cell, dict) and cell.get("before_answer"):
                for name, value in injected.items():
                    if ns.get(name) is not value:
                        ns[name] = value
        cpu = time.process_time() - cpu + _children_cpu() - children
        if tracer:  # drawing is not computing: a plot beside the answer does not count against it
            cpu = max(cpu - tracer.plotting, 0.0)
        return error, cpu

    error, cpu = run_cells(tracer)
    plt.close("all")
    out_blobs: list[bytes] = []
    reply = {"op": "rerun", "error": error, "cpu": cpu, "calibration": calibration,
             **take_outputs(req.get("capture") or [], ns, figures, out_blobs)}
    limit = req.get("cpu_limit")
    if (tracer and error is None and calibration is not None and isinstance(limit, list) and len(limit) == 2
            and all(type(v) is float for v in limit) and cpu > limit[0] * calibration + limit[1]):
        # Over the limit on its first run, which paid for fresh memory (each new image-sized
        # array faults its pages in) and ran traced, while the yardstick is the faster of two
        # runs: the code runs once more on the same inputs (its values already taken), and
        # the faster run counts.  A loop in Python is as slow the second time.
        inject()
        again_error, again = run_cells(Tracer(trace_limit))
        plt.close("all")
        if again_error is None:
            reply["cpu"] = min(cpu, again)
    if files_in_place:  # the notebook's own files back at their paths (the notebook reads them again)
        restore_files([item.get("name", "") for item in req.get("files") or []])
    _remove_new_entries(scratch_before)  # what the rerun wrote is not left for the notebook
    _put_back(kept)  # nor what it changed (a file the notebook wrote earlier, written again here)
    if tracer:
        reply["trace"] = tracer.report()
    return reply, out_blobs


def _children_cpu() -> float:
    """CPU seconds of this process's ended (and waited-for) children: work done in
    worker processes (``multiprocessing.Pool``) counts as the question's."""
    t = os.times()
    return t.children_user + t.children_system


#: A copy keeps at most this many files (and bytes) of the working folder and /tmp to
#: write back after its run (the data file, ``course_data.py`` and what the notebook
#: wrote: a decompressed copy of the data, saved arrays, pictures).
KEEP_FILES, KEEP_BYTES = 2000, 256 << 20
#: Whether /tmp is the notebook's own (a private tmpfs: the isolated modes), so that a
#: copy keeps and tidies it as well; with resource limits only, it is the machine's.
PRIVATE_TMP = False


def _folders() -> tuple[str, ...]:
    """The folders a copy may write to and tidies after its run: the working folder, and
    in the isolated modes the private /tmp and /dev/shm (both writable tmpfs mounts the
    notebook's process and its copies share; /var/tmp is /tmp there)."""
    return (".", "/tmp", "/dev/shm") if PRIVATE_TMP else (".",)


def _walk(folder: str, skip: tuple[int, int] | None = None):
    """Paths under ``folder`` (not following links), folders before their contents; the
    folder whose ``(st_dev, st_ino)`` is ``skip`` is left out, with what it holds."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
            if is_dir and skip is not None:
                st = entry.stat(follow_symlinks=False)
                if (st.st_dev, st.st_ino) == skip:
                    continue
        except OSError:
            is_dir = False
        yield entry.path
        if is_dir:
            yield from _walk(entry.path, skip)


def _scratch_paths():
    """Every path under the folders of :func:`_folders`, each place once.  When the
    working folder lies under the machine's temporary folder, the private /tmp shows the
    folders leading to it, so it is reached through /tmp as well: it is walked as "."
    only (walked twice, every rerun kept and compared each of its files twice, the data
    file among them)."""
    try:
        st = os.stat(".")
        here = (st.st_dev, st.st_ino)
    except OSError:
        here = None
    for folder in _folders():
        yield from _walk(folder, None if folder == "." else here)


def _scratch_entries() -> set[str]:
    """The files and folders under the working folder and a private /tmp (what a rerun
    may add to)."""
    found: set[str] = set()
    for path in _scratch_paths():
        found.add(path)
        if len(found) > 4 * KEEP_FILES:
            return found
    return found


def _keep_files() -> dict[str, tuple]:
    """The regular files under the working folder and a private /tmp, with their contents, as the
    notebook left them (:func:`_put_back` restores them after the rerun)."""
    kept: dict[str, tuple] = {}
    total = 0
    for path in _scratch_paths():
        if len(kept) >= KEEP_FILES:
            return kept
        st = _regular_file(path)
        if st is None or st.st_size + total > KEEP_BYTES:
            continue
        ident = _identity(st)
        held = _HELD.get(path)
        if held is not None and held[0] == ident:  # as the notebook's process read it at the boundary
            data = held[2]
        else:
            try:
                with open(path, "rb") as fh:
                    data = fh.read()
            except (OSError, MemoryError):  # a notebook near its memory limit: that file is not kept
                continue
        kept[path] = (ident, st.st_mode, data)
        total += len(data)
    return kept


def _put_back(kept: dict[str, tuple]) -> None:
    """Write back every kept file the rerun changed, replaced or removed."""
    import shutil

    for path, (ident, mode, data) in kept.items():
        try:
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode) and _identity(st) == ident:
                continue
            if stat.S_ISDIR(st.st_mode):
                shutil.rmtree(path, ignore_errors=True)
        except FileNotFoundError:
            pass
        except OSError:
            continue
        try:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            tmp = os.path.join(os.path.dirname(path) or ".", ".course-back-" + os.path.basename(path))
            with open(tmp, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, stat.S_IMODE(mode))
            os.replace(tmp, path)
        except OSError:
            pass


def _remove_new_entries(before: set[str]) -> None:
    """Remove what appeared since ``before`` (the originals of replaced files are put
    back first: see :func:`rerun`)."""
    import shutil

    for path in sorted(_scratch_entries() - before):  # a folder before what is in it
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.remove(path)
        except OSError:
            pass


_SUSPENDS = 0x20 | 0x80 | 0x200  # CO_GENERATOR, CO_COROUTINE, CO_ASYNC_GENERATOR
_MAP, _STARMAP = builtins.map, itertools.starmap


class _TracedMap(_MAP):
    """``map`` while a traced cell runs: the same, with a Python ``__new__`` the tracer
    sees called (``map(np.hypot, X, Y)`` calls numpy once per row without a Python line)."""

    def __new__(cls, *args):
        return _MAP.__new__(cls, *args)


class _TracedStarmap(_STARMAP):
    """``itertools.starmap`` while a traced cell runs (see :class:`_TracedMap`)."""

    def __new__(cls, *args):
        return _STARMAP.__new__(cls, *args)


class Tracer:
    """Counts what a question's code did in Python while it ran (for "no loop" rules).

    Every Python line run in code that is not a library's: the cells, code they compile
    or ``exec`` (``%time``'s ``<timed exec>`` too), helpers defined in other cells or in
    the student's own files; not IPython's, numpy's or the standard library's lines
    (files under the Python installation and the folders of ``sys.path``).  Also calls
    into the numpy helpers that loop in Python (``np.vectorize``, ``np.frompyfunc``,
    ``np.fromiter``, ``np.apply_along_axis``) and of ``map``/``itertools.starmap`` by the
    student's code, and the most rounds one loop made (``iterations``: a line run again
    in the same frame, however few lines the loop has).  Past ``limit`` lines it
    stops counting (the code loops; no need to slow it further).  ``plotting``: the CPU
    seconds spent inside matplotlib (subtracted from the run's CPU time: a figure beside
    the answer is not a slow answer).  Threads the code starts are traced too.
    ``tampered``: the tracing functions the code called (``sys.settrace``, ...; they do
    nothing while it runs) or found changed when a cell ended: the rule then cannot be
    checked, and the question is not credited.  (Code that reaches the C API through
    ``ctypes`` can still stop the count unseen; the CPU-time rule remains.)
    """

    def __init__(self, limit: int) -> None:
        import numpy as np

        self.limit = limit or 10_000
        self.lines = 0
        self.iterations = 0  # the most rounds one loop made: a line run again in the same frame
        self._last_line: dict[tuple[int, object], int] = {}
        self._rounds: dict[tuple[int, object, int], int] = {}
        self.plotting = 0.0
        self._plot_frame = None
        self._plot_start = 0.0
        self.helpers: set[str] = set()
        self.tampered: set[str] = set()
        self._set = (sys.settrace, sys.setprofile)
        self._helper_codes = {}
        # (np.piecewise and np.apply_over_axes call their functions once per condition or
        # axis, with whole arrays: not loops)
        for name in ("vectorize", "apply_along_axis"):
            obj = getattr(np, name, None)
            fn = obj.__call__ if name == "vectorize" else obj
            # numpy 2 wraps its functions in a dispatcher written in C: the Python
            # function it calls is its ``_implementation`` (``__wrapped__`` too)
            for candidate in (fn, getattr(fn, "_implementation", None), getattr(fn, "__wrapped__", None)):
                code = getattr(candidate, "__code__", None)
                if code is not None:
                    self._helper_codes[code] = f"np.{name}"
        self._helper_codes[_TracedMap.__new__.__code__] = "map"
        self._helper_codes[_TracedStarmap.__new__.__code__] = "itertools.starmap"
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
        if name and self._students(frame.f_back):  # called by the student's code, not by a library's
            self.helpers.add(name)
        if not self._students(frame):
            return None  # a library's lines (IPython running the cell, numpy, the standard library)
        return self._local

    def _local(self, frame, event, arg):
        if event == "line":
            self.lines += 1
            key = (id(frame), frame.f_code)
            last = self._last_line.get(key)
            if last is not None and frame.f_lineno <= last:  # back to an earlier (or the same) line: a round
                loop = (*key, frame.f_lineno)
                self._rounds[loop] = rounds = self._rounds.get(loop, 0) + 1
                self.iterations = max(self.iterations, rounds)
            self._last_line[key] = frame.f_lineno
            if self.lines > self.limit:
                self._set[0](None)
                return None
        elif event == "return" and not frame.f_code.co_flags & _SUSPENDS:  # (a generator comes back)
            self._last_line.pop((id(frame), frame.f_code), None)
        return self._local

    def _profile(self, frame, event, arg):
        if event == "c_call":
            name = self._c_helpers.get(arg)
            if name and self._students(frame):
                self.helpers.add(name)
        elif event == "call":
            if self._plot_frame is None and str(frame.f_globals.get("__name__", "")).startswith("matplotlib"):
                self._plot_frame, self._plot_start = frame, time.process_time()
        elif event == "return" and frame is self._plot_frame:
            self.plotting += time.process_time() - self._plot_start
            self._plot_frame = None

    def start(self) -> None:
        """Trace this thread and the threads the code starts; while it runs, the functions
        that set tracing only note that the code called them (``tampered``)."""
        self._set = (sys.settrace, sys.setprofile, threading.settrace, threading.setprofile)
        self._set[0](self._global)
        self._set[1](self._profile)
        self._set[2](self._global)
        self._set[3](self._profile)

        def noted(name, original, ours):
            def refused(*args, **kwargs):
                if len(args) == 1 and not kwargs and args[0] == ours:  # a new thread taking up our tracer
                    original(ours)
                else:
                    self.tampered.add(name)
            return refused

        builtins.map, itertools.starmap = _TracedMap, _TracedStarmap
        sys.settrace = noted("sys.settrace", self._set[0], self._global)
        sys.setprofile = noted("sys.setprofile", self._set[1], self._profile)
        threading.settrace = noted("threading.settrace", self._set[2], self._global)
        threading.setprofile = noted("threading.setprofile", self._set[3], self._profile)

    def stop(self) -> None:
        """Stop tracing; tracing found changed by the code (the tracer's own stop past
        ``limit`` aside) counts as ``tampered``."""
        if sys.gettrace() != self._global and self.lines <= self.limit:  # (== : a new bound method each time)
            self.tampered.add("sys.settrace")
        if sys.getprofile() != self._profile:
            self.tampered.add("sys.setprofile")
        sys.settrace, sys.setprofile, threading.settrace, threading.setprofile = self._set
        builtins.map, itertools.starmap = _MAP, _STARMAP
        for unset in self._set:
            unset(None)

    def report(self) -> dict:
        return {"lines": self.lines, "iterations": self.iterations, "helpers": sorted(self.helpers),
                "limit_reached": self.lines > self.limit, "tampered": sorted(self.tampered)}
