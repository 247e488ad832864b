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

from . import isolation, rerun
from .limits import Limits
from . import shell as student_shell
from .shell import OUT, Stream, run_cell, take_outputs
from .wire import ProtocolError, recv_frame, send_frame

__all__ = ["zygote_main", "student_environment"]


def student_environment(workdir: str) -> dict[str, str]:
    """The whole environment of a student process (nothing of the grader's is kept)."""
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
    OUT.configure(limits)
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
    os.environ.update(student_environment(workdir))
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    os.closerange(3, sess.fileno())
    os.closerange(sess.fileno() + 1, 65536)
    rerun.PRIVATE_TMP = mode != "limits"  # /tmp is this notebook's own (copies keep and tidy it too)
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

    sys.stdout, sys.stderr = Stream("stdout"), Stream("stderr")
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
        rerun.reap(snapshots, wait=1.0 if op == "snapshot" else 0.0)
        if op == "snapshot" and fds:
            rerun.mark_boundary()  # the copy sets aside what this process makes after this point
            try:
                pid = os.fork()
            except OSError:  # no process left (the student's own processes used them up)
                pid = -1
            if pid == 0:
                sess.close()
                code = 0
                try:
                    rerun.serve_snapshot(socket.socket(fileno=fds[0]), shell, figures)
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
            rerun.restore_files(req.get("files") or [])
            reply, blobs = {"op": "restored"}, []
        elif op == "run":
            for fd in fds:
                os.close(fd)
            reply = {"op": "result", "cell": req.get("cell")}
            blobs = []
            if req.get("capture") is not None:
                reply.update(take_outputs(req["capture"], ns, figures, blobs))
            OUT.begin()
            run_cell(shell, str(req.get("code", "")))
            plt.close("all")
            reply["outputs"] = OUT.outputs
        else:
            return
        try:
            send_frame(sess, reply, blobs)
        except OSError:
            return


_ZYGOTE = None
_MODE = "limits"  # the isolation this machine allows (isolation.best_mode), found at start
_VIEW = isolation.View((), ())  # what a student may see (isolation.student_view), found at start


def zygote_main(control_fd: int, plots: str = "jpeg", warm_up: bool = True, listen_fd: int = -1) -> None:
    """Serve spawn requests from the grader until ``control_fd`` closes.

    ``warm_up``: see :func:`autograder.sandbox.shell.warm_up` (off for a process that serves one notebook).
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
    _ZYGOTE = student_shell.prepare(plots)
    if warm_up:
        try:
            student_shell.warm_up(*_ZYGOTE, draw=plots != "none")
        except Exception as exc:  # noqa: BLE001 - a slower start, not a broken one
            print(f"warm-up skipped: {type(exc).__name__}: {exc}", file=sys.stderr)
    import gc

    gc.collect()  # the warm-up's garbage is not kept ...
    gc.freeze()  # ... and the forked children's collections never scan (and so never copy) these objects
    huge_pages_for_heap()
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
                if sock is control:  # the grader that started this process is gone ...
                    _remove_own_folder()  # ... and may have been killed before it could tidy up
                    return
                clients.remove(sock)
                sock.close()
                continue
            _spawn(msg, fds, [s for s in (control, listener, *clients) if s is not None])


def _remove_own_folder() -> None:
    """Remove the private folder the grader made for this process (its working folder,
    ``course-zygote-*``: the shared socket, IPython's and matplotlib's files) when the
    grader is gone: one killed outright (``kill -9``) leaves it otherwise.  A grader that
    closes normally removes it too; whichever comes second finds nothing to do."""
    import shutil

    here = os.getcwd()
    if os.path.basename(here).startswith("course-zygote-"):
        shutil.rmtree(here, ignore_errors=True)


_MADV_HUGEPAGE, _MADV_COLLAPSE = 14, 25
_HUGE = 2 << 20


def huge_pages_for_heap() -> int:
    """Back this process's heap with 2 MiB pages where the kernel allows it; returns
    the number of 2 MiB ranges collapsed (0 where it does not).

    Every student process, and every copy of one at a question boundary, is a fork of
    this process: fork copies one page-table entry per 4 KiB page of its ~120 MiB of
    Python objects, and each copy's exit removes them again, about a dozen times per
    notebook.  Collapsed into huge pages (``MADV_COLLAPSE``, Linux 6.1+, with
    transparent huge pages not ``never``) that memory takes one entry per 2 MiB; a page
    a child writes to is still copied 4 KiB at a time (the kernel splits the huge page
    in that child).  Measured: a fork and exit of this process 25-35% cheaper.  Anything
    that fails is skipped: the pages simply stay small.
    """
    if not sys.platform.startswith("linux"):
        return 0
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as fh:
            if "[never]" in fh.read():
                return 0
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        with open("/proc/self/maps") as fh:
            maps = fh.read().splitlines()
    except (OSError, AttributeError):
        return 0
    collapsed = 0
    for line in maps:
        fields = line.split()
        if len(fields) < 5 or not fields[1].startswith("rw") or fields[1][3] != "p":
            continue
        if len(fields) > 5 and fields[5] != "[heap]":  # anonymous memory and the heap only
            continue
        lo, hi = (int(x, 16) for x in fields[0].split("-"))
        start, end = (lo + _HUGE - 1) & ~(_HUGE - 1), hi & ~(_HUGE - 1)
        if end <= start:
            continue
        libc.madvise(start, end - start, _MADV_HUGEPAGE)
        if libc.madvise(start, end - start, _MADV_COLLAPSE) == 0:
            collapsed += (end - start) // _HUGE
    return collapsed


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
