"""Every limit the sandbox enforces, in one place.

:class:`Limits` is built from course.yml's ``grading`` section
(:meth:`Limits.from_grading`) and travels with every spawn request, so the student's
process and the grader apply the same numbers.  Two layers cap a cell's output:

* the student's process (:mod:`autograder.sandbox.kernel`) keeps at most
  ``max_output_kb`` of text, ``max_image_kb`` per image, ``max_images_kb`` of images
  and ``max_outputs`` outputs per cell, and says "output truncated" past them;
* the grader (:mod:`autograder.sandbox.runner`) reads any reply with budgets derived
  from those (:attr:`Limits.reply_text_chars` and friends), a margin above them, since
  hostile code may bypass the kernel's collector and send what it likes.

The derived budgets are computed here, never written out twice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["Limits", "MAX_VALUE_BYTES", "MAX_FRAME_BYTES"]

#: The largest array one captured value may be (bytes of its ``.npy`` data).
MAX_VALUE_BYTES = 256 * 2**20
#: The largest reply the grader reads from a student's process (all blobs included).
MAX_FRAME_BYTES = 1 << 30


@dataclass(frozen=True)
class Limits:
    """Resource and output limits of one student process.

    Attributes
    ----------
    cell_timeout, notebook_timeout : float
        Seconds of wall time for one cell and for the whole notebook.
    memory_mb : int
        Address-space cap of each process, MiB (and of the sandbox as a whole, where
        control groups are available).
    max_processes : int
        Processes the student's code may have at once.
    file_size_mb : int
        The largest file it may write, and the size of its working folder and its
        private ``/tmp`` (MiB, in memory).
    open_files : int
        File descriptors it may hold.
    max_output_kb : int
        Text one cell may show (printed and displayed), KiB.
    max_image_kb, max_images_kb : int
        One image, and all the images of one cell, KiB.
    max_outputs, max_errors : int
        Outputs of one cell, and error outputs kept of one cell.
    """

    cell_timeout: float = 60.0
    notebook_timeout: float = 300.0
    memory_mb: int = 3072
    max_processes: int = 32
    file_size_mb: int = 256
    open_files: int = 256
    max_output_kb: int = 256
    max_image_kb: int = 4096
    max_images_kb: int = 12288
    max_outputs: int = 400
    max_errors: int = 10

    @classmethod
    def from_grading(cls, grading) -> Limits:
        """The limits of course.yml's ``grading`` section (a :class:`~autograder.config.GradingLimits`)."""
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in grading.model_dump().items() if k in names})

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Limits:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})

    # -- what the grader accepts back (a margin above what the kernel sends) ---------
    @property
    def output_chars(self) -> int:
        """Characters of text the kernel keeps per cell."""
        return self.max_output_kb * 1024

    @property
    def reply_text_chars(self) -> int:
        """Characters of text the grader reads from one reply."""
        return 2 * self.output_chars + 64 * 1024

    @property
    def reply_image_bytes(self) -> int:
        """Bytes of image data the grader reads from one reply."""
        return self.max_images_kb * 1024 + self.max_image_kb * 1024

    @property
    def reply_outputs(self) -> int:
        """Outputs the grader reads from one reply."""
        return self.max_outputs + 100
