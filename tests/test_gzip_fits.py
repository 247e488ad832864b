"""Reading a gzip-compressed FITS file in the student's process
(``shell.read_gzip_fits_in_memory``): astropy reads the same bytes, decompressed once.

Run in a fresh interpreter (the change is made to astropy for the whole process), on the
course's file and on damaged copies of it, with and without the change: every value,
header, warning and error the student's code can see is the same.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .conftest import DATA_FILE

pytestmark = pytest.mark.skipif(not DATA_FILE.is_file(), reason=f"course data file not found at {DATA_FILE}")

SCRIPT = r'''
import gzip, hashlib, io, json, shutil, sys, warnings
from astropy.io import fits
if sys.argv[1] == "in-memory":
    from autograder.sandbox.shell import read_gzip_fits_in_memory, _GZIP_FITS
    read_gzip_fits_in_memory()
    read_gzip_fits_in_memory()  # twice: still one layer
src, work = sys.argv[2], sys.argv[3]
good = work + "/good.fits.gz"
shutil.copy(src, good)
raw = open(src, "rb").read()
open(work + "/truncated.fits.gz", "wb").write(raw[: len(raw) // 2])
bad = bytearray(raw); bad[len(bad) // 2] ^= 0xFF
open(work + "/corrupt.fits.gz", "wb").write(bytes(bad))
out = {}

def digest(a):
    return hashlib.sha256(a.tobytes()).hexdigest() + str(a.dtype) + str(a.shape)

def attempt(name, fn):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        try:
            out[name] = fn()
        except Exception as exc:
            out[name] = "raised " + type(exc).__name__
        out[name + ":warnings"] = sorted({str(x.category.__name__) for x in w})

def read(p):
    with fits.open(p) as h:
        return [len(h), h.filename(), h._file.compression, repr(h["SCI"].header), digest(h["SCI"].data),
                digest(h["ERR"].data), digest(h["DQ"].data), digest(h[1].data.astype(float))]

for name in ("good", "truncated", "corrupt"):
    p = f"{work}/{name}.fits.gz"
    attempt(name + ":read", lambda: read(p))
    attempt(name + ":info", lambda: (lambda s: (fits.info(p, output=s), s.getvalue())[1])(io.StringIO()))
    attempt(name + ":getheader", lambda: repr(fits.getheader(p, "SCI")))
    attempt(name + ":getdata", lambda: digest(fits.getdata(p, "ERR")))
attempt("again", lambda: read(good))
attempt("fileobj", lambda: (lambda f: [digest(fits.open(f)["SCI"].data), f.closed])(gzip.open(good)))
attempt("update", lambda: fits.open(good, mode="update")._file.compression)
if sys.argv[1] == "in-memory":
    out["kept"] = len(_GZIP_FITS)
print(json.dumps(out))
'''


def _run(mode: str, tmp_path) -> dict:
    work = tmp_path / mode
    work.mkdir()
    done = subprocess.run([sys.executable, "-c", SCRIPT, mode, str(DATA_FILE), str(work)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_the_student_sees_the_same_as_with_astropys_own_reading(tmp_path):
    plain, fast = _run("plain", tmp_path), _run("in-memory", tmp_path)
    kept = fast.pop("kept")
    for out in (plain, fast):  # the file names differ by folder only
        for k, v in out.items():
            out[k] = json.loads(json.dumps(v).replace(str(tmp_path / "plain"), "W").replace(str(tmp_path / "in-memory"), "W"))
    assert fast == plain
    assert plain["good:read"][0] == 4 and plain["good:read"][2] == "gzip"
    assert plain["truncated:read"] != plain["good:read"]  # the damaged copies really are damaged
    assert kept == 1  # the good file, decompressed once, however often it was opened
