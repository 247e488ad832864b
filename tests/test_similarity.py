"""``course similarity`` on a synthetic class written by ``tests/similarity_class.py``.

The class (no real student's work): 40 honest students who each answer the eight
questions of the extraction notebook their own way, from several plausible solutions
per question, and planted pairs (a whole notebook copied with temporaries renamed and
independent lines reordered; a whole notebook with only comments and spacing changed;
one long cell of eight copied).  Around them: a notebook that is not JSON, a copier
whose copy has a syntax error in one cell, two students who handed in the
instructor's source notebook (hidden tests and all), and a pair whose student id and
code try to inject HTML.
"""

from __future__ import annotations

import csv
import html
import json
import re
from pathlib import Path

import pytest

from autograder.config import load_course
from autograder.similarity import DEFAULT_THRESHOLD, similarity_report
from autograder.similarity._compare import analyse_assignment
from autograder.similarity._normalize import GivenCode, given_code, normalize_cell
from tests import similarity_class as sc

ROOT = Path(__file__).resolve().parents[1]
A = sc.ASSIGNMENT
EVIL = '"><svg onload=alert(1)>[bold]x'


def _source_notebook() -> dict:
    return json.loads((ROOT / "source" / A / f"{sc.NOTEBOOK}.ipynb").read_text(encoding="utf-8"))


def _hidden_lines() -> list[str]:
    """Every substantial line inside a hidden-tests block of the source notebook."""
    lines, inside = [], False
    for cell in _source_notebook()["cells"]:
        for line in "".join(cell["source"]).splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif inside and len(line.strip()) > 20:
                lines.append(line.strip())
    return lines


def _write(root: Path, student: str, nb: dict | str) -> Path:
    folder = root / "submitted" / student / A
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{sc.NOTEBOOK}.ipynb"
    path.write_text(nb if isinstance(nb, str) else json.dumps(nb), encoding="utf-8")
    return path


def _with_syntax_error(nb: dict) -> dict:
    """The notebook with its cosmic-rays answer broken (an unclosed bracket on one line)."""
    for cell in nb["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "cosmic-rays":
            src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            cell["source"] = src.replace("sigma = ", "sigma = (", 1)
    return nb


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    root = sc.make_course(tmp_path_factory.mktemp("similarity") / "course")
    made = sc.make_class(40, seed=0)
    sc.write_class(root, made.students)
    release = sc.release_notebook()
    by_id = {s.id: s for s in made.students}
    # a copier of src-renamed whose cosmic-rays cell does not parse
    copier = sc.copy_of(by_id["src-renamed"], "cp-syntax", 99)
    _write(root, "cp-syntax", _with_syntax_error(sc.notebook_of(copier, release)))
    _write(root, "broken", '{"cells": [')  # a truncated upload
    source = _source_notebook()
    source["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                            "source": "### BEGIN HIDDEN TESTS\nassert secret_check()\n### END HIDDEN TESTS"})
    _write(root, "had-source-1", source)
    _write(root, "had-source-2", source)
    evil = sc.copy_of(by_id["h000"], EVIL, 5)
    nb = sc.notebook_of(evil, release)
    nb["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                        "source": "x = '</pre><script>alert(1)</script>'\n\u202eevil = 1"})
    _write(root, EVIL, nb)
    course = load_course(root, check_files=False)
    report = similarity_report(course, assignments=[A])
    return made, course, report


def _score(report, a: str, b: str) -> float:
    a, b = sorted((a, b))
    return next(p.score for p in report.pairs if (p.student_a, p.student_b) == (a, b))


def _honest_pairs(made, report):
    honest = set(made.honest_ids)
    return [p for p in report.pairs if p.student_a in honest and p.student_b in honest]


# --------------------------------------------------------------------------------------
# ranking and flagging
# --------------------------------------------------------------------------------------
def test_planted_pairs_rank_above_every_honest_pair(klass):
    made, _, report = klass
    best_honest = max(p.score for p in _honest_pairs(made, report))
    for (a, b), what in made.planted.items():
        assert _score(report, a, b) > best_honest, what
    # and the ranking puts them at the top: nothing honest-vs-honest above them
    top = report.pairs[: report.pairs.index(next(p for p in report.pairs if (p.student_a, p.student_b)
                                                 == ("cp-onecell", "src-onecell"))) + 1]
    assert not [p for p in top if p.student_a in made.honest_ids and p.student_b in made.honest_ids]


def test_whole_copies_flagged_and_no_honest_pair_is(klass):
    made, _, report = klass
    flagged = {(p.student_a, p.student_b) for p in report.flagged}
    assert ("cp-renamed", "src-renamed") in flagged
    assert ("cp-comments", "src-comments") in flagged
    assert not [p for p in _honest_pairs(made, report) if p.flagged]
    assert report.threshold == DEFAULT_THRESHOLD


def test_honest_students_share_answers_yet_are_not_flagged(klass):
    """The test could fail: honest students DO write identical answers to whole
    questions (the recipe makes them alike); that alone must not flag them."""
    made, course, report = klass
    analysis = analyse_assignment(course, course.assignment(A), course.root / "submitted")
    honest = [analysis.students.index(s) for s in made.honest_ids]
    identical = 0
    for unit in ("profile-and-spectrum", "source-rows", "final-spectrum", "redshift", "read-data"):
        streams = [tuple(analysis.code[i].stream(unit)[0]) for i in honest]
        identical += sum(streams[i] == streams[j] and len(streams[i]) > 8
                         for i in range(len(streams)) for j in range(i + 1, len(streams)))
    assert identical >= 5
    assert max(p.score for p in _honest_pairs(made, report)) < DEFAULT_THRESHOLD


def test_one_cell_copy_points_at_its_question(klass):
    _, _, report = klass
    pair = next(p for p in report.pairs if (p.student_a, p.student_b) == ("cp-onecell", "src-onecell"))
    assert pair.best_question == "cosmic-rays"
    assert pair.questions_shared[0] == "cosmic-rays"
    assert pair.question_scores["cosmic-rays"] > 2 * pair.notebook_score / 1.5


def test_threshold_argument(klass):
    _, course, report = klass
    strict = similarity_report(course, assignments=[A], threshold=0.99, out_dir=course.root / "strict")
    assert not strict.flagged and not strict.html_paths
    assert len(strict.pairs) == len(report.pairs)
    with pytest.raises(ValueError, match="from 0 to 1"):
        similarity_report(course, assignments=[A], threshold=1.5, out_dir=course.root / "bad")
    with pytest.raises(KeyError, match="unknown assignment"):
        similarity_report(course, assignments=["nope"])


# --------------------------------------------------------------------------------------
# notebooks that are broken in one way or another
# --------------------------------------------------------------------------------------
def test_unparsable_notebook_is_listed_and_skipped(klass):
    _, _, report = klass
    broken = [s for s in report.skipped if s.student == "broken"]
    assert len(broken) == 1 and "not valid JSON" in broken[0].reason
    assert broken[0].notebook == "extraction.ipynb"
    assert not [p for p in report.pairs if "broken" in (p.student_a, p.student_b)]
    assert "broken/longslit-extraction/extraction.ipynb" in report.summary()


def test_syntax_error_cell_is_compared_token_by_token(klass):
    _, course, report = klass
    analysis = analyse_assignment(course, course.assignment(A), course.root / "submitted")
    i = analysis.students.index("cp-syntax")
    j = analysis.students.index("src-renamed")
    [(cell, norm)] = analysis.code[i].cells["cosmic-rays"]
    assert norm.fallback and norm.values  # compared, from its tokens
    assert analysis.scores["cosmic-rays"][i, j] > 0.5
    assert _score(report, "cp-syntax", "src-renamed") >= DEFAULT_THRESHOLD


def test_starter_code_is_not_shared_code(tmp_path):
    """Two students who hand in the release notebook as given share no code at all."""
    root = sc.make_course(tmp_path / "course")
    release = sc.release_notebook()
    for s in ("idle-1", "idle-2"):
        _write(root, s, release)
    report = similarity_report(load_course(root, check_files=False), assignments=[A])
    [pair] = report.pairs
    # with two students every fingerprint counts in full: only the removal of the
    # given lines (stub, `import scipy.signal`, the print lines...) keeps this at 0
    assert pair.score == 0 and set(pair.question_scores.values()) == {0.0}
    assert "cosmic-rays" in pair.question_scores  # the cells were read, and hold nothing of theirs


# --------------------------------------------------------------------------------------
# what is written
# --------------------------------------------------------------------------------------
def test_outputs(klass):
    _, _, report = klass
    n = report.students[A]
    rows = list(csv.DictReader(report.csv_path.read_text(encoding="utf-8").splitlines()))
    assert len(rows) == n * (n - 1) // 2 == len(report.pairs)
    assert [float(r["score"]) for r in rows] == sorted((float(r["score"]) for r in rows), reverse=True)
    assert {r["flagged"] for r in rows} == {"yes", ""}
    assert report.heatmap_paths[A].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(report.html_paths) == len(report.flagged) >= 3
    for p in report.flagged:
        assert p.html_path.is_file() and p.html_path.parent == report.out_dir / A


def test_pages_are_safe_and_self_contained(klass):
    _, _, report = klass
    for path in report.html_paths:
        page = path.read_text(encoding="utf-8")
        assert "<script" not in page.lower() and "<svg" not in page.lower()
        csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
        assert "default-src 'none'" in csp and "script-src 'none'" in csp
        assert not re.search(r"(src|href)=\"?(https?:)?//", page)
    evil_page = next(p for p in report.flagged if EVIL in (p.student_a, p.student_b)).html_path
    assert re.fullmatch(r"[A-Za-z0-9._@-]+", evil_page.name)
    page = evil_page.read_text(encoding="utf-8")
    assert "&lt;/pre&gt;&lt;script&gt;" in page and "&#34;&gt;&lt;svg onload=alert(1)&gt;" in page
    assert "&lt;U+202E&gt;" in page and "\u202e" not in page  # a bidi override is shown, not obeyed


def test_hidden_tests_never_reach_a_report(klass):
    _, _, report = klass
    pair = next(p for p in report.pairs if (p.student_a, p.student_b) == ("had-source-1", "had-source-2"))
    assert pair.flagged  # their solution cells are compared and shown...
    texts = [html.unescape(p.read_text(encoding="utf-8")) for p in report.html_paths]
    texts.append(report.csv_path.read_text(encoding="utf-8"))
    hidden = _hidden_lines()
    assert hidden
    for text in texts:
        assert "HIDDEN TESTS" not in text and "secret_check" not in text
        assert not [line for line in hidden if line in text]
        # ...but no test cell, visible or hidden, is ever shown
        assert "should have shape (512, 511)" not in text


def test_table_shows_ids_as_text(klass):
    from rich.console import Console

    _, _, report = klass
    console = Console(record=True, width=200)
    console.print(report.table())
    out = console.export_text()
    assert "cp-renamed & src-renamed" in out
    assert "[bold]x" in out  # the id's markup is printed, not interpreted


# --------------------------------------------------------------------------------------
# normalisation
# --------------------------------------------------------------------------------------
def _norm(src: str, variables: set[str], given: GivenCode | None = None) -> list[str]:
    return normalize_cell(src, variables, given or GivenCode()).values


def test_renaming_reordering_comments_and_strings_do_not_count():
    a = 'd = img - img_sm  # difference\nsigma = np.median(err)\nbad = np.abs(d) > 8 * sigma\nprint("n", bad.sum())\n'
    b = "sigma = np.median(err)\n\n# my own\ndelta=img-img_sm\nbad = np.abs(delta) > 8*sigma\nprint('count:', bad.sum())"
    assert _norm(a, {"d"}) == _norm(b, {"delta"})
    # dependent lines keep their order
    assert _norm("x = 1\ny = x + 1", {"x", "y"}) != _norm("y = x + 1\nx = 1", {"x", "y"})
    # one-line blocks are the same code as indented ones
    assert _norm("for i in r:\n    s += i", {"i", "s"}) == _norm("for i in r: s += i", {"i", "s"})


def test_the_function_called_counts():
    assert _norm("profile = img.sum(axis=1)", set()) != _norm("profile = img.mean(axis=1)", set())
    assert _norm("p = np.sum(img, axis=1)", {"p"}) != _norm("p = np.sum(img, 1)", {"p"})
    assert "axis" in _norm("p = f(axis=1)", {"axis", "p"})  # a keyword argument is not a variable


def test_given_lines_are_removed():
    given = given_code(['import scipy.signal\n# YOUR CODE HERE\nraise NotImplementedError()\nprint(f"s = {s}")'])
    cell = normalize_cell("import scipy.signal\nraise NotImplementedError()\ns = 1\nprint(f's = {s}')", set(), given)
    assert cell.values == ["s", "=", "1"]
    assert len(cell.given) == 3
    broken = normalize_cell("import scipy.signal\ns = (1\n", set(), given)
    assert broken.fallback and broken.values[:3] == ["s", "=", "("]
