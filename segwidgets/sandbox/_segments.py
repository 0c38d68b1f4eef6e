"""Segments: their fields, how incoming segment JSON is checked, and their member storage.

A fixed segment keeps its members as ``MemberKeys``: 64-bit member keys (the first 64 bits
of a customer id, so key order is id order) in a set for batch writes and in a sorted view
for cursor pages, ``O(log n + page)`` each.
Members whose DELETE was accepted but not yet applied stay in ``members`` and are also in
``pending`` (key → sequence number of the DELETE).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._member_keys import MemberKeys
from ._rules import Rule, parse_rule
from ._service_error import ServiceError

__all__ = [
    "SEGMENT_STATUSES",
    "SEGMENT_TYPES",
    "Segment",
    "check_code",
    "parse_new_segment",
    "parse_segment_update",
]

SEGMENT_TYPES = ("fixed", "dynamic")
SEGMENT_STATUSES = ("active", "inactive")

_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_NEW_FIELDS = frozenset(
    {"code", "name", "description", "type", "status", "rules", "externalUpdateDate", "members"}
)
_UPDATE_FIELDS = frozenset({"name", "description", "status", "rules", "externalUpdateDate"})


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


def _invalid(message: str) -> ServiceError:
    return ServiceError(400, "invalidField", message)


def check_code(code: object, *, name: str = "code") -> str:
    """A segment code: 1-64 letters, digits, ``_``, ``.``, ``-``, not starting with a sign."""
    if not isinstance(code, str) or not _CODE_RE.match(code):
        msg = (
            f"Segment {name} must be 1-64 characters of letters, digits, '_', '.' or '-', "
            "starting with a letter or digit."
        )
        raise _invalid(msg)
    return code


def _check_text(data: Mapping[str, Any], name: str, *, required: bool, limit: int) -> None:
    if name not in data:
        if required:
            raise _invalid(f"Segment field {name} is required.")
        return
    value = data[name]
    if required and (not isinstance(value, str) or not value):
        raise _invalid(f"Segment field {name} must be a non-empty string.")
    if value is not None and not isinstance(value, str):
        raise _invalid(f"Segment field {name} must be a string.")
    if isinstance(value, str) and len(value) > limit:
        raise _invalid(f"Segment field {name} must be at most {limit} characters.")


def _check_common(data: Mapping[str, Any]) -> None:
    _check_text(data, "description", required=False, limit=2000)
    _check_text(data, "externalUpdateDate", required=False, limit=64)
    if "status" in data and data["status"] not in SEGMENT_STATUSES:
        raise _invalid("Segment status must be 'active' or 'inactive'.")


def parse_new_segment(data: object) -> dict[str, Any]:
    """Check one entry of ``POST segments``; returns it with defaults filled in."""
    if not isinstance(data, Mapping):
        raise _invalid("Each entry of 'segments' must be a JSON object.")
    unknown = sorted(set(data) - _NEW_FIELDS)
    if unknown:
        raise _invalid(f"Unknown segment field(s): {', '.join(unknown)}.")
    check_code(data.get("code"))
    _check_text(data, "name", required=True, limit=255)
    _check_common(data)
    kind = data.get("type", "fixed")
    if kind not in SEGMENT_TYPES:
        raise _invalid("Segment type must be 'fixed' or 'dynamic'.")
    rules: Rule | None = None
    if kind == "dynamic":
        if data.get("rules") is None:
            raise _invalid("A dynamic segment needs 'rules'.")
        rules = parse_rule(data["rules"])
        if "members" in data:
            raise ServiceError(
                400, "segmentNotFixed", "Members can only be given for a fixed segment."
            )
    elif data.get("rules") is not None:
        raise _invalid("A fixed segment has no 'rules'; its members are listed explicitly.")
    return {
        "code": data["code"],
        "name": data["name"],
        "description": data.get("description") or "",
        "type": kind,
        "status": data.get("status", "active"),
        "rules": rules,
        "externalUpdateDate": data.get("externalUpdateDate"),
        "members": data.get("members"),
        "has_members": "members" in data,
    }


def parse_segment_update(segment: Segment, data: object) -> dict[str, Any]:
    """Check a partial update of ``segment``; returns the fields to change."""
    if not isinstance(data, Mapping):
        raise _invalid("The body must be a JSON object with the fields to change.")
    for name in ("code", "type"):
        if name in data:
            raise _invalid(f"Segment field {name} cannot be changed.")
    unknown = sorted(set(data) - _UPDATE_FIELDS)
    if unknown:
        raise _invalid(f"Unknown or read-only segment field(s): {', '.join(unknown)}.")
    if "name" in data:
        _check_text(data, "name", required=True, limit=255)
    _check_common(data)
    changes = {k: v for k, v in data.items() if k in _UPDATE_FIELDS}
    if "rules" in changes:
        if segment.is_fixed:
            if changes["rules"] is not None:
                raise _invalid("A fixed segment has no 'rules'.")
        else:
            changes["rules"] = parse_rule(changes["rules"])
    if "description" in changes and changes["description"] is None:
        changes["description"] = ""
    return changes
