"""Reference products the checks compare against, computed once per grader process."""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

__all__ = ["Reference", "get_reference"]


class Reference:
    """Lazily computed reference results for the real data file.

    ``extraction`` is :func:`reference_solution.extract` on the course file (every
    intermediate product of the workshop's reduction); ``data_path`` is the verified
    file itself, for checks that need to recompute from a student's own inputs.
    """

    def __init__(self, data_path: Path | None):
        self.data_path = data_path
        self._lock = threading.Lock()  # computed once even when warmed in a thread
        self._extraction = None

    @property
    def extraction(self):
        with self._lock:
            if self._extraction is None:
                if self.data_path is None:
                    raise RuntimeError("this check needs the course data file, but the grader was given none")
                from reference_solution import extract

                self._extraction = extract(self.data_path)
            return self._extraction


@lru_cache(maxsize=8)
def _cached(data_path: Path | None) -> Reference:
    return Reference(data_path)


def get_reference(assignment_id: str, data_path) -> Reference:
    """The shared :class:`Reference` for ``data_path`` (assignment-independent)."""
    return _cached(Path(data_path).resolve() if data_path is not None else None)
