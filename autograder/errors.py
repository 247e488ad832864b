"""The errors a user can fix, as opposed to bugs.

The ``course`` command prints a :class:`UserError` as one line and exits with status 2;
any other exception is a bug and shows its traceback.  Each subclass also derives from
the built-in exception a Python caller would expect (``KeyError`` for an unknown
name, ``ValueError`` for a bad file, ...), so library users can catch either.
"""

from __future__ import annotations

__all__ = ["UserError", "NotFound", "BadInput", "Busy"]


class UserError(Exception):
    """A problem the user can fix; the message says what and where."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else self.__class__.__name__


class NotFound(UserError, KeyError):
    """An unknown assignment, notebook, student or file (named in the message)."""


class BadInput(UserError, ValueError):
    """An input that cannot be used as given (a notebook, an archive, a setting)."""


class Busy(UserError, RuntimeError):
    """Another run is working on the same course."""
