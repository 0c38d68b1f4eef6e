"""An ideal Shopgate for measuring the engine alone: every call takes exactly the latency.

``IdealServer`` is an ``httpx`` transport (no socket, no server process): each call sleeps
``latency`` in the calling thread, so calls overlap perfectly, and answers from a member set
kept in memory. Member writes are only logged when they arrive and applied to the set when
something reads it (a page, the final check), so the server costs the push nothing. What remains
of a push's time beyond ``requests x latency / concurrency`` is the engine's own cost:
batching, JSON, the journal, the thread pool, httpx.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterable

import httpx

__all__ = ["IdealServer"]


class IdealServer(httpx.BaseTransport):
    """A transport that answers the calls of a push after ``latency`` seconds each."""

    def __init__(self, *, latency: float, members: Iterable[str], code: str) -> None:
        self.latency = latency
        self.code = code
        self._members: set[str] = set(members)
        self._writes: list[tuple[str, bytes]] = []
        self._sorted: list[str] | None = None
        self._lock = threading.Lock()
        self.n_calls = 0
        self.n_writes = 0

    @property
    def members(self) -> set[str]:
        """The members, after every write so far."""
        with self._lock:
            return self._settled()

    def _settled(self) -> set[str]:
        for method, content in self._writes:
            ids = [m["id"] for m in json.loads(content)["members"]]
            if method == "POST":
                self._members.update(ids)
            else:
                self._members.difference_update(ids)
        if self._writes:
            self._writes = []
            self._sorted = None
        return self._members

    def _page(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        limit = int(params.get("limit", "100"))
        start = (
            int(base64.urlsafe_b64decode(params["cursor"]).decode()) if "cursor" in params else 0
        )
        with self._lock:
            members = self._settled()
            if self._sorted is None:
                self._sorted = sorted(members)
            ordered = self._sorted
        page = ordered[start : start + limit]
        end = start + len(page)
        more = end < len(ordered)
        body = {
            "members": [{"id": i, "type": "customer"} for i in page],
            "meta": {
                "limit": limit,
                "cursors": {
                    "next": base64.urlsafe_b64encode(str(end).encode()).decode() if more else None
                },
                "totalItemCount": len(ordered),
            },
        }
        return httpx.Response(200, json=body)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        time.sleep(self.latency)
        with self._lock:
            self.n_calls += 1
        path = request.url.path
        if path.endswith("/oauth/token"):
            return httpx.Response(
                200, json={"access_token": "ideal", "token_type": "bearer", "expires_in": 3600}
            )
        if path.endswith(f"/segments/{self.code}/members"):
            if request.method == "GET":
                return self._page(request)
            with self._lock:
                self.n_writes += 1
                self._writes.append((request.method, request.content))
            return httpx.Response(201 if request.method == "POST" else 202)
        if path.endswith(f"/segments/{self.code}"):
            with self._lock:
                n = len(self._settled())
            return httpx.Response(
                200,
                json={
                    "segment": {
                        "code": self.code,
                        "type": "fixed",
                        "status": "active",
                        "memberCount": n,
                    }
                },
            )
        return httpx.Response(404, json={"message": "not modelled by the ideal server"})
