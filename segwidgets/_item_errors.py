"""Per-item errors of a member write: which ids Shopgate refused, and why.

Shopgate's batch routes answer 20x even when items fail, with
``{"errors": [{code, entity, entityId, entityIndex, reason, subentityPath}]}`` in the body
(docs.retail.red, "Batch routes"); a server may also refuse a whole batch with a 4xx that
lists its items the same way, or with the older keys ``id``, ``index``, ``message``. Both
shapes are read here, in one place, into ``ItemError`` values that name the id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["ItemError", "parse_item_errors"]

_MAX_REASON = 300


@dataclass(frozen=True)
class ItemError:
    """One refused item: its ``id`` (None if the server named neither id nor a valid
    index), its position ``index`` in the batch (None if not given), Shopgate's ``code``
    and ``reason``."""

    id: str | None
    index: int | None
    code: str
    reason: str


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _text(value: object) -> str:
    if value is None:
        return ""
    return str(value)[:_MAX_REASON]


def parse_item_errors(body: object, ids: Sequence[str] | None = None) -> list[ItemError]:
    """The item errors of an answer body (``[]`` when it has none).

    ``ids`` are the ids the request sent, in order: an error that gives only
    ``entityIndex``/``index`` is mapped to its id through them. An index out of range is
    kept with ``id=None``; the caller must treat such an error as naming no id.
    """
    if not isinstance(body, dict):
        return []
    raw = body.get("errors")
    if not isinstance(raw, list):
        return []
    found: list[ItemError] = []
    for entry in raw:
        if not isinstance(entry, dict):
            continue
        index = _int(entry.get("entityIndex", entry.get("index")))
        raw_id = entry.get("entityId", entry.get("id"))
        item_id = None if raw_id in (None, "") else str(raw_id)
        if item_id is None and index is not None and ids is not None and 0 <= index < len(ids):
            item_id = str(ids[index])
        reason = _text(entry.get("reason") or entry.get("message") or entry.get("code"))
        found.append(
            ItemError(id=item_id, index=index, code=_text(entry.get("code")), reason=reason)
        )
    return found
