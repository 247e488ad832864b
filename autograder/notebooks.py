"""Reading notebooks that come from students: every way one can be unusable, in plain words."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import nbformat.reader

from .errors import BadInput
from .fileio import NotRegular, TooLarge, read_untrusted

__all__ = ["read_notebook", "parse_notebook", "NotebookError", "MAX_NOTEBOOK_BYTES"]

#: The largest notebook read (as ``course collect`` takes at most).
MAX_NOTEBOOK_BYTES = 50 * 1024 * 1024


class NotebookError(BadInput):
    """A submitted notebook cannot be used (the message says why, in plain words)."""


def read_notebook(path: Path, *, within: Path | None = None) -> nbformat.NotebookNode:
    """Read a submitted notebook; ValueError with a plain reason if it is unusable.

    Every way a file can be unusable is a :class:`NotebookError` (a ``ValueError``):
    missing, not a regular file, larger than :data:`MAX_NOTEBOOK_BYTES`, empty, not
    JSON, JSON too deep or with numbers too long to read, not UTF-8, not a valid
    nbformat-4 notebook (:func:`parse_notebook`).

    A symbolic link is refused, not followed (it could point at the instructor's source
    notebook).  With ``within`` (say ``submitted/``), a symbolic link anywhere between
    that folder and the file (a student's or assignment folder that is a link) is
    refused too; without it, only the file itself is checked, since a student may keep
    their own work behind links when running ``course check``.
    """
    if path.is_symlink():
        raise NotebookError(f"{path.name} is a symbolic link, not a notebook file")
    if within is not None:
        base = Path(within)
        try:
            rel = Path(path).relative_to(base)
        except ValueError:
            raise NotebookError(f"{path} is not inside {base}") from None
        if Path(os.path.realpath(path)) != Path(os.path.realpath(base)) / rel:
            raise NotebookError(f"{path.name} is reached through a symbolic link, not a folder of its own")
    try:
        raw = read_untrusted(path, max_bytes=MAX_NOTEBOOK_BYTES)
    except FileNotFoundError:
        raise NotebookError(f"{path.name} is missing") from None
    except (NotRegular, TooLarge) as exc:
        raise NotebookError(str(exc)) from None
    except OSError as exc:
        raise NotebookError(f"{path.name} cannot be read ({exc.strerror or exc})") from None
    return parse_notebook(raw, path.name)


#: How :func:`json.detect_encoding` names the encodings other than UTF-8 it recognises.
_ENCODINGS = {"utf-8-sig": "UTF-8 with a byte order mark", "utf-16": "UTF-16", "utf-16-le": "UTF-16",
              "utf-16-be": "UTF-16", "utf-32": "UTF-32", "utf-32-le": "UTF-32", "utf-32-be": "UTF-32"}


def parse_notebook(raw: bytes, name: str) -> nbformat.NotebookNode:
    """The notebook in the bytes ``raw`` (of the file ``name``, for messages), exactly as
    the grader reads every submission; :class:`NotebookError` with a plain reason if it is
    unusable: empty, not JSON, JSON too deep or with numbers too long to read, not an
    nbformat-4 notebook, JSON in another encoding than UTF-8 (UTF-16 or a byte order
    mark, as some Windows editors save it: Jupyter reads UTF-8 only), not a valid
    notebook (``cells`` missing, say).  ``course collect`` warns about the same files
    with the same reasons."""
    if not raw.strip():
        raise NotebookError(f"{name} is empty (0 bytes)")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotebookError(f"{name} is not valid JSON ({exc})") from None
    except RecursionError:
        raise NotebookError(f"{name} is JSON nested too deeply to read") from None
    except (ValueError, MemoryError) as exc:  # a number too long to convert, say
        raise NotebookError(f"{name} is JSON that cannot be read ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict) or data.get("nbformat") != 4:
        version = data.get("nbformat") if isinstance(data, dict) else None
        raise NotebookError(f"{name} is not an nbformat 4 notebook (nbformat={version!r})")
    encoding = json.detect_encoding(raw)  # json.loads(bytes) read it in this one
    if encoding != "utf-8":
        raise NotebookError(f"{name} is saved as {_ENCODINGS.get(encoding, encoding)}, not UTF-8 (as some "
                            "editors on Windows save files); Jupyter and the grader read UTF-8 only: save it "
                            "again from Jupyter, or as UTF-8 without a byte order mark")
    try:
        nb = nbformat.reader.reads(raw.decode("utf-8"))  # also rejoins multi-line sources; not validated yet
        _give_missing_ids(nb)
        nbformat.validate(nb)
    except Exception as exc:  # nbformat.ValidationError and friends
        raise NotebookError(f"{name} is not a valid notebook: {str(exc).splitlines()[0]}") from None
    return nb


def _give_missing_ids(nb) -> None:
    """A new id for every cell without one, in a notebook whose format has them (4.5+).

    nbformat gives them itself when it validates, but first prints its
    ``MissingIDFieldWarning`` on stderr for each such cell: a notebook saved by an older
    or a hand-written tool is routine among submissions, so the ids are given here, the
    same way, and the warning has nothing to say.  (Older 4.x notebooks have no ids and
    need none.)  Nothing else is changed, and no other warning is silenced.
    """
    from nbformat.corpus.words import generate_corpus_id

    cells, minor = nb.get("cells"), nb.get("nbformat_minor")
    if not isinstance(minor, int) or minor < 5 or not isinstance(cells, list):
        return  # (read_notebook has checked nbformat == 4; anything else is for validation to refuse)
    for cell in cells:
        if isinstance(cell, dict) and "id" not in cell:
            cell["id"] = generate_corpus_id()
