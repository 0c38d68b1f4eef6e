"""Segments: their fields and their member storage (incoming segment JSON is checked by
``_requests``).

A fixed segment keeps its members as ``MemberKeys``: 64-bit member keys (the first 64 bits
of a customer id, so key order is id order) in a set for batch writes and in a sorted view
for cursor pages, ``O(log n + page)`` each.
Members whose DELETE was accepted but not yet applied stay in ``members`` and are also in
``pending`` (key → sequence number of the DELETE).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._member_keys import MemberKeys
from ._rules import Rule

__all__ = ["SEGMENT_STATUSES", "SEGMENT_TYPES", "Segment"]

SEGMENT_TYPES = ("fixed", "dynamic")
SEGMENT_STATUSES = ("active", "inactive")


@dataclass(eq=False)
class Segment:
    """One segment of the merchant."""

    code: str
    name: str
    description: str
    type: str
    status: str
    rules: Rule | None
    external_update_date: str | None
    create_date: str
    update_date: str
    members: MemberKeys = field(default_factory=MemberKeys)
    pending: dict[int, int] = field(default_factory=dict)
    #: Ids of device members, sorted (seeded by tests through ``add_device_members``).
    devices: list[str] = field(default_factory=list)
    #: Dynamic segments: (customer table version, sorted member keys) of the last evaluation.
    cache: tuple[int, MemberKeys] | None = None

    @property
    def is_fixed(self) -> bool:
        """Only fixed segments have an editable member list."""
        return self.type == "fixed"

    def to_json(self, member_count: int) -> dict[str, Any]:
        """The segment as the segmentation service returns it."""
        return {
            "code": self.code,
            "name": self.name,
            "description": self.description,
            "status": self.status,
            "type": self.type,
            "memberCount": member_count,
            "rules": None if self.rules is None else self.rules.source,
            "externalUpdateDate": self.external_update_date,
            "createDate": self.create_date,
            "updateDate": self.update_date,
        }

    def meta_json(self) -> dict[str, Any]:
        """The stored fields (no members), for persistence."""
        data = self.to_json(0)
        del data["memberCount"]
        return data
