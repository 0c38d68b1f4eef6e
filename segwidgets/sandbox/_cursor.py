"""Opaque member cursors: the position of the last member of a page, encoded.

A customer member's sort key is the first 64 bits of its id, so "after this cursor" means
"ids greater than the last id seen": a walk never repeats or skips a member that stays in
the segment, whatever else is added or removed while it runs. Device members come after
every customer member; their cursor holds the device id.
"""

from __future__ import annotations

import base64
import binascii
import re

from ._service_error import ServiceError

__all__ = ["decode_cursor", "encode_cursor"]

_PREFIX = "m1:"
_DEVICE_PREFIX = "d1:"
_BODY_RE = re.compile(r"^[0-9a-f]{16}$")
_DEVICE_RE = re.compile(r"^(?:[0-9a-f]{2})+$")


def encode_cursor(position: int | str) -> str:
    """The cursor that continues after the customer member with sort key ``position``,
    or after the device member with id ``position``."""
    if isinstance(position, str):
        text = _DEVICE_PREFIX + position.encode().hex()
    else:
        text = f"{_PREFIX}{position:016x}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int | str:
    """The position inside a cursor: a sort key, or a device id (``str``).

    A malformed cursor is a 400 ``invalidCursor``.
    """
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    device = text.removeprefix(_DEVICE_PREFIX)
    if text.startswith(_DEVICE_PREFIX) and _DEVICE_RE.match(device):
        try:
            return bytes.fromhex(device).decode()
        except UnicodeDecodeError:
            pass
    body = text.removeprefix(_PREFIX)
    if not text.startswith(_PREFIX) or not _BODY_RE.match(body):
        raise ServiceError(
            400,
            "invalidCursor",
            "Query parameter cursor: not a cursor this service issued; pass meta.cursors.next "
            "of the previous page unchanged.",
        )
    return int(body, 16)
