"""Operating-system isolation of a student process, applied before any student code runs.

Three levels, the strongest the machine allows (:func:`best_mode`):

``root`` (Linux, the grader runs as root: a grading server, a container, CI)
    New mount, PID, network and IPC namespaces; the student sees a fresh root
    filesystem built for it (:func:`build_root`): the Python runtime and the system's
    libraries read-only, its own working folder (the data file, ``course_data.py``)
    on a size-capped tmpfs, private ``/tmp`` and ``/dev/shm``, a minimal ``/dev`` and
    ``/etc``, a fresh ``/proc``, and nothing else of the machine (no home folders, no
    ``/srv``, ``/opt`` or ``/mnt``, no checkout of the course anywhere); the grader's
    own packages are covered even inside the Python installation.  It runs as an
    unprivileged uid of its own, in control groups that cap the memory and the
    processes of the whole sandbox (:class:`Cgroups`), with no network at all.
``userns`` (Linux without root, where the kernel allows unprivileged user namespaces)
    The same namespaces and the same root filesystem, through a user namespace; the
    student keeps the grader's uid but no capability (it cannot undo a mount), and
    there are no control groups.
``limits`` (elsewhere: macOS, or a kernel that refuses user namespaces)
    Resource limits, a session of its own and a scrubbed environment only: good enough
    to check one's own work, not to grade strangers'.

Everywhere, resource limits cap each process (address space, CPU seconds, file size,
open files, processes), and ``no_new_privs`` keeps setuid programs from gaining
anything.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import glob
import os
import re
import resource
import shutil
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from .limits import Limits

__all__ = ["View", "Cgroups", "best_mode", "mode_notice", "student_view", "enter_namespaces", "build_root", "drop_capabilities",
           "drop_privileges", "no_new_privileges", "apply_limits", "current_address_space", "GRADER_NAMES"]

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC = 32, 1024, 2048, 4096, 16384
MS_PRIVATE, MS_RELATIME, MS_STRICTATIME = 1 << 18, 1 << 21, 1 << 24
MNT_DETACH = 2
PR_SET_NO_NEW_PRIVS, PR_CAPBSET_DROP = 38, 24
_MOUNT_FLAGS = {"ro": MS_RDONLY, "nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC,
                "noatime": MS_NOATIME, "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME,
                "strictatime": MS_STRICTATIME}

#: Names of the grader's own files in a folder of Python packages: never shown.
GRADER_NAMES = re.compile(r"^(autograder|reference_solution)(\.py)?$|^__editable__.*numpy_3c120_course"
                          r"|^numpy_3c120_course.*\.(dist-info|egg-info|egg-link|pth)$")
#: Folders of the system the student's process may read (those that exist).
SYSTEM_DIRS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/usr/bin", "/usr/sbin", "/usr/lib",
               "/usr/lib32", "/usr/lib64", "/usr/libexec", "/usr/share/zoneinfo", "/usr/share/fonts",
               "/etc/alternatives", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
               "/etc/nsswitch.conf", "/etc/mime.types")
DEVICES = ("null", "zero", "full", "random", "urandom")
#: pivot_root's system call number (glibc has no wrapper), by machine.
_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "ppc64": 203, "s390x": 217,
               "i686": 217, "armv7l": 218}

_libc = None


def _call(name: str, *args) -> int:
    global _libc
    if _libc is None:  # the C library this process already has (find_library would run ldconfig
        _libc = ctypes.CDLL(None, use_errno=True)  # in a subprocess, once per student)
        if not hasattr(_libc, "unshare"):
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    result = getattr(_libc, name)(*args)
    if result == -1 or (name not in ("syscall",) and result != 0):
        err = ctypes.get_errno()
        raise OSError(err, f"{name}: {os.strerror(err)}")
    return result


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = lambda s: None if s is None else os.fsencode(s)  # noqa: E731
    _call("mount", enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data))


# --------------------------------------------------------------------------------------
# what the machine allows
# --------------------------------------------------------------------------------------
_MODE: str | None = None


def best_mode() -> str:
    """``root``, ``userns`` or ``limits``: the strongest isolation this process can apply
    (see the module docstring); probed once, in a throwaway child process."""
    global _MODE
    if _MODE is None:
        if not sys.platform.startswith("linux") or not Path("/proc/self/ns/mnt").exists():
            _MODE = "limits"
        elif os.getuid() == 0:
            _MODE = "root"
        else:
            _MODE = "userns" if _probe_userns() else "limits"
    return _MODE


def mode_notice() -> str | None:
    """A warning for an instructor when :func:`best_mode` is ``limits`` (None otherwise)."""
    if best_mode() != "limits":
        return None
    why = ("this is not Linux" if not sys.platform.startswith("linux")
           else "the kernel refuses unprivileged user namespaces to this user")
    return (f"warning: {why}, so student code runs with resource limits only: it can read any file "
            "this user can read (the reference and checks included). Grade as root, or where "
            "unprivileged user namespaces are allowed, to grade strangers' work "
            "(README: What student code can reach).")


def _probe_userns() -> bool:
    """Whether an unprivileged user namespace with a private mount namespace works here."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            enter_namespaces(user=True)
            _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m")
            code = 0
        except BaseException:  # noqa: BLE001 - any failure means "not available"
            pass
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


# --------------------------------------------------------------------------------------
# what the student may see
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class View:
    """The student's filesystem: ``allowed`` paths (bound read-only at their own place)
    and ``hidden`` ones inside them (covered by something empty)."""

    allowed: tuple[str, ...]
    hidden: tuple[str, ...]


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _holds_grader(folder: str) -> list[str]:
    """The grader's files directly in ``folder`` (see :data:`GRADER_NAMES`) and their
    compiled copies in its ``__pycache__``."""
    found = []
    for sub in (folder, os.path.join(folder, "__pycache__")):
        try:
            names = os.listdir(sub)
        except OSError:
            continue
        found += [os.path.join(sub, n) for n in names if GRADER_NAMES.match(re.sub(r"\.cpython-.*\.pyc$", ".py", n))]
    return found


def _is_checkout(folder: str) -> bool:
    """Whether ``folder`` (a ``sys.path`` entry outside the Python installation) holds
    the grader's packages as a source checkout does, rather than as an installed
    package folder does.

    A package folder (a ``site-packages`` named in a ``.pth`` file or ``PYTHONPATH``,
    ``pip install --target``) holds other distributions' ``*.dist-info`` beside the
    grader: it is shown, with the grader's entries hidden like in any package folder,
    because the student's numpy and IPython may come from it.  A checkout (the
    repository, or a copy of it) holds the course's files and solutions as well, so
    it is left out altogether.
    """
    try:
        names = os.listdir(folder)
    except OSError:
        return False
    if not any(os.path.isdir(os.path.join(folder, n)) for n in ("autograder", "reference_solution")):
        return False
    if {"course.yml", "pyproject.toml", "source", "setup.py", ".git"} & set(names):
        return True
    return not any(n.endswith(".dist-info") and not GRADER_NAMES.match(n) for n in names)


def student_view(extra_hide: tuple[str, ...] = ()) -> View:
    """What a student process of THIS interpreter may see (computed in the warm process,
    whose ``sys.path`` is the student's, so every copy of the grader's packages the
    student could import is found, editable installs included).

    Allowed: the Python installation's ``lib``/``bin`` folders, the folders on
    ``sys.path`` (but a source checkout of the course put on the path is left out
    altogether, see :func:`_is_checkout`), and
    :data:`SYSTEM_DIRS`.  Hidden: the grader's files in every allowed package folder
    and in the other Python package folders the system folders hold, and
    ``extra_hide`` (the course folder, the installed checkout) where it lies inside an
    allowed folder.
    """
    prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix) if p}
    allowed: set[str] = set()
    for p in prefixes:
        for sub in ("lib", "lib64", "bin", "pyvenv.cfg"):
            if os.path.exists(os.path.join(p, sub)):
                allowed.add(os.path.join(p, sub))
    allowed.add(os.path.dirname(os.path.realpath(sys.executable)))
    package_dirs = set()
    for entry in sys.path:
        if not entry or not os.path.isabs(entry) or not os.path.isdir(entry):
            continue
        real = os.path.realpath(entry)
        outside = not any(_inside(real, p) for p in prefixes)
        if outside and _is_checkout(real):
            continue  # a checkout of the course on the path: not shown at all
        allowed.add(real)
        package_dirs.add(real)
    for d in SYSTEM_DIRS:
        if os.path.lexists(d):
            allowed.add(d)
    for d in list(allowed):
        if os.path.isdir(d) and not os.path.islink(d):
            package_dirs |= {os.path.realpath(p) for p in glob.glob(os.path.join(d, "python3*", "*-packages"))}
            package_dirs |= {os.path.realpath(p) for p in glob.glob(os.path.join(d, "lib", "python3*", "*-packages"))}
    hidden = {h for d in package_dirs for h in _holds_grader(d)}
    hidden |= {os.path.realpath(h) for h in extra_hide}
    real_allowed = {a if os.path.islink(a) else os.path.realpath(a) for a in allowed}
    top = sorted(real_allowed, key=lambda p: (p.count("/"), p))
    kept: list[str] = []
    for a in top:
        if not any(_inside(a, k) for k in kept if not os.path.islink(k)):
            kept.append(a)
    hidden = {h for h in hidden if any(_inside(h, k) for k in kept)}
    return View(tuple(kept), tuple(sorted(hidden)))


# --------------------------------------------------------------------------------------
# control groups (root only)
# --------------------------------------------------------------------------------------
class Cgroups:
    """The control groups of one sandbox: memory and processes of the whole sandbox.

    cgroup v2 where the machine mounts it with the memory and pids controllers, else
    cgroup v1's ``memory`` and ``pids`` hierarchies; :meth:`create` returns False (and
    the sandbox goes without) where neither can be written.
    """

    V2 = "/sys/fs/cgroup"
    PARENT = "course-sandboxes"

    def __init__(self, name: str):
        self.name = name
        self.dirs: list[str] = []

    def create(self, limits: Limits) -> bool:
        memory = str(limits.memory_mb * 2**20)
        pids = str(limits.max_processes + 8)  # + the outer process and the question snapshots
        try:
            if _v2_controllers() >= {"memory", "pids"}:
                parent = os.path.join(self.V2, self.PARENT)
                if not os.path.isdir(parent):
                    os.makedirs(parent, exist_ok=True)
                    _write(os.path.join(parent, "cgroup.subtree_control"), "+memory +pids")
                d = os.path.join(parent, self.name)
                os.mkdir(d)
                self.dirs = [d]
                _write(os.path.join(d, "memory.max"), memory)
                _write(os.path.join(d, "memory.swap.max"), "0", missing_ok=True)
                _write(os.path.join(d, "pids.max"), pids)
                return True
            for controller, settings in (("memory", {"memory.limit_in_bytes": memory,
                                                     "memory.memsw.limit_in_bytes": memory}),
                                         ("pids", {"pids.max": pids})):
                d = os.path.join(self.V2, controller, self.PARENT, self.name)
                if not os.path.isdir(os.path.dirname(os.path.dirname(d))):
                    continue
                os.makedirs(d, exist_ok=True)
                self.dirs.append(d)
                for key, value in settings.items():
                    _write(os.path.join(d, key), value, missing_ok=True)
            return bool(self.dirs)
        except OSError:
            self.remove()
            return False

    def join(self, pid: int = 0) -> None:
        for d in self.dirs:
            _write(os.path.join(d, "cgroup.procs"), str(pid or os.getpid()))

    def remove(self) -> None:
        """Remove the groups that are empty; those still busy stay in :attr:`dirs`."""
        left = []
        for d in self.dirs:
            try:
                os.rmdir(d)
            except FileNotFoundError:
                pass
            except OSError:
                left.append(d)
        self.dirs = left


def _v2_controllers() -> set[str]:
    try:
        with open(os.path.join(Cgroups.V2, "cgroup.controllers")) as fh:
            return set(fh.read().split())
    except OSError:
        return set()


def _write(path: str, value: str, *, missing_ok: bool = False) -> None:
    try:
        with open(path, "w") as fh:
            fh.write(value)
    except OSError as exc:
        if not (missing_ok and exc.errno in (errno.ENOENT, errno.EACCES, errno.EINVAL, errno.EPERM)):
            raise


# --------------------------------------------------------------------------------------
# namespaces and the student's root filesystem
# --------------------------------------------------------------------------------------
def enter_namespaces(*, user: bool) -> None:
    """unshare(2) into new mount, PID, network and IPC namespaces (and, without root, a
    new user namespace mapping this uid and gid to themselves); the caller then forks,
    and the child is the first process of the new PID namespace.

    The IPC namespace matters: System V and POSIX IPC objects outlive the process that
    made them; in the host's namespace a notebook could leave shared memory behind or
    pass data to the next student's notebook.
    """
    uid, gid = os.getuid(), os.getgid()
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC
    _call("unshare", ctypes.c_int(flags | (CLONE_NEWUSER if user else 0)))
    if user:
        for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
            with open(f"/proc/self/{name}", "w") as fh:
                fh.write(text)
    _mount(None, "/", None, MS_REC | MS_PRIVATE)


def _mount_flags(point: str) -> int:
    """The per-mount flags of the mount at ``point`` (they must be kept when remounting
    in a user namespace)."""
    best, flags = "", 0
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            fields = line.split()
            mp = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
            if _inside(point, mp) and len(mp) >= len(best):
                best, flags = mp, sum(_MOUNT_FLAGS.get(o, 0) for o in set(fields[5].split(",")))
    return flags


def _bind_read_only(source: str, target: str) -> None:
    _mount(source, target, None, MS_BIND | MS_REC)
    _mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | _mount_flags(target))


def _place(root: str, path: str) -> str:
    return root + path


def _make_like(source: str, target: str) -> None:
    """Create at ``target`` an empty folder or file (or the same symbolic link) as ``source``."""
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if os.path.islink(source):
        os.symlink(os.readlink(source), target)
    elif os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        with open(target, "w"):
            pass


def _without(root: str, folder: str, names: set[str]) -> None:
    """Show ``folder`` in the new root without the entries ``names`` (not even their
    names): a fresh folder holding a read-only bind of each of its other entries."""
    stage = os.path.join(root, ".course-stage")
    os.makedirs(stage, exist_ok=True)
    _bind_read_only(folder, stage)  # entries bound from here are read-only too
    target = _place(root, folder)
    _mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755")
    for name in os.listdir(stage):
        if name in names:
            continue
        src, dst = os.path.join(stage, name), os.path.join(target, name)
        if os.path.islink(src):
            os.symlink(os.readlink(src), dst)
            continue
        _make_like(src, dst)
        _mount(src, dst, None, MS_BIND | MS_REC)
    _mount(None, target, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "size=1m,mode=755")
    _call("umount2", os.fsencode(stage), ctypes.c_int(MNT_DETACH))
    os.rmdir(stage)


def _scratch(target: str, size_mb: int, mode: str = "1777") -> None:
    os.makedirs(target, exist_ok=True)
    _mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size_mb}m,mode={mode}")


def _etc(root: str, workdir: str, uid: int, gid: int) -> None:
    etc = os.path.join(root, "etc")
    os.makedirs(etc, exist_ok=True)
    files = {
        "passwd": f"root:x:0:0:root:/:/bin/sh\nstudent:x:{uid}:{gid}:student:{workdir}:/bin/sh\n"
                  "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
        "group": f"root:x:0:\nstudent:x:{gid}:\nnogroup:x:65534:\n",
        "hostname": "sandbox\n",
        "hosts": "127.0.0.1 localhost sandbox\n::1 localhost\n",
    }
    for name, text in files.items():
        with open(os.path.join(etc, name), "w") as fh:
            fh.write(text)


def _copy_workdir(workdir: str, fd: int, size_mb: int) -> None:
    """A size-capped tmpfs at ``workdir`` holding copies of the regular files of the
    folder open as ``fd`` (the student's files live in memory, not on the grader's disk)."""
    _scratch(workdir, size_mb, "700")
    for name in os.listdir(fd):
        src = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=fd)
        try:
            if not stat.S_ISREG(os.fstat(src).st_mode):
                continue
            with open(src, "rb", closefd=False) as fin, open(os.path.join(workdir, name), "xb") as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)
        finally:
            os.close(src)


def build_root(workdir: str, view: View, limits: Limits, *, uid: int | None = None) -> None:
    """Inside the new namespaces: make the student's root filesystem and enter it.

    A tmpfs mounted on ``workdir`` becomes the new root.  In it: every allowed path of
    ``view`` bound read-only at its own place, the folders holding hidden paths shown
    without them (:func:`_without`: not even their names), a minimal ``/dev`` (null, zero, full, random,
    urandom, shm), private ``/tmp`` and ``/var/tmp`` of ``file_size_mb`` each, a fresh
    ``/proc``, an ``/etc`` with a passwd, group, hostname and hosts of its own, and
    ``workdir`` itself (the same path as outside) holding copies of its files on a
    tmpfs of ``file_size_mb``.  The root is then made read-only and entered with
    ``pivot_root``; the old root is detached.  ``uid`` (root mode): the working
    folder's new owner.
    """
    workdir = os.path.realpath(workdir)
    work_fd = os.open(workdir, os.O_RDONLY | os.O_DIRECTORY)
    root = workdir
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=755")
    # the private /tmp first: an allowed folder under /tmp (a clone or a virtual environment
    # made there) is then bound inside it, not covered by it
    _scratch(os.path.join(root, "tmp"), limits.file_size_mb)
    for path in view.allowed:
        target = _place(root, path)
        if os.path.lexists(target):
            continue
        _make_like(path, target)
        if not os.path.islink(path):
            _bind_read_only(path, target)
    hidden_in: dict[str, set[str]] = {}
    for path in view.hidden:
        hidden_in.setdefault(os.path.dirname(path), set()).add(os.path.basename(path))
    for parent, names in sorted(hidden_in.items()):
        if os.path.isdir(_place(root, parent)):
            _without(root, parent, names)
    dev = os.path.join(root, "dev")
    _scratch(dev, 1, "755")
    for name in DEVICES:
        _make_like(f"/dev/{name}", os.path.join(dev, name))
        _mount(f"/dev/{name}", os.path.join(dev, name), None, MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2")):
        os.symlink(target, os.path.join(dev, name))
    _scratch(os.path.join(dev, "shm"), limits.file_size_mb)
    _mount(None, dev, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID, "size=1m,mode=755")
    os.makedirs(os.path.join(root, "var"), exist_ok=True)
    os.symlink("../tmp", os.path.join(root, "var", "tmp"))
    os.makedirs(os.path.join(root, "proc"), exist_ok=True)
    _mount("proc", os.path.join(root, "proc"), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.makedirs(os.path.join(root, "run"), exist_ok=True)
    _etc(root, workdir, os.getuid() if uid is None else uid, os.getgid() if uid is None else uid)
    inner = _place(root, workdir)
    _copy_workdir(inner, work_fd, limits.file_size_mb)
    os.close(work_fd)
    if uid is not None:
        for name in os.listdir(inner):
            os.chown(os.path.join(inner, name), uid, uid)
        os.chown(inner, uid, uid)
    _mount(None, root, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "size=16m,mode=755")
    os.chdir(root)
    _call("syscall", ctypes.c_long(_PIVOT_ROOT[os.uname().machine]), b".", b".")  # pivot_root(".", ".")
    _call("umount2", b".", ctypes.c_int(MNT_DETACH))
    os.chdir(workdir)


# --------------------------------------------------------------------------------------
# privileges and limits
# --------------------------------------------------------------------------------------
def drop_privileges(uid: int) -> None:
    """Become ``uid`` (root mode): every capability is gone with root."""
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_capabilities() -> None:
    """Give up every capability (userns mode, where the student keeps its uid): the
    bounding set is emptied and the effective, permitted and inheritable sets cleared,
    so no mount of the sandbox can be undone."""
    for cap in range(64):
        try:
            _call("prctl", ctypes.c_int(PR_CAPBSET_DROP), ctypes.c_ulong(cap), ctypes.c_ulong(0),
                  ctypes.c_ulong(0), ctypes.c_ulong(0))
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                break
            raise
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (_CapData * 2)()
    _call("capset", ctypes.byref(header), ctypes.byref(data))


def no_new_privileges() -> None:
    """prctl(PR_SET_NO_NEW_PRIVS): no program started from here on gains privileges
    (setuid/setgid bits and file capabilities are ignored).  Linux only; a no-op elsewhere."""
    if not sys.platform.startswith("linux"):
        return
    _call("prctl", ctypes.c_int(PR_SET_NO_NEW_PRIVS), ctypes.c_ulong(1), ctypes.c_ulong(0), ctypes.c_ulong(0),
          ctypes.c_ulong(0))


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
