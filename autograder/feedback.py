"""``course feedback``: one self-contained HTML page per student and assignment.

:func:`write_feedback` writes ``feedback/<student>/<assignment>/feedback.html`` from
three sources: the gradebook (every question's score: the autograder's, or a grader's
override from the formgrader, see :mod:`autograder.gradebook`), the
:class:`~autograder.results.SubmissionRecord` that autograding left in
``autograded/<student>/<assignment>/`` (each question's status and message, the runs
of the student's code that were checked, the problems found in the submission), and
the graded notebooks themselves.  The page is rendered from the jinja2 template
``templates/feedback.html.j2``, with autoescaping on.

Safety (the student's notebook is untrusted; the page opens in the instructor's and
the student's browser):

* Hidden tests never appear: every cell's source goes through
  :func:`autograder.nbmeta.strip_hidden_tests` (nbgrader's own rule).
* Everything taken from the notebook, the record or the gradebook is escaped by the
  template, and control, escape and direction characters are made visible
  (:func:`autograder.display.visible`).  Markdown is rendered by markdown-it
  (CommonMark + tables) with raw HTML disabled (it shows as text), unsafe link schemes
  refused, and images shown only when they are embedded PNG/JPEG (a ``data:`` URL or
  a cell attachment); other images show as their alt text and address.
* Only ``text/plain``, ``image/png`` and ``image/jpeg`` outputs are rendered (plus
  streams and errors, as text, ANSI codes stripped with nbconvert's filter);
  ``text/html``, JavaScript, SVG and every other type are dropped, with a note naming
  the type.  Image data must be valid base64.
* The page carries a Content-Security-Policy allowing no script and no remote load,
  contains no script and no timestamp: rewriting it gives the same bytes.
* Rendering is bounded: a cell's markdown, source and each output are cut at
  :data:`MAX_CELL_CHARS` characters and the page at :data:`MAX_PAGE_CHARS`, each cut
  said on the page, so one page takes bounded time and memory whatever the notebook
  holds; a page that still cannot be rendered is skipped with its reason, and every
  other page is written.

Decisions:

* One verdict: every question's score is the gradebook's (the autograder's, a grader's
  manual score, extra credit), with the comment a grader wrote in the formgrader; its
  status is the autograder's while the autograder's score stands, ``graded by hand``
  once a grader gave a score (the autograder's message is kept, marked as its), and
  ``needs manual grading`` for a question graded by hand that no grader scored yet, or
  whose hand grade nbgrader flagged for review (shown with that grade's points).  The
  total is the gradebook's after nbgrader's late penalty; the page says when the work
  was submitted (in course.yml's ``schedule.timezone``), when it was due, how late it
  was, the penalty and the policy.  The record keeps only what the gradebook cannot
  hold: the autograder's messages and which runs of the student's code passed.
* Plots: the graded notebook's pictures when the grader drew them (course.yml
  ``grading.plots: jpeg`` or ``png``).  With ``none`` (the default), a code cell whose
  graded outputs hold no picture shows the pictures of the same cell (same id, same
  source) in the student's submitted notebook, under a line saying where they come
  from, in place of the ``<Figure size ...>`` text the grader's run printed.
* ``write_feedback`` returns a :class:`FeedbackResult`, a ``list`` of the written
  paths with ``.skipped``: every selected student and assignment with no page, and why;
  ``.failed`` are those that had a graded submission (``course feedback`` exits with
  status 1 when there are any).  A feedback folder that cannot be written at all (a
  read-only file system or folder) is no page's problem: it stops the run before any
  page is made, with one line (exit status 2), as it stops ``course export``.
* Known students are the folders of ``submitted/`` and ``autograded/`` (safe names
  only) and the gradebook's students; an unknown one is a NotFound error, like an
  unknown assignment.
"""

from __future__ import annotations

import base64
import binascii
import errno
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from .collect import safe_student_id
from .config import Assignment, Course
from .display import visible
from .errors import NotFound
from .fileio import atomic_write_text, check_writable_dir, os_error_text, read_untrusted
from .gradebook import GRADED, QuestionGrade, SubmissionScores, known_students, read_gradebook
from .nbmeta import grade_id, strip_hidden_tests, text
from .notebooks import MAX_NOTEBOOK_BYTES
from .results import MANUAL, PASSED, RecordError, SubmissionRecord

__all__ = ["FeedbackResult", "Skipped", "write_feedback", "render_feedback", "MAX_CELL_CHARS", "MAX_PAGE_CHARS"]

IMAGE_TYPES = ("image/png", "image/jpeg")
B64_RE = re.compile(r"^[A-Za-z0-9+/=\s]*$")
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
#: Characters of one cell's markdown or source, or of one output's text, shown at most.
MAX_CELL_CHARS = 100_000
#: Characters of one page (text and image data) rendered at most.
MAX_PAGE_CHARS = 12_000_000
RUN_LABELS = {"own": "on your own earlier results", "reference": "on the correct inputs",
              "secret": "on a second input"}

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; background: #fff; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ccc; }
table.questions { border-collapse: collapse; margin: 1rem 0; } caption { text-align: left; font-weight: bold; }
table.questions th, table.questions td { border: 1px solid #ccc; padding: .3rem .6rem; text-align: left; vertical-align: top; }
td.num { text-align: right; }
.pass { color: #1a6f30; font-weight: bold; } .fail { color: #a4161a; font-weight: bold; }
.cell { margin: .8rem 0; } .prompt { color: #555; font-family: monospace; font-size: .8rem; }
pre { background: #f6f8fa; padding: .5rem; overflow-x: auto; white-space: pre-wrap; word-break: break-word; }
pre.stderr, pre.error { background: #fdecea; } .test-label { font-size: .85rem; font-weight: bold; margin: 0; }
.dropped { color: #555; font-style: italic; font-size: .85rem; } img { max-width: 100%; }
.markdown { padding: 0 .5rem; } .note, .runs { color: #444; font-size: .85rem; margin: .3rem 0; }
td.comment { white-space: pre-wrap; } .late { margin: .3rem 0; }
"""


@dataclass(frozen=True)
class Skipped:
    """A selected student and assignment for which no page was written.

    ``failed``: there was a graded submission, but its page could not be made (an
    unreadable record, a notebook that could not be rendered, a file that could not be
    written); False when there is simply nothing to show yet.
    """

    student: str
    assignment: str
    reason: str
    failed: bool = False


class FeedbackResult(list):
    """The feedback pages written (a ``list`` of Path), plus what was skipped."""

    def __init__(self, paths=(), skipped=()):
        super().__init__(paths)
        self.skipped: list[Skipped] = list(skipped)

    @property
    def failed(self) -> list[Skipped]:
        """The pages of graded submissions that could not be made."""
        return [s for s in self.skipped if s.failed]

    def summary(self) -> str:
        lines = [f"wrote {len(self)} feedback pages; skipped {len(self.skipped)} ({len(self.failed)} failed)"]
        lines += [f"  {'FAILED ' if s.failed else 'skipped'} {visible(s.student)}/{visible(s.assignment)}: "
                  f"{visible(s.reason)}" for s in self.skipped]
        return "\n".join(lines)


# --------------------------------------------------------------------------------------
# the page's parts, as plain data for the template
# --------------------------------------------------------------------------------------
class _Budget:
    """What is left of the page's size budget."""

    def __init__(self, chars: int = MAX_PAGE_CHARS):
        self.left = chars

    def take(self, n: int) -> bool:
        self.left -= n
        return self.left >= 0


def _shown(value, what: str) -> tuple[str, str]:
    """``value`` as text to show (cut at MAX_CELL_CHARS, controls visible) and the note
    saying it was cut ("" if not)."""
    from nbconvert.filters import strip_ansi

    s = strip_ansi(text(value))
    note = ""
    if len(s) > MAX_CELL_CHARS:
        note = f"({what} cut: {len(s):,} characters, the first {MAX_CELL_CHARS:,} shown)"
        s = s[:MAX_CELL_CHARS]
    return visible(s, keep_newlines=True), note


def _image(mime: str, payload, alt: str) -> dict:
    data = "".join(text(payload).split())
    if not data or not B64_RE.match(data):
        return {"kind": "dropped", "note": "(an image output that is not base64 data was not shown)"}
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return {"kind": "dropped", "note": "(an image output that is not valid base64 was not shown)"}
    return {"kind": "image", "mime": mime, "data": data, "alt": visible(alt)}


def _data(out) -> dict:
    return out.get("data") if isinstance(out, dict) and isinstance(out.get("data"), dict) else {}


def _output(out, alt: str, budget: _Budget) -> dict | None:
    """One output as the template shows it (None: nothing to show)."""
    if not isinstance(out, dict):
        return None
    kind = out.get("output_type")
    if kind == "stream":
        shown, note = _shown(out.get("text"), "output")
        budget.take(len(shown))
        return {"kind": "stream", "name": "stderr" if out.get("name") == "stderr" else "stdout",
                "text": shown + (f"\n{note}" if note else "")}
    if kind == "error":
        tb = out.get("traceback")
        lines = "\n".join(text(t) for t in tb) if isinstance(tb, list) else ""
        shown, note = _shown(lines or f"{text(out.get('ename'))}: {text(out.get('evalue'))}", "error")
        budget.take(len(shown))
        return {"kind": "error", "text": shown + (f"\n{note}" if note else "")}
    if kind in ("display_data", "execute_result"):
        data = _data(out)
        for mime in IMAGE_TYPES:
            if mime in data:
                if not budget.take(len(text(data[mime]))):
                    return {"kind": "dropped", "note": "(an image not shown: this page reached its size limit)"}
                return _image(mime, data[mime], alt)
        if "text/plain" in data:
            shown, note = _shown(data["text/plain"], "output")
            budget.take(len(shown))
            return {"kind": "text", "text": shown + (f"\n{note}" if note else "")}
        if data:
            types = ", ".join(sorted(visible(k) for k in data))
            return {"kind": "dropped", "note": f"(output of type {types} not shown)"}
    return None


FIGURE_TEXT_RE = re.compile(r"^<Figure size [0-9.]+x[0-9.]+ with \d+ Axes>$")


def _has_image(out) -> bool:
    return (isinstance(out, dict) and out.get("output_type") in ("display_data", "execute_result")
            and any(m in _data(out) for m in IMAGE_TYPES))


def _is_figure_text(out) -> bool:
    """A ``<Figure size ...>`` output: what showing a figure prints when nothing draws it."""
    return bool(FIGURE_TEXT_RE.match(text(_data(out).get("text/plain", ""))))


def _submitted_pictures(path: Path) -> dict[tuple[str, str], list[dict]]:
    """(cell id, cleaned source) -> the picture outputs of that code cell in the
    student's submitted notebook; {} if it cannot be read (untrusted file)."""
    try:
        nb = json.loads(read_untrusted(path, max_bytes=MAX_NOTEBOOK_BYTES).decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError, MemoryError):
        return {}
    cells = nb.get("cells") if isinstance(nb, dict) and isinstance(nb.get("cells"), list) else []
    found: dict[tuple[str, str], list[dict]] = {}
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code" or not isinstance(cell.get("id"), str):
            continue
        outputs = cell.get("outputs") if isinstance(cell.get("outputs"), list) else []
        pictures = [o for o in outputs if _has_image(o)]
        if pictures:
            found[cell["id"], strip_hidden_tests(cell.get("source", ""))] = pictures
    return found


@cache
def _markdown_renderer():
    from markdown_it import MarkdownIt
    from markupsafe import escape

    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")

    def image(self, tokens, idx, options, env):
        token = tokens[idx]
        src = token.attrGet("src") or ""
        alt = "".join(t.content for t in (token.children or []))
        match = re.match(r"^data:(image/(?:png|jpeg));base64,(.*)$", src, re.S)
        picture = None
        if match:
            picture = _image(match.group(1), match.group(2), alt or "image")
        elif src.startswith("attachment:"):
            att = env.get("attachments", {}).get(src[len("attachment:"):])
            if isinstance(att, dict):
                mime = next((m for m in IMAGE_TYPES if isinstance(att.get(m), str | list)), None)
                if mime:
                    picture = _image(mime, att[mime], alt or "image")
        if picture and picture["kind"] == "image":
            return f'<img src="data:{picture["mime"]};base64,{picture["data"]}" alt="{escape(picture["alt"])}">'
        if picture:
            return f'<span class="dropped">{escape(picture["note"])}</span>'
        return f'<span class="dropped">[image: {escape(visible(alt))} ({escape(visible(src))})]</span>'

    def heading(self, tokens, idx, options, env):
        """A notebook's headings sit under the page's <h2> per notebook: each is shifted two
        levels down and never more than one below the one before (headings in order)."""
        token = tokens[idx]
        if token.type == "heading_open":
            levels = env.setdefault("levels", {"last": 2})
            wanted = int(token.tag[1]) + 2
            level = max(3, min(wanted, levels["last"] + 1, 6))
            levels["last"] = level
            env.setdefault("open", []).append(level)
            return f"<h{level}>"
        return f"</h{env.get('open', [3]).pop()}>\n"

    md.add_render_rule("image", image)
    md.add_render_rule("heading_open", heading)
    md.add_render_rule("heading_close", heading)
    return md


def _markdown(source, attachments, budget: _Budget, levels: dict):
    from markupsafe import Markup

    shown, note = _shown(source, "text")
    env = {"attachments": attachments if isinstance(attachments, dict) else {}, "levels": levels}
    html = _markdown_renderer().render(shown, env)
    budget.take(len(html))
    if note:
        html += f'<p class="dropped">{note}</p>'
    return Markup(html)  # noqa: S704 - markdown-it with raw HTML off; images checked above


def _cells(nb: dict, labels: dict[str, dict], submitted: dict, budget: _Budget) -> list[dict]:
    cells = []
    levels = {"last": 2}  # the page's <h2> for this notebook: its headings go below
    raw_cells = nb.get("cells") if isinstance(nb.get("cells"), list) else []
    for index, cell in enumerate(raw_cells):
        if not isinstance(cell, dict):
            continue
        if budget.left <= 0:
            cells.append({"kind": "cut", "note": f"({len(raw_cells) - index} more cells not shown: "
                                                 "this page reached its size limit)"})
            break
        kind = cell.get("cell_type")
        source = strip_hidden_tests(cell.get("source", ""))
        if kind == "markdown":
            cells.append({"kind": "markdown", "html": _markdown(source, cell.get("attachments"), budget, levels)})
        elif kind == "raw":
            shown, _ = _shown(source, "text")
            budget.take(len(shown))
            cells.append({"kind": "raw", "source": shown})
        elif kind == "code":
            cells.append(_code_cell(cell, source, labels.get(grade_id(cell) or ""), submitted, budget))
    return cells


def _code_cell(cell: dict, source: str, label: dict | None, submitted: dict, budget: _Budget) -> dict:
    count = cell.get("execution_count")
    outputs = cell.get("outputs") if isinstance(cell.get("outputs"), list) else []
    theirs = submitted.get((cell.get("id"), source)) if not any(_has_image(o) for o in outputs) else None
    if theirs:
        outputs = [o for o in outputs if not _is_figure_text(o)]
    shown, cut = _shown(source, "source")
    budget.take(len(shown))
    prompt = f"In [{count}]" if isinstance(count, int) else "In [ ]"
    first = next((ln.strip() for ln in shown.splitlines() if ln.strip() and not ln.lstrip().startswith("#")), "")
    about = f"cell {prompt}" + (f", which begins {first[:60]!r}" if first else "")
    return {
        "kind": "code",
        "prompt": f"{prompt}:",
        "label": label,
        "source": shown,
        "source_cut": cut,
        "outputs": [o for o in (_output(o, f"picture drawn by {about}", budget) for o in outputs) if o],
        "theirs": [o for o in (_output(o, f"plot from your submitted notebook, drawn by {about}", budget)
                               for o in theirs or []) if o],
    }


def _num(x) -> str:
    return f"{float(x):g}"


GRADED_BY_HAND = "graded by hand"


def _verdict(q, o, grade: QuestionGrade | None) -> tuple[str, float | None]:
    """A question's status and score: the gradebook's score; the autograder's status
    while its score stands, else the grader's (see the module docstring)."""
    if grade is None:  # no gradebook: the record alone
        return (o.status if o else "not graded"), (o.points if o else None)
    if grade.manual_score is not None:  # flagged by nbgrader too: a hand grade to review, not final yet
        return (MANUAL if grade.needs_manual else GRADED_BY_HAND), grade.score
    if q.manual and not grade.needs_manual and grade.score is not None:
        return "not answered", grade.score  # nbgrader's "No response.": the cell as released
    if q.manual or (grade.needs_manual and grade.score is None):
        return MANUAL, None
    if grade.score is None:
        return "not graded", None
    return (o.status if o else "not graded"), grade.score


def _questions(assignment: Assignment, record: SubmissionRecord, scores: SubmissionScores | None) -> list[dict]:
    rows = []
    for q in assignment.questions:
        o = record.outcome(q.id)
        grade = scores.grades.get(q.id, QuestionGrade()) if scores is not None and scores.grades else None
        status, points = _verdict(q, o, grade)
        by_hand = grade is not None and grade.manual_score is not None  # (a grader's score, final or to review)
        message = "" if o is None or o.passed or q.manual else visible(o.message, keep_newlines=True)
        rows.append({
            "id": q.id, "title": q.title or "", "max_points": _num(q.points),
            "points": "-" if points is None else _num(points),
            "status": status,
            "message": message,
            "autograder_note": by_hand and bool(message),
            "comment": visible(grade.comment, keep_newlines=True) if grade is not None and grade.comment else "",
            "extra_credit": _num(grade.extra_credit) if grade is not None and grade.extra_credit else "",
            "runs": [{"label": RUN_LABELS.get(r.kind, r.kind), "passed": r.passed}
                     for r in (o.runs if o and not by_hand else ())],
        })
    return rows


def _lateness(course: Course, assignment: Assignment, scores: SubmissionScores | None) -> dict | None:
    """The submission's time, its due date and any late penalty, for the page."""
    from .late import describe, duration, local_time

    if scores is None or scores.timestamp is None:
        return None
    policy = course.late_policy(assignment)
    late = scores.duedate is not None and scores.seconds_late > policy.grace_minutes * 60
    return {
        "submitted": local_time(scores.timestamp, course.schedule.timezone),
        "due": local_time(scores.duedate, course.schedule.timezone) if scores.duedate is not None else "",
        "late_by": duration(scores.seconds_late) if late else "",
        "penalty": _num(scores.penalty) if scores.penalty else "",
        "raw": _num(scores.raw) if scores.raw is not None else "",
        "policy": describe(policy) if scores.duedate is not None else "",
    }


def render_feedback(course: Course, assignment: Assignment, student: str, record: SubmissionRecord,
                    scores: SubmissionScores | None = None, *, notebook: str | None = None) -> str:
    """The HTML page of one graded submission (see the module docstring).

    ``scores`` are the gradebook's (None: the record's points are shown); ``notebook``
    restricts the cells shown to that notebook's (the page nbgrader's release_feedback
    publishes as ``<notebook>.html``); the table of questions is always the assignment's.
    """
    folder = course.folder("autograded", student, assignment.id)
    questions = _questions(assignment, record, scores)
    if scores is not None and scores.total is not None:
        total, note = scores.total, "" if scores.status == GRADED else scores.status
    else:
        total, note = record.score, "" if scores is None else scores.status
    budget = _Budget()
    notebooks = []
    for nbcfg in assignment.notebooks:
        if notebook is not None and nbcfg.name != notebook:
            continue
        entry = {"filename": visible(nbcfg.filename), "cells": [], "error": ""}
        notebooks.append(entry)
        try:
            nb = json.loads((folder / nbcfg.filename).read_text(encoding="utf-8"))
            if not isinstance(nb, dict):
                raise ValueError("not a notebook")
        except FileNotFoundError:
            entry["error"] = "(no graded copy of this notebook: see the problems above)"
            continue
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            entry["error"] = visible(f"(the graded notebook could not be read: {exc})")
            continue
        labels = {}
        for q in nbcfg.questions:
            row = next(r for r in questions if r["id"] == q.id)
            labels[q.grade_cell] = {"question": q.id, "status": row["status"],
                                    "points": None if row["points"] == "-" else row["points"],
                                    "max_points": row["max_points"]}
        submitted = _submitted_pictures(course.notebook_path("submitted", assignment, nbcfg, student))
        entry["cells"] = _cells(nb, labels, submitted, budget)
    return _template().render(
        csp=CSP, style=STYLE, assignment={"title": visible(assignment.title), "id": assignment.id},
        student=visible(student), total=_num(total), max_total=_num(assignment.total), total_note=note,
        questions=questions, problems=[visible(p) for p in record.problems], notebooks=notebooks,
        passed=PASSED, late=_lateness(course, assignment, scores),
    )


@cache
def _template():
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(loader=PackageLoader("autograder", "templates"), autoescape=select_autoescape(default=True),
                      undefined=StrictUndefined, keep_trailing_newline=True)
    return env.get_template("feedback.html.j2")


# --------------------------------------------------------------------------------------
# selection and writing
# --------------------------------------------------------------------------------------
def _known_students(course: Course) -> set[str]:
    known: set[str] = set()
    for step in ("submitted", "autograded"):
        folder = course.folder(step)
        if folder.is_dir():
            known |= {p.name for p in folder.iterdir() if p.is_dir() and not p.is_symlink() and safe_student_id(p.name)}
    return known | {s for s in known_students(course) if safe_student_id(s)}


def write_feedback(
    course: Course,
    *,
    assignments: list[str] | None = None,
    students: list[str] | None = None,
    out_dir: Path | None = None,
) -> FeedbackResult:
    """Write ``<out_dir>/<student>/<assignment>/feedback.html`` for each graded submission,
    with one ``<notebook>.html`` per notebook beside it (nbgrader's layout: the pages its
    ``release_feedback`` publishes) and the submission's ``timestamp.txt``.  Late
    penalties are brought up to date first (:func:`autograder.late.refresh_penalties`).

    Parameters
    ----------
    assignments, students : list of str, optional
        Restrict to these (default: every assignment of course.yml, every known student).
    out_dir : Path, optional
        Default ``feedback/`` in the course folder.

    Returns
    -------
    FeedbackResult
        The written ``feedback.html`` paths (it is a list of Path), with ``.skipped``
        listing each selected (student, assignment) without a page, and why.

    Raises
    ------
    NotFound
        An unknown assignment or student, named in the message.
    OSError
        ``out_dir`` cannot be written (a read-only file system or folder, a permission
        refused), before any page is made (:func:`autograder.fileio.check_writable_dir`);
        or the file system turns read-only on the way.  A page that cannot be written for
        another reason (a full disk) is skipped as failed, and the others are written.
    """
    out_dir = Path(out_dir) if out_dir is not None else course.folder("feedback")
    chosen = [course.assignment(a) for a in assignments] if assignments else list(course.assignments)
    known = _known_students(course)
    if students:
        unknown = [s for s in students if s not in known]
        if unknown:
            raise NotFound(f"unknown student(s) {', '.join(repr(visible(s)) for s in unknown)}: not in "
                           f"{course.folder('submitted')}, {course.folder('autograded')} or the gradebook")
        selected = list(dict.fromkeys(students))
    else:
        selected = sorted(known)
    check_writable_dir(out_dir)  # a read-only folder stops the run here, with its OSError (one line)
    if course.gradebook_file.is_file():
        from .late import has_schedule, refresh_penalties

        if has_schedule(course):  # penalties follow any score a grader changed since grading
            refresh_penalties(course)
        gradebook = read_gradebook(course)
    else:
        gradebook = None
    result = FeedbackResult()
    for student in selected:
        for a in chosen:
            pages = _pages(course, a, student, gradebook, result)
            if pages is None:
                continue
            folder = out_dir / student / a.id
            try:
                for name, page in pages.items():
                    atomic_write_text(folder / name, page)
                stamp = course.folder("submitted", student, a.id) / "timestamp.txt"
                if stamp.is_file() and not stamp.is_symlink():  # nbgrader's feedback folders carry it
                    atomic_write_text(folder / "timestamp.txt", read_untrusted(stamp, max_bytes=200).decode(
                        "utf-8", "replace"))
            except (OSError, ValueError) as exc:  # a full disk, a folder refused: this page; the others are tried
                if isinstance(exc, OSError) and exc.errno == errno.EROFS:
                    raise  # the file system became read-only: every other page would fail the same way
                reason = os_error_text(exc, folder) if isinstance(exc, OSError) else str(exc)
                result.skipped.append(Skipped(student, a.id, f"could not be written ({reason})", True))
                continue
            result.append(folder / "feedback.html")
    return result


def _pages(course: Course, a: Assignment, student: str, gradebook, result: FeedbackResult) -> dict[str, str] | None:
    """``feedback.html`` and one ``<notebook>.html`` per notebook (nbgrader's feedback
    layout, which its release_feedback publishes); None with the reason added to
    ``result.skipped``."""
    page = _page(course, a, student, gradebook, result)
    if page is None:
        return None
    pages = {"feedback.html": page}
    if len(a.notebooks) == 1:
        pages[a.notebooks[0].filename.replace(".ipynb", ".html")] = page
        return pages
    record = SubmissionRecord.read(course.folder("autograded", student, a.id))
    scores = gradebook.scores.get((student, a.id)) if gradebook is not None else None
    for nb in a.notebooks:
        try:
            pages[f"{nb.name}.html"] = render_feedback(course, a, student, record, scores, notebook=nb.name)
        except Exception as exc:  # noqa: BLE001 - one untrusted notebook: this page only
            result.skipped.append(Skipped(student, a.id, f"{nb.name}.html could not be rendered "
                                                         f"({type(exc).__name__}: {exc})", True))
            return None
    return pages


def _page(course: Course, a: Assignment, student: str, gradebook, result: FeedbackResult) -> str | None:
    """The page of one submission, or None with the reason added to ``result.skipped``."""
    folder = course.folder("autograded", student, a.id)
    try:
        record = SubmissionRecord.read(folder)
    except FileNotFoundError:
        submitted = course.folder("submitted", student, a.id).is_dir()
        reason = "submitted but not autograded yet" if submitted else "no autograded submission"
        result.skipped.append(Skipped(student, a.id, reason))
        return None
    except RecordError as exc:
        result.skipped.append(Skipped(student, a.id, str(exc), True))
        return None
    scores = gradebook.scores.get((student, a.id)) if gradebook is not None else None
    try:
        return render_feedback(course, a, student, record, scores)
    except Exception as exc:  # noqa: BLE001 - one untrusted notebook (MemoryError, RecursionError...): this page only
        result.skipped.append(Skipped(student, a.id, f"could not be rendered ({type(exc).__name__}: {exc})", True))
        return None
