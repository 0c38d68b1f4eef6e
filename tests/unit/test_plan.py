"""The diff, the fingerprint, the guards, and plan files."""

from __future__ import annotations

import hashlib
import stat

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from segwidgets._errors import MassRemovalError, PlanError
from segwidgets._plan import SegmentPlan, compute_plan, fingerprint_ids, id_frame


def ids(*values: str) -> pl.Series:
    return pl.Series("customer_id", list(values), dtype=pl.String)


def as_set(frame: pl.DataFrame) -> set[str]:
    return set(frame.get_column("customer_id").to_list())


def make_plan(live: list[str], desired: list[str], **kw: object) -> SegmentPlan:
    mode = kw.pop("mode", "mirror")
    adds, removes, unchanged = compute_plan(ids(*live), ids(*desired), mode=mode)  # type: ignore[arg-type]
    return SegmentPlan(
        merchant_code="DEMO",
        segment_code="seg",
        target="http://127.0.0.1:1/{service}",
        mode=mode,  # type: ignore[arg-type]
        adds=adds,
        removes=removes,
        unchanged=unchanged,
        live_fingerprint=fingerprint_ids(ids(*live)),
        n_live=len(set(live)),
        n_desired=len(set(desired)),
        live=ids(*live),
        **kw,  # type: ignore[arg-type]
    )


def test_mirror_diff() -> None:
    adds, removes, unchanged = compute_plan(ids("a", "b", "c"), ids("b", "c", "d"), mode="mirror")
    assert as_set(adds) == {"d"}
    assert as_set(removes) == {"a"}
    assert as_set(unchanged) == {"b", "c"}


def test_add_mode_never_removes() -> None:
    adds, removes, unchanged = compute_plan(ids("a", "b"), ids("b", "c"), mode="add")
    assert as_set(adds) == {"c"}
    assert removes.is_empty()
    assert as_set(unchanged) == {"a", "b"}


def test_remove_mode_removes_only_listed_members() -> None:
    adds, removes, unchanged = compute_plan(ids("a", "b", "c"), ids("b", "x"), mode="remove")
    assert adds.is_empty()
    assert as_set(removes) == {"b"}
    assert as_set(unchanged) == {"a", "c"}


def test_owned_scope_limits_removals() -> None:
    _, removes, unchanged = compute_plan(
        ids("a", "b", "c"), ids(), mode="mirror", scope_ids=ids("b")
    )
    assert as_set(removes) == {"b"}
    assert as_set(unchanged) == {"a", "c"}


def test_unknown_mode_is_a_named_error() -> None:
    with pytest.raises(PlanError, match="Unknown mode"):
        compute_plan(ids("a"), ids("a"), mode="sideways")  # type: ignore[arg-type]


@given(
    live=st.sets(st.text(alphabet="0123456789abc", min_size=1, max_size=4), max_size=60),
    desired=st.sets(st.text(alphabet="0123456789abc", min_size=1, max_size=4), max_size=60),
    mode=st.sampled_from(["mirror", "add", "remove"]),
)
def test_diff_matches_set_algebra(live: set[str], desired: set[str], mode: str) -> None:
    adds, removes, unchanged = compute_plan(ids(*live), ids(*desired), mode=mode)  # type: ignore[arg-type]
    expected_adds = desired - live if mode in {"mirror", "add"} else set()
    expected_removes = {
        "mirror": live - desired,
        "add": set(),
        "remove": live & desired,
    }[mode]
    assert as_set(adds) == expected_adds
    assert as_set(removes) == expected_removes
    assert as_set(unchanged) == live - expected_removes
    # applying the plan gives the target, and a second diff from there is empty
    after = (live - expected_removes) | expected_adds
    if mode == "mirror":
        assert after == desired
        a2, r2, _ = compute_plan(ids(*after), ids(*desired), mode="mirror")
        assert a2.is_empty()
        assert r2.is_empty()


def test_fingerprint_is_order_and_duplicate_independent_and_detects_change() -> None:
    assert fingerprint_ids(ids("b", "a", "a")) == fingerprint_ids(ids("a", "b"))
    assert fingerprint_ids(ids("a", "b")) != fingerprint_ids(ids("a", "c"))
    assert fingerprint_ids(ids()) != fingerprint_ids(ids(""))
    # a leading zero is part of the id
    assert fingerprint_ids(ids("007")) != fingerprint_ids(ids("7"))


def test_mass_removal_guard() -> None:
    plan = make_plan([str(i) for i in range(10)], [str(i) for i in range(4)])
    assert plan.n_remove == 6
    assert plan.needs_mass_removal_consent
    with pytest.raises(MassRemovalError, match="removes 6 of 10") as info:
        plan.check_mass_removal()
    assert info.value.n_remove == 6
    plan.with_consent().check_mass_removal()  # consented: no error


def test_guard_allows_half() -> None:
    plan = make_plan([str(i) for i in range(10)], [str(i) for i in range(5)])
    assert not plan.needs_mass_removal_consent
    plan.check_mass_removal()


def test_empty_desired_list_never_silently_removes_everyone() -> None:
    plan = make_plan(["a", "b", "c"], [])
    assert plan.needs_mass_removal_consent
    with pytest.raises(MassRemovalError, match="desired list is empty"):
        plan.check_mass_removal()
    # even below the share threshold
    relaxed = make_plan(["a"], [], mass_removal_threshold=1.0)
    with pytest.raises(MassRemovalError):
        relaxed.check_mass_removal()


def test_counts_and_estimate() -> None:
    live = [str(i) for i in range(2500)]
    desired = [str(i) for i in range(500, 4000)]
    plan = make_plan(live, desired, batch_size_hint=1000, allow_mass_removal=True)
    assert (plan.n_add, plan.n_remove, plan.n_unchanged) == (1500, 500, 2000)
    assert plan.n_after == 3500
    est = plan.estimate()
    assert est.n_add_requests == 2
    assert est.n_remove_requests == 1
    assert est.n_write_requests == 3
    # check: one segment GET + 2500 // 100 + 1 live pages (a full page is never the last);
    # push: 3 writes + one member-count read after the last (one wave);
    # verify: 2000 changes by $in, 100 a request (cheaper than 3500 // 100 + 1 pages)
    assert est.n_read_requests == (1 + 26) + 1 + 20
    assert [(p.phase, p.n_requests, p.unit, p.count) for p in est.phases] == [
        ("check", 27, "pages", 26),
        ("push", 4, "batches", 3),
        ("verify", 20, "ids", 2000),
    ]
    assert est.verify_method == "in-filter"
    assert est.n_requests == sum(p.n_requests for p in est.phases)
    assert est.seconds > 0
    # a Shopgate known not to filter members by $in: the full read of the result
    full = plan.estimate(in_filter=False)
    assert full.verify_method == "full-read"
    assert full.phase("verify") is not None
    assert full.phase("verify").n_requests == 3500 // 100 + 1  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("n_live", "pages"), [(0, 1), (1, 1), (99, 1), (100, 2), (101, 2), (1000, 11), (1050, 11)]
)
def test_read_pages_never_ends_on_a_full_page(n_live: int, pages: int) -> None:
    from segwidgets._cost import read_pages

    assert read_pages(n_live, 100) == pages


def test_estimate_time_follows_concurrency() -> None:
    live = [str(i) for i in range(100_000)]
    plan = make_plan(live, live[:99_000] + [f"n{i}" for i in range(1000)], allow_mass_removal=True)
    one = plan.estimate(concurrency=1, latency=0.1)
    eight = plan.estimate(concurrency=8, latency=0.1)
    assert one.n_requests == eight.n_requests  # waves are at least 8 batches either way
    check1, check8 = one.phase("check"), eight.phase("check")
    assert check1 is not None
    assert check8 is not None
    # 1,001 pages: first and last alone, the 999 between them 8 at a time
    assert check8.seconds == pytest.approx(0.1 + (2 + 125) * 0.1)
    assert check1.seconds == pytest.approx(0.1 + 1001 * 0.1)


def test_repr_has_counts_only() -> None:
    plan = make_plan(["secret-id-1"], ["secret-id-2"], allow_mass_removal=True)
    assert "secret-id" not in repr(plan)
    assert "n_add=1" in repr(plan)
    assert "secret-id-2" in plan._repr_html_()  # the notebook view samples ids


def test_save_and_load_roundtrip(tmp_path) -> None:
    plan = make_plan(["007", "b"], ["007", "c"])
    path = plan.save(tmp_path / "plan.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = SegmentPlan.load(path)
    assert loaded.plan_id == plan.plan_id
    assert loaded.live_fingerprint == plan.live_fingerprint
    assert as_set(loaded.adds) == {"c"}
    assert as_set(loaded.removes) == {"b"}
    assert as_set(loaded.unchanged) == {"007"}
    assert fingerprint_ids(loaded.live) == plan.live_fingerprint


def test_load_rejects_other_files(tmp_path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text('{"hello": 1}')
    with pytest.raises(PlanError, match="not a segwidgets plan"):
        SegmentPlan.load(bad)
    with pytest.raises(PlanError, match="Cannot read"):
        SegmentPlan.load(tmp_path / "missing.json")


def test_id_frame_drops_nulls_and_duplicates() -> None:
    frame = id_frame(pl.Series(["1", None, "1", "2"]))
    assert frame.get_column("customer_id").to_list() == ["1", "2"]


def test_fingerprint_is_pinned_and_its_fast_paths_agree() -> None:
    # The value is part of saved plans: it must never change between versions.
    expected = hashlib.sha256(b"n=3\na\nb\nc\n").hexdigest()
    assert fingerprint_ids(ids("c", "a", "b", "a")) == expected
    assert fingerprint_ids(ids("a", "b", "c"), distinct=True) == expected  # sorted, distinct
    assert fingerprint_ids(ids("b", "c", "a"), distinct=True) == expected  # distinct, unsorted
    many = pl.Series([f"id-{k:07d}" for k in range(450_000)])  # several chunks
    assert fingerprint_ids(many.reverse()) == fingerprint_ids(many, distinct=True)
