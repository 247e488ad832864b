"""Operating-system isolation applied to a student process before any student code runs.

What is enforced depends on the machine (the README's threat model has the table):

* everywhere (Linux/macOS): its own session and process group, resource limits on
  address space, CPU seconds, file size and open files, a scrubbed environment, a
  fresh working folder, stdin/stdout/stderr on /dev/null;
* on Linux as root (the grading server, CI): new PID, mount, network and IPC
  namespaces (no network at all; every process the student starts, and every System V
  or POSIX IPC object it creates, dies with the notebook; the
  course folder (with everything created in it later: gradebook, submitted/,
  autograded/) and the grader's packages are hidden under empty read-only tmpfs
  mounts; private /tmp and /dev/shm; a fresh /proc), an unprivileged uid of its own
  (so other sandboxes' folders are unreadable and ``RLIMIT_NPROC`` caps the processes
  it may start), every other mount read-only (world-writable folders such as
  /run/lock cannot carry anything out of the sandbox or from one student to the
  next), an empty /run (the Unix sockets of the machine's services out of reach),
  the working folder on its own size-capped tmpfs (writing files cannot fill
  the grading machine's disk), and ``no_new_privs`` (a setuid program such as
  ``mount`` or ``passwd`` gains nothing).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import re
import resource
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

from .limits import Limits

__all__ = ["Isolation", "can_isolate", "apply_limits", "no_new_privileges"]

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWNET = 0x40000000
CLONE_NEWPID = 0x20000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
PR_SET_NO_NEW_PRIVS = 38
_MOUNT_FLAGS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, "noatime": MS_NOATIME,
                "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME, "strictatime": MS_STRICTATIME}



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
    """unshare(2) into new PID, mount, network and IPC namespaces (the caller then forks).

    The IPC namespace matters: System V shared memory, semaphores and message queues
    (and POSIX message queues) outlive the process that made them; in the host's
    namespace a notebook could leave gigabytes of shared memory behind, or pass data
    to the next student's notebook.  A private one is destroyed with the sandbox.
    """
    unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC)
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


def _mount_points() -> list[tuple[str, int]]:
    """This mount namespace's mount points with their per-mount flags, parents first."""
    out = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            fields = line.split()
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
            flags = 0
            for opt in fields[5].split(","):
                flags |= _MOUNT_FLAGS.get(opt, 0)
            out.append((point, flags))
    return out


def _read_only_except(writable: set[Path]) -> None:
    """Bind-remount every mount read-only but the ``writable`` ones (this namespace only).

    Only per-mount flags change (``MS_BIND | MS_REMOUNT``): the filesystems themselves,
    and the mounts of every other namespace, stay as they are.  A mount point that is
    no longer reachable (covered by a later mount) is skipped: it cannot be written
    either.
    """
    for point, flags in _mount_points():
        p = Path(point)
        if p in writable:
            continue
        try:
            _mount(None, point, None, MS_BIND | MS_REMOUNT | MS_RDONLY | flags)
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.EACCES, errno.ENOTDIR, errno.EINVAL):
                raise


def _private_workdir(workdir: Path, fd: int, size_mb: int) -> None:
    """Put a tmpfs of ``size_mb`` MiB on ``workdir`` holding copies of its files.

    The student's files then live in memory capped at that size, not on the grading
    machine's disk, where a loop of ``RLIMIT_FSIZE``-sized files could fill it.
    """
    _mount("tmpfs", str(workdir), "tmpfs", MS_NOSUID | MS_NODEV, f"size={size_mb}m,mode=700")
    for name in os.listdir(fd):
        src = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=fd)
        try:
            if not stat.S_ISREG(os.fstat(src).st_mode):
                continue
            with open(src, "rb", closefd=False) as fin, open(workdir / name, "xb") as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)
        finally:
            os.close(src)


def build_filesystem(iso: Isolation, keep: list[str]) -> None:
    """Inside the new namespaces, make the filesystem the student sees.

    ``hide`` paths are covered by empty read-only tmpfs mounts (a hidden folder that
    holds a kept path, such as a course folder with the virtual environment inside it,
    is covered the same way and only the kept path is bound back; a hidden path that
    *is* a kept path cannot be hidden); /tmp, /var/tmp and /dev/shm become private
    scratch space; folders that only root may enter (such as /root, where a Python
    installation may live) are covered too.  Every ``keep`` path (the Python
    installation, the workdir) is bound back where it was, and nothing else of what
    those mounts covered.  /run (where the machine's services keep their Unix sockets,
    which no network namespace stops) is covered by an empty folder.  The workdir then
    gets its own tmpfs (see
    :func:`_private_workdir`), every mount but the scratch space and the workdir
    becomes read-only, and finally /proc is mounted afresh for the new PID namespace.
    """
    workdir = Path(os.path.realpath(iso.workdir))
    kept = sorted({Path(os.path.realpath(k)) for k in keep if os.path.isdir(k)}, key=lambda p: len(p.parts))
    kept = [k for k in kept if not any(a in k.parents for a in kept if a != k)]
    fds = {k: os.open(k, os.O_RDONLY | os.O_DIRECTORY) for k in kept}
    work_fd = os.open(workdir, os.O_RDONLY | os.O_DIRECTORY)
    for path in iso.hide:
        p = Path(os.path.realpath(path))
        if any(p == k for k in kept):
            continue
        try:
            if any(p in k.parents for k in kept):
                _cover(p, kept, fds, "555")
            elif p.is_dir():
                _mount("tmpfs", str(p), "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=555")
            elif p.exists():
                _mount("/dev/null", str(p), None, MS_BIND)
        except OSError:
            continue
    covers: dict[Path, str] = {}
    for tmp in ("/tmp", "/var/tmp", "/dev/shm"):
        if os.path.isdir(tmp):
            covers[Path(os.path.realpath(tmp))] = "1777"
    scratch = set(covers)
    if os.path.isdir("/run"):  # the host's daemons' sockets (dbus, postgres, ...): out of sight
        covers.setdefault(Path(os.path.realpath("/run")), "755")
    for k in kept:
        for anc in _blocked_ancestors(k):
            covers.setdefault(anc, "755")
    for target in sorted(covers, key=lambda p: len(p.parts)):
        if any(c in target.parents for c in covers if c != target):
            continue  # already inside a covered folder: recreated there as needed
        _cover(target, kept, fds, covers[target])
    for fd in fds.values():
        os.close(fd)
    _private_workdir(workdir, work_fd, iso.limits.file_size_mb)
    os.close(work_fd)
    _read_only_except(scratch | {workdir})
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV)


def no_new_privileges() -> None:
    """prctl(PR_SET_NO_NEW_PRIVS): no program started from here on gains privileges
    (setuid/setgid bits and file capabilities are ignored).  Linux only; a no-op elsewhere."""
    if not os.path.exists("/proc/self/ns"):
        return
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if _libc.prctl(ctypes.c_int(PR_SET_NO_NEW_PRIVS), ctypes.c_ulong(1), ctypes.c_ulong(0), ctypes.c_ulong(0),
                   ctypes.c_ulong(0)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_NO_NEW_PRIVS): {os.strerror(err)}")


def apply_limits(limits: Limits, *, extra_address_space: int = 0, nproc: bool) -> None:
    """setrlimit the student process (the caller is about to run student code)."""

    def cap(which: int, value: int) -> None:
        soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value))

    cap(resource.RLIMIT_AS, extra_address_space + limits.memory_mb * 2**20)
    cap(resource.RLIMIT_CPU, int(limits.notebook_timeout) + 5)
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
