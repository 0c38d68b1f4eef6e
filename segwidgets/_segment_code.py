"""Checking a segment code before it is used in a request path, a journal or a message."""

from __future__ import annotations

import unicodedata

from ._errors import InvalidSegmentCodeError

__all__ = ["check_segment_code", "safe_repr"]

_SHOWN = 40


def safe_repr(text: str, *, limit: int = _SHOWN) -> str:
    """``repr`` of ``text`` cut to ``limit`` characters: line breaks and other control
    characters appear escaped (``\\r``, ``\\n``, ``\\x1b``), never raw."""
    cut = text if len(text) <= limit else text[:limit] + "…"
    return ascii(cut) if any(_is_control(c) for c in cut) else repr(cut)


def check_segment_code(code: object) -> str:
    """``code`` if it can name a segment in a URL path, else :class:`InvalidSegmentCodeError`.

    A segment code must be a non-empty string without surrounding spaces, ``/``, control
    or invisible format characters (line breaks included), and not ``.`` or ``..`` (which
    a URL path would read as "this" or "the parent" folder). Nothing else is assumed about
    Shopgate's codes. The error message shows the code escaped, never a raw line break.
    """
    if not isinstance(code, str):
        msg = f"A segment code must be a string, not {type(code).__name__}."
        raise InvalidSegmentCodeError(msg)
    problem = _problem(code)
    if problem is not None:
        msg = f"Invalid segment code {safe_repr(code)}: {problem}. Check the segment code."
        raise InvalidSegmentCodeError(msg)
    return code


def _problem(code: str) -> str | None:
    if not code.strip():
        return "it is empty"
    if any(_is_control(c) for c in code):
        return "it contains a control character or a line break"
    if code != code.strip():
        return "it starts or ends with a space"
    if "/" in code:
        return 'it contains "/", which would change the request path'
    if code in {".", ".."}:
        return f"{code!r} would change the request path"
    return None


def _is_control(char: str) -> bool:
    # Cc: C0/C1 controls (CR, LF, ESC, DEL); Cf: invisible format characters;
    # Zl/Zp: the Unicode line and paragraph separators.
    return unicodedata.category(char) in {"Cc", "Cf", "Zl", "Zp"}
