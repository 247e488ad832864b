"""The `course` command: validation, data, release, autograding, self-check, feedback, export, reports.

This package's ``__init__`` imports nothing: the sandbox's warm process imports
``autograder.sandbox.kernel`` and must not pull in the hidden checks with it.
"""

__version__ = "0.1.0"
