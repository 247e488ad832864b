"""Showing text that came from outside (file names, ids, notebook content) safely.

Anything a student or an archive chose (a file name, a student id, a cell's text, an
error message quoting them) may hold terminal escape sequences, control characters,
bidirectional overrides, newlines or rich markup.  :func:`visible` makes such
characters visible (``\\x1b`` becomes ``\\x1b`` as four characters, a right-to-left
override ``\\u202e``) so that nothing is interpreted by the terminal or the browser
and nothing is disguised; :func:`text` wraps the result in a rich ``Text``, which
rich never parses as markup.
"""

from __future__ import annotations

import re

__all__ = ["visible", "text"]

# C0 controls but tab and newline, DEL, C1 controls, bidirectional controls (with the
# Arabic letter mark), zero-width characters, line and paragraph separators, the byte
# order mark, and lone surrogates (a file name that is not UTF-8 decodes to those: they
# cannot be printed on a strict UTF-8 stream, so each is shown as the byte it stands for)
_HIDDEN = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069"
                     r"\u2028\u2029\ufeff\ud800-\udfff]")
_HIDDEN_AND_BREAKS = re.compile(_HIDDEN.pattern[:-1] + r"\n\t]")


def _escape(m: re.Match) -> str:
    c = ord(m.group(0))
    if 0xDC80 <= c <= 0xDCFF:  # a byte of a name that is not UTF-8 (os.fsdecode's surrogateescape)
        return f"\\x{c - 0xDC00:02x}"
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def visible(value, *, keep_newlines: bool = False) -> str:
    """``str(value)`` with every control, escape and direction character made visible.

    ``keep_newlines`` keeps newlines and tabs as they are (for multi-line text such as
    a cell's source); otherwise they too are shown as ``\\n`` and ``\\t``, so one name
    is always one line.
    """
    s = value if isinstance(value, str) else str(value)
    return (_HIDDEN if keep_newlines else _HIDDEN_AND_BREAKS).sub(_escape, s)


def text(value, style: str = "", *, keep_newlines: bool = False):
    """A rich ``Text`` of :func:`visible` ``value`` (never read as markup)."""
    from rich.text import Text

    return Text(visible(value, keep_newlines=keep_newlines), style=style)
