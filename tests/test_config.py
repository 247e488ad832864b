"""course.yml is validated on load; each kind of bad file gets one clear message."""

from __future__ import annotations

import copy

import pytest
import yaml
from click.testing import CliRunner

from autograder.cli import main
from autograder.config import CourseConfigError, load_course, parse_course

from .conftest import ROOT


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load((ROOT / "course.yml").read_text())


def _parse(data, tmp_path=None):
    return parse_course(data, ROOT if tmp_path is None else tmp_path, check_files=tmp_path is None)


def test_real_course_is_valid(course):
    assert course.course.id == "numpy-3c120"
    assert sorted(a.id for a in course.assignments) == sorted(p.name for p in (ROOT / "source").iterdir() if p.is_dir())
    for a in course.assignments:
        assert a.points == a.total


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["grading"].update(colour="red"), "course.yml: grading.colour: unknown key"),
        (lambda d: d["grading"].update(cell_timeout="soon"), "course.yml: grading.cell_timeout:"),
        (lambda d: d["assignments"][0]["notebooks"][0]["questions"][0].update(points="two"),
         "course.yml: assignments[0].notebooks[0].questions[0].points:"),
        (lambda d: d["assignments"][0].update(total=999), "the questions' points add up to"),
        (lambda d: d["assignments"][0]["notebooks"][0]["questions"].append(
            dict(d["assignments"][0]["notebooks"][0]["questions"][0])), "duplicate grade id"),
        (lambda d: d["assignments"].append(dict(d["assignments"][0])), "duplicate assignment id"),
        (lambda d: d.pop("grading"), "course.yml: grading: required key is missing"),
        (lambda d: d["data"]["files"][0].update(sha256="abc"), "course.yml: data.files[0].sha256:"),
        (lambda d: d["tolerances"]["default"].update(rtol=-1), "course.yml: tolerances.default.rtol:"),
        (lambda d: d["assignments"][0]["notebooks"][0]["questions"][0].update(names=["not a name"]),
         "course.yml: assignments[0].notebooks[0].questions[0].names[0]:"),
    ],
    ids=["unknown-key", "wrong-type", "points-text", "total-mismatch", "duplicate-grade-id",
         "duplicate-assignment", "missing-section", "bad-sha", "negative-tolerance", "bad-name"],
)
def test_bad_course_is_rejected_with_file_key_and_expectation(raw, mutate, expected):
    data = copy.deepcopy(raw)
    mutate(data)
    with pytest.raises(CourseConfigError) as err:
        _parse(data)
    assert expected in str(err.value)


def test_missing_notebook_is_named(raw, tmp_path):
    (tmp_path / "course.yml").write_text(yaml.safe_dump(raw))
    with pytest.raises(CourseConfigError) as err:
        load_course(tmp_path)
    msg = str(err.value)
    assert "assignments[0].notebooks[0].name" in msg
    assert "source/array-creation/array-creation.ipynb does not exist" in msg


def test_not_yaml_and_not_a_mapping(tmp_path):
    (tmp_path / "course.yml").write_text("course: [unclosed\n")
    with pytest.raises(CourseConfigError, match="not valid YAML"):
        load_course(tmp_path)
    (tmp_path / "course.yml").write_text("- just\n- a list\n")
    with pytest.raises(CourseConfigError, match="expected a mapping"):
        load_course(tmp_path)
    with pytest.raises(CourseConfigError, match="file not found"):
        load_course(tmp_path / "nowhere")


def test_cli_validate_accepts_the_real_course():
    result = CliRunner().invoke(main, ["--course-dir", str(ROOT), "validate"])
    assert result.exit_code == 0, result.output
    assert "course.yml is valid: 6 assignments" in result.output


def test_cli_validate_rejects_a_broken_course(raw, tmp_path):
    data = copy.deepcopy(raw)
    data["grading"]["memory_mb"] = 1
    (tmp_path / "course.yml").write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(main, ["--course-dir", str(tmp_path), "validate"])
    assert result.exit_code == 2
    assert "grading.memory_mb" in result.output


def test_validate_finds_notebook_inconsistencies(course, tmp_path):
    """A notebook whose test cell is worth other points than course.yml says is reported."""
    import nbformat

    from autograder.validate import validate_course

    from .conftest import copy_course

    root = copy_course(tmp_path / "c")
    path = root / "source" / "slicing" / "slicing.ipynb"
    nb = nbformat.read(path, as_version=4)
    test = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade"))
    test.metadata["nbgrader"]["points"] = 99
    dup = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution"))
    nb.cells.append(nbformat.v4.new_code_cell("x = 1", metadata={"nbgrader": dict(dup.metadata["nbgrader"])}))
    nbformat.write(nb, path)
    problems = validate_course(load_course(root))
    assert any("is worth 99 points" in p for p in problems)
    assert any("is used by 2 cells" in p for p in problems)
    assert validate_course(course) == []


def test_questions_graded_by_hand(raw, tmp_path):
    """``manual: true``: no names, no tolerance, one answer cell graded in the formgrader."""
    data = copy.deepcopy(raw)
    extraction = data["assignments"][-1]
    extraction["notebooks"][0]["questions"].append(
        {"id": "explain", "points": 2, "manual": True, "rubric": "2 points: names the cause; 1: one of them"})
    extraction["total"] += 2
    course = parse_course(data, tmp_path, check_files=False)
    q = course.assignment(extraction["id"]).questions[-1]
    assert q.manual and q.grade_cell == "explain" and q.names == []
    bad = copy.deepcopy(data)
    bad["assignments"][-1]["notebooks"][0]["questions"][-1]["names"] = ["x"]
    with pytest.raises(CourseConfigError, match="graded by hand"):
        parse_course(bad, tmp_path, check_files=False)
    bad["assignments"][-1]["notebooks"][0]["questions"][-1].update(names=[], manual=False)
    with pytest.raises(CourseConfigError, match="needs names"):
        parse_course(bad, tmp_path, check_files=False)
