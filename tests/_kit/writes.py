"""Member writes: counted at the sandbox (its request counters, or per id what its model
received), recognised on the wire, and a transport that dies after some of them."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import httpx

__all__ = ["Crash", "CrashingTransport", "Received", "is_member_write", "member_writes"]

_MEMBERS_ROUTE = "/segments/{code}/members"


def is_member_write(request: httpx.Request) -> bool:
    """Whether ``request`` is a ``POST``/``DELETE segments/{code}/members``."""
    return request.method in {"POST", "DELETE"} and request.url.path.endswith("/members")


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


class Crash(BaseException):
    """Stands for the process dying (not an ``Exception``: nothing may catch it)."""


class CrashingTransport(httpx.BaseTransport):
    """Real HTTP that lets ``after`` member writes through, then dies at the next one:
    after the server applied it and before its answer arrives (``applied``, the worst
    moment: Shopgate did it, the journal cannot know), or before it is sent."""

    def __init__(self, after: int, *, applied: bool = True) -> None:
        self.inner = httpx.HTTPTransport()
        self.after = after
        self.applied = applied
        self.writes = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if is_member_write(request):
            self.writes += 1
            if self.writes > self.after:
                if self.applied:
                    self.inner.handle_request(request).read()
                raise Crash
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()
