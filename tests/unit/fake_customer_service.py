"""A fake Shopgate customer service behind ``httpx.MockTransport``, with the wire contract's
switches that matter to resolution: how ``emailAddress`` compares (``exact``,
``insensitive``, or ``loose``: case-insensitive contains), where ``$in`` works (``id``,
``all``, ``off``), and the largest page (a larger ``limit`` is the platform's 400).

Customers are listed in id order; ``GET customers/{id}`` answers one or 404. Every API
request is recorded.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
from _kit.credentials import fake_client

from segwidgets._client import ShopgateClient

__all__ = ["FakeCustomerService", "customer"]

PREFIX = "/v1/merchants/M42/customers"


def customer(
    cid: str, email: str, *, guest: bool = False, status: str = "active"
) -> dict[str, Any]:
    tail = cid.rsplit("-", maxsplit=1)[-1]
    day = int(tail) % 28 + 1 if tail.isdigit() else 1
    return {
        "id": cid,
        "emailAddress": email,
        "isAnonymous": guest,
        "status": status,
        "updateDate": f"2026-01-{day:02d}T00:00:00Z",
    }


def _validation(param: str, message: str) -> httpx.Response:
    text = f"Request validation failed: Parameter ({param}) failed schema validation"
    return httpx.Response(
        400,
        json={
            "statusCode": 400,
            "code": "ValidationError",
            "message": text,
            "error": {
                "code": "SCHEMA_VALIDATION_FAILED",
                "message": text,
                "paramName": param,
                "results": {"errors": [{"code": "INVALID", "message": message, "path": []}]},
            },
        },
    )


class _RefusedError(Exception):
    pass


@dataclass
class FakeCustomerService:
    customers: list[dict[str, Any]]
    email_filter: Literal["exact", "insensitive", "loose"] = "exact"
    filter_in: Literal["id", "all", "off"] = "id"
    max_page: int = 100
    requests: list[httpx.Request] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self, **kwargs: Any) -> ShopgateClient:
        return fake_client(self, **kwargs)

    # -- what was asked -----------------------------------------------------------------------

    @property
    def n_requests(self) -> int:
        with self._lock:
            return len(self.requests)

    def filters_sent(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                json.loads(r.url.params["filters"])
                for r in self.requests
                if "filters" in r.url.params
            ]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()

    # -- the service --------------------------------------------------------------------------

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "tok", "expires_in": 3600})
        with self._lock:
            self.requests.append(request)
        path = request.url.path
        if request.method == "GET" and path == PREFIX:
            return self._list(request)
        if request.method == "GET" and path.startswith(PREFIX + "/"):
            cid = path[len(PREFIX) + 1 :]
            for c in self.customers:
                if c["id"] == cid:
                    return httpx.Response(200, json={"customer": c})
            return httpx.Response(404, json={"code": "NotFound", "message": "Customer not found"})
        return httpx.Response(404, json={"code": "NotFound", "message": "No such route"})

    def _list(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        limit = int(params.get("limit", "20"))
        offset = int(params.get("offset", "0"))
        if limit > self.max_page:
            return _validation("limit", f"Value {limit} is greater than maximum {self.max_page}")
        filters = json.loads(params["filters"]) if "filters" in params else {}
        try:
            rows = [
                c for c in sorted(self.customers, key=lambda c: c["id"]) if self._keep(c, filters)
            ]
        except _RefusedError as refused:
            return _validation("filters", str(refused))
        page = rows[offset : offset + limit]
        return httpx.Response(
            200,
            json={
                "customers": page,
                "meta": {"limit": limit, "offset": offset, "totalItemCount": len(rows)},
            },
        )

    def _email_equal(self, stored: str, asked: str) -> bool:
        if self.email_filter == "exact":
            return stored == asked
        if self.email_filter == "insensitive":
            return stored.lower() == asked.lower()
        return asked.lower() in stored.lower()

    def _keep(self, c: dict[str, Any], filters: dict[str, Any]) -> bool:
        for name, want in filters.items():
            if name == "isAnonymous":
                if c["isAnonymous"] is not want:
                    return False
            elif name == "id":
                if isinstance(want, dict):
                    if self.filter_in == "off" or set(want) != {"$in"}:
                        raise _RefusedError("id must be a string")
                    if c["id"] not in want["$in"]:
                        return False
                elif c["id"] != want:
                    return False
            elif name == "emailAddress":
                if isinstance(want, dict):
                    if self.filter_in != "all" or set(want) != {"$in"}:
                        raise _RefusedError("emailAddress must be a string")
                    if not any(self._email_equal(c["emailAddress"], v) for v in want["$in"]):
                        return False
                elif not self._email_equal(c["emailAddress"], want):
                    return False
            else:
                raise _RefusedError(f"unknown filter {name}")
        return True
