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


class ProtocolError(RuntimeError):
    """The other side closed the channel or sent something that is not a frame."""


def send_frame(sock: socket.socket, header: dict, blobs: list[bytes] = (), fds: list[int] = ()) -> None:
    """Send one frame; ``fds`` travel with its first byte (SCM_RIGHTS)."""
    body = json.dumps(header, separators=(",", ":")).encode()
    parts = [_HEAD.pack(len(body), len(blobs)), body]
    for b in blobs:
        parts += [_BLOB.pack(len(b)), b]
    data = b"".join(parts)
    if fds:
        sent = socket.send_fds(sock, [data[:1]], list(fds))
        data = data[sent:]
    sock.sendall(data)


def _recv_exact(sock: socket.socket, n: int, deadline: float | None = None) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the frame did not arrive in time")
            sock.settimeout(left)
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise ProtocolError("channel closed")
        buf += chunk
    return bytes(buf)


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
        blobs.append(_recv_exact(sock, n, deadline))
    return header, blobs
