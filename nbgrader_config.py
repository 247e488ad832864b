"""nbgrader's configuration for this course, taken from course.yml.

The repository root is the nbgrader course directory.  Everything course-specific
(course id, gradebook, the sandboxed autograde preprocessors, restoring deleted test
cells) comes from course.yml through ``autograder.nbgrader_adapter.configure``, so
plain ``nbgrader autograde`` and ``course autograde`` grade alike.
"""

from pathlib import Path

from autograder.nbgrader_adapter import configure

configure(get_config(), Path(__file__).resolve().parent)  # noqa: F821 - provided by traitlets
