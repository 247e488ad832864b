"""One run at a time per course: the commands that write the course's folders and
gradebook (``collect``, ``autograde``, ``release``) hold an exclusive lock on
``.course/lock`` while they work.

A second run does not wait behind the first (it may take an hour): it stops at once
with a :class:`~autograder.errors.Busy` error naming the command and process that
hold the lock.  The lock is the operating system's (``flock``), so it is released
even when its holder crashes or is killed.
"""

from __future__ import annotations

import contextlib
import os
import time

from .display import visible
from .errors import Busy, UserError
from .fileio import os_error_text

__all__ = ["course_lock"]


@contextlib.contextmanager
def course_lock(course, action: str):
    """Hold the course's lock while ``course <action>`` runs; :class:`Busy` if held."""
    import fcntl

    path = course.state_dir / "lock"
    try:
        course.state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise UserError(f"cannot take the course's lock: {os_error_text(exc, path)}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = visible(os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another command")
            raise Busy(f"the course at {visible(course.root)} is busy: {holder}; wait for it to finish "
                       f"(or stop it), then run `course {action}` again") from None
        try:  # who holds it, for the message above: a note only (a full disk must not stop the run)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"`course {action}` (process {os.getpid()}) started at {time.strftime('%H:%M:%S')}".encode(), 0)
        except OSError:
            pass
        yield
    finally:
        os.close(fd)  # releases the lock
