"""Values taken out of the student's process, as trusted code rebuilt them.

These types are the meeting point of the sandbox and the checks:
:mod:`autograder.sandbox.capture` builds them from plain bytes the student's process
sent (``.npy`` data, never a pickle), and the hidden checks in
:mod:`autograder.checks` read them.  Neither side imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = ["Value", "LineData", "ImageData", "AxesData", "FigureData"]


@dataclass(frozen=True)
class Value:
    """A student's variable as captured out of the kernel.

    Attributes
    ----------
    name : str
        Variable name in the notebook.
    status : {"ok", "missing", "unsupported"}
        ``missing``: the name was not defined; ``unsupported``: not a plain number,
        list/tuple of numbers or ``numpy.ndarray`` (a subclass such as a masked array,
        an object with a custom ``__eq__``, a generator, ...).
    pytype : str
        The exact type of the object in the kernel (``"numpy.ndarray"``, ``"list"``,
        ``"float"``, ``"numpy.ma.MaskedArray"``...).
    array : numpy.ndarray or None
        For ``ok``: a plain ndarray decoded without pickle (scalars are 0-d arrays).
        Its dtype (byte order included) is the student's.
    buffer : tuple of int or None
        For ndarrays: the address range ``(lo, hi)`` of memory the array spans in the
        kernel, to tell views from copies.
    owndata : bool or None
        For ndarrays: whether the array owns its memory.
    detail : str
        Why a value is unsupported.
    """

    name: str
    status: Literal["ok", "missing", "unsupported"]
    pytype: str = ""
    array: np.ndarray | None = None
    buffer: tuple[int, int] | None = None
    owndata: bool | None = None
    detail: str = ""

    def shares_memory_with(self, other: Value) -> bool:
        """Whether the two arrays' memory ranges in the kernel overlap."""
        if self.buffer is None or other.buffer is None:
            return False
        (a0, a1), (b0, b1) = self.buffer, other.buffer
        return a0 < b1 and b0 < a1


@dataclass(frozen=True)
class LineData:
    x: np.ndarray
    y: np.ndarray


@dataclass(frozen=True)
class ImageData:
    array: np.ndarray
    origin: str


@dataclass(frozen=True)
class AxesData:
    lines: tuple[LineData, ...] = ()
    images: tuple[ImageData, ...] = ()
    title: str = ""
    xlabel: str = ""
    ylabel: str = ""


@dataclass(frozen=True)
class FigureData:
    axes: tuple[AxesData, ...] = ()
