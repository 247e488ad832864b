"""Reading and writing the course's files safely: the helpers every command shares.

* Writes are atomic: a file is written to a temporary name in its folder and renamed
  over the old one, so a reader (or a crash) never sees half a file, and a folder is
  swapped into place whole (:func:`replace_dir`), never deleted first.
* Reads of files that come from students (:func:`read_untrusted`) never follow a
  symbolic link, never block on a FIFO or a device, check what they opened is a
  regular file, and read at most a given number of bytes, all on one file descriptor,
  so nothing can be swapped in between the check and the read.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import shutil
import stat
import tempfile
from pathlib import Path

__all__ = ["atomic_write_text", "atomic_write_bytes", "replace_dir", "read_untrusted", "TooLarge", "NotRegular",
           "os_error_text", "check_writable_dir", "ENVIRONMENT_ERRNOS"]

#: The errors of the machine rather than of the program: a full disk or quota, a
#: read-only file system, a permission refused, a failing device.
ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO})


class TooLarge(ValueError):
    """A file is larger than the caller accepts."""


class NotRegular(ValueError):
    """A path is a symbolic link, a folder, a FIFO or a device, not a regular file."""


def os_error_text(exc: OSError, path=None) -> str:
    """One line for ``exc``: the path it concerns (its own, else ``path``) and the
    system's reason, e.g. ``/course/feedback/ada: No space left on device``.

    A write that fails on a full disk carries no file name; pass the one being written.
    """
    where = exc.filename if exc.filename is not None else path
    reason = exc.strerror or str(exc) or type(exc).__name__
    return f"{where}: {reason}" if where is not None else reason


def check_writable_dir(folder: Path) -> None:
    """Check that files can be written in ``folder``: an empty file is created and removed
    at once in it or, where it does not exist yet, in the nearest folder above it that
    does (where it would be made).  Nothing is left behind, no folder is made.

    Raises the OSError, naming ``folder``, when that fails: a read-only file system or
    folder, a permission refused.  For a command that writes many files into one folder
    (``course feedback``), so that such a folder stops it before anything is done, as it
    stops the commands that write one file.  A full disk usually still takes an empty
    file: what does not fit is found file by file.
    """
    folder = Path(folder).absolute()
    existing = folder
    while not existing.is_dir() and existing.parent != existing:
        existing = existing.parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=".write-check-", dir=existing)
    except OSError as exc:
        exc.filename = str(folder)  # the folder to be written, not the temporary name
        raise
    os.close(fd)
    os.unlink(tmp)


def atomic_write_bytes(path: Path, data: bytes, *, mtime: float | None = None) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename.

    ``mtime`` sets the file's modification time before it appears under its name.  An
    OSError (a full disk, say) names ``path``, and no partial file is left behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        if mtime is not None:
            os.utime(tmp, (mtime, mtime))
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is None:
            exc.filename = str(path)  # a failed write names no file: name the one written
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """:func:`atomic_write_bytes` of ``text`` in UTF-8 (newlines as given)."""
    atomic_write_bytes(path, text.encode("utf-8"))


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_libc = None


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False where the
    system cannot."""
    global _libc
    try:
        if _libc is None:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = _libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0


def replace_dir(new: Path, dest: Path) -> None:
    """Put folder ``new`` in the place of ``dest`` (which may not exist) in one step.

    Where ``dest`` does not exist, ``new`` is renamed to it; where it does and the
    system can swap two paths atomically, the old folder is swapped out and then
    removed; elsewhere it is renamed aside (to a unique name) first, so that at every
    moment either the old or the new folder is complete (never neither, if the rename
    fails).  Two replacements of one folder at once both succeed; the later one wins.
    """
    new, dest = Path(new), Path(dest)
    try:
        os.rename(new, dest)  # no ``dest`` (or an empty one): one step
        return
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
    if _exchange(new, dest):
        shutil.rmtree(new, ignore_errors=True)  # ``new`` now names the old folder
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
    try:
        dest.rename(aside)
    except BaseException:
        aside.rmdir()
        raise
    try:
        new.rename(dest)
    except BaseException:
        aside.rename(dest)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def read_untrusted(path: Path, *, max_bytes: int, dir_fd: int | None = None) -> bytes:
    """The bytes of the regular file ``path`` (at most ``max_bytes``), read safely.

    Opened with ``O_NOFOLLOW | O_NONBLOCK`` (a symbolic link is refused, a FIFO does not
    block), checked with ``fstat`` to be a regular file, and read from that same
    descriptor.  Raises NotRegular, TooLarge or OSError.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotRegular(f"{Path(path).name} is a symbolic link") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegular(f"{Path(path).name} is not a regular file")
        if st.st_size > max_bytes:
            raise TooLarge(f"{Path(path).name} is larger than {max_bytes / 2**20:g} MB")
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                raise TooLarge(f"{Path(path).name} is larger than {max_bytes / 2**20:g} MB")
        return b"".join(chunks)
    finally:
        os.close(fd)
