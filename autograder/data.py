"""The course's view of its data: :mod:`course_data` driven by course.yml.

:mod:`course_data` (a standalone module copied beside every notebook) does the
finding, verifying, caching and downloading.  Here course.yml says which file and
which extra folders (``data.search_dirs``, relative to course.yml) to search.  The file
is described once, in course.yml: ``course release`` writes that description into
course_data.py's ``FILES`` block (:func:`write_helper`), so the copy students get
always agrees, and a hand-edited block is reported by name (:func:`spec_for`).
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import course_data
from course_data import ChecksumMismatch, DataFileSpec, DataUnavailable

from .config import Course, CourseConfigError, DataFile

__all__ = [
    "helper_source",
    "write_helper",
    "ChecksumMismatch",
    "DataUnavailable",
    "data_status",
    "ensure_data",
    "search_dirs",
    "spec_for",
]


def spec_for(course: Course, name: str | None = None) -> DataFileSpec:
    """course.yml's description of data file ``name`` (default: the first declared).

    Raises
    ------
    CourseConfigError
        If course.yml does not declare it, or declares it differently from
        ``course_data.FILES`` (the copy students get): both are named.
    """
    if name is None:
        entry: DataFile = course.data.files[0]
    else:
        try:
            entry = course.data_file(name)
        except KeyError as exc:
            raise CourseConfigError(exc.args[0]) from None
    spec = DataFileSpec(**entry.model_dump())
    builtin = course_data.FILES.get(spec.name)
    if builtin != spec:
        theirs = "nothing" if builtin is None else repr(builtin)
        msg = (
            f"course.yml and course_data.py disagree about data file {spec.name!r}; they must agree.\n"
            f"  course.yml:     {spec!r}\n"
            f"  course_data.py: {theirs}"
        )
        raise CourseConfigError(msg)
    return spec


def search_dirs(course: Course) -> list[Path]:
    """course.yml's ``data.search_dirs``, resolved against the folder of course.yml."""
    return [(course.root / d).resolve() for d in course.data.search_dirs]


def ensure_data(
    course: Course,
    name: str | None = None,
    *,
    local: str | PathLike[str] | None = None,
    download: bool = True,
    cache_local: bool = True,
) -> Path:
    """Path of a verified copy of a course data file (default: the first declared).

    Searches as :func:`course_data.fetch` does, with course.yml's ``search_dirs``.
    A ``local`` copy (a file or a folder holding it; what ``course data --path``
    passes) is verified and, with ``cache_local``, stored in the download cache, whose
    path is then returned, so that notebooks find it later without the path.

    Raises
    ------
    CourseConfigError
        course.yml and course_data.py describe the file differently.
    ChecksumMismatch
        A copy was found but is not the right file (the message names it).
    DataUnavailable
        No copy could be had (the message says where it looked and what to do).
    """
    spec = spec_for(course, name)
    if local is not None and cache_local:
        return course_data.store_in_cache(local, spec=spec)
    return course_data.fetch(
        spec.name, local=local, search_dirs=search_dirs(course), download=download, spec=spec
    )


def data_status(course: Course) -> list[tuple[str, Path | None, str]]:
    """For each declared data file: ``(name, path or None, where it is or why not)``.

    Never downloads.  Looking does verify the copies found, and removes a bad one from
    the download cache.
    """
    rows = []
    for entry in course.data.files:
        try:
            spec = spec_for(course, entry.name)
            path, source = course_data.locate(
                spec.name, search_dirs=search_dirs(course), download=False, spec=spec
            )
        except (CourseConfigError, DataUnavailable) as exc:
            rows.append((entry.name, None, str(exc)))
        else:
            rows.append((entry.name, path, source))
    return rows


_BEGIN = "# BEGIN FILES"
_END = "# END FILES"


def helper_source(course: Course, text: str) -> str:
    """``text`` (course_data.py) with its ``FILES`` block written from course.yml."""
    start, end = text.index(_BEGIN), text.index(_END)
    head = text[start:].split("\n", 1)[0]
    specs = "".join(
        "        DataFileSpec(\n" + "".join(f"            {k}={_literal(v)},\n" for k, v in f.model_dump().items())
        + "        ),\n"
        for f in course.data.files
    )
    block = (f"{head}\nFILES: dict[str, DataFileSpec] = {{\n    spec.name: spec\n    for spec in [\n{specs}"
             "    ]\n}\n")
    return text[:start] + block + text[end:]


def _literal(value) -> str:
    import json

    return json.dumps(value) if isinstance(value, str) else repr(value)


def write_helper(course: Course) -> bool:
    """Bring the course's course_data.py in line with course.yml; True if it changed."""
    from .fileio import atomic_write_text

    path = course.root / "course_data.py"
    text = path.read_text(encoding="utf-8")
    new = helper_source(course, text)
    if new == text:
        return False
    atomic_write_text(path, new)
    return True
