"""The grader side of the sandbox: start a zygote, open a session per notebook.

A :class:`Zygote` is a warm process (see :mod:`autograder.sandbox.kernel`) that has
imported the scientific stack once.  :meth:`Zygote.spawn` forks it into a fresh,
isolated student process for one notebook, reached through a
:class:`~autograder.sandbox.session.Session` (re-exported here).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from .isolation import Cgroups
from .limits import Limits
from .session import CellOutcome, RerunOutcome, Session, Snapshot, remove_empty_cgroups, widen
from .wire import ProtocolError, recv_frame
from ..environment import MALLOC_ENV

__all__ = ["CellOutcome", "RerunOutcome", "Session", "Snapshot", "Zygote", "SandboxError", "hidden_paths", "make_workdir"]


class SandboxError(RuntimeError):
    """The sandbox itself could not be started (not the student's fault)."""


def _clean_env(workdir: str) -> dict[str, str]:
    """The warm process's environment: nothing of the instructor's, and no configuration
    read from a shared folder (its home was the system's /tmp, where any account could
    leave a ``.config/matplotlib`` or ``.ipython`` for it, and where an account that
    could not write there left a ``matplotlib-*`` folder at every start)."""
    bindir = os.path.dirname(sys.executable)
    return {
        "PATH": f"{bindir}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": workdir,
        "IPYTHONDIR": os.path.join(workdir, ".ipython"),
        "MPLCONFIGDIR": _matplotlib_cache(workdir),
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
        "PYTHONDONTWRITEBYTECODE": "1",
        **MALLOC_ENV,  # read by glibc as the process starts
        **{k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ},
    }


def _matplotlib_cache(workdir: str) -> str:
    """Where the warm process's matplotlib keeps its font list: a folder of this account's
    cache (``$XDG_CACHE_HOME``, else ``~/.cache``) that holds nothing else, so the list is
    built once (about half a second) rather than at every start; the warm process's own
    folder where that cannot be made."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "numpy-3c120-course", "matplotlib")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        if os.access(folder, os.W_OK | os.X_OK):
            return folder
    except OSError:
        pass
    return os.path.join(workdir, "matplotlib")


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
    """This process's folder of sandbox working folders (one per process, under the
    system's temporary folder), removed when the process that made it exits."""
    global _SANDBOX_ROOT
    if _SANDBOX_ROOT is None or not _SANDBOX_ROOT.exists():
        _SANDBOX_ROOT = Path(tempfile.mkdtemp(prefix="course-sandboxes-"))
        _SANDBOX_ROOT.chmod(0o711)
        # multiprocessing's finalizers run at the exit of the main process and of a pool's
        # worker alike (a worker leaves through os._exit, past atexit), only in this
        # process, and after the worker's graders closed (exitpriority 100)
        from multiprocessing.util import Finalize

        Finalize(None, shutil.rmtree, args=(str(_SANDBOX_ROOT),), kwargs={"ignore_errors": True}, exitpriority=0)
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
                pass_fds=fds, env=_clean_env(self._workdir), cwd=self._workdir,
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
        widen(a, b)
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
        remove_empty_cgroups(wait=2.0)
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
