"""The bodies of the two big list answers, encoded straight to JSON bytes.

A page of 1,000 members or customers is the largest answer the sandbox sends, and the
one sent most often. Building a dict per item and handing them to ``json.dumps`` costs
more than everything else in such a request, so these pages are written as JSON text
from pieces that need no escaping (ids are hex digits and dashes) or were escaped once
(the seed's names). The bytes are exactly those Starlette's ``JSONResponse`` renders from
the dict the model's ``list_*`` methods return; ``tests/unit/sandbox`` compares them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MemberPage", "customers_json", "dumps"]

_MEMBER_SEPARATOR = '","type":"customer"},{"id":"'


def dumps(value: Any) -> str:
    """``value`` as JSON text, with the options of Starlette's ``JSONResponse``."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


@dataclass(frozen=True)
class MemberPage:
    """One page of ``GET segments/{code}/members``: customer members, then device members."""

    ids: list[str]
    meta: dict[str, Any]
    device_ids: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The answer as a dict."""
        members = [{"id": i, "type": "customer"} for i in self.ids]
        members += [{"id": i, "type": "device"} for i in self.device_ids]
        return {"members": members, "meta": self.meta}

    def to_json(self) -> bytes:
        """The answer as JSON bytes (customer ids need no escaping: they are hex digits and
        dashes; device ids, for tests only, go through ``dumps``)."""
        parts = (
            [f'{{"id":"{_MEMBER_SEPARATOR.join(self.ids)}","type":"customer"}}'] if self.ids else []
        )
        parts += [dumps({"id": i, "type": "device"}) for i in self.device_ids]
        return f'{{"members":[{",".join(parts)}],"meta":{dumps(self.meta)}}}'.encode()


def customers_json(records: list[str], meta: dict[str, Any]) -> bytes:
    """A page of ``GET customers`` from the JSON text of each customer."""
    return f'{{"customers":[{",".join(records)}],"meta":{dumps(meta)}}}'.encode()
