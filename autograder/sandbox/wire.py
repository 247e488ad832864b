"""Length-prefixed frames over a stream socket: a JSON header plus binary blobs.

Used in both directions between the grader and the sandboxed student process.  The
reader enforces limits, so a hostile sender can waste at most ``max_bytes`` of the
grader's memory and never makes it parse anything but JSON and raw bytes.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import time

__all__ = ["ProtocolError", "send_frame", "recv_frame"]

MAX_FDS = 2  # file descriptors one frame may carry (a new channel to a snapshot)

_HEAD = struct.Struct("!II")  # json length, number of blobs
_BLOB = struct.Struct("!Q")
_SMALL = 1 << 16
_FIRST_BUFFER = 16 << 20  # a blob larger than this is received into a buffer that grows


class ProtocolError(RuntimeError):
    """The other side closed the channel or sent something that is not a frame."""


def send_frame(sock: socket.socket, header: dict, blobs=(), fds: list[int] = ()) -> None:
    """Send one frame; ``fds`` travel with its first byte (SCM_RIGHTS).

    A blob is any bytes-like object, or a tuple of them sent back to back as one blob
    (the header and the memory of an array: the array's data is never copied here).
    """
    body = json.dumps(header, separators=(",", ":")).encode()
    prefix = [_HEAD.pack(len(body), len(blobs)), body]
    views: list[memoryview] = []
    for b in blobs:
        parts = [memoryview(p).cast("B") for p in (b if isinstance(b, tuple) else (b,))]
        prefix.append(_BLOB.pack(sum(p.nbytes for p in parts)))
        views += [memoryview(b"".join(prefix)), *parts]  # small pieces joined, large ones as they are
        prefix = []
    views.append(memoryview(b"".join(prefix)))
    views = [v for v in views if v.nbytes]
    if fds:
        socket.send_fds(sock, [views[0][:1]], list(fds))
        views[0] = views[0][1:]
    _send_views(sock, views)


def _send_views(sock: socket.socket, views: list[memoryview]) -> None:
    """sendall for a list of buffers, without joining them (sendmsg, resumed after a
    partial send)."""
    i = 0
    while i < len(views):
        sent = sock.sendmsg(views[i:i + 64])
        while sent and i < len(views):
            if sent >= views[i].nbytes:
                sent -= views[i].nbytes
                i += 1
            else:
                views[i] = views[i][sent:]
                sent = 0
        while i < len(views) and not views[i].nbytes:
            i += 1


def _recv_exact(sock: socket.socket, n: int, deadline: float | None = None, *, blob: bool = False):
    """Exactly ``n`` bytes, read straight into one writable buffer: a bytearray, or for
    a large ``blob`` a numpy byte array (never zero-filled first), which grows as data
    arrives (a sender that announces more than it sends costs little)."""
    if not blob or n <= _SMALL:
        buf = bytearray(n)
    else:
        import numpy as np

        buf = np.empty(min(n, _FIRST_BUFFER), dtype=np.uint8)
    view = memoryview(buf)
    got = 0
    while got < n:
        if got == len(buf):
            view.release()
            buf = np.concatenate([buf, np.empty(min(n - got, len(buf)), dtype=np.uint8)])
            view = memoryview(buf)
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the frame did not arrive in time")
            sock.settimeout(left)
        k = sock.recv_into(view[got:], len(buf) - got)
        if not k:
            raise ProtocolError("channel closed")
        got += k
    return buf


def recv_frame(sock: socket.socket, *, max_bytes: int = 1 << 30, max_blobs: int = 4096,
               deadline: float | None = None, fds: list | None = None) -> tuple[dict, list[bytes]]:
    """Read one frame; raise ProtocolError on EOF, oversize or malformed data.

    With ``deadline`` (a :func:`time.monotonic` value), raise TimeoutError unless the
    whole frame has arrived by then; the socket's timeout is changed to do so.  With a
    list ``fds``, the file descriptors that came with the frame (at most
    :data:`MAX_FDS`) are appended to it; without, any are closed.
    """
    if deadline is not None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the frame did not arrive in time")
        sock.settimeout(left)
    first, received, _flags, _addr = socket.recv_fds(sock, 1, MAX_FDS)
    if not first:
        raise ProtocolError("channel closed")
    if fds is None:
        for fd in received:
            os.close(fd)
    else:
        fds.extend(received)
    jlen, nblobs = _HEAD.unpack(first + _recv_exact(sock, _HEAD.size - 1, deadline))
    if jlen > min(max_bytes, 64 << 20) or nblobs > max_blobs:
        raise ProtocolError(f"frame too large ({jlen} bytes of header, {nblobs} blobs)")
    raw = _recv_exact(sock, jlen, deadline)
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, too-long ints, nesting
        raise ProtocolError(f"malformed frame header: {type(exc).__name__}") from None
    if not isinstance(header, dict):
        raise ProtocolError("frame header is not an object")
    total = jlen
    blobs = []
    for _ in range(nblobs):
        (n,) = _BLOB.unpack(_recv_exact(sock, _BLOB.size, deadline))
        total += n
        if total > max_bytes:
            raise ProtocolError(f"frame larger than {max_bytes} bytes")
        blobs.append(_recv_exact(sock, n, deadline, blob=True))
    return header, blobs
