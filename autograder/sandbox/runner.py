"""The grader side of the sandbox: start a zygote, open a session per notebook.

A :class:`Zygote` is a warm process (see :mod:`autograder.sandbox.kernel`) that has
imported the scientific stack once.  :meth:`Zygote.spawn` forks it into a fresh,
isolated student process for one notebook, reached through a :class:`Session`:
``session.run(code, capture=[...], timeout=...)`` runs one cell and returns its
outputs and the captured values, already decoded by trusted code.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import capture
from .isolation import Cgroups
from .limits import MAX_FRAME_BYTES, Limits
from .wire import ProtocolError, recv_frame, send_frame

__all__ = ["CellOutcome", "RerunOutcome", "Session", "Snapshot", "Zygote", "SandboxError", "hidden_paths", "make_workdir"]


class SandboxError(RuntimeError):
    """The sandbox itself could not be started (not the student's fault)."""


@dataclass
class CellOutcome:
    """What happened when one cell ran.

    ``status`` is ``ok`` (the cell finished, with or without an exception in its
    outputs), ``timeout`` (stopped after its time limit), or ``died`` (the student
    process ended or broke the channel during the cell); ``detail`` says why.
    """

    status: str
    outputs: list[dict] = field(default_factory=list)
    values: dict = field(default_factory=dict)
    figures: list = field(default_factory=list)
    detail: str = ""
    seconds: float = 0.0


def _clean_env() -> dict[str, str]:
    bindir = os.path.dirname(sys.executable)
    return {
        "PATH": f"{bindir}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": tempfile.gettempdir(),
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
        "PYTHONDONTWRITEBYTECODE": "1",
        **{k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ},
    }


def hidden_paths(course_root: Path) -> tuple[str, ...]:
    """Paths to cover even where they lie inside a folder the student may read: the
    course folder, and the checkout (or package folders) this process finds the
    grader's packages in.

    The student's filesystem is an allow-list (see
    :func:`autograder.sandbox.isolation.student_view`), so these matter only when
    they lie inside the Python installation or a system folder; the warm process also
    covers every copy of the grader's packages on its own ``sys.path``.
    """
    import importlib.util

    hide: set[str] = {str(Path(course_root).resolve())}
    for name in ("autograder", "reference_solution"):  # located, not imported (scipy & co take a second)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin:
            hide.add(str(Path(spec.origin).resolve().parent))
    return tuple(sorted(hide))


_SANDBOX_ROOT: Path | None = None
_uid_counter = itertools.count()


def _sandbox_root() -> Path:
    global _SANDBOX_ROOT
    if _SANDBOX_ROOT is None or not _SANDBOX_ROOT.exists():
        _SANDBOX_ROOT = Path(tempfile.mkdtemp(prefix="course-sandboxes-"))
        _SANDBOX_ROOT.chmod(0o711)
    return _SANDBOX_ROOT


def make_workdir(files: dict[str, Path]) -> Path:
    """A fresh private folder holding copies of ``files`` (name -> trusted path)."""
    work = Path(tempfile.mkdtemp(prefix="nb-", dir=_sandbox_root()))
    work.chmod(0o700)
    for name, src in files.items():
        shutil.copyfile(src, work / name)
    return work


def _next_uid() -> int:
    return 200000 + (os.getpid() * 64 + next(_uid_counter)) % 1_000_000


class Session:
    """One isolated student process running one notebook's cells in order."""

    def __init__(self, sock: socket.socket, pid: int, workdir: Path, limits: Limits, *, cgroups=None):
        self._sock = sock
        self.pid = pid
        self.workdir = workdir
        self.limits = limits
        self.cgroups = cgroups
        self.alive = True

    def run(self, code: str, *, capture_names: list[str] | None = None, timeout: float, cell: int = 0) -> CellOutcome:
        if not self.alive:
            return CellOutcome("died", detail="the notebook's process had already ended")
        start = time.monotonic()
        req = {"op": "run", "cell": cell, "code": code, "capture": capture_names}
        try:
            self._sock.settimeout(max(timeout, 0.001))
            send_frame(self._sock, req)
            # the deadline covers the whole reply: a process trickling bytes is stopped too
            head, blobs = recv_frame(self._sock, max_bytes=MAX_FRAME_BYTES, deadline=start + max(timeout, 0.001))
        except TimeoutError:
            self.kill()
            return CellOutcome("timeout", detail=f"the cell ran longer than {timeout:.0f} s and was stopped",
                               seconds=time.monotonic() - start)
        except (ProtocolError, OSError) as exc:
            self.kill()
            return CellOutcome("died", detail=_death_reason(exc), seconds=time.monotonic() - start)
        finally:
            try:
                self._sock.settimeout(None)
            except OSError:
                pass
        seconds = time.monotonic() - start
        if head.get("op") != "result" or head.get("cell") != cell:
            self.kill()
            return CellOutcome("died", detail=_FORGED, seconds=seconds)
        try:
            outputs, values, figures = self._decode(head, blobs, capture_names)
        except Exception:  # noqa: BLE001 - a reply of the right shape with content no kernel of ours sends
            self.kill()
            return CellOutcome("died", detail=_FORGED, seconds=seconds)
        return CellOutcome("ok", outputs=outputs, values=values, figures=figures, seconds=seconds)

    def _decode(self, head: dict, blobs: list[bytes], capture_names: list[str] | None):
        """Outputs, captured values and figures of a reply (untrusted; may raise on garbage)."""
        outputs = _clean_outputs(head.get("outputs"), self.limits)
        values, figures = _decode_values(head, blobs, capture_names) if capture_names is not None else ({}, [])
        return outputs, values, figures

    def _request(self, req: dict, *, timeout: float, fds: list[int] = ()) -> dict | None:
        """Send a small request and read its small reply (None: the process is gone)."""
        if not self.alive:
            return None
        try:
            self._sock.settimeout(max(timeout, 0.001))
            send_frame(self._sock, req, fds=fds)
            head, _ = recv_frame(self._sock, max_bytes=1 << 20, deadline=time.monotonic() + max(timeout, 0.001))
        except (TimeoutError, ProtocolError, OSError):
            self.kill()
            return None
        finally:
            try:
                self._sock.settimeout(None)
            except OSError:
                pass
        return head

    def snapshot(self, *, cell: int = 0, timeout: float = 30.0) -> Snapshot | None:
        """A copy of the student's process as it is now (forked inside the sandbox), to run
        a question's cells again later; None if the process is gone."""
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        _widen(a, b)
        try:
            head = self._request({"op": "snapshot", "cell": cell}, timeout=timeout, fds=[b.fileno()])
        finally:
            b.close()
        if head is None or head.get("op") != "snapshot":  # gone, or no process left to copy it
            a.close()
            return None
        return Snapshot(a, self.limits)

    def restore_files(self, names: list[str], *, timeout: float = 30.0) -> None:
        """Put back the working folder's files a rerun replaced (see :meth:`Snapshot.rerun`)."""
        self._request({"op": "restore", "files": list(names)}, timeout=timeout)

    def kill(self) -> None:
        """End the student process and everything it started."""
        self.alive = False
        for target in (lambda: os.killpg(self.pid, signal.SIGKILL), lambda: os.kill(self.pid, signal.SIGKILL)):
            try:
                target()
            except (ProcessLookupError, PermissionError):
                pass
        try:
            self._sock.close()
        except OSError:
            pass

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)
        if self.cgroups is not None:  # removed once the sandbox's last process is reaped
            _EMPTYING.append(self.cgroups)
        _remove_empty_cgroups()


#: Control groups of ended sandboxes whose processes may not all be reaped yet: removed
#: at the next chance (a session's end), or by :func:`_remove_empty_cgroups` with a
#: wait when the warm process closes.
_EMPTYING: list = []


def _remove_empty_cgroups(wait: float = 0.0) -> None:
    deadline = time.monotonic() + wait
    while True:
        for cg in list(_EMPTYING):
            cg.remove()
            if not cg.dirs:
                _EMPTYING.remove(cg)
        if not _EMPTYING or time.monotonic() >= deadline:
            return
        time.sleep(0.01)


@dataclass
class RerunOutcome:
    """A question's cells run again in a copy of the student's process.

    ``status``: ``ok`` (the cells ran; ``error`` says if one raised), ``timeout`` or
    ``died``; ``values`` and ``figures`` as for :class:`CellOutcome`; ``trace``: what
    the tracer counted (``lines``, ``helpers``), when asked for; ``cpu``: the CPU
    seconds the cells took, as the student's process measured them.
    """

    status: str
    values: dict = field(default_factory=dict)
    figures: list = field(default_factory=list)
    error: str = ""
    trace: dict = field(default_factory=dict)
    cpu: float = 0.0
    detail: str = ""
    calibration: float | None = None


class Snapshot:
    """A copy of a student's process at a question's boundary (see :meth:`Session.snapshot`).

    :meth:`rerun` runs the question's cells in it once (the copy then ends);
    :meth:`fork` makes another copy first, for a second run.
    """

    def __init__(self, sock: socket.socket, limits: Limits):
        self._sock = sock
        self.limits = limits

    def fork(self, *, timeout: float = 30.0) -> Snapshot | None:
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        _widen(a, b)
        try:
            self._sock.settimeout(timeout)
            send_frame(self._sock, {"op": "fork"}, fds=[b.fileno()])
            head, _ = recv_frame(self._sock, max_bytes=4096, deadline=time.monotonic() + timeout)
        except (TimeoutError, ProtocolError, OSError):
            a.close()
            return None
        finally:
            b.close()
        if head.get("op") != "forked":
            a.close()
            return None
        return Snapshot(a, self.limits)

    def rerun(self, cells: list, *, inject: dict | None = None, files: dict[str, bytes] | None = None,
              capture_names: list[str], timeout: float, trace: bool = False, trace_limit: int = 0,
              calibration: str | None = None) -> RerunOutcome:
        """Run ``cells`` (sources, or ``{"code", "given"}`` dicts: after a given cell the
        inputs are put back) with ``inject`` (name -> value) put into the namespace first
        and ``files`` (name -> bytes) replacing the working folder's files of those names;
        capture ``capture_names``.  ``trace``: count what the code did (see the
        kernel's ``_Tracer``); ``calibration``: a statement of ours, timed first, whose
        CPU time comes back as :attr:`RerunOutcome.calibration`."""
        blobs: list[bytes] = []
        items, file_items = [], []
        for name, value in (inject or {}).items():
            head, data = capture.encode_input(name, value)
            items.append({**head, "blob": len(blobs)})
            blobs.append(data)
        for name, data in (files or {}).items():
            file_items.append({"name": name, "blob": len(blobs)})
            blobs.append(data)
        req = {"op": "rerun", "cells": cells, "inject": items, "files": file_items, "capture": capture_names,
               "trace": trace, "trace_limit": trace_limit, "calibration": calibration}
        start = time.monotonic()
        try:
            self._sock.settimeout(max(timeout, 0.001))
            send_frame(self._sock, req, blobs)
            head, rblobs = recv_frame(self._sock, max_bytes=MAX_FRAME_BYTES, deadline=start + max(timeout, 0.001))
        except TimeoutError:
            self.close()
            return RerunOutcome("timeout", detail=f"it ran longer than {timeout:.0f} s")
        except (ProtocolError, OSError) as exc:
            self.close()
            return RerunOutcome("died", detail=_death_reason(exc))
        self.close()
        if head.get("op") != "rerun":
            return RerunOutcome("died", detail=_FORGED)
        try:
            values, figures = _decode_values(head, rblobs, capture_names)
        except Exception:  # noqa: BLE001 - garbage from an untrusted process
            return RerunOutcome("died", detail=_FORGED)
        trace = head.get("trace") if isinstance(head.get("trace"), dict) else {}
        cpu = head.get("cpu") if type(head.get("cpu")) is float else 0.0
        error = head.get("error")
        calib = head.get("calibration") if type(head.get("calibration")) is float else None
        return RerunOutcome("ok", values, figures, str(error)[:500] if error else "", trace, cpu, calibration=calib)

    def close(self) -> None:
        try:
            self._sock.close()
        except OSError:
            pass


def _decode_values(head: dict, blobs: list[bytes], capture_names: list[str]):
    """Captured values and figures of a reply (untrusted; may raise on garbage)."""
    values = {}
    captured = head.get("captured") or []
    for h in captured if isinstance(captured, list) else []:
        data = b""
        if isinstance(h, dict) and type(h.get("blob")) is int and 0 <= h["blob"] < len(blobs):
            data = blobs[h["blob"]]
        v = capture.decode_value(h, data)
        if v is not None and v.name in capture_names and v.name not in values:
            values[v.name] = v
    off = head.get("figure_blob_offset")
    fblobs = blobs[off:] if type(off) is int and 0 <= off <= len(blobs) else []
    return values, capture.decode_figures(head.get("figures"), fblobs)


def _widen(*socks: socket.socket) -> None:
    """Socket buffers large enough for a captured image in one go (the default 208 KiB
    makes a 2 MB array take ten round trips between the processes: measured 1-1.5 ms
    more per image); silently left as they are where the system refuses."""
    for s in socks:
        for opt in (socket.SO_SNDBUF, socket.SO_RCVBUF):
            try:
                s.setsockopt(socket.SOL_SOCKET, opt, 4 << 20)
            except OSError:
                pass


def _death_reason(exc: BaseException) -> str:
    if isinstance(exc, ProtocolError) and str(exc) != "channel closed":
        return _FORGED
    return "the notebook's process ended during this cell (it exited, crashed or ran out of memory)"


_FORGED = "the notebook's process sent something the grader did not ask for (a reply it could not read)"


def _clean_outputs(outputs, limits: Limits) -> list[dict]:
    """Keep only well-formed nbformat outputs of the allowed kinds (untrusted input).

    What one cell's outputs may hold in all, whatever the student's process claims, is
    a margin above what a well-behaved kernel sends (``Limits.reply_*``).  The first
    ``max_errors`` error outputs are always kept (an error decides a test cell's
    score); other outputs beyond the budgets are dropped, with one note saying so.
    """
    clean: list[dict] = []
    text_left, image_left, dropped, errors = limits.reply_text_chars, limits.reply_image_bytes, False, 0
    for out in outputs if isinstance(outputs, list) else []:
        if not isinstance(out, dict):
            continue
        kind = out.get("output_type")
        if kind == "error":
            errors += 1
            if errors > limits.max_errors:
                continue
            tb = out.get("traceback")
            clean.append(
                {
                    "output_type": "error",
                    "ename": str(out.get("ename", "Error"))[:200],
                    "evalue": str(out.get("evalue", ""))[:4000],
                    "traceback": [str(t)[:4000] for t in tb[:200]] if isinstance(tb, list) else [],
                }
            )
            continue
        if len(clean) >= limits.reply_outputs:
            dropped = True
            continue
        if kind == "stream" and out.get("name") in ("stdout", "stderr"):
            text = str(out.get("text", ""))[: max(text_left, 0)]
            dropped |= len(text) < len(str(out.get("text", "")))
            text_left -= len(text)
            if text:
                clean.append({"output_type": "stream", "name": out["name"], "text": text})
        elif kind in ("display_data", "execute_result") and isinstance(out.get("data"), dict):
            data = {}
            for k, v in out["data"].items():
                if k not in ("text/plain", "image/png", "image/jpeg"):
                    continue
                v = str(v)
                if k == "text/plain" and len(v) <= text_left:
                    text_left -= len(v)
                    data[k] = v
                elif k != "text/plain" and len(v) <= image_left:
                    image_left -= len(v)
                    data[k] = v
                else:
                    dropped = True
            if not data:
                continue
            o = {"output_type": kind, "data": data, "metadata": {}}
            if kind == "execute_result":
                ec = out.get("execution_count")
                o["execution_count"] = ec if type(ec) is int else None
            clean.append(o)
    if dropped:
        clean.append({"output_type": "stream", "name": "stdout",
                      "text": "\n... further output of this cell was dropped (too much output) ...\n"})
    return clean


PLOTS = ("jpeg", "png", "none")  # how the sandbox draws plots (course.yml grading.plots)


class _SharedGone(Exception):
    """The shared warm process a Zygote used is gone (it starts its own)."""


class Zygote:
    """A warm process that forks isolated student processes on request.

    Either this process starts it (and owns it), or, given the ``address`` of a warm
    process that another process of this user started with ``share=True`` (the
    instructor's process of ``course autograde``, for its local workers), this one uses
    that; when the shared one is gone, it starts one of its own and goes on.

    Parameters
    ----------
    hide : tuple of str
        Paths the student must not see even where they lie inside the folders it may
        read (see :func:`hidden_paths`); the warm process itself finds every copy of the
        grader's packages on its ``sys.path``.
    plots : {"jpeg", "png", "none"}
        How inline plots are drawn: 72-dpi JPEG, a stock kernel's PNG, or not at all
        (figures are still summarised for the checks).
    warm_up : bool
        Draw a made-up plot and read a made-up FITS file once before forking, so that
        every notebook does not pay those libraries' first-use costs; False for a
        process that serves a single notebook.
    share : bool
        Let other processes of this user use the warm process too (:attr:`address`).
    address : str or None
        Use the shared warm process at this address.
    """

    def __init__(self, *, hide: tuple[str, ...] = (), plots: str = "jpeg", warm_up: bool = True,
                 share: bool = False, address: str | None = None):
        if plots not in PLOTS:
            raise ValueError(f"plots must be one of {', '.join(PLOTS)}, not {plots!r}")
        self.hide = hide
        self.plots = plots
        self.warm_up = warm_up
        self.share = share
        self._shared = address
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._control: socket.socket | None = None
        self._ready: dict | None = None
        self._workdir = ""

    @property
    def address(self) -> str | None:
        """Where other processes reach this shared warm process (``share=True``)."""
        return os.path.join(self._workdir, "zygote.sock") if self.share and self._workdir else None

    @property
    def mode(self) -> str:
        """The isolation the warm process applies: ``root``, ``userns`` or ``limits``
        (see :mod:`autograder.sandbox.isolation`); waits until it is ready."""
        with self._lock:
            self._connect()
            return self._ready["mode"]

    def start(self) -> None:
        """Start the warm process without waiting for it (it imports in the background),
        or connect to the shared one."""
        with self._lock:
            if self._control is None:
                self._open()

    def _open(self) -> None:
        if self._shared is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            try:
                sock.connect(self._shared)
            except OSError:
                sock.close()
                self._shared = None  # gone: start our own
            else:
                self._control, self._ready = sock, None
                return
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._workdir = tempfile.mkdtemp(prefix="course-zygote-")  # private (0700): holds the shared socket
        fds = [child.fileno()]
        listener = None
        if self.share:  # listening before the process starts: who connects early waits in the queue
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            listener.bind(self.address)
            listener.listen(64)
            fds.append(listener.fileno())
        with open(os.path.join(self._workdir, "zygote.log"), "wb") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-m", "autograder.sandbox.kernel", str(child.fileno()), self.plots,
                 "warm" if self.warm_up else "cold", *([str(listener.fileno())] if listener else [])],
                pass_fds=fds, env=_clean_env(), cwd=self._workdir,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
            )
        child.close()
        if listener is not None:
            listener.close()
        self._control, self._ready = parent, None

    def _connect(self) -> None:
        """Be connected to a ready warm process (ours, or the shared one while it lasts)."""
        for _attempt in range(2):
            if self._control is None or (self._proc is not None and self._proc.poll() is not None):
                self._close_channel()
                self._open()
            if self._ready is not None:
                return
            try:
                self._ready = self._wait_ready()
                return
            except SandboxError:
                if self._shared is None:
                    raise
                self._close_channel()
                self._shared = None  # the shared process is gone: start our own

    def _wait_ready(self) -> dict:
        assert self._control is not None
        self._control.settimeout(120)
        try:
            msg = self._control.recv(1 << 16)
        except (TimeoutError, OSError):
            msg = b""
        self._control.settimeout(None)
        try:
            ready = json.loads(msg) if msg else {}
        except ValueError:
            ready = {}
        if not isinstance(ready, dict) or ready.get("op") != "ready":
            if self._shared is not None:
                raise SandboxError(f"the shared sandbox process at {self._shared} did not answer")
            err = Path(self._workdir, "zygote.log").read_text(errors="replace")[-2000:] if self._workdir else ""
            self.close()
            raise SandboxError(f"the sandbox process did not start:\n{err}")
        return ready

    def spawn(self, workdir: Path, limits: Limits) -> Session:
        """Fork a fresh isolated student process working in ``workdir``.

        If the shared warm process this one uses is gone, the request goes to a warm
        process of our own."""
        with self._lock:
            try:
                a, cgroups = self._request(workdir, limits)
            except _SharedGone:
                a, cgroups = self._request(workdir, limits)
        a.settimeout(60)
        try:
            head, _ = recv_frame(a, max_bytes=4096)
        except (ProtocolError, OSError, TimeoutError) as exc:
            a.close()
            raise SandboxError(f"a student process could not be started: {exc}") from None
        a.settimeout(None)
        if head.get("op") != "started" or type(head.get("pid")) is not int:
            a.close()
            raise SandboxError("a student process could not be started")
        return Session(a, head["pid"], Path(workdir), limits, cgroups=cgroups)

    def _request(self, workdir: Path, limits: Limits):
        """Ask the warm process for a student process: its session socket and cgroups."""
        self._connect()
        mode = self._ready["mode"]
        uid = _next_uid() if mode == "root" else None
        cgroups = Cgroups(Path(workdir).name) if mode == "root" else None
        if cgroups is not None and not cgroups.create(limits):
            cgroups = None
        req = {"workdir": str(workdir), "limits": limits.to_json(), "uid": uid, "hide": list(self.hide),
               "cgroups": cgroups.dirs if cgroups else []}
        if uid is not None:
            os.chown(workdir, uid, uid)
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        _widen(a, b)
        try:
            socket.send_fds(self._control, [json.dumps(req).encode()], [b.fileno()])
        except OSError as exc:
            a.close()
            if cgroups:
                cgroups.remove()
            shared = self._shared is not None
            self._close_channel()
            if shared:
                self._shared = None
                raise _SharedGone from None
            raise SandboxError(f"the sandbox process is gone: {exc}") from None
        finally:
            b.close()
        return a, cgroups

    def _close_channel(self) -> None:
        if self._control is not None:
            try:
                self._control.close()
            except OSError:
                pass
            self._control, self._ready = None, None

    @property
    def running(self) -> bool:
        if self._shared is not None:
            return self._control is not None
        return self._proc is not None and self._proc.poll() is None

    def close(self) -> None:
        self._close_channel()
        _remove_empty_cgroups(wait=2.0)
        if self._proc is not None:
            try:
                self._proc.kill()
                self._proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                pass
            self._proc = None
        if self._workdir:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = ""

    def __enter__(self) -> Zygote:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
