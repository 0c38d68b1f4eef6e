"""Refused batches and unapplied removes, counted exactly on a fake Shopgate (one push thread,
one id a batch, a fake clock): where an outage starts, and what ``n_removed`` counts."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

import segwidgets as sw
from segwidgets._client import ShopgateClient
from segwidgets._retry import RetryPolicy

SEG = "/v1/merchants/M42/segments/seg"


class Shop:
    """One fixed segment ``seg``. The first ``refuse`` member writes answer 503 (Shopgate
    did nothing); removes of ``sticky`` ids are accepted and never applied."""

    def __init__(self, members: list[str], *, refuse: int = 0, sticky: set[str] = frozenset()):
        self.members = set(members)
        self.refuse = refuse
        self.sticky = set(sticky)
        self.writes: list[tuple[str, list[str], int]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "tok", "expires_in": 3600})
        if path == SEG:
            segment = {"code": "seg", "type": "fixed", "memberCount": len(self.members)}
            return httpx.Response(200, json={"segment": segment})
        if request.method == "GET":
            limit = int(request.url.params["limit"])
            offset = int(request.url.params.get("offset", "0"))
            listed = [{"id": i, "type": "customer"} for i in sorted(self.members)]
            meta = {"limit": limit, "offset": offset, "totalItemCount": len(listed)}
            return httpx.Response(
                200, json={"members": listed[offset : offset + limit], "meta": meta}
            )
        ids = [m["id"] for m in json.loads(request.content)["members"]]
        status = (
            503 if len(self.writes) < self.refuse else (201 if request.method == "POST" else 202)
        )
        self.writes.append((request.method, ids, status))
        if status == 503:
            return httpx.Response(503, json={"message": "Service unavailable"})
        for cid in ids:
            if request.method == "POST":
                self.members.add(cid)
            elif cid not in self.sticky:
                self.members.discard(cid)
        return httpx.Response(status)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def session_for(tmp_path: Path) -> Iterator[Callable[[Shop], sw.SegmentSession]]:
    opened: list[sw.SegmentSession] = []

    def make(shop: Shop) -> sw.SegmentSession:
        clock = Clock()
        credentials = sw.Credentials(
            merchant_code="M42",
            client_id="client-1",
            client_secret="cs",
            username="api.user@example.com",
            password="pw",
            base_url="https://{service}.shopgate.test",
        )
        # One attempt per request: a 503 reaches the push at once, as "refused".
        client = ShopgateClient(
            credentials,
            transport=httpx.MockTransport(shop),
            retry=RetryPolicy(max_attempts=1),
            sleep=clock.sleep,
            clock=clock,
        )
        session = sw.SegmentSession(
            credentials,
            client=client,
            journal=tmp_path / f"j{len(opened)}.sqlite3",
            sleep=clock.sleep,
            clock=clock,
            batch_size=1,
            concurrency=1,
            verify_timeout=5,
        )
        opened.append(session)
        return session

    yield make
    for session in opened:
        session.close()


ADDS = [f"b{i}" for i in range(5)]


def test_two_refused_batches_in_a_row_are_sent_again_and_the_run_finishes(session_for) -> None:
    shop = Shop(["a0"], refuse=2)
    session = session_for(shop)
    result = session.apply(session.plan("seg", ADDS, mode="add", check_ids=False))
    assert result.status == "verified"
    assert result.n_added == 5
    statuses = [status for _, _, status in shop.writes]
    # the two refused batches, the other three, then the two refused ones again
    assert statuses == [503, 503, 201, 201, 201, 201, 201]
    assert [ids for _, ids, _ in shop.writes] == [[b] for b in ADDS] + [["b0"], ["b1"]]


def test_three_refused_batches_in_a_row_are_an_outage_that_stops_the_run(session_for) -> None:
    shop = Shop(["a0"], refuse=3)
    session = session_for(shop)
    with pytest.raises(sw.ApplyIncompleteError) as info:
        session.apply(session.plan("seg", ADDS, mode="add", check_ids=False))
    # stopped at the third refusal: the two batches left were never sent
    assert [status for _, _, status in shop.writes] == [503, 503, 503]
    result = info.value.result
    assert result.status == "failed"
    assert (result.n_added, result.n_pending) == (0, 5)
    assert shop.members == {"a0"}


def test_n_removed_counts_removes_accepted_but_not_seen_applied(session_for) -> None:
    shop = Shop(["a0", "a1", "a2", "k0"], sticky={"a1"})
    session = session_for(shop)
    plan = session.plan("seg", ["k0"], check_ids=False, allow_mass_removal=True)
    result = session.apply(plan)
    assert result.status == "accepted_unverified"
    assert result.n_unverified == 1
    assert result.unverified["customer_id"].to_list() == ["a1"]
    assert result.n_verified == 2
    # Shopgate confirmed all three removes; one of them was still applying at the end.
    assert result.n_removed == 3
    assert shop.members == {"a1", "k0"}
