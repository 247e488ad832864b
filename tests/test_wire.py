"""The channel between the grader and a student process: frames and .npy values.

Values cross without being copied (an array's own memory is sent, and read back as a
view of the received buffer); these tests pin that what arrives is exactly what was
sent, and that malformed data is refused, not misread.
"""

from __future__ import annotations

import io
import os
import socket
import threading

import numpy as np
import pytest

from autograder.sandbox import capture, wire


def _round_trip(header, blobs, *, fds=()):
    a, b = socket.socketpair()
    try:
        received: list[int] = []
        t = threading.Thread(target=wire.send_frame, args=(a, header, blobs), kwargs={"fds": list(fds)})
        t.start()
        out = wire.recv_frame(b, fds=received)
        t.join()
        return out, received
    finally:
        a.close()
        b.close()


def test_frames_carry_blobs_in_parts_and_large_blobs_whole():
    big = np.arange(3_000_000, dtype=np.float64)  # 24 MB: more than the first receive buffer
    parts = capture._npy_bytes(big)
    assert isinstance(parts, tuple)  # header + the array's own memory
    (head, blobs), _ = _round_trip({"op": "x", "n": 2}, [b"small", parts, b""])
    assert head == {"op": "x", "n": 2}
    assert bytes(blobs[0]) == b"small" and len(blobs[2]) == 0
    back = capture._load_npy(blobs[1])
    assert back.dtype == big.dtype and np.array_equal(back, big) and back.flags.writeable


def test_file_descriptors_travel_with_the_first_byte():
    r, w = os.pipe()
    try:
        (head, blobs), fds = _round_trip({"op": "fork"}, [b"abc"], fds=[r])
        assert head == {"op": "fork"} and bytes(blobs[0]) == b"abc" and len(fds) == 1
        os.write(w, b"!")
        assert os.read(fds[0], 1) == b"!"
        os.close(fds[0])
    finally:
        os.close(r)
        os.close(w)


def test_a_sender_that_stops_early_is_a_protocol_error():
    a, b = socket.socketpair()
    try:
        body = b'{"op": "x"}'
        a.sendall(wire._HEAD.pack(len(body), 1) + body + wire._BLOB.pack(50 << 20) + b"x" * 1000)
        a.close()
        with pytest.raises(wire.ProtocolError):
            wire.recv_frame(b)
    finally:
        b.close()


@pytest.mark.parametrize("value", [
    np.arange(12.0).reshape(3, 4),
    np.arange(12.0).reshape(3, 4)[:, 1:3],           # not contiguous
    np.asfortranarray(np.arange(12.0).reshape(3, 4)),  # Fortran order
    np.arange(6, dtype=">f4").reshape(2, 3),          # big-endian, as FITS data is
    np.array(2.5), np.float32(1.5), 7, True, 1 + 2j,
    np.zeros((0, 5)), np.array([True, False]), np.arange(5, dtype=np.int16),
    [1.0, 2.0, 3.0], (1, 2),
])
def test_captured_values_arrive_exactly(value):
    v = capture.local_value("x", {"x": value})
    assert v.status == "ok"
    expected = np.asarray(value)
    assert v.array.dtype == expected.dtype and v.array.shape == expected.shape
    assert np.array_equal(v.array, expected)


@pytest.mark.parametrize("value", [np.arange(6.0).reshape(2, 3), [1, 2], 3, 2.5, np.arange(4)[::2]])
def test_inputs_arrive_as_owned_arrays_of_the_same_type(value):
    head, data = capture.encode_input("x", value)
    back = capture.decode_input(head, capture.npy_joined(data))
    assert type(back) is type(value if not isinstance(value, np.ndarray) else np.empty(0))
    assert np.array_equal(np.asarray(back), np.asarray(value))
    if isinstance(back, np.ndarray):
        assert back.flags.owndata and back.flags.writeable


def _npy(arr, version=None):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, version=version, allow_pickle=False)
    return buf.getvalue()


def _with_header(header: str) -> bytes:
    buf = io.BytesIO()
    buf.write(np.lib.format.magic(1, 0))
    h = header.encode("latin1")
    pad = 64 - (10 + len(h) + 1) % 64
    h += b" " * pad + b"\n"
    buf.write(len(h).to_bytes(2, "little") + h)
    return buf.getvalue()


@pytest.mark.parametrize("data,why", [
    (_npy(np.arange(4.0))[:-8], "truncated"),
    (_npy(np.arange(4.0)) + b"\0" * 8, "longer than announced"),
    (_with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (-2, -3), }") + b"\0" * 48, "negative shape"),
    (_with_header("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }") + b"\0" * 8, "object dtype"),
    (_with_header("{'descr': '<U3', 'fortran_order': False, 'shape': (1,), }") + b"\0" * 12, "strings"),
    (_npy(np.arange(3.0), version=(3, 0)), "version 3"),
    (b"not an npy file at all", "not npy"),
])
def test_malformed_values_are_refused(data, why):
    with pytest.raises(ValueError):
        capture._load_npy(data)
    v = capture.decode_value({"name": "x", "status": "ok", "pytype": "numpy.ndarray"}, data)
    assert v.status == "unsupported", why


def test_a_version_2_header_is_read():
    arr = np.arange(6.0).reshape(2, 3)
    assert np.array_equal(capture._load_npy(_npy(arr, version=(2, 0))), arr)


@pytest.mark.parametrize("size", [100, 70_000, 5_000_000])
def test_large_headers_and_mid_size_blobs(size):
    """A header holding pictures (base64 PNG outputs run to megabytes) is JSON read from
    a bytes-like buffer whatever its size; blobs of every size arrive whole."""
    header = {"op": "result", "outputs": [{"data": "x" * size}]}
    blob = bytes(range(256)) * (size // 256 + 1)
    (head, blobs), _ = _round_trip(header, [blob, (b"ab", memoryview(b"cd"))])
    assert head == header
    assert bytes(blobs[0]) == blob and bytes(blobs[1]) == b"abcd"
