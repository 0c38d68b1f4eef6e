"""Opaque member cursors: the sort key of the last member of a page, encoded.

A member's sort key is the first 64 bits of its id, so "after this cursor" means "ids
greater than the last id seen": a walk never repeats or skips a member that stays in the
segment, whatever else is added or removed while it runs.
"""

from __future__ import annotations

import base64
import binascii
import re

from ._service_error import ServiceError

__all__ = ["decode_cursor", "encode_cursor"]

_PREFIX = "m1:"
_BODY_RE = re.compile(r"^[0-9a-f]{16}$")


def encode_cursor(key: int) -> str:
    """The cursor that continues after the member with sort key ``key``."""
    return base64.urlsafe_b64encode(f"{_PREFIX}{key:016x}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The sort key inside a cursor; a malformed cursor is a 400 ``invalidCursor``."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    body = text.removeprefix(_PREFIX)
    if not text.startswith(_PREFIX) or not _BODY_RE.match(body):
        raise ServiceError(
            400,
            "invalidCursor",
            "Query parameter cursor: not a cursor this service issued; pass meta.cursors.next "
            "of the previous page unchanged.",
        )
    return int(body, 16)
