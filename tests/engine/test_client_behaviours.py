"""The client and the push under each sandbox behaviour switch, over real loopback HTTP:
offset or cursor member pages, a page limit that rejects or clamps, refused items in a 2xx
body or a 400, a total that leaves out pending deletes, device members."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

import segwidgets as sw
from segwidgets import sandbox
from segwidgets._cli_sync import _print_result
from segwidgets._live import read_live

CUSTOMERS = 4_000
SEED = 7


@pytest.fixture(scope="module")
def sbx() -> Iterator[sandbox.Sandbox]:
    with sandbox.start(customers=CUSTOMERS, seed=SEED, delete_delay=0) as running:
        yield running


@pytest.fixture(scope="module")
def pool(sbx: sandbox.Sandbox) -> list[str]:
    frame = sbx.model.customers_frame()
    ids = sorted(
        frame.filter(~pl.col("isAnonymous") & (pl.col("status") == "active"))
        .get_column("id")
        .to_list()
    )
    assert len(ids) >= 2_800
    return ids


@pytest.fixture
def box(sbx: sandbox.Sandbox) -> sandbox.Sandbox:
    sbx.configure(**{**sandbox.Settings().to_dict(), "delete_delay": 0})
    sbx.reset(customers=CUSTOMERS, seed=SEED)
    return sbx


@pytest.fixture
def session(box: sandbox.Sandbox, tmp_path: Path) -> Iterator[sw.SegmentSession]:
    s = sw.SegmentSession(box.credentials, journal=tmp_path / "j.sqlite3", verify_timeout=5)
    yield s
    s.close()


def seed_segment(box: sandbox.Sandbox, code: str, ids: list[str]) -> None:
    box.model.seed_records(segments=[{"code": code, "name": code, "type": "fixed"}])
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        box.model.add_members(code, chunk)


def member_reads(session: sw.SegmentSession) -> int:
    return session.client.stats.by_route.get(("GET", "members.list"), 0)


@pytest.mark.parametrize("paging", ["offset", "cursor"])
def test_plan_apply_verify_of_2500_members(
    box: sandbox.Sandbox, session: sw.SegmentSession, pool: list[str], paging: str
) -> None:
    box.configure(member_paging=paging)
    live = pool[:2_600]
    seed_segment(box, "big", live)
    desired = pool[300:2_600] + pool[2_600:2_800]  # 300 out, 200 in
    plan = session.plan("big", desired)
    assert (plan.n_live, plan.n_add, plan.n_remove) == (2_600, 200, 300)
    # 100 a page, every member once; offset pages end on an empty page after a full one
    assert member_reads(session) == 26 + (paging == "offset")
    result = session.apply(plan)
    assert result.status == "verified", result.message
    assert (result.n_added, result.n_removed, result.n_failed) == (200, 300, 0)
    assert box.member_ids("big") == set(desired)
    assert session.client.traits.member_paging == paging
    assert session.client.traits.page_limit is None  # never asked for more than 100


@pytest.mark.parametrize("mode", ["reject", "clamp"])
def test_a_larger_page_asked_for_is_cut_to_the_limit(
    box: sandbox.Sandbox, pool: list[str], tmp_path: Path, mode: str
) -> None:
    box.configure(page_limit_mode=mode)
    seed_segment(box, "lim", pool[:250])
    with sw.SegmentSession(box.credentials, journal=tmp_path / "j", page_size=1000) as session:
        frame = session.members("lim")
        assert sorted(frame["customer_id"]) == pool[:250]
        # reject: a 400 naming limit, then 3 pages of 100; clamp: 3 pages cut to 100
        assert member_reads(session) == (4 if mode == "reject" else 3)
        assert session.client.traits.page_limit == 100
        # learned: segments and customers are read at 100 from then on
        session.client.stats.reset()
        page = session.client.customer_page(limit=1000)
        assert page.limit == 100
        assert len(page.customers) == 100
        assert session.client.stats.n_requests == (2 if mode == "reject" else 1)


@pytest.mark.parametrize("refusal", ["2xx-body", "400"])
def test_refused_members_fail_with_shopgate_reason(
    box: sandbox.Sandbox,
    session: sw.SegmentSession,
    pool: list[str],
    refusal: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    box.configure(refused_items=refusal)
    seed_segment(box, "ref", pool[:50])
    unknown = ["zz-unknown-1", "zz-unknown-2"]
    desired = pool[:50] + pool[100:130] + unknown
    result = session.apply(session.plan("ref", desired, check_ids=False))
    assert result.status == "partial"
    assert result.n_added == 30
    assert result.n_failed == 2
    assert result.n_unverified == 0
    failed = result.failed
    assert sorted(failed["customer_id"]) == unknown
    assert set(failed["error"]) == {"There is no customer with this id."}
    assert box.member_ids("ref") == set(pool[:50] + pool[100:130])
    reasons = result.failure_reasons()
    assert reasons.height == 1
    assert reasons.row(0, named=True)["n"] == 2
    assert "2 add(s) refused: There is no customer with this id." in repr(result)
    assert "zz-unknown-1, zz-unknown-2" in repr(result)
    assert "There is no customer with this id." in result._repr_html_()
    _print_result(result)
    out = capsys.readouterr().out
    assert "2 add(s) refused: There is no customer with this id." in out
    assert "zz-unknown-1" in out


def test_a_total_without_pending_deletes_is_reported_not_torn(
    box: sandbox.Sandbox, session: sw.SegmentSession, pool: list[str]
) -> None:
    box.configure(total_counts_pending=False, delete_delay=60)
    seed_segment(box, "pend", pool[:250])
    session.client.remove_members("pend", pool[:20])
    snapshot = read_live(session.client, "pend")
    assert snapshot.n == 250  # pending deletes are still listed
    assert snapshot.total_reported == 230
    assert snapshot.total_differs
    assert "230" in snapshot.note
    # a plan made meanwhile is built from what is listed, and its push verifies what it can
    plan = session.plan("pend", pool[20:250] + pool[300:310])
    assert (plan.n_add, plan.n_remove) == (10, 20)


def test_device_members_are_never_removed(
    box: sandbox.Sandbox, session: sw.SegmentSession, pool: list[str]
) -> None:
    seed_segment(box, "dev", pool[:150])
    box.model.add_device_members("dev", [f"device-{i}" for i in range(5)])
    snapshot = read_live(session.client, "dev")
    assert (snapshot.n, snapshot.n_other, snapshot.total_reported) == (150, 5, 155)
    assert snapshot.note == ""
    members = session.members("dev")
    assert members.filter(pl.col("type") == "device").height == 5
    plan = session.plan("dev", pool[:100], allow_mass_removal=True)
    assert plan.n_remove == 50
    assert not any(i.startswith("device-") for i in plan.removes["customer_id"])
    result = session.apply(plan)
    assert result.status == "verified", result.message
    after = read_live(session.client, "dev")
    assert (after.n, after.n_other) == (100, 5)


def test_a_session_starts_from_the_traits_saved_for_its_merchant(
    box: sandbox.Sandbox, pool: list[str], tmp_path: Path
) -> None:
    box.configure(max_page_size=250)
    seed_segment(box, "saved", pool[:500])
    journal = tmp_path / "j.sqlite3"
    with sw.SegmentSession(box.credentials, journal=journal) as first:
        assert first.client.traits.page_size == 100
        first.doctor()
        assert first.client.traits.page_limit == 250
    with sw.SegmentSession(box.credentials, journal=journal) as second:
        assert second.client.traits.page_limit == 250
        assert len(second.members("saved")) == 500
        # pages of 250, as learned before (and the empty page that ends an offset walk)
        assert member_reads(second) == 3
