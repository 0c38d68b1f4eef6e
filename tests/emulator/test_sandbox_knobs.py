"""Every behaviour knob over real loopback HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from email.utils import parsedate_to_datetime

import httpx
import pytest
from sandbox_http_helpers import client_auth, cust, get_token, members, seg, token_form

from segwidgets.sandbox import Sandbox

MEMBERS_PATH = "POST /segmentation/v1/merchants/{merchantCode}/segments/{code}/members"
DELETE_PATH = "DELETE /segmentation/v1/merchants/{merchantCode}/segments/{code}/members"


@pytest.fixture
def http(sandbox: Sandbox) -> Iterator[httpx.Client]:
    """A client that sends a valid bearer token."""
    with httpx.Client(timeout=10) as client:
        client.headers["Authorization"] = f"Bearer {get_token(client, sandbox)}"
        yield client


def _outsiders(sandbox: Sandbox, code: str, n: int) -> list[str]:
    current = sandbox.member_ids(code)
    return [
        c["id"]
        for c in sandbox.model.customers()
        if c["status"] == "active" and c["id"] not in current
    ][:n]


def test_max_page_size_clamps_and_says_so(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.configure(max_page_size=7, page_limit_mode="clamp")
    page = http.get(seg(sandbox, "/segments/newsletter/members"), params={"limit": 500}).json()
    assert page["meta"]["limit"] == 7
    assert len(page["members"]) == 7
    customers = http.get(cust(sandbox, "/customers"), params={"limit": 500}).json()
    assert customers["meta"]["limit"] == 7


@pytest.mark.parametrize("status", [400, 413])
def test_max_members_per_request_is_400_or_413_naming_the_limit(
    sandbox: Sandbox, http: httpx.Client, status: int
) -> None:
    sandbox.configure(max_members_per_request=4, oversize_status=status)
    ids = _outsiders(sandbox, "vip", 5)
    before = sandbox.member_ids("vip")
    for method in ("POST", "DELETE"):
        answer = http.request(method, seg(sandbox, "/segments/vip/members"), json=members(*ids))
        assert answer.status_code == status
        if status == 413:
            assert answer.json()["code"] == "payloadTooLarge"
            assert "4" in answer.json()["message"]
        else:
            assert answer.json()["error"]["paramName"] == "body"
            assert answer.json()["error"]["results"]["errors"][0]["message"] == (
                "Array is too long (5), maximum 4"
            )
    assert sandbox.member_ids("vip") == before


def test_duplicate_add_policies(sandbox: Sandbox, http: httpx.Client) -> None:
    existing = sorted(sandbox.member_ids("vip"))[:2]
    new = _outsiders(sandbox, "vip", 1)
    url = seg(sandbox, "/segments/vip/members")
    assert http.post(url, json=members(*existing)).status_code == 201
    sandbox.configure(duplicate_add="conflict")
    before = sandbox.member_ids("vip")
    answer = http.post(url, json=members(*new, *existing))
    assert answer.status_code == 409
    assert sorted(e["id"] for e in answer.json()["errors"]) == existing
    assert sandbox.member_ids("vip") == before


def test_delete_delay_none_keeps_deletes_pending(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.configure(delete_delay=None)
    gone = sorted(sandbox.member_ids("vip"))[:2]
    answer = http.request("DELETE", seg(sandbox, "/segments/vip/members"), json=members(*gone))
    assert answer.status_code == 202
    state = http.get(sandbox.url + "/_sandbox/state").json()
    assert state["segments"]["vip"]["pendingDeletes"] == 2
    assert set(gone) <= sandbox.member_ids("vip")


def test_delete_delay_zero_applies_before_the_next_read(
    sandbox: Sandbox, http: httpx.Client
) -> None:
    sandbox.configure(delete_delay=0)
    gone = sorted(sandbox.member_ids("vip"))[:2]
    http.request("DELETE", seg(sandbox, "/segments/vip/members"), json=members(*gone))
    page = http.get(seg(sandbox, "/segments/vip/members"), params={"limit": 100}).json()
    assert page["meta"]["totalItemCount"] <= 100
    assert not set(gone) & {m["id"] for m in page["members"]}


def test_rate_limit_answers_429_with_retry_after(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.configure(rate_limit=0.01)  # one call, then one per 100 s
    assert http.get(seg(sandbox, "/segments")).status_code == 200
    answer = http.get(seg(sandbox, "/segments"))
    assert answer.status_code == 429
    assert answer.json()["code"] == "rateLimited"
    assert int(answer.headers["retry-after"]) == 100
    token = http.post(
        sandbox.credentials.token_url, auth=client_auth(sandbox), data=token_form(sandbox)
    )
    assert token.status_code == 200, "the token endpoint is not rate limited"


def test_injected_429_carries_retry_after(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.configure(error_429_rate=1.0, retry_after=["0", "3", "date+3"], fault_seed=11)
    seen = set()
    for _ in range(30):
        answer = http.get(seg(sandbox, "/segments"))
        assert answer.status_code == 429
        value = answer.headers["retry-after"]
        if value.isdigit():
            seen.add(value)
        else:
            parsedate_to_datetime(value)  # a valid HTTP date
            seen.add("date")
    assert seen == {"0", "3", "date"}
    token = http.post(
        sandbox.credentials.token_url, auth=client_auth(sandbox), data=token_form(sandbox)
    )
    assert token.status_code == 429, "scope 'all' includes the token endpoint"


@pytest.mark.parametrize(("rate", "status"), [(1.0, 429), (0.0, 503)])
def test_injected_faults_come_before_any_change(
    sandbox: Sandbox, http: httpx.Client, rate: float, status: int
) -> None:
    sandbox.configure(error_429_rate=rate, error_5xx_rate=1.0 - rate)
    new = _outsiders(sandbox, "vip", 2)
    gone = sorted(sandbox.member_ids("vip"))[:2]
    before = sandbox.member_ids("vip")
    assert (
        http.post(seg(sandbox, "/segments/vip/members"), json=members(*new)).status_code == status
    )
    removed = http.request("DELETE", seg(sandbox, "/segments/vip/members"), json=members(*gone))
    assert removed.status_code == status
    assert sandbox.member_ids("vip") == before
    assert sandbox.state()["pendingDeletes"] == 0


def test_error_5xx_status(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.configure(error_5xx_rate=1.0, error_5xx_status=502)
    answer = http.get(seg(sandbox, "/segments/vip"))
    assert answer.status_code == 502
    assert answer.json()["code"] == "serverError"


@pytest.mark.parametrize(
    ("scope", "expected"),
    [("reads", (503, 201, 200)), ("writes", (200, 503, 200)), ("all", (503, 503, 503))],
)
def test_fault_scope(
    sandbox: Sandbox, http: httpx.Client, scope: str, expected: tuple[int, int, int]
) -> None:
    read, write, token = expected
    sandbox.configure(error_5xx_rate=1.0, fault_scope=scope)
    new = _outsiders(sandbox, "vip", 1)
    assert http.get(seg(sandbox, "/segments")).status_code == read
    assert http.post(seg(sandbox, "/segments/vip/members"), json=members(*new)).status_code == write
    answer = http.post(
        sandbox.credentials.token_url, auth=client_auth(sandbox), data=token_form(sandbox)
    )
    assert answer.status_code == token


def test_fault_seed_reproduces_the_same_faults(sandbox: Sandbox, http: httpx.Client) -> None:
    def run() -> list[int]:
        sandbox.configure(error_429_rate=0.3, error_5xx_rate=0.2, fault_seed=42)
        return [http.get(seg(sandbox, "/segments")).status_code for _ in range(40)]

    first = run()
    sandbox.reset()
    assert run() == first
    assert {200, 429, 503} == set(first)


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_lost_response_drops_the_connection_after_applying(
    sandbox: Sandbox, http: httpx.Client, method: str
) -> None:
    sandbox.configure(lost_response_rate=1.0, delete_delay=None)
    ids = (
        _outsiders(sandbox, "vip", 2) if method == "POST" else sorted(sandbox.member_ids("vip"))[:2]
    )
    with pytest.raises(httpx.RemoteProtocolError):
        http.request(method, seg(sandbox, "/segments/vip/members"), json=members(*ids))
    if method == "POST":
        assert set(ids) <= sandbox.member_ids("vip"), "the write was applied"
    else:
        assert sandbox.model.pending_delete_ids("vip") == set(ids), "the delete was accepted"
    route = MEMBERS_PATH if method == "POST" else DELETE_PATH
    assert sandbox.state()["requests"][route] == {"dropped": 1}
    # Only member writes lose answers; the next call on a new connection works.
    assert http.get(seg(sandbox, "/segments/vip")).status_code == 200


def test_lost_response_spares_rejected_writes(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.configure(lost_response_rate=1.0, refused_items="400")
    answer = http.post(seg(sandbox, "/segments/vip/members"), json=members("no-such-id"))
    assert answer.status_code == 400


def test_item_errors_false_leaves_out_the_list(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.configure(item_errors=False, refused_items="400")
    answer = http.post(seg(sandbox, "/segments/vip/members"), json=members("no-such-id"))
    assert answer.status_code == 400
    assert "errors" not in answer.json()
    assert answer.json()["message"]


def test_latency_overlaps_concurrent_requests(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.configure(latency=0.3)
    token = http.headers["Authorization"]

    def call(_: int) -> int:
        with httpx.Client(timeout=10, headers={"Authorization": token}) as client:
            return client.get(seg(sandbox, "/segments")).status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = list(pool.map(call, range(4)))
    assert statuses == [200] * 4
    assert sandbox.state()["concurrency"]["maxInFlight"] >= 2


def test_latency_is_the_time_to_answer_with_the_work_inside_it(
    sandbox: Sandbox, http: httpx.Client
) -> None:
    # The write applies when it arrives; its answer comes no sooner than the latency after
    # that (the sandbox's own work is part of the round trip, not added to it).
    sandbox.configure(latency=0.6, delete_delay=0)
    newcomer = _outsiders(sandbox, "newsletter", 1)[0]
    url = seg(sandbox, "/segments/newsletter/members")
    with ThreadPoolExecutor(max_workers=1) as pool:
        started = time.monotonic()
        answer = pool.submit(http.post, url, json=members(newcomer))
        while newcomer not in sandbox.member_ids("newsletter"):
            assert time.monotonic() - started < 0.5, "the write did not apply on arrival"
            time.sleep(0.005)
        assert not answer.done()  # applied, and the answer still on its way
        assert answer.result().status_code == 201
        assert time.monotonic() - started >= 0.6


def test_concurrent_clients_keep_the_state_consistent(sandbox: Sandbox, http: httpx.Client) -> None:
    token = http.headers["Authorization"]
    pool_ids = _outsiders(sandbox, "newsletter", 80)
    sandbox.configure(delete_delay=0)

    def worker(n: int) -> list[int]:
        mine = pool_ids[n * 10 : (n + 1) * 10]
        statuses = []
        with httpx.Client(timeout=10, headers={"Authorization": token}) as client:
            url = seg(sandbox, "/segments/newsletter/members")
            for member in mine:
                statuses.append(client.post(url, json=members(member)).status_code)
                statuses.append(client.get(url, params={"limit": 50}).status_code)
            statuses += [
                client.request("DELETE", url, json=members(member)).status_code
                for member in mine[::2]
            ]
        return statuses

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = [s for batch in pool.map(worker, range(8)) for s in batch]
    assert set(results) <= {200, 201, 202}
    expected_in = set(pool_ids[1::2])
    expected_out = set(pool_ids[::2])
    live = sandbox.member_ids("newsletter")
    assert expected_in <= live
    assert not expected_out & live
    state = http.get(sandbox.url + "/_sandbox/state").json()
    assert state["segments"]["newsletter"]["memberCount"] == len(live)
    assert state["requests"][MEMBERS_PATH] == {"201": 80}
    filters = json.dumps({"id": pool_ids[1]})
    page = http.get(seg(sandbox, "/segments/newsletter/members"), params={"filters": filters})
    assert [m["id"] for m in page.json()["members"]] == [pool_ids[1]]
