"""Which folders on ``sys.path`` the student's process sees (``isolation.student_view``).

A package folder outside the Python installation (a ``site-packages`` named in a
``.pth`` file or ``PYTHONPATH``, ``pip install --target``) can hold the grader beside
the student's numpy and IPython: it is shown with the grader's entries hidden.  A
source checkout of the course on the path is not shown at all.
"""

from __future__ import annotations

import sys

import pytest

from autograder.sandbox import isolation


def _folder(tmp_path, name, entries):
    d = tmp_path / name
    d.mkdir()
    for e in entries:
        if e.endswith("/"):
            (d / e.rstrip("/")).mkdir()
        else:
            (d / e).write_text("")
    return d


@pytest.fixture
def on_path(monkeypatch):
    def put(folder):
        monkeypatch.setattr(sys, "path", [*sys.path, str(folder)])
        return isolation.student_view()
    return put


def test_a_package_folder_holding_the_grader_is_shown_without_it(tmp_path, on_path):
    deps = _folder(tmp_path, "deps", ["numpy/", "numpy-2.1.0.dist-info/", "IPython/", "autograder/",
                                      "reference_solution/", "numpy_3c120_course-0.1.0.dist-info/", "course_data.py"])
    view = on_path(deps)
    assert str(deps) in view.allowed
    assert {str(deps / "autograder"), str(deps / "reference_solution"),
            str(deps / "numpy_3c120_course-0.1.0.dist-info")} <= set(view.hidden)
    assert {str(deps / n) for n in ("numpy", "numpy-2.1.0.dist-info", "IPython", "course_data.py")}.isdisjoint(view.hidden)


@pytest.mark.parametrize("marker", ["course.yml", "pyproject.toml", "source/", ".git/"])
def test_a_checkout_of_the_course_is_not_shown(tmp_path, on_path, marker):
    # an editable install leaves an egg-info in the checkout: still a checkout
    clone = _folder(tmp_path, "clone", ["autograder/", "reference_solution/", "numpy_3c120_course.egg-info/", marker])
    view = on_path(clone)
    assert not any(isolation._inside(a, str(clone)) for a in view.allowed)


def test_a_folder_with_only_the_grader_is_not_shown(tmp_path, on_path):
    bare = _folder(tmp_path, "bare", ["autograder/", "reference_solution/"])
    assert not any(isolation._inside(a, str(bare)) for a in on_path(bare).allowed)


def test_a_folder_without_the_grader_is_shown_whole(tmp_path, on_path):
    lib = _folder(tmp_path, "lib", ["helpers/", "helpers-1.0.dist-info/"])
    view = on_path(lib)
    assert str(lib) in view.allowed
    assert not any(isolation._inside(h, str(lib)) for h in view.hidden)
