"""Operating-system isolation applied to a student process before any student code runs.

What is enforced depends on the machine (the README's threat model has the table):

* everywhere (Linux/macOS): its own session and process group, resource limits on
  address space, CPU seconds, file size and open files, a scrubbed environment, a
  fresh working folder, stdin/stdout/stderr on /dev/null;
* on Linux as root (the grading server, CI): new PID, mount and network namespaces
  (no network at all; every process the student starts dies with the notebook; the
  course folder, the grader's packages and the gradebook are hidden under empty
  read-only tmpfs mounts; private /tmp and /dev/shm; a fresh /proc), an unprivileged
  uid of its own (so other sandboxes' folders are unreadable and ``RLIMIT_NPROC``
  caps the processes it may start).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import resource
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Limits", "Isolation", "can_isolate", "apply_limits"]

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
CLONE_NEWPID = 0x20000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18



@dataclass(frozen=True)
class Limits:
    """Resource limits for one student process (from course.yml's ``grading``)."""

    memory_mb: int = 3072
    cpu_seconds: float = 300.0
    max_processes: int = 32
    file_size_mb: int = 256
    open_files: int = 256


@dataclass(frozen=True)
class Isolation:
    """How to isolate one student process."""

    workdir: str
    limits: Limits = field(default_factory=Limits)
    uid: int | None = None  # run as this uid (root only)
    hide: tuple[str, ...] = ()  # paths to cover with empty tmpfs (root only)
    namespaces: bool = False  # new pid/mount/net namespaces (root only)


def can_isolate() -> bool:
    """Whether namespaces and uid switching are available (Linux, running as root)."""
    return hasattr(os, "getuid") and os.getuid() == 0 and Path("/proc/self/ns/mnt").exists()


_libc = None


def _libc_call(name: str, *args) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if getattr(_libc, name)(*args) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{name}{args!r}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    _libc_call("unshare", ctypes.c_int(flags))


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    _libc_call(
        "mount",
        enc(source),
        enc(target),
        enc(fstype),
        ctypes.c_ulong(flags),
        enc(data),
    )


def enter_namespaces() -> None:
    """unshare(2) into new PID, mount and network namespaces (the caller then forks)."""
    unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID)
    _mount(None, "/", None, MS_REC | MS_PRIVATE)


def _blocked_ancestors(path: Path) -> list[Path]:
    """Ancestors of ``path`` that other users cannot traverse (such as /root)."""
    out = []
    for anc in reversed(path.parents):
        try:
            if not os.stat(anc).st_mode & 0o001:
                out.append(anc)
        except OSError:
            break
    return out


def _cover(target: Path, keep: list[Path], fds: dict[Path, int], mode: str) -> None:
    """Mount an empty tmpfs on ``target``, then bind each kept path back in place."""
    _mount("tmpfs", str(target), "tmpfs", MS_NOSUID | MS_NODEV, f"size=256m,mode={mode}")
    for k in keep:
        if target in k.parents:
            os.makedirs(k, mode=0o755, exist_ok=True)
            _mount(f"/proc/self/fd/{fds[k]}", str(k), None, MS_BIND | MS_REC)


def build_filesystem(iso: Isolation, keep: list[str]) -> None:
    """Inside the new namespaces, make the filesystem the student sees.

    ``hide`` paths are covered by empty read-only tmpfs mounts; /tmp, /var/tmp and
    /dev/shm become private scratch space; folders that only root may enter (such as
    /root, where a Python installation may live) are covered too.  Every ``keep`` path
    (the Python installation, the workdir) is bound back where it was, and nothing
    else of what those mounts covered.  Finally /proc is mounted afresh for the new
    PID namespace.
    """
    kept = sorted({Path(os.path.realpath(k)) for k in keep if os.path.isdir(k)}, key=lambda p: len(p.parts))
    kept = [k for k in kept if not any(a in k.parents for a in kept if a != k)]
    fds = {k: os.open(k, os.O_RDONLY | os.O_DIRECTORY) for k in kept}
    for path in iso.hide:
        p = Path(path)
        if any(p == k or p in k.parents for k in kept):
            continue
        try:
            if p.is_dir():
                _mount("tmpfs", str(p), "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=555")
            elif p.exists():
                _mount("/dev/null", str(p), None, MS_BIND)
        except OSError:
            continue
    covers: dict[Path, str] = {}
    for tmp in ("/tmp", "/var/tmp", "/dev/shm"):
        if os.path.isdir(tmp):
            covers[Path(os.path.realpath(tmp))] = "1777"
    for k in kept:
        for anc in _blocked_ancestors(k):
            covers.setdefault(anc, "755")
    for target in sorted(covers, key=lambda p: len(p.parts)):
        if any(c in target.parents for c in covers if c != target):
            continue  # already inside a covered folder: recreated there as needed
        _cover(target, kept, fds, covers[target])
    for fd in fds.values():
        os.close(fd)
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV)


def apply_limits(limits: Limits, *, extra_address_space: int = 0, nproc: bool) -> None:
    """setrlimit the student process (the caller is about to run student code)."""

    def cap(which: int, value: int) -> None:
        soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value))

    cap(resource.RLIMIT_AS, extra_address_space + limits.memory_mb * 2**20)
    cap(resource.RLIMIT_CPU, int(limits.cpu_seconds) + 5)
    cap(resource.RLIMIT_FSIZE, limits.file_size_mb * 2**20)
    cap(resource.RLIMIT_NOFILE, limits.open_files)
    cap(resource.RLIMIT_CORE, 0)
    if nproc:
        cap(resource.RLIMIT_NPROC, limits.max_processes)


def drop_privileges(uid: int) -> None:
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def current_address_space() -> int:
    """Virtual memory size of this process in bytes (0 where unknown)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0
