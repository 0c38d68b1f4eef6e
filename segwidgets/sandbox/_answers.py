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
from dataclasses import dataclass
from typing import Any

__all__ = ["MemberPage", "customers_json", "dumps"]

_MEMBER_SEPARATOR = '","type":"customer"},{"id":"'


def dumps(value: Any) -> str:
    """``value`` as JSON text, with the options of Starlette's ``JSONResponse``."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


@dataclass(frozen=True)
class MemberPage:
    """One page of ``GET segments/{code}/members``."""

    ids: list[str]
    limit: int
    next_cursor: str | None
    total: int

    def meta(self) -> dict[str, Any]:
        """The ``meta`` object of the answer."""
        return {
            "limit": self.limit,
            "cursors": {"next": self.next_cursor},
            "totalItemCount": self.total,
        }

    def to_json(self) -> bytes:
        """The answer as JSON bytes (ids need no escaping: they are hex digits and dashes)."""
        members = f'{{"id":"{_MEMBER_SEPARATOR.join(self.ids)}","type":"customer"}}'
        return f'{{"members":[{members if self.ids else ""}],"meta":{dumps(self.meta())}}}'.encode()


def customers_json(records: list[str], meta: dict[str, Any]) -> bytes:
    """A page of ``GET customers`` from the JSON text of each customer."""
    return f'{{"customers":[{",".join(records)}],"meta":{dumps(meta)}}}'.encode()
