"""The sandbox over real loopback HTTP: auth, every route, pages, async deletes, control."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from sandbox_http_helpers import (
    client_auth,
    cust,
    get_token,
    members,
    seg,
    token_form,
    walk_members,
)

from segwidgets import Credentials
from segwidgets.sandbox import Sandbox


@pytest.fixture
def http(sandbox: Sandbox) -> Iterator[httpx.Client]:
    """A client that sends a valid bearer token."""
    with httpx.Client(timeout=10) as client:
        client.headers["Authorization"] = f"Bearer {get_token(client, sandbox)}"
        yield client


def _non_members(http: httpx.Client, sandbox: Sandbox, code: str, n: int) -> list[str]:
    current = sandbox.member_ids(code)
    found: list[str] = []
    for offset in range(0, 500, 100):
        page = http.get(
            cust(sandbox, "/customers"),
            params={"limit": 100, "offset": offset, "filters": json.dumps({"status": "active"})},
        ).json()
        found += [c["id"] for c in page["customers"] if c["id"] not in current]
    return found[:n]


# -- handle and auth ----------------------------------------------------------------------
def test_handle_urls_and_credentials(sandbox: Sandbox) -> None:
    assert sandbox.url.startswith("http://127.0.0.1:")
    assert sandbox.base_url == sandbox.url + "/{service}"
    assert isinstance(sandbox.credentials, Credentials)
    assert sandbox.credentials.is_sandbox
    assert sandbox.merchant == "DEMO"
    assert "sandbox-secret" not in repr(sandbox)
    assert "sandbox-secret" not in repr(sandbox.credentials)


def test_token_answer_shape(sandbox: Sandbox) -> None:
    with httpx.Client() as client:
        answer = client.post(
            sandbox.credentials.token_url, auth=client_auth(sandbox), data=token_form(sandbox)
        )
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert body["token_type"] == "Bearer"
    assert answer.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("auth", "form", "status", "error"),
    [
        (None, {}, 401, "invalid_client"),
        (("sandbox-client", "wrong"), {}, 401, "invalid_client"),
        ("default", {"password": "wrong"}, 400, "invalid_grant"),
        ("default", {"username": "nobody@example.com"}, 400, "invalid_grant"),
        ("default", {"tenantId": "OTHER"}, 400, "invalid_grant"),
        ("default", {"grant_type": "implicit"}, 400, "unsupported_grant_type"),
    ],
)
def test_token_errors(
    sandbox: Sandbox,
    auth: object,
    form: dict[str, str],
    status: int,
    error: str,
) -> None:
    basic = client_auth(sandbox) if auth == "default" else auth
    with httpx.Client() as client:
        answer = client.post(
            sandbox.credentials.token_url,
            auth=basic,  # type: ignore[arg-type]
            data=token_form(sandbox, **form),
        )
    assert answer.status_code == status
    assert answer.json()["error"] == error
    assert answer.json()["message"]


def test_refused_sign_in_in_the_platform_shape(sandbox: Sandbox) -> None:
    sandbox.configure(signin_error="platform")
    with httpx.Client() as client:
        refused = client.post(
            sandbox.credentials.token_url,
            auth=client_auth(sandbox),
            data=token_form(sandbox, password="wrong"),
        )
        malformed = client.post(
            sandbox.credentials.token_url,
            auth=client_auth(sandbox),
            data=token_form(sandbox, grant_type="implicit"),
        )
    assert refused.status_code == 401
    assert refused.json() == {"statusCode": 401, "code": "Unauthorized", "message": "Unauthorized"}
    assert malformed.status_code == 400
    assert malformed.json()["error"] == "unsupported_grant_type"


@pytest.mark.parametrize(
    ("header", "code"),
    [(None, "missingToken"), ("Bearer not-a-token", "invalidToken"), ("Token x", "invalidToken")],
)
def test_api_calls_need_a_valid_token(sandbox: Sandbox, header: str | None, code: str) -> None:
    headers = {} if header is None else {"Authorization": header}
    with httpx.Client() as client:
        answer = client.get(seg(sandbox, "/segments"), headers=headers)
    assert answer.status_code == 401
    assert answer.json()["code"] == code
    assert "www-authenticate" in answer.headers


def test_expired_token_is_401(sandbox: Sandbox) -> None:
    sandbox.configure(token_ttl=0.2)
    with httpx.Client() as client:
        token = get_token(client, sandbox)
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get(seg(sandbox, "/segments"), headers=headers).status_code == 200
        time.sleep(0.3)
        answer = client.get(seg(sandbox, "/segments"), headers=headers)
    assert answer.status_code == 401
    assert answer.json()["code"] == "tokenExpired"


def test_token_of_one_merchant_is_403_on_another(sandbox: Sandbox, http: httpx.Client) -> None:
    other = sandbox.url + "/segmentation/v1/merchants/OTHER/segments"
    answer = http.get(other)
    assert answer.status_code == 403
    assert answer.json()["code"] == "forbidden"


# -- customer service ---------------------------------------------------------------------
def test_customers_list_and_get(sandbox: Sandbox, http: httpx.Client) -> None:
    page = http.get(cust(sandbox, "/customers"), params={"limit": 5, "offset": 10}).json()
    assert page["meta"] == {"limit": 5, "offset": 10, "totalItemCount": 500}
    first = page["customers"][0]
    assert set(first) >= {
        "id",
        "externalCustomerNumber",
        "firstName",
        "middleName",
        "lastName",
        "emailAddress",
        "status",
        "isAnonymous",
        "contacts",
        "attributes",
        "settings",
        "createDate",
        "updateDate",
    }
    one = http.get(cust(sandbox, f"/customers/{first['id']}"))
    assert one.json() == {"customer": first}
    assert http.get(cust(sandbox, "/customers/nope")).status_code == 404


def test_customer_email_filter_excluding_guests(sandbox: Sandbox, http: httpx.Client) -> None:
    everyone = list(sandbox.model.customers())
    guest = next(c for c in everyone if c["isAnonymous"])
    email = guest["emailAddress"].upper()
    filters = json.dumps({"emailAddress": email, "isAnonymous": False})
    found = http.get(cust(sandbox, "/customers"), params={"filters": filters}).json()
    expected = [
        c["id"]
        for c in everyone
        if c["emailAddress"].lower() == email.lower() and not c["isAnonymous"]
    ]
    assert [c["id"] for c in found["customers"]] == expected
    bad = http.get(cust(sandbox, "/customers"), params={"filters": '{"email": "x"}'})
    assert bad.status_code == 400
    assert bad.json()["code"] == "invalidParameter"
    assert http.get(cust(sandbox, "/customers"), params={"filters": "{not json"}).status_code == 400
    assert http.get(cust(sandbox, "/customers"), params={"limit": "ten"}).status_code == 400
    zero = http.get(cust(sandbox, "/customers"), params={"limit": 0})
    assert zero.status_code == 400
    assert zero.json()["error"]["paramName"] == "limit"
    typo = http.get(seg(sandbox, "/segments/vip/members"), params={"cursors": "x"})
    assert typo.status_code == 400
    assert "cursors" in typo.json()["message"]


# -- segments -----------------------------------------------------------------------------
def test_segment_routes(sandbox: Sandbox, http: httpx.Client) -> None:
    listed = http.get(seg(sandbox, "/segments")).json()
    assert [s["code"] for s in listed["segments"]] == ["newsletter", "vip", "inactive-gmail"]
    assert all("memberCount" in s for s in listed["segments"])

    created = http.post(
        seg(sandbox, "/segments"),
        json={"segments": [{"code": "summer", "name": "Summer", "type": "fixed"}]},
    )
    assert created.status_code == 201
    assert (
        http.post(
            seg(sandbox, "/segments"), json={"segments": [{"code": "summer", "name": "x"}]}
        ).status_code
        == 409
    )
    assert (
        http.post(seg(sandbox, "/segments"), json={"segments": [{"code": "w"}]}).status_code == 400
    )

    one = http.get(seg(sandbox, "/segments/summer")).json()["segment"]
    assert set(one) >= {
        "code",
        "name",
        "description",
        "status",
        "type",
        "memberCount",
        "rules",
        "updateDate",
    }
    assert http.get(seg(sandbox, "/segments/unknown")).status_code == 404

    assert http.post(seg(sandbox, "/segments/summer"), json={"name": "Summer!"}).status_code == 204
    assert http.get(seg(sandbox, "/segments/summer")).json()["segment"]["name"] == "Summer!"

    assert (
        http.post(
            seg(sandbox, "/segments/summer/clone"), json={"newSegmentCode": "summer2"}
        ).status_code
        == 202
    )
    assert http.get(seg(sandbox, "/segments/summer2")).status_code == 200

    assert http.delete(seg(sandbox, "/segments/summer")).status_code == 202
    assert http.get(seg(sandbox, "/segments/summer")).status_code == 404


def test_members_add_and_async_delete(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.configure(delete_delay=0.3)
    new = _non_members(http, sandbox, "vip", 3)
    added = http.post(seg(sandbox, "/segments/vip/members"), json=members(*new))
    assert added.status_code == 201
    assert set(new) <= sandbox.member_ids("vip")
    count = http.get(seg(sandbox, "/segments/vip")).json()["segment"]["memberCount"]

    removed = http.request("DELETE", seg(sandbox, "/segments/vip/members"), json=members(*new))
    assert removed.status_code == 202
    # Accepted but not applied yet: still listed and counted.
    assert set(new) <= set(walk_members(http, sandbox, "vip", 100))
    assert http.get(seg(sandbox, "/segments/vip")).json()["segment"]["memberCount"] == count
    for _ in range(100):  # bounded wait for the delay to pass
        if not set(new) & sandbox.member_ids("vip"):
            break
        time.sleep(0.05)
    assert not set(new) & set(walk_members(http, sandbox, "vip", 100))
    assert http.get(seg(sandbox, "/segments/vip")).json()["segment"]["memberCount"] == count - 3


_REFUSED = {
    "code": "unknownCustomer",
    "entity": "member",
    "entityId": "no-such-id",
    "entityIndex": 1,
    "reason": "There is no customer with this id.",
    "subentityPath": "",
}


def test_member_batch_rejection_over_http(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.configure(refused_items="400")
    new = _non_members(http, sandbox, "vip", 2)
    before = sandbox.member_ids("vip")
    answer = http.post(
        seg(sandbox, "/segments/vip/members"), json=members(new[0], "no-such-id", new[1])
    )
    assert answer.status_code == 400
    body = answer.json()
    assert body["code"] == "invalidMembers"
    assert body["errors"] == [_REFUSED]
    assert sandbox.member_ids("vip") == before
    wrong_type = http.post(seg(sandbox, "/segments/vip/members"), json=members(*new, kind="device"))
    assert wrong_type.status_code == 400
    dynamic = http.post(seg(sandbox, "/segments/inactive-gmail/members"), json=members(*new))
    assert dynamic.status_code == 400
    assert dynamic.json()["code"] == "segmentNotFixed"
    assert http.post(seg(sandbox, "/segments/vip/members"), content=b"{oops").status_code == 400


def test_walk_sees_every_member_exactly_once_while_others_change(
    sandbox: Sandbox, http: httpx.Client
) -> None:
    sandbox.configure(delete_delay=0, member_paging="cursor")
    start = sandbox.member_ids("newsletter")
    outsiders = _non_members(http, sandbox, "newsletter", 40)
    leaving = sorted(start)[::9]
    seen: list[str] = []
    params: dict[str, object] = {"limit": 13}
    for step in range(1000):
        body = http.get(seg(sandbox, "/segments/newsletter/members"), params=params).json()
        seen += [m["id"] for m in body["members"]]
        cursor = body["meta"]["cursors"]["next"]
        if cursor is None:
            break
        params = {"limit": 13, "cursor": cursor}
        if step < len(outsiders):
            http.post(seg(sandbox, "/segments/newsletter/members"), json=members(outsiders[step]))
        if step < len(leaving):
            http.request(
                "DELETE", seg(sandbox, "/segments/newsletter/members"), json=members(leaving[step])
            )
    assert len(seen) == len(set(seen))
    assert start - set(leaving) <= set(seen)
    assert set(seen) <= start | set(outsiders)


def test_add_by_filter_members_search_and_customer_segments(
    sandbox: Sandbox, http: httpx.Client
) -> None:
    http.post(seg(sandbox, "/segments"), json={"segments": [{"code": "byfilter", "name": "F"}]})
    registered = [
        c for c in sandbox.model.customers() if not c["isAnonymous"] and c["status"] == "active"
    ][:3]
    emails = [c["emailAddress"] for c in registered]
    answer = http.post(
        seg(sandbox, "/segments/byfilter/members/addByFilter"),
        json={"filter": {"customer.emailAddress": {"$ct": emails}, "customer.isAnonymous": False}},
    )
    assert answer.status_code == 202
    assert {c["id"] for c in registered} <= sandbox.member_ids("byfilter")

    rules = json.dumps({"customer.status": "inactive"})
    found = http.get(seg(sandbox, "/membersSearch"), params={"rules": rules, "limit": 100}).json()
    inactive = [c["id"] for c in sandbox.model.customers() if c["status"] == "inactive"]
    assert [m["id"] for m in found["members"]] == inactive
    assert http.get(seg(sandbox, "/membersSearch")).status_code == 400

    someone = registered[0]["id"]
    codes = [
        s["code"]
        for s in http.get(seg(sandbox, f"/customers/{someone}/segments")).json()["segments"]
    ]
    assert "byfilter" in codes


# -- errors, spec, control ----------------------------------------------------------------
def test_unknown_paths_and_methods_answer_json(sandbox: Sandbox, http: httpx.Client) -> None:
    missing = http.get(sandbox.url + "/nowhere")
    assert missing.status_code == 404
    assert missing.json()["code"] == "notFound"
    wrong = http.put(seg(sandbox, "/segments/vip"))
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "GET, POST, DELETE"
    assert wrong.json()["code"] == "methodNotAllowed"


def test_openapi_spec_is_served(sandbox: Sandbox, http: httpx.Client) -> None:
    spec = http.get(sandbox.url + "/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    assert "/segmentation/v1/merchants/{merchantCode}/segments/{code}/members" in spec["paths"]
    assert "/auth/oauth/token" in spec["paths"]
    described = json.dumps(spec)
    for knob in sandbox.settings.to_dict():
        assert knob in described, f"knob {knob} is not documented in the spec"


def test_control_endpoints(sandbox: Sandbox, http: httpx.Client) -> None:
    http.get(seg(sandbox, "/segments"))
    state = http.get(sandbox.url + "/_sandbox/state").json()
    direct = sandbox.state()
    assert {k: v for k, v in state.items() if k != "clock"} == {
        k: v for k, v in direct.items() if k != "clock"
    }
    assert state["customers"] == 500
    assert state["segments"]["vip"]["memberCount"] == len(sandbox.member_ids("vip"))
    assert state["requests"]["GET /segmentation/v1/merchants/{merchantCode}/segments"] == {"200": 1}

    changed = http.post(sandbox.url + "/_sandbox/settings", json={"delete_delay": None})
    assert changed.status_code == 200
    assert changed.json()["settings"]["delete_delay"] is None
    assert sandbox.settings.delete_delay is None
    alias = http.post(sandbox.url + "/_sandbox/faults", json={"latency": 0.01})
    assert alias.json()["settings"]["latency"] == 0.01
    bad = http.post(sandbox.url + "/_sandbox/settings", json={"colour": "red"})
    assert bad.status_code == 400
    assert "colour" in bad.json()["message"]

    gone = sorted(sandbox.member_ids("vip"))[:1]
    http.request("DELETE", seg(sandbox, "/segments/vip/members"), json=members(*gone))
    listing = http.get(sandbox.url + "/_sandbox/segments/vip/members").json()
    assert listing["ids"] == sorted(sandbox.member_ids("vip"))
    assert listing["pending"] == gone

    seeded = httpx.post(
        sandbox.url + "/_sandbox/seed",
        json={
            "customers": [{"emailAddress": "fresh@example.com", "firstName": "Fresh"}],
            "segments": [{"code": "fresh", "name": "Fresh"}],
        },
    )
    assert seeded.status_code == 201
    new_id = seeded.json()["customers"][0]
    assert http.get(cust(sandbox, f"/customers/{new_id}")).status_code == 200

    reset = http.post(sandbox.url + "/_sandbox/reset", json={"customers": 120, "seed": 2})
    assert reset.status_code == 200
    assert reset.json()["customers"] == 120
    assert reset.json()["requests"] == {}
    assert reset.json()["pendingDeletes"] == 0
    assert http.post(sandbox.url + "/_sandbox/reset", json={"customers": -1}).status_code == 400
    assert (
        http.post(
            sandbox.url + "/_sandbox/reset",
            content=b"[1]",
            headers={"Content-Type": "application/json"},
        ).status_code
        == 400
    )
