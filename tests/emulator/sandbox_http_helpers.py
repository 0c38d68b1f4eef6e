"""Helpers of the sandbox's loopback HTTP tests: a logged-in httpx client and paths."""

from __future__ import annotations

from typing import Any

import httpx

from segwidgets.sandbox import Sandbox


def token_form(sandbox: Sandbox, **overrides: str) -> dict[str, str]:
    """The password-grant form with the sandbox's credentials."""
    creds = sandbox.credentials
    form = {
        "grant_type": "password",
        "username": creds.username,
        "password": creds.password.get_secret_value(),
        "tenantType": "merchant",
        "tenantId": creds.merchant_code,
    }
    form.update(overrides)
    return form


def client_auth(sandbox: Sandbox) -> tuple[str, str]:
    """HTTP Basic client credentials."""
    creds = sandbox.credentials
    return creds.client_id, creds.client_secret.get_secret_value()


def get_token(http: httpx.Client, sandbox: Sandbox) -> str:
    """A fresh access token over HTTP."""
    answer = http.post(
        sandbox.credentials.token_url, auth=client_auth(sandbox), data=token_form(sandbox)
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def seg(sandbox: Sandbox, path: str = "") -> str:
    """A segmentation-service URL."""
    return sandbox.credentials.service_url("segmentation") + path


def cust(sandbox: Sandbox, path: str = "") -> str:
    """A customer-service URL."""
    return sandbox.credentials.service_url("customer") + path


def members(*ids: str, kind: str = "customer") -> dict[str, Any]:
    """A member write body."""
    return {"members": [{"id": i, "type": kind} for i in ids]}


def walk_members(http: httpx.Client, sandbox: Sandbox, code: str, limit: int) -> list[str]:
    """Every member id of a segment, page by page (bounded), in the paging style the
    sandbox serves: ``meta.cursors.next`` when the page has it, else ``offset``."""
    seen: list[str] = []
    params: dict[str, Any] = {"limit": limit}
    for _ in range(10_000):
        page = http.get(seg(sandbox, f"/segments/{code}/members"), params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        seen += [m["id"] for m in body["members"]]
        meta = body["meta"]
        if "cursors" in meta:
            cursor = meta["cursors"]["next"]
            if cursor is None:
                return seen
            params = {"limit": limit, "cursor": cursor}
        else:
            assert meta["offset"] == params.get("offset", 0)
            if (
                not body["members"]
                or meta["offset"] + len(body["members"]) >= meta["totalItemCount"]
            ):
                return seen
            params = {"limit": limit, "offset": meta["offset"] + len(body["members"])}
    raise AssertionError("the walk did not end")
