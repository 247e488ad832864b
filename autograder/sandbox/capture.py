"""Taking a student's values out of the kernel, and reading them back safely.

Two halves with one wire format:

* :func:`encode_value` / :func:`figure_summary` run **inside the student's process**
  (untrusted).  They turn a variable into a small JSON header plus, for numbers and
  arrays, the bytes of a ``.npy`` file.  Nothing here is secret and nothing here
  decides a grade: whatever the student's process sends is simply "the student's
  answer".
* :func:`decode_value` / :func:`decode_figures` run **in the grader's process**
  (trusted).  They accept only plain numeric ``.npy`` data (``allow_pickle=False``),
  enforce size limits and produce :class:`~autograder.values.Value` objects.
  An object with a custom ``__eq__``, an ndarray subclass (masked arrays!), a lazy
  proxy or anything else that is not a plain number/list/ndarray arrives as
  ``unsupported`` and earns nothing.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

MAX_VALUE_BYTES = 256 * 2**20
_PLAIN_SCALARS = (int, float, complex, bool)
_NUMERIC_KINDS = "biufc"


def _type_name(t: type) -> str:
    mod = getattr(t, "__module__", "") or ""
    qual = getattr(t, "__qualname__", getattr(t, "__name__", "object"))
    return qual if mod == "builtins" else f"{mod}.{qual}"


def _npy_bytes(arr: np.ndarray) -> bytes | tuple[bytes, memoryview]:
    """The ``.npy`` file of ``arr``: for a C-contiguous array, ``(header, data)`` where
    ``data`` is the array's own memory (sent as one blob without being copied: see
    :func:`~autograder.sandbox.wire.send_frame`); else bytes.  :func:`npy_joined` makes
    bytes of either."""
    buf = io.BytesIO()
    if arr.flags.c_contiguous:
        np.lib.format.write_array_header_1_0(buf, np.lib.format.header_data_from_array_1_0(arr))
        return buf.getvalue(), memoryview(arr.reshape(-1).view(np.uint8))
    np.lib.format.write_array(buf, arr, allow_pickle=False)
    return buf.getvalue()


def npy_joined(data) -> bytes:
    """One bytes object of what :func:`_npy_bytes` returned."""
    return b"".join(data) if isinstance(data, tuple) else bytes(data)


def _memory_span(arr: np.ndarray) -> tuple[int, int]:
    """Address range (lo, hi) covered by ``arr``'s elements."""
    ptr = arr.__array_interface__["data"][0]
    lo = hi = 0
    for n, s in zip(arr.shape, arr.strides):
        if n == 0:
            return (ptr, ptr)
        lo += min(0, (n - 1) * s)
        hi += max(0, (n - 1) * s)
    return (ptr + lo, ptr + hi + arr.itemsize)


def encode_value(name: str, namespace: dict[str, Any]) -> tuple[dict, bytes]:
    """Describe ``namespace[name]`` as ``(header, npy_bytes)``; runs in the kernel."""
    if name not in namespace:
        return {"name": name, "status": "missing"}, b""
    obj = namespace[name]
    t = type(obj)
    head: dict[str, Any] = {"name": name, "pytype": _type_name(t)}
    try:
        if t is np.ndarray:
            arr = obj
            head["buffer"] = list(_memory_span(arr))
            head["owndata"] = bool(arr.flags.owndata)
        elif t in _PLAIN_SCALARS or (isinstance(obj, np.generic) and t.__module__ == "numpy"):
            arr = np.asarray(obj)
        elif t in (list, tuple):
            arr = np.array(obj)
            if arr.dtype.kind not in _NUMERIC_KINDS:
                return {**head, "status": "unsupported", "detail": "not a sequence of numbers"}, b""
        else:
            return {**head, "status": "unsupported", "detail": "not a plain number, list or numpy.ndarray"}, b""
        if arr.dtype.kind not in _NUMERIC_KINDS or arr.dtype.hasobject:
            return {**head, "status": "unsupported", "detail": f"dtype {arr.dtype}"}, b""
        if arr.nbytes > MAX_VALUE_BYTES:
            return {**head, "status": "unsupported", "detail": f"too large ({arr.nbytes} bytes)"}, b""
        return {**head, "status": "ok"}, _npy_bytes(arr)
    except Exception as exc:  # the student's object misbehaved while being read
        return {**head, "status": "unsupported", "detail": f"could not be read ({type(exc).__name__})"}, b""


def figure_summary(plt_module: Any) -> tuple[list[dict], list[bytes]]:
    """Summarise every open matplotlib figure: lines' data, images' arrays and origin.

    Runs in the kernel.  Returns a JSON-able description and the array blobs it refers
    to by index.
    """
    figs: list[dict] = []
    blobs: list[bytes] = []

    def blob(data: Any) -> int | None:
        try:
            arr = np.array(np.ma.getdata(data), dtype=float)
        except Exception:
            return None
        if arr.nbytes > MAX_VALUE_BYTES:
            return None
        blobs.append(_npy_bytes(arr))
        return len(blobs) - 1

    for num in plt_module.get_fignums():
        fig = plt_module.figure(num)
        axes = []
        for ax in fig.get_axes():
            axes.append(
                {
                    "lines": [{"x": blob(ln.get_xdata()), "y": blob(ln.get_ydata())} for ln in ax.get_lines()],
                    "images": [{"array": blob(im.get_array()), "origin": str(im.origin)} for im in ax.get_images()],
                    "title": str(ax.get_title())[:200],
                    "xlabel": str(ax.get_xlabel())[:200],
                    "ylabel": str(ax.get_ylabel())[:200],
                }
            )
        figs.append({"axes": axes})
    return figs, blobs


# ------------------------------------------------------------------------------------
# trusted side
# ------------------------------------------------------------------------------------
_MAX_HEADER = 10_000  # numpy's own limit on a .npy header it reads


def _read_npy(data) -> np.ndarray:
    """The array of a ``.npy`` file held in memory (bytes-like), as a view of ``data``
    (writable only if ``data`` is); raises ValueError unless it is a plain numeric
    array of exactly the announced size."""
    head = io.BytesIO(bytes(memoryview(data)[:_MAX_HEADER + 16]))
    version = np.lib.format.read_magic(head)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(head, max_header_size=_MAX_HEADER)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(head, max_header_size=_MAX_HEADER)
    else:
        raise ValueError(f"unsupported .npy version {version}")
    if dtype.kind not in _NUMERIC_KINDS or dtype.hasobject:
        raise ValueError("not a plain numeric array")
    if any(n < 0 for n in shape):
        raise ValueError("a negative dimension")
    count = 1
    for n in shape:
        count *= n
    offset = head.tell()
    if len(data) - offset != count * dtype.itemsize:
        raise ValueError("the data does not have the announced size")
    arr = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
    return arr.reshape(shape[::-1]).transpose() if fortran else arr.reshape(shape)


def _load_npy(data) -> np.ndarray:
    if len(data) > MAX_VALUE_BYTES + 4096:
        raise ValueError("value too large")
    arr = _read_npy(data)
    return arr if arr.flags.writeable else arr.copy()


def decode_value(head: Any, data: bytes):
    """Build a trusted :class:`Value` from what the kernel sent; never raises."""
    from ..values import Value

    if not isinstance(head, dict) or not isinstance(head.get("name"), str):
        return None
    name = head["name"][:200]
    status = head.get("status")
    pytype = str(head.get("pytype", ""))[:200]
    if status == "missing":
        return Value(name, "missing")
    if status != "ok":
        return Value(name, "unsupported", pytype=pytype, detail=str(head.get("detail", ""))[:200])
    try:
        arr = _load_npy(data)
    except Exception:
        return Value(name, "unsupported", pytype=pytype, detail="its data could not be read")
    buffer = head.get("buffer")
    if not (isinstance(buffer, list) and len(buffer) == 2 and all(type(b) is int for b in buffer)):
        buffer = None
    owndata = head.get("owndata") if type(head.get("owndata")) is bool else None
    return Value(name, "ok", pytype=pytype, array=arr, buffer=tuple(buffer) if buffer else None, owndata=owndata)


#: At most this many figures, axes per figure, and lines/images per axes are read back
#: from a kernel's reply (a notebook cell draws a handful); the rest is ignored.
MAX_FIGURES, MAX_AXES, MAX_ARTISTS = 50, 50, 200


def _items(obj: Any, limit: int) -> list:
    """The first ``limit`` dict entries of ``obj`` if it is a list (untrusted input), else []."""
    return [x for x in obj[:limit] if isinstance(x, dict)] if isinstance(obj, list) else []


def decode_figures(figs: Any, blobs: list[bytes]):
    """Build trusted :class:`FigureData` objects from :func:`figure_summary`'s output.

    Never raises on malformed input: anything that is not of the expected shape counts
    as absent.  Each blob is decoded at most once (read-only arrays, shared between the
    lines that refer to it), and at most :data:`MAX_FIGURES` figures, :data:`MAX_AXES`
    axes per figure and :data:`MAX_ARTISTS` lines/images per axes are read, so a reply
    naming one large blob a million times costs the grader one decode.
    """
    from ..values import AxesData, FigureData, ImageData, LineData

    decoded: dict[int, np.ndarray] = {}
    empty = np.zeros(0)
    empty.flags.writeable = False

    def arr(i: Any) -> np.ndarray:
        if type(i) is not int or not 0 <= i < len(blobs):
            return empty
        if i not in decoded:
            try:
                a = _load_npy(blobs[i]).astype(float)
            except Exception:
                a = empty
            a.flags.writeable = False
            decoded[i] = a
        return decoded[i]

    out = []
    for fig in _items(figs, MAX_FIGURES):
        axes = []
        for ax in _items(fig.get("axes"), MAX_AXES):
            lines = tuple(LineData(arr(ln.get("x")), arr(ln.get("y"))) for ln in _items(ax.get("lines"), MAX_ARTISTS))
            images = tuple(
                ImageData(arr(im.get("array")), str(im.get("origin", ""))[:20])
                for im in _items(ax.get("images"), MAX_ARTISTS)
            )
            axes.append(
                AxesData(
                    lines=lines,
                    images=images,
                    title=str(ax.get("title", ""))[:200],
                    xlabel=str(ax.get("xlabel", ""))[:200],
                    ylabel=str(ax.get("ylabel", ""))[:200],
                )
            )
        out.append(FigureData(tuple(axes)))
    return out


# ------------------------------------------------------------------------------------
# the other way: values the grader puts into a copy of the student's process
# ------------------------------------------------------------------------------------
class Alias:
    """An input that is another input under a second name (``same = frame`` in the
    notebook): a rerun binds the name to the very object put in place for ``target``."""

    __slots__ = ("target",)

    def __init__(self, target: str) -> None:
        self.target = target

    def __repr__(self) -> str:
        return f"Alias({self.target!r})"


class Like:
    """An input array put in place in the form the notebook's own value of the name has.

    For grid coordinates, which a notebook may hold as a row of shape (n,) or (1, n), a
    column (n, 1) or a full 2-D grid: the grader sends a row or a column, and a rerun
    ravels it where the notebook's own value is 1-D, and broadcasts it against the other
    ``Like`` inputs where the notebook's own is a full grid (:func:`in_form_of`), so that
    code written for the notebook's form (``x[np.newaxis, :]`` on a 1-D ``x``) runs on
    the second input as it did on the first."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = np.asarray(value)

    def __repr__(self) -> str:
        return f"Like(shape={self.value.shape})"


def in_form_of(own: Any, new: Any, full: tuple[int, ...] | None) -> Any:
    """``new`` (a row or a column) in the form of ``own`` (see :class:`Like`)."""
    if not (isinstance(own, np.ndarray) and isinstance(new, np.ndarray) and new.ndim == 2 and 1 in new.shape):
        return new
    if own.ndim == 1:
        return new.ravel().copy()
    if own.ndim == 2 and 1 not in own.shape and full is not None and len(full) == 2:
        return np.broadcast_to(new, full).copy()
    return new


def encode_input(name: str, value: Any) -> tuple[dict, bytes]:
    """Describe an input the grader sends (trusted side): a number, a list of numbers or
    an ndarray, as ``(header, npy_bytes)``; ``as`` says which Python type to rebuild."""
    if isinstance(value, np.ndarray):
        kind = "array"
    elif isinstance(value, list | tuple):
        kind = "list" if isinstance(value, list) else "tuple"
    elif isinstance(value, bool | int | float | complex | np.generic):
        kind = "int" if isinstance(value, int | np.integer) and not isinstance(value, bool) else "scalar"
    else:
        raise TypeError(f"input {name!r} is not a number, a list of numbers or an array: {type(value).__name__}")
    return {"name": name, "as": kind}, _npy_bytes(np.asarray(value))


def decode_input(head: dict, data: bytes) -> Any:
    """Rebuild an input in the student's process (see :func:`encode_input`)."""
    arr = _read_npy(data)
    kind = head.get("as")
    if kind == "list":
        return arr.tolist()
    if kind == "tuple":
        return tuple(arr.tolist())
    if kind == "int":
        return int(arr)
    if kind == "scalar":
        return arr.item()
    # an array that owns its memory, as the notebook's own arrays do (a view of the
    # received buffer does not): checks of views and copies compare ``owndata``
    return arr.copy()


def local_value(name: str, namespace: dict[str, Any]):
    """Encode then decode in one process: what a check sees for ``namespace[name]``.

    For tests of the checks, which then need no kernel.
    """
    head, data = encode_value(name, namespace)
    return decode_value(head, npy_joined(data))


def local_figures(plt_module: Any):
    """Encode then decode the open figures (for tests of the checks)."""
    figs, blobs = figure_summary(plt_module)
    return decode_figures(figs, [npy_joined(b) for b in blobs])
