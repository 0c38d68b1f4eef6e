"""Whether a segment's members can be synced: only fixed segments have an editable list."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["is_fixed", "not_editable_reason"]


def is_fixed(segment: Mapping[str, Any]) -> bool:
    """True for a fixed segment (a segment that names no type is taken as fixed)."""
    return (segment.get("type") or "fixed") == "fixed"


def not_editable_reason(segment: Mapping[str, Any]) -> str:
    """Why ``segment`` cannot be synced ("" when it can)."""
    if is_fixed(segment):
        return ""
    return (
        f"Segment {segment.get('code')!r} is {segment.get('type')}: its members follow its "
        "rules. Only fixed segments can be synced."
    )
