"""A push against a fake Shopgate whose member writes answer 2xx with refused items in the
body: named ids fail with Shopgate's reason, unnamed refusals are settled by reading, and
the verify step's per-customer check follows cursor pages. Also the live read's totals."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _kit.credentials import fake_credentials

import segwidgets as sw
from segwidgets._errors import TornReadError
from segwidgets._live import read_live

SEG_PATH = "/v1/merchants/M42/segments/"
Errors = Callable[[str, list[str]], list[dict[str, Any]]]


class FakeShop:
    """One fixed segment ``seg``: offset member pages of 100 in id order, member writes
    that refuse what ``errors`` says (by id or not), removes of ``sticky`` ids that never
    apply, and ``customers/{id}/segments`` in cursor pages of one segment."""

    def __init__(
        self,
        members: list[str],
        *,
        errors: Errors | None = None,
        sticky: set[str] | None = None,
        devices: int = 0,
        total_delta: int | Callable[[], int] = 0,
        dropped: set[str] | None = None,
    ) -> None:
        #: ids an add leaves out without naming them
        self.dropped = dropped or set()
        self.members = set(members)
        self.errors = errors or (lambda _action, _ids: [])
        self.sticky = sticky or set()
        self.devices = [{"id": f"dev-{i}", "type": "device"} for i in range(devices)]
        self.total_delta = total_delta
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "tok", "expires_in": 3600})
        self.requests.append(request)
        if path.startswith("/v1/merchants/M42/customers/"):
            return self._customer_segments(request, path.split("/")[5])
        rest = path.removeprefix(SEG_PATH)
        if rest == "seg":
            count = len(self.members) + len(self.devices)
            return httpx.Response(
                200, json={"segment": {"code": "seg", "type": "fixed", "memberCount": count}}
            )
        if rest == "seg/members" and request.method == "GET":
            return self._page(request)
        ids = [m["id"] for m in json.loads(request.content)["members"]]
        action = "add" if request.method == "POST" else "remove"
        errors = self.errors(action, ids)
        refused = {e.get("entityId") for e in errors}
        for cid in ids:
            if cid in refused or cid in self.dropped:
                continue
            if action == "add":
                self.members.add(cid)
            elif cid not in self.sticky:
                self.members.discard(cid)
        status = 201 if action == "add" else 202
        return httpx.Response(status, json={"errors": errors}) if errors else httpx.Response(status)

    def _page(self, request: httpx.Request) -> httpx.Response:
        limit = int(request.url.params["limit"])
        offset = int(request.url.params.get("offset", "0"))
        listed = [{"id": i, "type": "customer"} for i in sorted(self.members)] + self.devices
        delta = self.total_delta() if callable(self.total_delta) else self.total_delta
        meta = {"limit": limit, "offset": offset, "totalItemCount": len(listed) + delta}
        return httpx.Response(200, json={"members": listed[offset : offset + limit], "meta": meta})

    def _customer_segments(self, request: httpx.Request, cid: str) -> httpx.Response:
        if "cursor" not in request.url.params:
            page = {"segments": [{"code": "other"}], "meta": {"cursors": {"next": "p2"}}}
        else:
            segments = [{"code": "seg"}] if cid in self.members else []
            page = {"segments": segments, "meta": {"cursors": {"next": None}}}
        return httpx.Response(200, json=page)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def make_session(tmp_path: Path) -> Iterator[Callable[[FakeShop], sw.SegmentSession]]:
    opened: list[sw.SegmentSession] = []

    def make(shop: FakeShop) -> sw.SegmentSession:
        clock = Clock()
        session = sw.SegmentSession(
            fake_credentials(),
            journal=tmp_path / f"j{len(opened)}.sqlite3",
            transport=httpx.MockTransport(shop),
            sleep=clock.sleep,
            clock=clock,
            verify_timeout=5,
            concurrency=1,
        )
        opened.append(session)
        return session

    yield make
    for session in opened:
        session.close()


def ids(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i:04d}" for i in range(n)]


def test_named_refusals_fail_with_the_reason_and_the_rest_is_applied(make_session) -> None:
    def errors(_action: str, sent: list[str]) -> list[dict[str, Any]]:
        return [
            {
                "code": "unknownCustomer",
                "entity": "member",
                "entityId": cid,
                "entityIndex": sent.index(cid),
                "reason": "There is no customer with this id.",
                "subentityPath": "",
            }
            for cid in sent
            if cid.startswith("x")
        ]

    shop = FakeShop(ids("a", 10), errors=errors)
    session = make_session(shop)
    desired = ids("a", 10) + ids("b", 5) + ["x1", "x2"]
    result = session.apply(session.plan("seg", desired, check_ids=False))
    assert result.status == "partial"
    assert (result.n_added, result.n_failed, result.n_verified) == (5, 2, 5)
    assert (
        result.failed.sort("customer_id")["error"].to_list()
        == ["There is no customer with this id."] * 2
    )
    assert shop.members == set(ids("a", 10) + ids("b", 5))
    writes = [r for r in shop.requests if r.method in ("POST", "DELETE")]
    assert len(writes) == 1  # nothing was sent again
    text = repr(result)
    assert "2 add(s) refused: There is no customer with this id." in text
    assert "x1, x2" in text


def test_unnamed_refusals_are_settled_by_a_read(make_session) -> None:
    def errors(action: str, sent: list[str]) -> list[dict[str, Any]]:
        # names neither an id nor a valid index
        return [{"code": "refused", "entityIndex": 99, "reason": "Some items were refused."}]

    # the add of b0002 is refused without the server saying which id it refused
    shop = FakeShop(ids("a", 10), errors=errors, sticky={"a0001"}, dropped={"b0002"})
    session = make_session(shop)
    desired = ids("a", 10)[2:] + ids("b", 3)
    result = session.apply(session.plan("seg", desired, check_ids=False))
    outcomes = {(r["customer_id"], r["action"]): r for r in result.outcomes.iter_rows(named=True)}
    assert outcomes[("b0000", "add")]["outcome"] == "verified"
    assert outcomes[("b0001", "add")]["outcome"] == "verified"
    assert outcomes[("b0002", "add")]["outcome"] == "failed"
    assert "Some items were refused." in outcomes[("b0002", "add")]["error"]
    assert outcomes[("a0000", "remove")]["outcome"] == "verified"
    # still a member when verification ended, after a refusal Shopgate did not name: failed
    assert outcomes[("a0001", "remove")]["outcome"] == "failed"
    assert result.n_unverified == 0
    assert (result.n_added, result.n_removed, result.n_failed) == (2, 1, 2)


def test_verify_checks_a_pending_remove_through_cursor_pages(make_session) -> None:
    members = ids("a", 1_000)
    shop = FakeShop(members, sticky={"a0005"})
    session = make_session(shop)
    result = session.apply(
        session.plan("seg", [m for m in members if m != "a0005"], check_ids=False)
    )
    assert result.status == "accepted_unverified"
    assert result.n_unverified == 1
    assert result.n_failed == 0
    checks = [r for r in shop.requests if "/customers/" in r.url.path]
    assert checks  # one pending remove among ten pages: asked per customer
    assert {r.url.params.get("cursor") for r in checks} == {None, "p2"}


# -- live reads ---------------------------------------------------------------------------------


def test_a_constant_total_difference_is_reported_after_a_second_read(make_session) -> None:
    shop = FakeShop(ids("a", 250), total_delta=-7)
    session = make_session(shop)
    snapshot = read_live(session.client, "seg")
    assert (snapshot.n, snapshot.total_reported, snapshot.n_pages) == (250, 243, 3)
    assert "243" in snapshot.note
    assert len(shop.requests) == 6  # two full reads agreed


def test_a_total_that_keeps_moving_is_a_torn_read(make_session) -> None:
    counter = iter(range(1, 1_000))
    shop = FakeShop(ids("a", 50), total_delta=lambda: -next(counter))
    session = make_session(shop)
    with pytest.raises(TornReadError, match="kept changing"):
        read_live(session.client, "seg")


def test_device_members_are_counted_apart(make_session) -> None:
    shop = FakeShop(ids("a", 150), devices=3)
    session = make_session(shop)
    snapshot = read_live(session.client, "seg")
    assert (snapshot.n, snapshot.n_other, snapshot.total_reported, snapshot.note) == (
        150,
        3,
        153,
        "",
    )
    assert not snapshot.ids.str.starts_with("dev-").any()
    plan = session.plan("seg", ids("a", 150)[:140], check_ids=False)
    assert plan.n_remove == 10


def test_a_run_that_applies_nothing_is_failed_not_partial(make_session) -> None:
    def errors(_action: str, sent: list[str]) -> list[dict[str, Any]]:
        return [
            {
                "code": "unknownCustomer",
                "entity": "member",
                "entityId": cid,
                "entityIndex": sent.index(cid),
                "reason": "There is no customer with this id.",
                "subentityPath": "",
            }
            for cid in sent
        ]

    shop = FakeShop([], errors=errors)
    session = make_session(shop)
    result = session.apply(session.plan("seg", ["Clara", "Ivan"], check_ids=False))
    assert result.status == "failed"
    assert result.n_failed == 2
    assert result.n_added == 0
