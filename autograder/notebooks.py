"""Reading notebooks that come from students: every way one can be unusable, in plain words."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat

__all__ = ["read_notebook"]


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """Read a submitted notebook; ValueError with a plain reason if it is unusable."""
    if path.is_symlink():
        raise ValueError(f"{path.name} is a symbolic link, not a notebook file")
    if not path.is_file():
        raise ValueError(f"{path.name} is missing")
    raw = path.read_bytes()
    if not raw.strip():
        raise ValueError(f"{path.name} is empty (0 bytes)")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path.name} is not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("nbformat") != 4:
        version = data.get("nbformat") if isinstance(data, dict) else None
        raise ValueError(f"{path.name} is not an nbformat 4 notebook (nbformat={version!r})")
    try:
        nb = nbformat.reads(raw.decode("utf-8"), as_version=4)  # also rejoins multi-line sources
        nbformat.validate(nb)
    except Exception as exc:  # nbformat.ValidationError and friends
        raise ValueError(f"{path.name} is not a valid notebook: {str(exc).splitlines()[0]}") from None
    return nb
