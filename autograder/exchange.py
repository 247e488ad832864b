"""A JupyterHub class: nbgrader's exchange, from release to feedback.

course.yml's ``exchange.root`` names nbgrader's exchange folder (``Exchange.root``; on
JupyterHub usually ``/srv/nbgrader/exchange``, shared by every student's server).  A
course without it keeps working as before (its exchange is a private, unused folder).
Students use nbgrader's own tools, in the Assignment List of JupyterLab or Notebook or
on the command line: ``nbgrader fetch_assignment``, ``nbgrader submit`` and
``nbgrader fetch_feedback``; their nbgrader configuration names the course and the
exchange (:func:`student_config`).  Each step of the instructor's is nbgrader's too:

* :func:`release_assignments` (``course release --exchange``): nbgrader's
  ``release_assignment`` publishes ``release/<assignment>/`` to the exchange's outbound
  folder (after ``course release`` regenerated it).
* :func:`collect_from_exchange` (``course collect --exchange``): nbgrader's exchange
  collect chooses each student's submission (the newest; nbgrader's rules), then
  ``course collect``'s checks take it: every file is read without following links, only
  ``<notebook>.ipynb``, ``timestamp.txt`` (nbgrader's submission time) and
  ``submission_secret.txt`` (what nbgrader's feedback release needs) are taken, other
  files the student's folder held (``course_data.py``, scratch files) are left in the
  exchange and listed as ignored.  A submission folder owned by another account than the
  student it names is refused (``exchange.check_owner``), as is a student id that is
  not a safe folder name or, once a roster is imported, not in it.  nbgrader's own copy would
  follow symbolic links the student planted; this one does not.
* :func:`release_feedback` (``course feedback --release``): nbgrader's
  ``release_feedback`` publishes ``feedback/<student>/<assignment>/<notebook>.html``
  (the pages ``course feedback`` writes, one per notebook) for every submission that
  came through the exchange, hashed with its ``submission_secret.txt`` as nbgrader
  requires; students fetch them with ``fetch_feedback``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from .config import Course
from .display import visible
from .errors import UserError

__all__ = ["ExchangeProblem", "NoExchange", "prepare_exchange", "release_assignments", "collect_from_exchange", "release_feedback",
           "FeedbackRelease", "student_config"]

SECRET = "submission_secret.txt"


class NoExchange(UserError, RuntimeError):
    """course.yml names no exchange."""


class ExchangeProblem(UserError, RuntimeError):
    """nbgrader's exchange refused a step (its message says why)."""


def _need_exchange(course: Course):
    if course.exchange is None:
        raise NoExchange("course.yml names no exchange: add `exchange: {root: /srv/nbgrader/exchange}` (nbgrader's "
                         "exchange folder, shared by the students' Jupyter servers) for a JupyterHub class")
    return course.exchange


def _nbgrader(course: Course, assignment: str, *, root: Path | None = None):
    """nbgrader's configuration, CourseDirectory and authenticator for one assignment."""
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory

    from .nbgrader_adapter import nbgrader_config

    config = nbgrader_config(course)
    coursedir = CourseDirectory(config=config)
    if root is not None:
        coursedir.root = str(root)
    coursedir.assignment_id = assignment
    return config, coursedir, Authenticator(config=config)


@contextlib.contextmanager
def _exchange_errors(what: str):
    from nbgrader.exchange import ExchangeError

    try:
        yield
    except ExchangeError as exc:
        raise ExchangeProblem(f"{what}: nbgrader's exchange refused: {exc}") from None


def student_config(course: Course) -> str:
    """The lines of the students' nbgrader_config.py (on JupyterHub, /etc/jupyter/nbgrader_config.py)."""
    ex = _need_exchange(course)
    return (f"c = get_config()  # noqa\nc.CourseDirectory.course_id = {course.course.id!r}\n"
            f"c.Exchange.root = {ex.root!r}\n")


def prepare_exchange(course: Course) -> Path:
    """Make the exchange folder if it does not exist yet, writable by everyone, as
    nbgrader's release_assignment would (before anything else looks for it)."""
    from nbgrader.exchange import ExchangeFactory

    ex = _need_exchange(course)
    config, coursedir, auth = _nbgrader(course, "")
    release = ExchangeFactory(config=config).ReleaseAssignment(coursedir=coursedir, authenticator=auth, config=config)
    with _exchange_errors("preparing the exchange"):
        release.ensure_root()
    return Path(ex.root)


def release_assignments(course: Course, assignment_ids: list[str] | None = None) -> list[str]:
    """Publish ``release/<assignment>/`` with nbgrader's release_assignment (replacing a
    previous release of it); the assignments published."""
    from nbgrader.exchange import ExchangeFactory

    _need_exchange(course)
    ids = [course.assignment(a).id for a in assignment_ids] if assignment_ids else [a.id for a in course.assignments]
    for aid in ids:
        config, coursedir, auth = _nbgrader(course, aid)
        release = ExchangeFactory(config=config).ReleaseAssignment(coursedir=coursedir, authenticator=auth,
                                                                  config=config)
        release.force = True
        with _exchange_errors(f"releasing {aid!r}"):
            release.start()
    return ids


def _chosen_submissions(course: Course, assignment: str) -> tuple[Path, list[dict], list[str]]:
    """nbgrader's choice of each student's submission in the inbound folder, and the
    folders whose names nbgrader cannot read (a time that is not one)."""
    from nbgrader.exchange.default.collect import ExchangeCollect

    class Choose(ExchangeCollect):
        """nbgrader's exchange collect, choosing; the copying is course collect's."""

        unreadable: list[str] = []

        def _path_to_record(self, path):
            try:
                return super()._path_to_record(path)
            except Exception:  # noqa: BLE001 - a folder named by hand in the inbound folder, say
                self.unreadable.append(os.path.basename(path))
                return {"username": None, "filename": os.path.basename(path), "timestamp": None}

        def _sort_by_timestamp(self, records):
            dated = [r for r in records if r["timestamp"] is not None]
            return super()._sort_by_timestamp(dated) + [r for r in records if r["timestamp"] is None]

        def init_src(self):
            self.unreadable = []
            super().init_src()

        def copy_files(self):
            self.chosen = [r for r in self.src_records if r["username"] is not None]

    config, coursedir, auth = _nbgrader(course, assignment)
    chooser = Choose(coursedir=coursedir, authenticator=auth, config=config)
    with _exchange_errors(f"collecting {assignment!r}"):
        chooser.start()
    return Path(chooser.inbound_path), chooser.chosen, chooser.unreadable


def collect_from_exchange(course: Course, *, assignments: list[str] | None = None, dest: Path | None = None):
    """Take each student's submission of ``assignments`` (default: all) from the
    exchange into ``submitted/`` (see the module docstring); a CollectReport per
    assignment.  Holds the course's lock."""
    from .collect import Refused, collect_submission_folders
    from .lock import course_lock
    from .roster import load_roster

    ex = _need_exchange(course)
    ids = [course.assignment(a).id for a in assignments] if assignments else [a.id for a in course.assignments]
    reports = []
    with course_lock(course, "collect --exchange"):
        roster = load_roster(course)
        known = (lambda s: roster.get(s) is not None) if roster.imported and roster else None
        for aid in ids:
            inbound, chosen, unreadable = _chosen_submissions(course, aid)
            folders = sorted((r["username"], aid, r["filename"]) for r in chosen)
            report = collect_submission_folders(course, inbound, folders, dest=dest, check_owner=ex.check_owner,
                                                known=known)
            report.refused += [Refused(str(inbound / name), "not named <student>+<assignment>+<time>+... as "
                                                             "nbgrader's submit names submissions: not read")
                               for name in unreadable]
            if not chosen:
                report.notes.append(f"no submissions of {aid!r} in the exchange")
            reports.append(report)
    return reports


@dataclass
class FeedbackRelease:
    """What :func:`release_feedback` published, and what it could not."""

    released: list[tuple[str, str, str]] = field(default_factory=list)  # (student, assignment, notebook)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (student, assignment, reason)

    def summary(self) -> str:
        n = len(self.released)
        lines = [f"released {n} feedback page{'' if n == 1 else 's'} to the exchange; skipped {len(self.skipped)}"]
        lines += [f"  skipped {visible(s)}/{visible(a)}: {visible(why)}" for s, a, why in self.skipped]
        return "\n".join(lines)


def release_feedback(course: Course, *, assignments: list[str] | None = None,
                     students: list[str] | None = None) -> FeedbackRelease:
    """Publish the feedback pages of exchange submissions with nbgrader's release_feedback."""
    from nbgrader.exchange import ExchangeFactory

    _need_exchange(course)
    chosen = [course.assignment(a) for a in assignments] if assignments else list(course.assignments)
    result = FeedbackRelease()
    feedback = course.folder("feedback")
    course.state_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="feedback-release-", dir=course.state_dir))
    try:
        for a in chosen:
            who = students or (sorted(p.name for p in feedback.iterdir() if p.is_dir()) if feedback.is_dir() else [])
            ready = [s for s in who if _stage(course, a, s, staging, result)]
            if not ready:
                continue
            config, coursedir, auth = _nbgrader(course, a.id, root=staging)
            release = ExchangeFactory(config=config).ReleaseFeedback(coursedir=coursedir, authenticator=auth,
                                                                    config=config)
            with _exchange_errors(f"releasing feedback of {a.id!r}"), warnings.catch_warnings():
                # nbgrader 0.9 reads each timestamp.txt without closing it
                warnings.simplefilter("ignore", ResourceWarning)
                release.start()
            result.released += [(s, a.id, nb.name) for s in ready for nb in a.notebooks]
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return result


def _stage(course: Course, a, student: str, staging: Path, result: FeedbackRelease) -> bool:
    """Copy one submission's pages, timestamp and secret where release_feedback looks."""
    from .fileio import NotRegular, TooLarge, read_untrusted

    pages = course.folder("feedback", student, a.id)
    submitted = course.folder("submitted", student, a.id)
    missing = [nb.name for nb in a.notebooks if not (pages / f"{nb.name}.html").is_file()]
    if missing:
        result.skipped.append((student, a.id, "no feedback page yet (run `course feedback`)"))
        return False
    try:
        secret = read_untrusted(submitted / SECRET, max_bytes=4096)
        stamp = read_untrusted(submitted / "timestamp.txt", max_bytes=4096)
    except FileNotFoundError:
        result.skipped.append((student, a.id, "not submitted through the exchange (no submission_secret.txt)"))
        return False
    except (OSError, NotRegular, TooLarge) as exc:
        result.skipped.append((student, a.id, f"its submission files cannot be read ({exc})"))
        return False
    target = staging / "feedback" / student / a.id
    target.mkdir(parents=True)
    for nb in a.notebooks:
        shutil.copyfile(pages / f"{nb.name}.html", target / f"{nb.name}.html")
    (target / SECRET).write_bytes(secret)
    (target / "timestamp.txt").write_bytes(stamp)
    return True
