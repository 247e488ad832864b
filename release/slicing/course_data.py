"""Get a verified copy of the course's data file, wherever it can be had.

This module is standalone (standard library and astropy only) so that the course can
copy it next to every notebook.  In a notebook, one line gives the path::

    from course_data import fetch; path = fetch()          # the verified 3C120 file

:func:`fetch` looks, in this order, at: a path given as ``local``; the folder in the
environment variable ``COURSE_DATA_DIR``; the current folder; the ``search_dirs``;
astropy's download cache; and finally downloads the public tarball, extracts the one
file it needs and keeps it in the cache.  Every copy is checked (size, then sha256)
before it is used: a wrong copy raises :class:`ChecksumMismatch` naming the file, and
when no copy can be had :class:`DataUnavailable` says where it looked and how to
provide one.  From a shell, ``python -m course_data [PATH]`` does the same and, given
a PATH, stores the verified copy in the cache.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

__all__ = [
    "FILES",
    "ChecksumMismatch",
    "DataFileSpec",
    "DataUnavailable",
    "fetch",
    "how_to_provide",
    "locate",
    "sha256_of",
    "store_in_cache",
    "verify",
]

ENV_VAR = "COURSE_DATA_DIR"
PKGNAME = "numpy-3c120"
DEFAULT = "3c120_stis.fits.gz"
TIMEOUT = 60.0  # seconds, for the download
_CHUNK = 1 << 20


@dataclass(frozen=True)
class DataFileSpec:
    """A data file: its name, how to verify it and where to download it.

    ``url`` is the public source; when ``member`` is set, ``url`` is a tar archive
    (sha256 ``archive_sha256``) and the file is that member of it.
    """

    name: str
    sha256: str
    size: int
    url: str
    archive_sha256: str | None = None
    member: str | None = None

    @property
    def cache_key(self) -> str:
        """The key of the verified file in astropy's download cache."""
        return f"{self.url}#{self.member}" if self.member else self.url


# BEGIN FILES: generated from course.yml's data.files by `course release`; do not edit here
FILES: dict[str, DataFileSpec] = {
    spec.name: spec
    for spec in [
        DataFileSpec(
            name="3c120_stis.fits.gz",
            sha256="2f149b361cfa8152d29d19aa697064cbbea4d1ddf2d70261dfb10576aef6ddd5",
            size=1907603,
            url="https://python4astronomers.github.io/_downloads/core_examples.tar",
            archive_sha256="12fa7a3321dec42f927aacc6dee1fd5c07adc9c744afb1c8e23eeb2f8df562bf",
            member="py4ast/core/3c120_stis.fits.gz",
        ),
    ]
}
# END FILES


class DataUnavailable(RuntimeError):
    """No verified copy of a data file could be had; the message says how to provide one."""


class ChecksumMismatch(DataUnavailable):
    """A copy was found but its size or sha256 is wrong; it is refused and not used."""

    def __init__(self, path, spec: DataFileSpec, actual_size: int, actual_sha256: str | None):
        self.path, self.spec = Path(path), spec
        self.actual_size, self.actual_sha256 = actual_size, actual_sha256
        if actual_sha256 is None:
            got = f"{actual_size} bytes instead of {spec.size} (truncated or a different file)"
        else:
            got = f"sha256 {actual_sha256} instead of {spec.sha256} (size {actual_size} bytes)"
        super().__init__(
            f"{self.path} is not a good copy of {spec.name}: it has {got}. "
            f"Expected {spec.size} bytes, sha256 {spec.sha256}. "
            "The file is refused and not used: replace or remove it."
        )

    def __reduce__(self):  # picklable, e.g. across a grader's worker processes
        return type(self), (self.path, self.spec, self.actual_size, self.actual_sha256)


# -- checking -----------------------------------------------------------------------
def sha256_of(path) -> str:
    """Hex sha256 of the file at ``path``, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path, spec: DataFileSpec) -> Path:
    """Return ``Path(path)`` if its size and then its sha256 match ``spec``.

    Raises
    ------
    ChecksumMismatch
        Naming the file, the expected and the actual size or sha256.
    """
    path = Path(path)
    size = path.stat().st_size
    # the autograder's second-input run puts a changed copy of the file at the same path
    # and names it here ("size:sha256", comma-separated), in that run's process only
    second = {a for a in os.environ.get("COURSE_DATA_SECOND_INPUT", "").split(",") if a}
    if size != spec.size and not any(a.startswith(f"{size}:") for a in second):
        raise ChecksumMismatch(path, spec, size, None)
    digest = sha256_of(path)
    if digest != spec.sha256 and f"{size}:{digest}" not in second:
        raise ChecksumMismatch(path, spec, size, digest)
    return path


# -- the cache ----------------------------------------------------------------------
def _cached(spec: DataFileSpec, pkgname: str) -> Path | None:
    """The cached copy of ``spec`` (not yet verified), or None."""
    from astropy.utils.data import download_file

    try:  # with no sources, download_file only looks in the cache
        return Path(download_file(spec.cache_key, cache=True, pkgname=pkgname, sources=[]))
    except KeyError:
        return None


def _evict(spec: DataFileSpec, pkgname: str) -> None:
    from astropy.utils.data import clear_download_cache

    clear_download_cache(spec.cache_key, pkgname=pkgname)


def _import(path: Path, spec: DataFileSpec, pkgname: str, *, remove_original: bool = False) -> Path:
    """Copy a verified file into the cache (atomically) and return the cached path."""
    from astropy.utils.data import import_file_to_cache

    cached = import_file_to_cache(
        spec.cache_key, str(path), remove_original=remove_original, pkgname=pkgname
    )
    return verify(cached, spec)


def _cache_dir(pkgname: str) -> str:
    from astropy.config.paths import get_cache_dir

    try:
        return os.path.join(get_cache_dir(pkgname), "download", "url")
    except OSError as exc:
        return f"(no usable cache folder: {exc})"


def store_in_cache(
    path, name: str = DEFAULT, *, pkgname: str = PKGNAME, spec: DataFileSpec | None = None
) -> Path:
    """Verify a local copy (a file, or a folder holding it) and store it in the cache.

    Afterwards :func:`fetch` finds it without a local copy or the network.  The
    original is only read, never moved or changed.

    Returns
    -------
    Path
        The verified copy in astropy's download cache.
    """
    spec = spec or _spec(name)
    found = _in(Path(path).expanduser(), spec)
    if found is None:
        raise DataUnavailable(f"no file {spec.name} at {path} (give the file or a folder holding it)")
    return _import(verify(found, spec), spec, pkgname)


# -- the download -------------------------------------------------------------------
def _download(spec: DataFileSpec, pkgname: str) -> Path:
    """Download ``spec.url``, check it, extract ``spec.member`` and cache it.

    Any problem raises OSError, tarfile.TarError or DataUnavailable with the reason.
    """
    from astropy.utils.data import download_file

    downloaded = Path(download_file(spec.url, cache=False, pkgname=pkgname, timeout=TIMEOUT))
    try:
        if spec.member is None:
            return _import(verify(downloaded, spec), spec, pkgname)
        if spec.archive_sha256 and (got := sha256_of(downloaded)) != spec.archive_sha256:
            raise DataUnavailable(
                f"the downloaded archive has sha256 {got}, expected {spec.archive_sha256}; refused"
            )
        with tempfile.TemporaryDirectory(prefix="course-data-") as tmp:
            extracted = _extract(downloaded, spec, Path(tmp))
            return _import(verify(extracted, spec), spec, pkgname, remove_original=True)
    finally:
        downloaded.unlink(missing_ok=True)


def _extract(tarball: Path, spec: DataFileSpec, folder: Path) -> Path:
    """Extract only ``spec.member`` (a regular file with a relative path) to ``folder``."""
    with tarfile.open(tarball, "r:*") as tar:
        try:
            info = tar.getmember(spec.member)
        except KeyError:
            raise DataUnavailable(f"the archive has no member {spec.member}") from None
        parts = PurePosixPath(info.name).parts
        if info.name.startswith("/") or ".." in parts or not info.isfile():
            raise DataUnavailable(
                f"the archive member {info.name} is a link, not a plain file, or leaves the archive; refused"
            )
        out = folder / spec.name  # our own name: the member's path is never used as a path
        with tar.extractfile(info) as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst, _CHUNK)
    return out


# -- the search ---------------------------------------------------------------------
def _spec(name: str) -> DataFileSpec:
    try:
        return FILES[name]
    except KeyError:
        raise ValueError(f"unknown data file {name!r}; known: {', '.join(FILES)}") from None


def _in(place: Path, spec: DataFileSpec) -> Path | None:
    """``place`` if it is a file, ``place/name`` if that is one, else None."""
    if place.is_file():
        return place
    candidate = place / spec.name
    return candidate if candidate.is_file() else None


def how_to_provide(spec: DataFileSpec) -> str:
    """The instructions that end every :class:`DataUnavailable` message."""
    source = f"{spec.url} (a tar archive; the file is its member {spec.member})" if spec.member else spec.url
    return (
        "To provide a copy, do one of:\n"
        "  (a) course data --path /folder/with/the/file   (verifies it and stores it in the cache;\n"
        "      without the course tools: python -m course_data /folder/with/the/file)\n"
        f"  (b) export {ENV_VAR}=/folder/with/the/file   (before starting Python or Jupyter)\n"
        f"  (c) put {spec.name} beside the notebook\n"
        f"Download it by hand from {source}.\n"
        f"Expected: {spec.name}, {spec.size} bytes, sha256 {spec.sha256}"
    )


def locate(
    name: str = DEFAULT,
    *,
    local=None,
    search_dirs=(),
    download: bool = True,
    pkgname: str = PKGNAME,
    spec: DataFileSpec | None = None,
) -> tuple[Path, str]:
    """Like :func:`fetch`, but return ``(path, where it came from)``."""
    spec = spec or _spec(name)
    if local is not None:
        found = _in(Path(local).expanduser(), spec)
        if found is None:
            raise DataUnavailable(f"no file {spec.name} at {local} (given as the local copy)")
        return verify(found, spec), f"local path {local}"
    if os.environ.get(ENV_VAR):
        folder = Path(os.environ[ENV_VAR]).expanduser()
        if not (folder / spec.name).is_file():
            raise DataUnavailable(
                f"{ENV_VAR}={folder} is set but {folder / spec.name} does not exist: "
                f"put {spec.name} there or unset {ENV_VAR}"
            )
        return verify(folder / spec.name, spec), f"{ENV_VAR}={folder}"

    looked = [f"{ENV_VAR}: not set"]
    folders = [("current folder", Path.cwd()), *(("search dir", Path(d)) for d in search_dirs)]
    for where, folder in folders:
        candidate = folder / spec.name
        if candidate.is_file():
            return verify(candidate, spec), f"{where} {folder}"
        looked.append(f"{where}: no {candidate}")

    cached = _cached(spec, pkgname)
    if cached is not None:
        try:
            return verify(cached, spec), f"astropy cache ({pkgname})"
        except ChecksumMismatch as exc:
            _evict(spec, pkgname)
            looked.append(f"astropy cache: a bad copy was removed ({exc})")
    else:
        looked.append(f"astropy cache: no {spec.cache_key} in {_cache_dir(pkgname)}")

    if download:
        try:
            path = _download(spec, pkgname)
            return path, f"downloaded from {spec.url} into the astropy cache ({pkgname})"
        except (OSError, tarfile.TarError, EOFError, DataUnavailable) as exc:
            looked.append(f"download of {spec.url} failed: {exc}")
    else:
        looked.append("download: not attempted (download=False)")
    places = "".join(f"\n  - {line}" for line in looked)
    raise DataUnavailable(
        f"no verified copy of {spec.name} could be found or downloaded. "
        f"Looked at:{places}\n{how_to_provide(spec)}"
    )


def fetch(
    name: str = DEFAULT,
    *,
    local=None,
    search_dirs=(),
    download: bool = True,
    pkgname: str = PKGNAME,
    spec: DataFileSpec | None = None,
) -> Path:
    """Return the path of a verified copy of a course data file.

    Looks, first hit wins, at: ``local``; ``$COURSE_DATA_DIR``; the current folder;
    each of ``search_dirs``; astropy's download cache; and (if ``download``) the
    public source, whose file is then kept in the cache.

    Parameters
    ----------
    name : str
        A key of :data:`FILES`.
    local : path-like, optional
        A file, or a folder holding it.  If given it must hold the file.
    search_dirs : iterable of path-like
        Folders to look in; missing ones are skipped.
    download : bool
        Whether to download when no copy is found.
    pkgname : str
        Name of astropy's download cache to use.
    spec : DataFileSpec, optional
        Use this description instead of ``FILES[name]``.

    Returns
    -------
    Path
        A copy whose size and sha256 were just checked.

    Raises
    ------
    ChecksumMismatch
        A copy at ``local``, ``$COURSE_DATA_DIR``, the current folder or a search
        dir is not the right file (a bad cached copy is removed instead).
    DataUnavailable
        No copy could be had; the message lists where it looked and how to provide one.
    """
    found = locate(
        name, local=local, search_dirs=search_dirs, download=download, pkgname=pkgname, spec=spec
    )
    return found[0]


def main(argv: list[str]) -> int:
    """``python -m course_data [PATH]``: print the verified copy's path (PATH: store it first)."""
    try:
        print(store_in_cache(argv[0]) if argv else fetch())
    except DataUnavailable as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
