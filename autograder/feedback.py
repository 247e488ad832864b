"""``course feedback``: one self-contained HTML page per student and assignment.

:func:`write_feedback` writes ``feedback/<student>/<assignment>/feedback.html`` from
what autograding left in ``autograded/<student>/<assignment>/``: the marker file
(:data:`autograder.autograde.MARKER`, whose ``outcomes`` and ``problems`` give the
scores, the messages and what was wrong with the submission) and the graded notebooks.

The page holds the assignment title, the total, a table of questions (points, maximum,
passed/failed, and the student-facing message of each failed question), the problems
found in the submission, then each notebook as graded.

Safety (the student's notebook is untrusted; the page opens in the instructor's
browser):

* Hidden tests never appear: every cell's source goes through
  :func:`autograder.grading.strip_hidden_tests`, then through nbgrader's own rule (any
  line containing ``BEGIN HIDDEN TESTS``, whatever its comment prefix, hides up to a
  line containing ``END HIDDEN TESTS``, or to the end of the cell): see
  :func:`clean_source`.
* The page is rendered here, not by nbconvert's templates, and everything taken from
  the notebook or the marker is HTML-escaped.  Markdown is rendered by markdown-it
  (CommonMark + tables) with raw HTML disabled (it shows as text), unsafe link schemes
  (``javascript:``, ``vbscript:``, ``file:``, ``data:``) refused, and images shown only
  when they are embedded PNG/JPEG (a ``data:`` URL or a cell attachment); other images
  show as their alt text and address.
* Only ``text/plain``, ``image/png`` and ``image/jpeg`` outputs are rendered (plus
  streams and errors, as text); ``text/html``, JavaScript, SVG and every other type
  are dropped, with a note naming the type.  Image data must be base64.
* The page carries a Content-Security-Policy allowing no script, no remote load:
  only inline styles and ``data:`` images.
* The page contains no script and no timestamp: rewriting it gives the same bytes.

Decisions:

* Scores and messages come from the marker (what the autograder decided), in
  course.yml question order; a question the marker does not list shows "not graded".
* Plots: the graded notebook's pictures when the grader drew them (course.yml
  ``grading.plots: jpeg`` or ``png``).  With ``none`` (the default: the checks read a
  plot's data, never its picture, and drawing is half of a notebook's grading time),
  a code cell whose graded outputs hold no picture shows the pictures of the same cell
  (same id, same source) in the student's submitted notebook, under a line saying
  where they come from, in place of the ``<Figure size ...>`` text the grader's run
  printed.  A submission saved without outputs shows no plots.
* ``write_feedback`` returns a :class:`FeedbackResult`, a ``list`` of the written
  paths with ``.skipped``: a list of :class:`Skipped` (student, assignment, reason) for
  every selected student and assignment with no autograded submission (no marker, or
  an unreadable one); nothing is written for those.
* Known students are the folders of ``submitted/`` and ``autograded/`` (safe names
  only) and the gradebook's students; an unknown one is a KeyError, like an unknown
  assignment.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .autograde import MARKER
from .collect import safe_student_id
from .config import Assignment, Course
from .grading import strip_hidden_tests

__all__ = ["FeedbackResult", "Skipped", "write_feedback", "render_feedback", "clean_source"]

ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][A-Za-z0-9]|\x1b[@-Z\\-_]")
IMAGE_TYPES = ("image/png", "image/jpeg")
B64_RE = re.compile(r"^[A-Za-z0-9+/=\s]*$")
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ccc; }
table.questions { border-collapse: collapse; margin: 1rem 0; }
table.questions th, table.questions td { border: 1px solid #ccc; padding: .3rem .6rem; text-align: left; vertical-align: top; }
td.num { text-align: right; }
.pass { color: #1a7f37; font-weight: bold; } .fail { color: #b42318; font-weight: bold; }
.cell { margin: .8rem 0; } .prompt { color: #666; font-family: monospace; font-size: .8rem; }
pre { background: #f6f8fa; padding: .5rem; overflow-x: auto; white-space: pre-wrap; word-break: break-word; }
pre.stderr, pre.error { background: #fdecea; } .test-label { font-size: .85rem; font-weight: bold; }
.dropped { color: #888; font-style: italic; font-size: .85rem; } img { max-width: 100%; }
.markdown { padding: 0 .5rem; } .note { color: #555; font-size: .85rem; margin: .3rem 0; }
"""


@dataclass(frozen=True)
class Skipped:
    """A selected student and assignment for which no page was written."""

    student: str
    assignment: str
    reason: str


class FeedbackResult(list):
    """The feedback pages written (a ``list`` of Path), plus what was skipped."""

    def __init__(self, paths=(), skipped=()):
        super().__init__(paths)
        self.skipped: list[Skipped] = list(skipped)

    def summary(self) -> str:
        lines = [f"wrote {len(self)} feedback pages; skipped {len(self.skipped)}"]
        lines += [f"  skipped {s.student}/{s.assignment}: {s.reason}" for s in self.skipped]
        return "\n".join(lines)


# --------------------------------------------------------------------------------------
# cleaning and escaping
# --------------------------------------------------------------------------------------
def _text(value) -> str:
    """A notebook string field (a string or a list of strings) as one string."""
    if isinstance(value, list):
        return "".join(v for v in value if isinstance(v, str))
    return value if isinstance(value, str) else ""


def clean_source(source) -> str:
    """A cell's source with every hidden-test block removed.

    :func:`autograder.grading.strip_hidden_tests` first; then, as nbgrader's
    ``ClearHiddenTests`` does, any line containing ``BEGIN HIDDEN TESTS`` (whatever the
    comment prefix) starts a block that ends with a line containing ``END HIDDEN TESTS``,
    or at the end of the cell when there is none.
    """
    kept, hiding = [], False
    for line in strip_hidden_tests(_text(source)).splitlines(keepends=True):
        if not hiding and "BEGIN HIDDEN TESTS" in line:
            hiding = True
        elif hiding and "END HIDDEN TESTS" in line:
            hiding = False
        elif not hiding:
            kept.append(line)
    return "".join(kept)


def _esc(value) -> str:
    return html.escape(ANSI_RE.sub("", str(value)), quote=True)


def _num(x) -> str:
    try:
        return f"{float(x):g}"
    except (TypeError, ValueError):
        return _esc(x)


def _img(mime: str, payload: str, alt: str = "output") -> str:
    data = "".join(payload.split())
    if not data or not B64_RE.match(data):
        return '<p class="dropped">(an image output that is not base64 data was not shown)</p>'
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return '<p class="dropped">(an image output that is not valid base64 was not shown)</p>'
    return f'<img src="data:{mime};base64,{data}" alt="{_esc(alt)}">'


def _markdown_renderer():
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")

    def image(self, tokens, idx, options, env):
        token = tokens[idx]
        src = token.attrGet("src") or ""
        alt = "".join(t.content for t in (token.children or []))
        match = re.match(r"^data:(image/(?:png|jpeg));base64,(.*)$", src, re.S)
        if match:
            return _img(match.group(1), match.group(2), alt)
        if src.startswith("attachment:"):
            att = env.get("attachments", {}).get(src[len("attachment:"):])
            if isinstance(att, dict):
                for mime in IMAGE_TYPES:
                    if isinstance(att.get(mime), str | list):
                        return _img(mime, _text(att[mime]), alt)
        return f'<span class="dropped">[image: {_esc(alt)} ({_esc(src)})]</span>'

    md.add_render_rule("image", image)
    return md


_MD = None


def _markdown(source: str, attachments) -> str:
    global _MD
    if _MD is None:
        _MD = _markdown_renderer()
    env = {"attachments": attachments if isinstance(attachments, dict) else {}}
    return _MD.render(source, env)


# --------------------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------------------
def _output(out) -> str:
    if not isinstance(out, dict):
        return ""
    kind = out.get("output_type")
    if kind == "stream":
        name = "stderr" if out.get("name") == "stderr" else "stdout"
        return f'<pre class="{name}">{_esc(_text(out.get("text")))}</pre>'
    if kind == "error":
        tb = out.get("traceback")
        lines = [_text(t) for t in tb] if isinstance(tb, list) else []
        text = "\n".join(lines) or f"{_text(out.get('ename'))}: {_text(out.get('evalue'))}"
        return f'<pre class="error">{_esc(text)}</pre>'
    if kind in ("display_data", "execute_result"):
        data = out.get("data") if isinstance(out.get("data"), dict) else {}
        for mime in IMAGE_TYPES:
            if mime in data:
                return _img(mime, _text(data[mime]))
        if "text/plain" in data:
            return f'<pre class="result">{_esc(_text(data["text/plain"]))}</pre>'
        if data:
            types = ", ".join(sorted(str(k) for k in data))
            return f'<p class="dropped">(output of type {_esc(types)} not shown)</p>'
    return ""


FIGURE_TEXT_RE = re.compile(r"^<Figure size [0-9.]+x[0-9.]+ with \d+ Axes>$")


def _data(out) -> dict:
    return out.get("data") if isinstance(out, dict) and isinstance(out.get("data"), dict) else {}


def _has_image(out) -> bool:
    return (isinstance(out, dict) and out.get("output_type") in ("display_data", "execute_result")
            and any(m in _data(out) for m in IMAGE_TYPES))


def _is_figure_text(out) -> bool:
    """A ``<Figure size ...>`` output: what showing a figure prints when nothing draws it."""
    return bool(FIGURE_TEXT_RE.match(_text(_data(out).get("text/plain", ""))))


def _submitted_pictures(path: Path) -> dict[tuple[str, str], list[dict]]:
    """(cell id, cleaned source) -> the picture outputs of that code cell in the
    student's submitted notebook; {} if it cannot be read (untrusted file)."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    cells = nb.get("cells") if isinstance(nb, dict) and isinstance(nb.get("cells"), list) else []
    found: dict[tuple[str, str], list[dict]] = {}
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code" or not isinstance(cell.get("id"), str):
            continue
        outputs = cell.get("outputs") if isinstance(cell.get("outputs"), list) else []
        pictures = [o for o in outputs if _has_image(o)]
        if pictures:
            found[cell["id"], clean_source(cell.get("source", ""))] = pictures
    return found


def _notebook_html(nb: dict, test_ids: dict[str, dict], submitted: dict | None = None) -> str:
    parts = []
    cells = nb.get("cells") if isinstance(nb.get("cells"), list) else []
    for cell in cells:
        if not isinstance(cell, dict):
            continue
        kind = cell.get("cell_type")
        source = clean_source(cell.get("source", ""))
        meta = cell.get("metadata") if isinstance(cell.get("metadata"), dict) else {}
        nbg = meta.get("nbgrader") if isinstance(meta.get("nbgrader"), dict) else {}
        gid = nbg.get("grade_id") if isinstance(nbg.get("grade_id"), str) else ""
        if kind == "markdown":
            parts.append(f'<div class="cell markdown">{_markdown(source, cell.get("attachments"))}</div>')
        elif kind == "code":
            count = cell.get("execution_count")
            prompt = f"In [{count}]:" if isinstance(count, int) else "In [ ]:"
            label = ""
            if gid in test_ids:
                o = test_ids[gid]
                verdict = ('<span class="pass">passed</span>' if o.get("passed") else
                           '<span class="fail">failed</span>') if o else "not graded"
                pts = f" ({_num(o.get('points'))} / {_num(o.get('max_points'))})" if o else ""
                label = f'<div class="test-label">Test of question {_esc(gid[:-5])}: {verdict}{pts}</div>'
            outputs = cell.get("outputs") if isinstance(cell.get("outputs"), list) else []
            theirs = (submitted or {}).get((cell.get("id"), source)) if not any(_has_image(o) for o in outputs) else None
            if theirs:
                outputs = [o for o in outputs if not _is_figure_text(o)]
            rendered = "".join(_output(o) for o in outputs)
            if theirs:
                rendered += ('<p class="note">The plot as it is in your submitted notebook (the grader '
                             "checks the data of your plots and does not redraw them):</p>")
                rendered += "".join(_output(o) for o in theirs)
            parts.append(f'<div class="cell code">{label}<div class="prompt">{_esc(prompt)}</div>'
                         f'<pre class="source">{_esc(source)}</pre><div class="outputs">{rendered}</div></div>')
        elif kind == "raw":
            parts.append(f'<div class="cell raw"><pre>{_esc(source)}</pre></div>')
    return "\n".join(parts)


def render_feedback(course: Course, assignment: Assignment, student: str, folder: Path, marker: dict) -> str:
    """The HTML page of one graded submission in ``folder`` (see the module docstring)."""
    outcomes = {}
    for o in marker.get("outcomes") or []:
        if isinstance(o, dict) and isinstance(o.get("id"), str):
            outcomes[o["id"]] = o
    score = sum(float(o.get("points") or 0) for o in outcomes.values()) if outcomes else marker.get("score", 0)
    title = f"{assignment.title}: feedback for {student}"
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{_esc(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{_esc(assignment.title)}</h1>",
        f'<p>Student: <strong>{_esc(student)}</strong> &middot; assignment <code>{_esc(assignment.id)}</code></p>',
        f'<p class="total">Total: <strong>{_num(score)} / {_num(assignment.total)}</strong></p>',
        '<table class="questions"><thead><tr><th>Question</th><th>Points</th><th>Max</th>'
        "<th>Result</th><th>Message</th></tr></thead><tbody>",
    ]
    for q in assignment.questions:
        o = outcomes.get(q.id)
        name = _esc(q.id) + (f"<br><small>{_esc(q.title)}</small>" if q.title else "")
        if o is None:
            out.append(f'<tr id="q-{_esc(q.id)}"><td>{name}</td><td class="num">-</td>'
                       f'<td class="num">{_num(q.points)}</td><td>not graded</td><td></td></tr>')
            continue
        passed = bool(o.get("passed"))
        result = '<span class="pass">passed</span>' if passed else '<span class="fail">failed</span>'
        message = "" if passed else _esc(o.get("message") or "")
        out.append(f'<tr id="q-{_esc(q.id)}"><td>{name}</td><td class="num">{_num(o.get("points"))}</td>'
                   f'<td class="num">{_num(o.get("max_points", q.points))}</td><td>{result}</td>'
                   f"<td>{message}</td></tr>")
    out.append("</tbody></table>")
    problems = [p for p in marker.get("problems") or [] if isinstance(p, str)]
    out.append("<h2>Problems found in the submission</h2>")
    if problems:
        out.append("<ul>" + "".join(f"<li>{_esc(p)}</li>" for p in problems) + "</ul>")
    else:
        out.append("<p>None.</p>")
    for nbcfg in assignment.notebooks:
        out.append(f"<h2>Notebook {_esc(nbcfg.filename)}</h2>")
        path = folder / nbcfg.filename
        try:
            nb = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(nb, dict):
                raise ValueError("not a notebook")
        except FileNotFoundError:
            out.append('<p class="dropped">(no graded copy of this notebook: see the problems above)</p>')
            continue
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            out.append(f'<p class="dropped">(the graded notebook could not be read: {_esc(exc)})</p>')
            continue
        test_ids = {q.test_id: outcomes.get(q.id, {}) for q in nbcfg.questions}
        submitted = _submitted_pictures(course.root / "submitted" / student / assignment.id / nbcfg.filename)
        out.append(_notebook_html(nb, test_ids, submitted))
    out.append("</body></html>\n")
    return "\n".join(out)


# --------------------------------------------------------------------------------------
# selection and writing
# --------------------------------------------------------------------------------------
def _known_students(course: Course) -> set[str]:
    known: set[str] = set()
    for sub in ("submitted", "autograded"):
        folder = course.root / sub
        if folder.is_dir():
            known |= {p.name for p in folder.iterdir() if p.is_dir() and not p.is_symlink() and safe_student_id(p.name)}
    from .export import gradebook_path

    path = gradebook_path(course)
    if path is not None and path.is_file():
        from nbgrader.api import Gradebook

        from .nbgrader_adapter import db_url

        with Gradebook(db_url(course), course.course.id) as gb:
            known |= {s.id for s in gb.students if safe_student_id(s.id)}
    return known


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_feedback(
    course: Course,
    *,
    assignments: list[str] | None = None,
    students: list[str] | None = None,
    out_dir: Path | None = None,
) -> FeedbackResult:
    """Write ``<out_dir>/<student>/<assignment>/feedback.html`` for each graded submission.

    Parameters
    ----------
    assignments, students : list of str, optional
        Restrict to these (default: every assignment of course.yml, every known student).
    out_dir : Path, optional
        Default ``course.root / "feedback"``.

    Returns
    -------
    FeedbackResult
        The written paths (it is a list of Path), with ``.skipped`` listing each
        selected (student, assignment) without an autograded submission, and why.

    Raises
    ------
    KeyError
        An unknown assignment or student, named in the message.
    """
    out_dir = Path(out_dir) if out_dir is not None else course.root / "feedback"
    chosen = [course.assignment(a) for a in assignments] if assignments else list(course.assignments)
    known = _known_students(course)
    if students:
        unknown = [s for s in students if s not in known]
        if unknown:
            raise KeyError(f"unknown student(s) {', '.join(map(repr, unknown))}: not in {course.root / 'submitted'}, "
                           f"{course.root / 'autograded'} or the gradebook")
        selected = list(dict.fromkeys(students))
    else:
        selected = sorted(known)
    result = FeedbackResult()
    for student in selected:
        for a in chosen:
            folder = course.root / "autograded" / student / a.id
            marker_path = folder / MARKER
            if not marker_path.is_file():
                submitted = (course.root / "submitted" / student / a.id).is_dir()
                reason = "submitted but not autograded yet" if submitted else "no autograded submission"
                result.skipped.append(Skipped(student, a.id, reason))
                continue
            try:
                marker = json.loads(marker_path.read_text(encoding="utf-8"))
                if not isinstance(marker, dict):
                    raise ValueError("not a JSON object")
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                result.skipped.append(Skipped(student, a.id, f"{marker_path}: unreadable ({exc})"))
                continue
            page = render_feedback(course, a, student, folder, marker)
            path = out_dir / student / a.id / "feedback.html"
            _atomic_write(path, page)
            result.append(path)
    return result
