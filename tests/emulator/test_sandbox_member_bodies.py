"""Member writes over HTTP answer the same whichever way their JSON body is spelled.

The sandbox reads the usual layouts (httpx's compact JSON, ``json.dumps``' spacing)
without a JSON parser and every other spelling with one; clients must not see which.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sandbox_http_helpers import get_token, seg

from segwidgets.sandbox import Sandbox


@pytest.fixture
def http(sandbox: Sandbox) -> Iterator[httpx.Client]:
    """A client that sends a valid bearer token."""
    with httpx.Client(timeout=10) as client:
        client.headers["Authorization"] = f"Bearer {get_token(client, sandbox)}"
        yield client


def _spellings(ids: list[str]) -> list[bytes]:
    items = [{"id": i, "type": "customer"} for i in ids]
    escaped = json.dumps({"members": items}).replace(ids[0][:1], f"\\u{ord(ids[0][0]):04x}", 1)
    return [
        json.dumps({"members": items}, separators=(",", ":")).encode(),  # httpx
        json.dumps({"members": items}).encode(),  # json.dumps' default
        json.dumps({"members": items}, indent=1).encode(),
        json.dumps({"members": [{"type": t, "id": i} for i, t in (d.values() for d in items)]})
        .replace(" ", "")
        .encode(),
        escaped.encode(),
    ]


def _answer(http: httpx.Client, method: str, url: str, raw: bytes) -> tuple[int, Any]:
    answer = http.request(method, url, content=raw, headers={"content-type": "application/json"})
    return answer.status_code, answer.json() if answer.content else None


def _outcome(sandbox: Sandbox, http: httpx.Client, raw: bytes) -> tuple[Any, ...]:
    """Answers and members after a POST then a DELETE of ``raw``, from fresh data."""
    sandbox.reset()
    url = seg(sandbox, "/segments/vip/members")
    added = _answer(http, "POST", url, raw)
    after_add = sandbox.member_ids("vip")
    removed = _answer(http, "DELETE", url, raw)
    return added, after_add, removed, sandbox.member_ids("vip")


#: (POST, DELETE) statuses per kind of batch and ``refused_items`` setting.
_EXPECTED = {
    "2xx-body": {"good": (201, 202), "unknown": (201, 202), "capitals": (201, 202)},
    "400": {"good": (201, 202), "unknown": (400, 400), "capitals": (400, 400)},
}


@pytest.mark.parametrize("refused", ["2xx-body", "400"])
@pytest.mark.parametrize("kind", ["good", "unknown", "capitals", "device"])
def test_every_spelling_of_a_member_write_gets_the_same_answer(
    sandbox: Sandbox, http: httpx.Client, kind: str, refused: str
) -> None:
    sandbox.configure(delete_delay=0, refused_items=refused)
    customers = http.get(
        sandbox.credentials.service_url("customer") + "/customers",
        params={"limit": 60, "filters": json.dumps({"status": "active"})},
    ).json()["customers"]
    ids = [c["id"] for c in customers][:40]
    if kind == "unknown":
        ids[3] = ids[3][:-1] + ("0" if ids[3][-1] != "0" else "1")
    elif kind == "capitals":
        ids[5] = ids[5].upper()
    spellings = _spellings(ids)
    if kind == "device":
        spellings = [raw.replace(b'"customer"', b'"device"', 1) for raw in spellings]
    outcomes = [_outcome(sandbox, http, raw) for raw in spellings]
    assert all(outcome == outcomes[0] for outcome in outcomes[1:])
    (added, _, removed, _) = outcomes[0]
    expected = (400, 400) if kind == "device" else _EXPECTED[refused][kind]
    assert (added[0], removed[0]) == expected
    if refused == "2xx-body" and kind in {"unknown", "capitals"}:
        position = 3 if kind == "unknown" else 5
        for answer in (added, removed):
            assert [(e["entityIndex"], e["entityId"]) for e in answer[1]["errors"]] == [
                (position, ids[position])
            ]
