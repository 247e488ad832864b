"""``course release``: generate the student versions in ``release/`` with nbgrader.

nbgrader's ``generate_assignment`` does the work: solutions replaced by stubs, hidden
tests removed, checksums recorded, and the gradebook told about every graded cell (which
is what lets autograding restore the instructor's cells later).  Each assignment's due
date (course.yml) goes into the gradebook too, where nbgrader reads it.

nbgrader removes ``release/<assignment>/`` before it generates the assignment again, and
leaves it removed when it then refuses (a cell added or removed while the assignment has
submissions) or fails: the folder is copied aside first and put back as it was when
nbgrader does not succeed, so a refused release changes nothing there.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path

from .config import Course
from .errors import UserError
from .data import write_helper
from .lock import course_lock

__all__ = ["ReleaseError", "release"]


class ReleaseError(UserError, RuntimeError):
    """The course is inconsistent, or nbgrader refused to generate an assignment."""


def release(course: Course, assignment_ids: list[str] | None = None) -> list[Path]:
    """Generate ``release/<assignment>/`` for the given (default: all) assignments.

    The course is validated first; nothing is written if it is inconsistent.
    Returns the released notebook paths.
    """
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    from . import nbgrader_adapter
    from .validate import validate_course

    ids = [course.assignment(a).id for a in assignment_ids] if assignment_ids else [a.id for a in course.assignments]
    problems = validate_course(course)
    if problems:
        raise ReleaseError("course is not consistent; nothing was released:\n  " + "\n  ".join(problems))
    config = nbgrader_adapter.nbgrader_config(course)
    api = NbGraderAPI(CourseDirectory(config=config), config=config)
    write_helper(course)  # the data file as course.yml describes it, in the copy students get
    with course_lock(course, "release"):
        return _generate(course, api, ids)


def _generate(course: Course, api, ids: list[str]) -> list[Path]:
    written = []
    for aid in ids:
        with _kept_on_failure(course.folder("release", assignment=aid)) as kept:
            result = api.generate_assignment(aid, force=True, create=True)
            kept.succeeded = bool(result.get("success"))
        if not result.get("success"):
            if "because there are submissions associated with it" in (result.get("log") or ""):
                raise ReleaseError(_cells_fixed(course, aid))
            detail = result.get("error") or result.get("log") or "no details"
            raise ReleaseError(f"nbgrader could not generate {aid!r}:\n{detail}")
        a = course.assignment(aid)
        written += [course.release_notebook(a, nb) for nb in a.notebooks]
    _due_dates(course)
    return written


def _cells_fixed(course: Course, aid: str) -> str:
    """Why nbgrader refused to generate ``aid``: its cells changed (one added or removed),
    and nbgrader keeps the cells of a notebook with submissions in the gradebook; which
    of those submissions only hold an extension (given before the student submitted)."""
    from nbgrader.api import Gradebook

    from .gradebook import db_url, holds_only_an_extension, reporting_unavailable

    with reporting_unavailable(course), Gradebook(db_url(course), course.course.id) as gb:
        subs = gb.assignment_submissions(aid)
        held = sorted(s.student.id for s in subs if holds_only_an_extension(s))
        total = len(subs)
    counted = f"{total} submission{'s' if total != 1 else ''}"
    if held:
        counted += (f"; {len(held)} only hold{'s' if len(held) == 1 else ''} an extension given before the student "
                    f"submitted ({', '.join(held)}): take those back with `course extension {aid} STUDENT --days 0`, "
                    "release, then give them again")
    message = (f"nbgrader could not generate {aid!r}: a cell was added or removed, and nbgrader keeps the cells of "
               f"an assignment that has submissions in the gradebook ({counted})")
    return message + f"; {course.folder('release', assignment=aid)} was left as it was"


class _Kept:
    succeeded = False


@contextlib.contextmanager
def _kept_on_failure(folder: Path):
    """A copy of ``folder`` (nbgrader's release folder of one assignment) taken before
    nbgrader runs, put back in its place unless the block sets ``succeeded`` (nbgrader
    removes the folder first and leaves it removed, or half written, when it fails)."""
    kept = _Kept()
    if not folder.exists():
        yield kept
        return
    with tempfile.TemporaryDirectory(prefix="course-release-") as tmp:
        copy = Path(tmp) / folder.name
        shutil.copytree(folder, copy, symlinks=True)
        try:
            yield kept
        finally:
            if not kept.succeeded:
                if folder.is_dir() and not folder.is_symlink():
                    shutil.rmtree(folder)
                elif folder.exists() or folder.is_symlink():
                    folder.unlink()
                shutil.copytree(copy, folder, symlinks=True)
                shutil.copystat(copy, folder)


def _due_dates(course: Course) -> None:
    """course.yml's due dates into the gradebook's assignments (nbgrader reads them there)."""
    from nbgrader.api import Gradebook

    from .gradebook import reporting_unavailable
    from .late import sync_due_dates
    from .gradebook import db_url

    with reporting_unavailable(course), Gradebook(db_url(course), course.course.id) as gb:
        sync_due_dates(course, gb)
