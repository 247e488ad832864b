"""course_data.fetch and autograder.data: finding, verifying, caching, downloading.

Nothing here touches the network or the user's astropy cache: the cache is pointed at
tmp_path, and the download is tested with file:// URLs to tarballs built in tmp_path.
"""

from __future__ import annotations

import os
import pickle
import shutil
import sys
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from astropy.config.paths import set_temp_cache

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # course_data is a top-level module of the repository
    sys.path.insert(0, str(ROOT))

import course_data  # noqa: E402
from course_data import FILES, ChecksumMismatch, DataUnavailable, fetch, sha256_of, store_in_cache  # noqa: E402

from autograder.config import CourseConfigError, parse_course  # noqa: E402
from autograder.data import data_status, ensure_data  # noqa: E402

NAME = "3c120_stis.fits.gz"
SPEC = FILES[NAME]
MEMBER = "py4ast/core/3c120_stis.fits.gz"
# Computed at import, before any test patches COURSE_DATA_DIR.
REAL = Path(os.environ.get("COURSE_DATA_DIR", ROOT.parent / "shared" / "data")) / NAME
needs_real = pytest.mark.skipif(not REAL.is_file(), reason=f"course data file not found at {REAL}")


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Empty cwd, no COURSE_DATA_DIR, and astropy caches under tmp_path."""
    xdg = tmp_path / "xdg"
    xdg.mkdir()
    monkeypatch.setenv("XDG_CACHE_HOME", str(xdg))  # the cache of pkgname "numpy-3c120"
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    with set_temp_cache(tmp_path / "astropy-cache"):  # astropy's own namespace
        yield work


def in_cache(path: Path, tmp_path: Path) -> bool:
    return path.is_relative_to(tmp_path / "xdg" / course_data.PKGNAME)


def bad_copy(folder: Path, kind: str) -> Path:
    """A copy of the real file in ``folder``: truncated, or the same size with one byte flipped."""
    folder.mkdir(parents=True, exist_ok=True)
    data = bytearray(REAL.read_bytes())
    if kind == "truncated":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 2] ^= 0xFF
    path = folder / NAME
    path.write_bytes(bytes(data))
    return path


def make_tarball(tmp_path: Path, *, link: bool = False) -> Path:
    """A tar like the public one: the member at MEMBER (or, with ``link``, a symlink there)."""
    tar_path = tmp_path / "srv" / "core_examples.tar"
    tar_path.parent.mkdir(exist_ok=True)
    with tarfile.open(tar_path, "w") as tar:
        tar.add(ROOT / "course.yml", arcname="py4ast/core/README")
        if link:
            tar.add(REAL, arcname="py4ast/core/real.fits.gz")
            info = tarfile.TarInfo(MEMBER)
            info.type, info.linkname = tarfile.SYMTYPE, "real.fits.gz"
            tar.addfile(info)
        else:
            tar.add(REAL, arcname=MEMBER)
    return tar_path


def tar_spec(tar_path: Path, **changes) -> course_data.DataFileSpec:
    return replace(SPEC, **{"url": tar_path.as_uri(), "archive_sha256": sha256_of(tar_path), **changes})


# -- local copies ---------------------------------------------------------------------
@needs_real
def test_local_file_and_folder():
    assert fetch(local=REAL, download=False) == REAL
    assert fetch(local=REAL.parent, download=False) == REAL
    assert fetch(local=str(REAL.parent), download=False) == REAL


@needs_real
def test_course_data_dir_comes_before_cwd(monkeypatch, isolated):
    bad_copy(isolated, "flipped")  # never looked at: COURSE_DATA_DIR wins
    monkeypatch.setenv("COURSE_DATA_DIR", str(REAL.parent))
    assert fetch(download=False) == REAL


@needs_real
def test_cwd_copy_comes_before_search_dirs(isolated):
    shutil.copy(REAL, isolated / NAME)
    assert fetch(search_dirs=[REAL.parent], download=False) == isolated / NAME


@needs_real
def test_search_dirs_skip_missing_folders(tmp_path):
    path, source = course_data.locate(search_dirs=[tmp_path / "nowhere", REAL.parent], download=False)
    assert path == REAL and str(REAL.parent) in source


@needs_real
@pytest.mark.parametrize("kind", ["truncated", "flipped"])
@pytest.mark.parametrize("where", ["local-file", "local-folder", "env", "cwd", "search-dir"])
def test_bad_copy_is_refused_at_each_source(where, kind, tmp_path, monkeypatch, isolated):
    folder = isolated if where == "cwd" else tmp_path / "bad"
    bad = bad_copy(folder, kind)
    kwargs = {"search_dirs": [REAL.parent], "download": False}  # a good copy later on is not used
    if where == "local-file":
        kwargs["local"] = bad
    elif where == "local-folder":
        kwargs["local"] = folder
    elif where == "env":
        monkeypatch.setenv("COURSE_DATA_DIR", str(folder))
    elif where == "search-dir":
        kwargs["search_dirs"] = [folder, REAL.parent]
    with pytest.raises(ChecksumMismatch) as err:
        fetch(**kwargs)
    msg = str(err.value)
    assert str(bad) in msg and SPEC.sha256 in msg and "refused" in msg
    assert err.value.path == bad
    if kind == "truncated":
        assert f"{bad.stat().st_size} bytes instead of {SPEC.size}" in msg
    else:
        assert sha256_of(bad) in msg and err.value.actual_sha256 == sha256_of(bad)
    assert bad.read_bytes() != REAL.read_bytes()  # the bad file is left alone


@needs_real
def test_wrong_sha256_in_spec_refuses_the_real_file():
    spec = replace(SPEC, sha256="0" * 64)
    with pytest.raises(ChecksumMismatch, match=SPEC.sha256) as err:
        fetch(local=REAL, spec=spec)
    assert str(REAL) in str(err.value) and "0" * 64 in str(err.value)


def test_explicit_places_without_the_file_are_errors(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataUnavailable, match="given as the local copy") as err:
        fetch(local=empty, download=False)
    assert str(empty) in str(err.value) and not isinstance(err.value, ChecksumMismatch)
    monkeypatch.setenv("COURSE_DATA_DIR", str(empty))
    with pytest.raises(DataUnavailable, match="COURSE_DATA_DIR") as err:
        fetch(download=False)
    assert str(empty / NAME) in str(err.value)


def test_checksum_mismatch_pickles(tmp_path):
    exc = ChecksumMismatch(tmp_path / NAME, SPEC, 10, None)
    back = pickle.loads(pickle.dumps(exc))
    assert str(back) == str(exc) and back.path == exc.path


# -- the cache ------------------------------------------------------------------------
@needs_real
def test_store_in_cache_then_fetch_offline(tmp_path):
    src = tmp_path / "mine"
    src.mkdir()
    shutil.copy(REAL, src / NAME)
    cached = store_in_cache(src)
    assert in_cache(cached, tmp_path) and sha256_of(cached) == SPEC.sha256
    assert os.listdir(src) == [NAME]  # nothing written beside the local copy
    (src / NAME).unlink()
    assert fetch(download=False) == cached
    with pytest.raises(ChecksumMismatch):
        store_in_cache(bad_copy(tmp_path / "bad", "flipped"))


@needs_real
def test_bad_cached_copy_is_evicted(tmp_path):
    cached = store_in_cache(REAL)
    data = bytearray(cached.read_bytes())
    data[-1] ^= 0xFF
    cached.write_bytes(bytes(data))
    with pytest.raises(DataUnavailable, match="bad copy was removed") as err:
        fetch(download=False)
    assert not isinstance(err.value, ChecksumMismatch)
    assert not cached.exists()
    with pytest.raises(DataUnavailable, match="no .* in "):  # really gone
        fetch(download=False)


# -- the download ---------------------------------------------------------------------
@needs_real
def test_download_extracts_verifies_and_caches(tmp_path):
    tar_path = make_tarball(tmp_path)
    spec = tar_spec(tar_path)
    path, source = course_data.locate(spec=spec)
    assert in_cache(path, tmp_path) and "downloaded" in source
    assert path.read_bytes() == REAL.read_bytes()
    tar_path.unlink()  # the source is gone: the cache answers
    assert fetch(spec=spec, download=False) == path


@needs_real
def test_download_replaces_a_bad_cached_copy(tmp_path):
    spec = tar_spec(make_tarball(tmp_path))
    cached = store_in_cache(REAL, spec=spec)
    cached.write_bytes(b"not the file")
    assert sha256_of(fetch(spec=spec)) == SPEC.sha256


@needs_real
def test_tarball_with_wrong_checksum_is_refused(tmp_path):
    tar_path = make_tarball(tmp_path)
    spec = tar_spec(tar_path, archive_sha256="0" * 64)
    with pytest.raises(DataUnavailable, match="archive has sha256") as err:
        fetch(spec=spec)
    assert sha256_of(tar_path) in str(err.value)
    with pytest.raises(DataUnavailable):  # nothing was cached
        fetch(spec=spec, download=False)


@needs_real
def test_member_that_is_a_link_is_refused(tmp_path):
    spec = tar_spec(make_tarball(tmp_path, link=True))
    with pytest.raises(DataUnavailable, match="is a link"):
        fetch(spec=spec)
    with pytest.raises(DataUnavailable, match="has no member"):
        fetch(spec=replace(spec, member="py4ast/core/other.fits.gz"))


def test_no_copy_and_failing_download_says_what_to_do():
    url = "file:///nonexistent/core_examples.tar"
    with pytest.raises(DataUnavailable) as err:
        fetch(spec=replace(SPEC, url=url))
    msg = str(err.value)
    for needed in ["export COURSE_DATA_DIR=", "course data --path", SPEC.sha256, url, MEMBER, "No such file", "beside"]:
        assert needed in msg, needed
    assert not isinstance(err.value, ChecksumMismatch)


@needs_real
def test_main_stores_a_path(tmp_path, capsys):
    assert course_data.main([str(REAL)]) == 0
    assert in_cache(Path(capsys.readouterr().out.strip()), tmp_path)


# -- autograder.data ------------------------------------------------------------------
def course_yml() -> dict:
    return yaml.safe_load((ROOT / "course.yml").read_text(encoding="utf-8"))


def test_course_data_files_match_course_yml():
    course = parse_course(course_yml(), ROOT, check_files=False)
    declared = {f.name: course_data.DataFileSpec(**f.model_dump()) for f in course.data.files}
    assert declared == FILES


@needs_real
def test_ensure_data_uses_course_search_dirs(tmp_path):
    data = course_yml()
    data["data"]["search_dirs"] = [os.path.relpath(REAL.parent, tmp_path)]
    course = parse_course(data, tmp_path, check_files=False)
    assert ensure_data(course, download=False).resolve() == REAL.resolve()
    assert data_status(course) == [(NAME, ensure_data(course, download=False), f"search dir {REAL.parent.resolve()}")]
    cached = ensure_data(course, local=REAL)  # what `course data --path` does
    assert in_cache(cached, tmp_path)


def test_ensure_data_refuses_a_disagreeing_course(tmp_path):
    data = course_yml()
    data["data"]["files"][0]["sha256"] = "0" * 64
    course = parse_course(data, tmp_path, check_files=False)
    with pytest.raises(CourseConfigError) as err:
        ensure_data(course)
    assert "0" * 64 in str(err.value) and SPEC.sha256 in str(err.value)
    assert "course.yml" in str(err.value) and "course_data.py" in str(err.value)
    with pytest.raises(CourseConfigError, match="no data file"):
        ensure_data(parse_course(course_yml(), tmp_path, check_files=False), "other.fits")
    assert data_status(course)[0][1] is None


def test_the_data_file_is_described_once(tmp_path):
    """course.yml describes the data file; `course release` writes that description into
    the course_data.py students get, and a hand-edited copy is named by its checks."""
    from autograder.config import load_course
    from autograder.data import helper_source, spec_for, write_helper

    from .conftest import copy_course

    root = copy_course(tmp_path / "course")
    course = load_course(root)
    assert write_helper(course) is False  # the committed helper agrees with course.yml
    text = (root / "course.yml").read_text()
    (root / "course.yml").write_text(text.replace("url: https://python4astronomers.github.io/_downloads/core_examples.tar",
                                                  "url: https://mirror.example.org/core_examples.tar"))
    changed = load_course(root)
    assert "mirror.example.org" in helper_source(changed, (root / "course_data.py").read_text())
    assert write_helper(changed) is True
    namespace: dict = {}
    exec(compile((root / "course_data.py").read_text(), "course_data.py", "exec"), namespace)
    assert namespace["FILES"]["3c120_stis.fits.gz"].url == "https://mirror.example.org/core_examples.tar"
    with pytest.raises(Exception, match="disagree"):
        spec_for(changed)  # this process's course_data still holds the old description
