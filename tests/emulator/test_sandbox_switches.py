"""The switches between candidate Shopgate behaviours, each both ways, over real loopback HTTP.

Paging of members (offset or cursor), the page-size limit (reject or clamp), refused member
items (2xx with ``errors`` or 400), the email filter (exact or case-insensitive), ``$in`` in
filters, whether member totals count pending deletes, device members, and the checks of the
control endpoints.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sandbox_http_helpers import cust, get_token, members, seg, walk_members

from segwidgets.sandbox import Sandbox, Settings, start

VALIDATION_MESSAGE = "Request validation failed: Parameter ({}) failed schema validation"


@pytest.fixture
def http(sandbox: Sandbox) -> Iterator[httpx.Client]:
    """A client that sends a valid bearer token."""
    with httpx.Client(timeout=10) as client:
        client.headers["Authorization"] = f"Bearer {get_token(client, sandbox)}"
        yield client


def _registered(sandbox: Sandbox, n: int) -> list[dict[str, Any]]:
    return [
        c for c in sandbox.model.customers() if not c["isAnonymous"] and c["status"] == "active"
    ][:n]


def _customers(http: httpx.Client, sandbox: Sandbox, filters: object) -> httpx.Response:
    return http.get(cust(sandbox, "/customers"), params={"filters": json.dumps(filters)})


def _members_url(sandbox: Sandbox, code: str) -> str:
    return seg(sandbox, f"/segments/{code}/members")


def test_the_defaults_are_the_likely_real_behaviour() -> None:
    settings = Settings()
    assert (
        settings.member_paging,
        settings.max_page_size,
        settings.page_limit_mode,
        settings.refused_items,
        settings.email_filter,
        settings.filter_in,
        settings.total_counts_pending,
    ) == ("offset", 100, "reject", "2xx-body", "exact", "id", True)


# -- member_paging ----------------------------------------------------------------------------
def test_offset_paging_reads_every_member_once_in_id_order(
    sandbox: Sandbox, http: httpx.Client
) -> None:
    expected = sorted(sandbox.member_ids("newsletter"))
    assert len(expected) > 7
    seen: list[str] = []
    for offset in range(0, len(expected) + 7, 7):
        answer = http.get(
            _members_url(sandbox, "newsletter"), params={"limit": 7, "offset": offset}
        )
        assert answer.status_code == 200
        body = answer.json()
        assert body["meta"] == {"limit": 7, "offset": offset, "totalItemCount": len(expected)}
        seen += [m["id"] for m in body["members"]]
    assert seen == expected
    stray = http.get(_members_url(sandbox, "newsletter"), params={"cursor": "abc"})
    assert stray.status_code == 400
    assert "cursor" in stray.json()["message"]


def test_cursor_paging_follows_meta_cursors_next(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.configure(member_paging="cursor")
    expected = sorted(sandbox.member_ids("newsletter"))
    first = http.get(_members_url(sandbox, "newsletter"), params={"limit": 7}).json()
    assert set(first["meta"]) == {"limit", "cursors", "totalItemCount"}
    assert first["meta"]["cursors"]["next"]
    assert walk_members(http, sandbox, "newsletter", 7) == expected
    stray = http.get(_members_url(sandbox, "newsletter"), params={"offset": 7})
    assert stray.status_code == 400
    assert "offset" in stray.json()["message"]


# -- max_page_size / page_limit_mode ----------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("customer", "/customers"),
        ("segmentation", "/segments"),
        ("segmentation", "/segments/newsletter/members"),
        ("segmentation", "/membersSearch"),
    ],
)
def test_reject_answers_the_platform_validation_body_naming_limit(
    sandbox: Sandbox, http: httpx.Client, path: str, params: str
) -> None:
    url = sandbox.credentials.service_url(path) + params
    extra = {"rules": json.dumps({"customer.status": "active"})} if "membersSearch" in url else {}
    answer = http.get(url, params={"limit": 1000, **extra})
    assert answer.status_code == 400
    message = VALIDATION_MESSAGE.format("limit")
    assert answer.json() == {
        "statusCode": 400,
        "code": "ValidationError",
        "message": message,
        "error": {
            "code": "SCHEMA_VALIDATION_FAILED",
            "message": message,
            "paramName": "limit",
            "results": {
                "errors": [
                    {
                        "code": "MAXIMUM",
                        "message": "Value 1000 is greater than maximum 100",
                        "path": [],
                    }
                ]
            },
        },
    }
    assert http.get(url, params={"limit": 100, **extra}).status_code == 200


def test_reject_names_the_configured_maximum(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.configure(max_page_size=250)
    answer = http.get(cust(sandbox, "/customers"), params={"limit": 251})
    results = answer.json()["error"]["results"]["errors"]
    assert results[0]["message"] == "Value 251 is greater than maximum 250"
    page = http.get(cust(sandbox, "/customers"), params={"limit": 250}).json()
    assert (page["meta"]["limit"], len(page["customers"])) == (250, 250)


def test_clamp_serves_the_maximum_and_says_so(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.configure(page_limit_mode="clamp")
    for url in (cust(sandbox, "/customers"), _members_url(sandbox, "newsletter")):
        page = http.get(url, params={"limit": 1000}).json()
        assert page["meta"]["limit"] == 100
        listed = page.get("customers", page.get("members"))
        assert len(listed) == min(100, page["meta"]["totalItemCount"])


# -- refused_items ----------------------------------------------------------------------------
def _refused(member_id: str, index: int, reason: str) -> dict[str, Any]:
    return {
        "code": "unknownCustomer",
        "entity": "member",
        "entityId": member_id,
        "entityIndex": index,
        "reason": reason,
        "subentityPath": "",
    }


def test_2xx_body_applies_the_valid_items_and_lists_the_refused(
    sandbox: Sandbox, http: httpx.Client
) -> None:
    sandbox.configure(delete_delay=0)
    deleted = next(c["id"] for c in sandbox.model.customers() if c["status"] == "deleted")
    new = [c["id"] for c in _registered(sandbox, 40) if c["id"] not in sandbox.member_ids("vip")]
    before = sandbox.member_ids("vip")
    added = http.post(
        _members_url(sandbox, "vip"), json=members(new[0], "no-such-id", deleted, new[1])
    )
    assert added.status_code == 201
    assert added.json() == {
        "errors": [
            _refused("no-such-id", 1, "There is no customer with this id."),
            _refused(deleted, 2, "This customer is deleted."),
        ]
    }
    assert sandbox.member_ids("vip") == before | set(new[:2])
    clean = http.post(_members_url(sandbox, "vip"), json=members(new[2]))
    assert (clean.status_code, clean.content) == (201, b"")
    outsider = new[3]
    removed = http.request(
        "DELETE", _members_url(sandbox, "vip"), json=members(new[0], "no-such-id", outsider)
    )
    assert removed.status_code == 202
    assert removed.json() == {
        "errors": [_refused("no-such-id", 1, "There is no customer with this id.")]
    }
    assert sandbox.member_ids("vip") == before | {new[1], new[2]}


def test_400_applies_nothing(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.configure(refused_items="400", delete_delay=0)
    new = [c["id"] for c in _registered(sandbox, 40) if c["id"] not in sandbox.member_ids("vip")]
    before = sandbox.member_ids("vip")
    added = http.post(_members_url(sandbox, "vip"), json=members(new[0], "no-such-id"))
    assert added.status_code == 400
    assert added.json()["code"] == "invalidMembers"
    assert added.json()["errors"] == [
        _refused("no-such-id", 1, "There is no customer with this id.")
    ]
    gone = sorted(before)[0]
    removed = http.request("DELETE", _members_url(sandbox, "vip"), json=members(gone, "no-such-id"))
    assert removed.status_code == 400
    assert sandbox.member_ids("vip") == before
    not_a_member = http.request("DELETE", _members_url(sandbox, "vip"), json=members(new[0]))
    assert (not_a_member.status_code, not_a_member.content) == (202, b"")


# -- email_filter -------------------------------------------------------------------------------
@pytest.mark.parametrize(("mode", "found"), [("exact", False), ("insensitive", True)])
def test_email_filter_compares_as_configured(
    sandbox: Sandbox, http: httpx.Client, mode: str, found: bool
) -> None:
    sandbox.configure(email_filter=mode)
    someone = _registered(sandbox, 1)[0]
    email = someone["emailAddress"]
    altered = email.upper() if email != email.upper() else email.lower()
    same = _customers(http, sandbox, {"emailAddress": email, "isAnonymous": False}).json()
    assert someone["id"] in [c["id"] for c in same["customers"]]
    other = _customers(http, sandbox, {"emailAddress": altered, "isAnonymous": False}).json()
    assert (someone["id"] in [c["id"] for c in other["customers"]]) is found
    assert (other["meta"]["totalItemCount"] > 0) is found


# -- filter_in ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("mode", "on_id", "on_email"), [("id", True, False), ("all", True, True), ("off", False, False)]
)
def test_in_filters_work_where_configured(
    sandbox: Sandbox, http: httpx.Client, mode: str, on_id: bool, on_email: bool
) -> None:
    sandbox.configure(filter_in=mode)
    picked = _registered(sandbox, 3)
    ids = [c["id"] for c in picked]
    for field, values, works in (
        ("id", ids, on_id),
        ("emailAddress", [c["emailAddress"] for c in picked], on_email),
    ):
        answer = _customers(http, sandbox, {field: {"$in": values}, "isAnonymous": False})
        if works:
            assert answer.status_code == 200
            assert sorted(c["id"] for c in answer.json()["customers"]) == sorted(ids)
        else:
            assert answer.status_code == 400
            assert answer.json()["error"]["paramName"] == "filters"
            assert answer.json()["message"] == VALIDATION_MESSAGE.format("filters")
    member = sorted(sandbox.member_ids("vip"))[:2]
    filters = json.dumps({"id": {"$in": [*member, ids[0]]}})
    page = http.get(_members_url(sandbox, "vip"), params={"filters": filters})
    if on_id:
        expected = sorted(set(member) | ({ids[0]} & sandbox.member_ids("vip")))
        assert [m["id"] for m in page.json()["members"]] == expected
    else:
        assert page.status_code == 400


def test_email_in_follows_the_email_filter(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.configure(filter_in="all", email_filter="exact")
    picked = _registered(sandbox, 2)
    upper = [c["emailAddress"].upper() for c in picked]
    exact = _customers(http, sandbox, {"emailAddress": {"$in": upper}, "isAnonymous": False})
    assert [c["id"] for c in exact.json()["customers"]] == [
        c["id"] for c in picked if c["emailAddress"] == c["emailAddress"].upper()
    ]
    sandbox.configure(email_filter="insensitive")
    loose = _customers(http, sandbox, {"emailAddress": {"$in": upper}, "isAnonymous": False})
    assert [c["id"] for c in loose.json()["customers"]] == [c["id"] for c in picked]


# -- total_counts_pending -------------------------------------------------------------------------
@pytest.mark.parametrize("counts", [True, False])
def test_total_counts_pending_deletes_as_configured(
    sandbox: Sandbox, http: httpx.Client, counts: bool
) -> None:
    sandbox.configure(delete_delay=None, total_counts_pending=counts)
    everyone = sorted(sandbox.member_ids("vip"))
    gone = everyone[:2]
    assert (
        http.request("DELETE", _members_url(sandbox, "vip"), json=members(*gone)).status_code == 202
    )
    page = http.get(_members_url(sandbox, "vip"), params={"limit": 100}).json()
    listed = [m["id"] for m in page["members"]]
    assert listed == everyone, "members with a pending delete are listed either way"
    assert page["meta"]["totalItemCount"] == len(everyone) - (0 if counts else 2)


# -- device members ------------------------------------------------------------------------------
@pytest.mark.parametrize("paging", ["offset", "cursor"])
def test_device_members_are_listed_and_counted(
    sandbox: Sandbox, http: httpx.Client, paging: str
) -> None:
    sandbox.configure(member_paging=paging)
    customers = sorted(sandbox.member_ids("vip"))
    sandbox.model.add_device_members("vip", ["device-b", "device-a"])
    walked = walk_members(http, sandbox, "vip", 3)
    assert walked == [*customers, "device-a", "device-b"]
    page = http.get(_members_url(sandbox, "vip"), params={"limit": 100}).json()
    assert page["meta"]["totalItemCount"] == len(customers) + 2
    assert [m["type"] for m in page["members"]][-2:] == ["device", "device"]
    devices = http.get(
        _members_url(sandbox, "vip"), params={"filters": json.dumps({"type": "device"})}
    ).json()
    assert [m["id"] for m in devices["members"]] == ["device-a", "device-b"]


def test_an_ignored_member_filter_answers_the_unfiltered_page(
    sandbox: Sandbox, http: httpx.Client
) -> None:
    everyone = sorted(sandbox.member_ids("vip"))
    filters = json.dumps({"id": {"$in": everyone[:2]}})
    applied = http.get(_members_url(sandbox, "vip"), params={"filters": filters}).json()
    assert [m["id"] for m in applied["members"]] == everyone[:2]
    sandbox.configure(member_filter="ignored")
    ignored = http.get(_members_url(sandbox, "vip"), params={"filters": filters}).json()
    assert [m["id"] for m in ignored["members"]] == everyone[:100]
    assert ignored["meta"]["totalItemCount"] == len(everyone)


# -- every switch at start, at runtime, over HTTP ------------------------------------------------
_SWITCHES = {
    "member_paging": "cursor",
    "page_limit_mode": "clamp",
    "refused_items": "400",
    "email_filter": "insensitive",
    "filter_in": "all",
    "member_filter": "ignored",
    "total_counts_pending": False,
}


def test_every_switch_is_settable_at_start_and_over_http(sandbox: Sandbox) -> None:
    with start(customers=10, **_SWITCHES) as other:
        assert {k: other.state()["settings"][k] for k in _SWITCHES} == _SWITCHES
    changed = httpx.post(sandbox.url + "/_sandbox/settings", json=_SWITCHES).json()["settings"]
    assert {k: changed[k] for k in _SWITCHES} == _SWITCHES
    bad = httpx.post(sandbox.url + "/_sandbox/settings", json={"member_paging": "pages"})
    assert bad.status_code == 400
    assert "member_paging" in bad.json()["message"]


# -- control endpoint checks ---------------------------------------------------------------------
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost:8080", "[::1]:1234", "LOCALHOST"])
def test_control_accepts_loopback_hosts(sandbox: Sandbox, host: str) -> None:
    answer = httpx.get(sandbox.url + "/_sandbox/state", headers={"Host": host})
    assert answer.status_code == 200


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:80", "10.0.0.1", "127.0.0.1.nip.io"]
)
def test_control_refuses_other_hosts(sandbox: Sandbox, host: str) -> None:
    answer = httpx.post(
        sandbox.url + "/_sandbox/settings", json={"latency": 1.0}, headers={"Host": host}
    )
    assert answer.status_code == 403
    assert "loopback" in answer.json()["message"]
    assert sandbox.settings.latency == 0.0


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        ("http://127.0.0.1:8888", 200),
        ("http://localhost:3000", 200),
        ("http://[::1]", 200),
        ("https://evil.example", 403),
        ("null", 403),
        ("http://127.0.0.1.evil.example", 403),
    ],
)
def test_control_checks_the_origin(sandbox: Sandbox, origin: str, status: int) -> None:
    answer = httpx.post(
        sandbox.url + "/_sandbox/settings", json={"latency": 0.0}, headers={"Origin": origin}
    )
    assert answer.status_code == status
    state = httpx.get(sandbox.url + "/_sandbox/state", headers={"Origin": origin})
    assert state.status_code == status


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_control_bodies_must_be_json(sandbox: Sandbox, content_type: str | None) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    answer = httpx.post(
        sandbox.url + "/_sandbox/settings", content=b'{"latency": 1.0}', headers=headers
    )
    assert answer.status_code == 415
    assert "application/json" in answer.json()["message"]
    assert sandbox.settings.latency == 0.0
    ok = httpx.post(
        sandbox.url + "/_sandbox/settings",
        content=b'{"latency": 0.0}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert ok.status_code == 200
    assert httpx.post(sandbox.url + "/_sandbox/reset").status_code == 200, "no body: no type needed"
