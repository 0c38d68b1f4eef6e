"""Counting member writes: what a sandbox answered (its request counters) and, per member
id, what its model received."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

__all__ = ["Received", "member_writes"]

_MEMBERS_ROUTE = "/segments/{code}/members"


def member_writes(sandbox: Any, *, answered: bool = False) -> int:
    """``POST``/``DELETE segments/{code}/members`` requests the sandbox saw (whatever their
    outcome), or with ``answered`` only those it answered with a 2xx."""
    return sum(
        count
        for name, by_status in sandbox.state()["requests"].items()
        if name.endswith(_MEMBERS_ROUTE) and name.split()[0] in {"POST", "DELETE"}
        for status, count in by_status.items()
        if not answered or str(status).startswith("2")
    )


def _ids_of(ids: Any) -> list[str]:
    return [str(i) for i in ids]


class Received:
    """Counts, per member id, the member writes the sandbox's model received."""

    def __init__(self, sandbox: Any, monkeypatch: Any) -> None:
        self.adds: Counter[str] = Counter()
        self.removes: Counter[str] = Counter()
        self._lock = threading.Lock()
        model = sandbox.model
        add, remove = model.add_members, model.remove_members

        def add_members(code: str, ids: Any, **options: Any) -> Any:
            with self._lock:
                self.adds.update(_ids_of(ids))
            return add(code, ids, **options)

        def remove_members(code: str, ids: Any, **options: Any) -> Any:
            with self._lock:
                self.removes.update(_ids_of(ids))
            return remove(code, ids, **options)

        monkeypatch.setattr(model, "add_members", add_members)
        monkeypatch.setattr(model, "remove_members", remove_members)

    def twice(self) -> dict[str, int]:
        """Ids received more than once, by action."""
        return {
            "add": sum(1 for n in self.adds.values() if n > 1),
            "remove": sum(1 for n in self.removes.values() if n > 1),
        }
