"""Talking to one student process: a notebook's cells, and copies of the process.

A :class:`Session` is the grader's end of one student process (made by
:meth:`autograder.sandbox.runner.Zygote.spawn`): ``session.run(code,
capture_names=[...], timeout=...)`` runs one cell and returns a :class:`CellOutcome`
with its outputs and the captured values, decoded by trusted code.
``session.snapshot()`` makes a :class:`Snapshot`, a copy of the process as it is, in
which a question's code runs again later (:meth:`Snapshot.rerun`, a
:class:`RerunOutcome`).  Everything the student's process sends is untrusted: replies
are read within limits and cleaned (:func:`clean_outputs`).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import capture
from .limits import MAX_FRAME_BYTES, Limits
from .wire import ProtocolError, recv_frame, send_frame

__all__ = ["CellOutcome", "RerunOutcome", "Session", "Snapshot", "clean_outputs", "widen", "remove_empty_cgroups"]


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
        outputs = clean_outputs(head.get("outputs"), self.limits)
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
        widen(a, b)
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
        remove_empty_cgroups()


#: Control groups of ended sandboxes whose processes may not all be reaped yet: removed
#: at the next chance (a session's end), or by :func:`_remove_empty_cgroups` with a
#: wait when the warm process closes.
_EMPTYING: list = []


def remove_empty_cgroups(wait: float = 0.0) -> None:
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
        widen(a, b)
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
              calibration: str | None = None, cpu_limit: tuple[float, float] | None = None,
              forms: str = "own") -> RerunOutcome:
        """Run ``cells`` (sources, or ``{"code", "given"}`` dicts: after a given cell the
        inputs are put back) with ``inject`` (name -> value) put into the namespace first
        and ``files`` (name -> bytes) replacing the working folder's files of those names;
        capture ``capture_names``.  ``trace``: count what the code did (see the
        kernel's ``_Tracer``); ``calibration``: a statement of ours, timed first, whose
        CPU time comes back as :attr:`RerunOutcome.calibration`; ``cpu_limit``: (factor,
        slack), a traced run slower than that is timed again warm and the faster counts;
        ``forms``: ``"grid"`` puts grid coordinates in the notebook's own form only if its
        own coordinates make a grid (the correct inputs after a wrong grid)."""
        blobs: list[bytes] = []
        items, file_items = [], []
        for name, value in (inject or {}).items():
            if isinstance(value, capture.Alias):
                items.append({"name": name, "alias": value.target})
                continue
            like = isinstance(value, capture.Like)
            head, data = capture.encode_input(name, value.value if like else value)
            items.append({**head, "blob": len(blobs), **({"like": True} if like else {})})
            blobs.append(data)
        for name, data in (files or {}).items():
            file_items.append({"name": name, "blob": len(blobs)})
            blobs.append(data)
        req = {"op": "rerun", "cells": cells, "inject": items, "files": file_items, "capture": capture_names,
               "trace": trace, "trace_limit": trace_limit, "calibration": calibration,
               "cpu_limit": [float(v) for v in cpu_limit] if cpu_limit else None, "forms": forms}
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


def widen(*socks: socket.socket) -> None:
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


def clean_outputs(outputs, limits: Limits) -> list[dict]:
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
