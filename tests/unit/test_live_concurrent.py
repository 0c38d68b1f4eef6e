"""Concurrent offset reads of a segment's members, ``$in`` lookups and the client's shared
pause after a 429: exact request counts against a fake Shopgate (no real sleeping)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from _kit.credentials import fake_client

from segwidgets._client import ShopgateClient
from segwidgets._errors import TornReadError
from segwidgets._live import read_live

PAGE = 100


def members(n: int, *, prefix: str = "c", kind: str = "customer") -> list[dict[str, Any]]:
    return [{"id": f"{prefix}{i:06d}", "type": kind} for i in range(n)]


class FakeSegment:
    """One segment's members in id order, paged by offset (or cursor) at most 100 a page.

    ``total_delta`` is added to every total; ``in_mode``: ``id`` ($in on ids works), ``off``
    (a 400 naming ``filters``) or ``ignore`` (the filter is ignored); ``gate``: requests
    after the first wait (bounded) until that many are in flight at once; ``after`` runs
    after each answer.
    """

    def __init__(
        self,
        items: list[dict[str, Any]],
        *,
        paging: str = "offset",
        total_delta: int = 0,
        in_mode: str = "id",
        gate: int = 0,
    ) -> None:
        self.items = items
        self.paging = paging
        self.total_delta = total_delta
        self.in_mode = in_mode
        self.gate = gate
        self.after: Callable[[httpx.Request], None] | None = None
        self.requests: list[httpx.Request] = []
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.full = threading.Event()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "tok", "expires_in": 3600})
        with self.lock:
            self.requests.append(request)
            later = len(self.requests) > 1  # the first request always goes alone
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if self.gate and self.in_flight >= self.gate:
                self.full.set()
        try:
            params = request.url.params
            if self.gate and later and not self.full.is_set():
                self.full.wait(timeout=5)  # released as soon as `gate` pages are in flight
            answer = self.answer(params)
        finally:
            with self.lock:
                self.in_flight -= 1
        if self.after is not None:
            self.after(request)
        return answer

    def answer(self, params: httpx.QueryParams) -> httpx.Response:
        limit = int(params["limit"])
        if limit > PAGE:
            return httpx.Response(400, json={"message": "limit", "error": {"paramName": "limit"}})
        rows = self.items
        if "filters" in params:
            if self.in_mode == "off":
                return httpx.Response(
                    400,
                    json={
                        "code": "ValidationError",
                        "message": "Request validation failed: Parameter (filters) failed",
                        "error": {"paramName": "filters", "results": {"errors": []}},
                    },
                )
            if self.in_mode == "id":
                wanted = set(json.loads(params["filters"])["id"]["$in"])
                rows = [m for m in rows if m["id"] in wanted]
        meta: dict[str, Any] = {"limit": limit, "totalItemCount": len(rows) + self.total_delta}
        if self.paging == "cursor":
            start = int(params.get("cursor", "0"))
            end = min(start + limit, len(rows))
            meta["cursors"] = {"next": str(end) if end < len(rows) else None}
        else:
            start = int(params.get("offset", "0"))
            end = start + limit
            meta["offset"] = start
        return httpx.Response(200, json={"members": rows[start:end], "meta": meta})

    def pages_read(self) -> int:
        return sum(1 for r in self.requests if "filters" not in r.url.params)


def client_for(fake: Any, **kwargs: Any) -> ShopgateClient:
    return fake_client(fake, **kwargs)


# -- reads ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [1, 3, 8])
@pytest.mark.parametrize("n", [0, 1, 99, 100, 101, 250, 1000, 1050])
def test_a_read_of_n_members_takes_n_div_100_plus_1_pages(n: int, concurrency: int) -> None:
    fake = FakeSegment(members(n))
    client = client_for(fake)
    snapshot = read_live(client, "vip", concurrency=concurrency)
    assert len(fake.requests) == n // PAGE + 1  # ⌈n/100⌉, +1 when n is a multiple of 100
    assert snapshot.n_pages == n // PAGE + 1
    assert snapshot.ids.to_list() == [m["id"] for m in fake.items]
    offsets = sorted(int(r.url.params.get("offset", "0")) for r in fake.requests)
    assert offsets == [k * PAGE for k in range(n // PAGE + 1)]
    assert all(r.url.params["limit"] == "100" for r in fake.requests)
    assert snapshot.note == ""


@pytest.mark.parametrize("concurrency", [2, 4, 8])
def test_pages_go_out_concurrency_at_a_time_never_more(concurrency: int) -> None:
    fake = FakeSegment(members(2_000), gate=concurrency)
    client = client_for(fake)
    snapshot = read_live(client, "vip", concurrency=concurrency)
    assert snapshot.n == 2_000
    assert fake.max_in_flight == concurrency
    assert len(fake.requests) == 21


def test_cursor_pages_are_walked_one_after_another() -> None:
    fake = FakeSegment(members(2_550), paging="cursor")
    client = client_for(fake)
    snapshot = read_live(client, "vip", concurrency=8)
    assert snapshot.n == 2_550
    assert len(fake.requests) == 26
    assert fake.max_in_flight == 1
    assert client.traits.member_paging == "cursor"
    # known now: the next read walks at once, the same count
    fake.requests.clear()
    read_live(client, "vip", concurrency=8)
    assert len(fake.requests) == 26


def test_a_total_that_leaves_out_listed_members_reads_on_past_it() -> None:
    # 300 listed, a total of 297 (pending removals not counted): the page at 200 is full,
    # so the read goes on to an empty page at 300
    fake = FakeSegment(members(300), total_delta=-3)
    client = client_for(fake)
    snapshot = read_live(client, "vip", concurrency=8)
    assert snapshot.n == 300
    assert snapshot.total_reported == 297
    assert "the same in two full reads" in snapshot.note
    assert len(fake.requests) == 2 * 4  # read twice to confirm the constant difference


def test_device_members_are_counted_apart() -> None:
    items = sorted(members(150) + members(20, prefix="d", kind="device"), key=lambda m: m["id"])
    fake = FakeSegment(items)
    snapshot = read_live(client_for(fake), "vip", concurrency=4)
    assert (snapshot.n, snapshot.n_other) == (150, 20)
    assert not snapshot.total_differs
    assert len(fake.requests) == 2
    frame = snapshot.members_frame()
    assert frame.columns == ["customer_id", "type"]
    by_type = dict(frame.group_by("type").len().iter_rows())
    assert by_type == {"customer": 150, "device": 20}
    devices = frame.filter(frame["type"] == "device")["customer_id"].to_list()
    assert devices == [f"d{i:06d}" for i in range(20)]


def test_a_change_during_a_concurrent_read_is_read_again_never_torn() -> None:
    fake = FakeSegment(members(1_000))
    client = client_for(fake)
    state = {"n": 0}

    def add_one_once(request: httpx.Request) -> None:
        state["n"] += 1
        if state["n"] == 1:  # after the first page, someone adds a member
            added = [*fake.items, {"id": "c000000x", "type": "customer"}]
            fake.items = sorted(added, key=lambda m: m["id"])

    fake.after = add_one_once
    snapshot = read_live(client, "vip", concurrency=8)
    assert snapshot.n == 1_001
    assert "c000000x" in snapshot.ids.to_list()
    assert len(fake.requests) == 11 + 11  # the torn read, then one whole read


def test_a_segment_that_keeps_changing_ends_in_torn_read_error() -> None:
    fake = FakeSegment(members(500))
    client = client_for(fake)
    counter = {"n": 0}

    def grow(request: httpx.Request) -> None:
        counter["n"] += 1
        if "offset" not in request.url.params:  # after each first page
            fake.items = [*fake.items, {"id": f"z{counter['n']:06d}", "type": "customer"}]

    fake.after = grow
    with pytest.raises(TornReadError, match="kept changing"):
        read_live(client, "vip", concurrency=4)


# -- $in lookups -----------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 99, 100, 101, 250])
def test_members_among_takes_one_request_per_100_ids(k: int) -> None:
    fake = FakeSegment(members(300))
    client = client_for(fake)
    asked = [f"c{i:06d}" for i in range(0, 2 * k, 2)]  # those under 300 are members
    found = client.members_among("vip", asked)
    assert len(fake.requests) == -(-k // PAGE)  # ⌈k/100⌉
    assert found == {i for i in asked if int(i[1:]) < 300}
    assert client.traits.in_on_id is True


@pytest.mark.parametrize("mode", ["off", "ignore"])
def test_members_among_learns_when_in_is_not_taken(mode: str) -> None:
    fake = FakeSegment(members(300), in_mode=mode)
    client = client_for(fake)
    assert client.members_among("vip", ["c000001", "c000002"]) is None
    assert len(fake.requests) == 1
    assert client.traits.in_on_id is False
    assert client.members_among("vip", ["c000001"]) is None
    assert len(fake.requests) == 1  # known now: nothing sent


# -- one pause after a 429 ----------------------------------------------------------------------------


def test_a_429_pauses_every_request_of_the_client_until_the_wait_is_over() -> None:
    sent: list[str] = []
    answers = {"a": [429, 200], "b": [200], "c": [200]}

    def api(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "tok", "expires_in": 3600})
        code = request.url.path.rsplit("/", 1)[-1]
        sent.append(code)
        status = answers[code].pop(0)
        headers = {"Retry-After": "5"} if status == 429 else {}
        return httpx.Response(status, headers=headers, json={"segment": {"code": code}})

    now = [100.0]
    sleeps: list[tuple[str, float]] = []
    client: ShopgateClient

    def sleep(seconds: float) -> None:
        who = "a" if not sleeps else "b"
        sleeps.append((who, seconds))
        if who == "a":
            # another request while the first one waits: it must wait for the pause too
            assert client.paused_for == pytest.approx(seconds)
            client.get_segment("b")
            assert sent[-1] == "b"
        now[0] += seconds if who == "b" else 0.0

    client = client_for(api, sleep=sleep, clock=lambda: now[0])
    client.get_segment("a")
    assert sent == ["a", "b", "a"]
    # "b" was held back by the pause "a" met, for the rest of it, before it went out
    assert [w for w, _ in sleeps] == ["a", "b"]
    assert 5.0 <= sleeps[0][1] <= 5.5
    assert sleeps[1][1] == pytest.approx(sleeps[0][1])
    # the pause is over once "a" sent again: a later request goes at once
    assert client.paused_for == 0.0
    client.get_segment("c")
    assert len(sleeps) == 2


def test_a_429_without_retry_after_pauses_too() -> None:
    statuses = [429, 200]

    def api(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "tok", "expires_in": 3600})
        return httpx.Response(statuses.pop(0), json={"segment": {}})

    seen: list[float] = []
    client: ShopgateClient

    def sleep(seconds: float) -> None:
        seen.append(client.paused_for)

    client = client_for(api, sleep=sleep, clock=lambda: 10.0)
    client.get_segment("a")
    assert len(seen) == 1
    assert seen[0] > 0


@pytest.mark.parametrize("known", [None, True])
def test_verification_lookups_go_out_concurrency_at_a_time(known: bool | None) -> None:
    from segwidgets._verify import MemberReader

    fake = FakeSegment(members(1_000), gate=4)
    client = client_for(fake)
    client.traits.learn(in_on_id=known)
    reader = MemberReader(
        client, page_size=None, concurrency=4, sleep=lambda _: None, clock=lambda: 0.0
    )
    asked = [f"c{i:06d}" for i in range(0, 1_800, 2)]  # 900 ids, 500 of them members
    steps: list[tuple[str, int]] = []
    found, method = reader.lookup(
        "vip", asked, n_live=1_000, on_step=lambda m, n: steps.append((m, n))
    )
    assert method == "in-filter"
    assert found == {i for i in asked if int(i[1:]) < 1_000}
    assert len(fake.requests) == 9  # ⌈900 / 100⌉, no page read
    assert fake.max_in_flight == 4
    assert sum(n for _, n in steps) == 900
