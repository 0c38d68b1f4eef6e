"""Helpers of the sandbox model tests (imported by the tests and their conftest)."""

from __future__ import annotations

import base64
from typing import Any

from segwidgets.sandbox import SandboxModel
from segwidgets.sandbox._tokens import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET
from segwidgets.sandbox._wire import member_page


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def basic(client_id: str = SANDBOX_CLIENT_ID, secret: str = SANDBOX_CLIENT_SECRET) -> str:
    """An HTTP Basic header value."""
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def password_form(**overrides: str) -> dict[str, str]:
    """The form of a password grant with the default sandbox credentials."""
    form = {
        "grant_type": "password",
        "username": "api@sandbox.example",
        "password": "sandbox-password",
        "tenantType": "merchant",
        "tenantId": "DEMO",
    }
    form.update(overrides)
    return form


def members(*ids: str, kind: str = "customer") -> dict[str, Any]:
    """A member write body."""
    return {"members": [{"id": i, "type": kind} for i in ids]}


def list_members(
    model: SandboxModel,
    code: str,
    *,
    limit: int | None = None,
    offset: int | None = None,
    cursor: str | None = None,
    filters: Any = None,
) -> dict[str, Any]:
    """``GET segments/{code}/members`` as its answer dict, shaped by the model's knobs."""
    given = {"offset": offset, "cursor": cursor}
    return member_page(
        model,
        code,
        limit=limit,
        offset=offset,
        cursor=cursor,
        filters=filters,
        given=frozenset(name for name, value in given.items() if value is not None),
    ).to_dict()
