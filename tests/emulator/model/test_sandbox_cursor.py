"""Cursor pages of segment members: a walk sees every member that stays exactly once."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sandbox_helpers import Api, FakeClock, list_members, members

from segwidgets.sandbox import SandboxModel, Settings
from segwidgets.sandbox._cursor import decode_cursor, encode_cursor
from segwidgets.sandbox._service_error import ServiceError

_CURSOR = Settings(member_paging="cursor", max_page_size=1000)


def _walk(model: SandboxModel, code: str, limit: int) -> list[str]:
    seen: list[str] = []
    cursor = None
    for _ in range(10_000):
        page = list_members(model, code, limit=limit, cursor=cursor)
        seen += [m["id"] for m in page["members"]]
        cursor = page["meta"]["cursors"]["next"]
        if cursor is None:
            return seen
    raise AssertionError("the walk did not end")


@pytest.mark.parametrize("limit", [1, 7, 97, 98, 1000])
def test_a_quiet_walk_sees_every_member_once_in_id_order(limit: int) -> None:
    model = SandboxModel(customers=500, seed=1, settings=_CURSOR)
    seen = _walk(model, "newsletter", limit)
    assert seen == sorted(model.member_ids("newsletter"))


def test_last_page_has_no_next_cursor_and_meta_is_complete() -> None:
    model = SandboxModel(customers=500, seed=1, settings=_CURSOR)
    total = len(model.member_ids("vip"))
    page = list_members(model, "vip", limit=total)
    assert page["meta"] == {"limit": total, "cursors": {"next": None}, "totalItemCount": total}
    assert all(m["type"] == "customer" for m in page["members"])
    empty = SandboxModel(customers=0, seed=1, settings=_CURSOR)
    assert list_members(empty, "vip")["members"] == []


def test_cursor_round_trip_and_garbage() -> None:
    assert decode_cursor(encode_cursor(12345)) == 12345
    for junk in ("", "abc", encode_cursor(1)[:-2], "bTE6eHh4"):
        with pytest.raises(ServiceError) as info:
            decode_cursor(junk)
        assert info.value.code == "invalidCursor"


def test_member_filters() -> None:
    model = SandboxModel(customers=500, seed=1, settings=_CURSOR)
    one = sorted(model.member_ids("vip"))[3]
    assert [m["id"] for m in list_members(model, "vip", filters={"id": one})["members"]] == [one]
    assert list_members(model, "vip", filters={"type": "device"})["members"] == []
    with pytest.raises(ServiceError):
        list_members(model, "vip", filters={"email": "x"})


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    limit=st.integers(1, 40),
    steps=st.lists(
        st.tuples(st.integers(0, 10), st.integers(0, 10), st.integers(0, 2**32)),
        min_size=1,
        max_size=25,
    ),
)
def test_a_walk_under_concurrent_changes_sees_each_stayer_exactly_once(
    limit: int, steps: list[tuple[int, int, int]]
) -> None:
    clock = FakeClock()
    model = SandboxModel(
        customers=400,
        seed=2,
        clock=clock,
        settings=Settings(delete_delay=0, member_paging="cursor", max_page_size=1000),
    )
    everyone = [c["id"] for c in model.customers() if c["status"] != "deleted"]
    start = model.member_ids("newsletter")
    touched: set[str] = set()
    seen: list[str] = []
    cursor = None
    for adds, removes, pick in [*steps, *[(0, 0, 0)] * 1000]:
        page = list_members(model, "newsletter", limit=limit, cursor=cursor)
        seen += [m["id"] for m in page["members"]]
        cursor = page["meta"]["cursors"]["next"]
        if cursor is None:
            break
        current = sorted(model.member_ids("newsletter"))
        outside = sorted(set(everyone) - set(current))
        new = [outside[(pick + i * 7919) % len(outside)] for i in range(adds)] if outside else []
        old = (
            [current[(pick + i * 104729) % len(current)] for i in range(removes)] if current else []
        )
        if new:
            Api(model).add_members("newsletter", members(*new))
        if old:
            Api(model).remove_members("newsletter", members(*old))
        touched |= set(new) | set(old)
    assert len(seen) == len(set(seen)), "no member is seen twice"
    assert seen == sorted(seen), "pages come in id order"
    stayers = start - touched
    assert stayers <= set(seen), "every member present throughout is seen"
    assert set(seen) <= start | touched
