"""The hashed matching inside compute_plan: collisions never pair ids, repeats count once."""

from __future__ import annotations

import polars as pl
import pytest

from segwidgets._plan import _membership, all_distinct, compute_plan


def s(*values: str | None) -> pl.Series:
    return pl.Series("customer_id", list(values), dtype=pl.String)


def test_equal_hashes_of_different_ids_are_no_match() -> None:
    live, desired = s("a", "b"), s("c", "b")
    same_hashes = pl.Series("h", [1, 2], dtype=pl.UInt64)  # "a" and "c" collide
    live_is_desired, desired_is_live = _membership(live, same_hashes, desired, same_hashes)
    assert live_is_desired.to_list() == [False, True]
    assert desired_is_live.to_list() == [False, True]


def test_repeated_and_null_ids_count_once_and_order_is_kept() -> None:
    adds, removes, unchanged = compute_plan(
        s("x", "a", "x", None, "b"), s("d", "b", "d", None, "c", "b"), mode="mirror"
    )
    assert adds.get_column("customer_id").to_list() == ["d", "c"]
    assert removes.get_column("customer_id").to_list() == ["x", "a"]
    assert unchanged.get_column("customer_id").to_list() == ["b"]


def test_empty_sides() -> None:
    adds, removes, unchanged = compute_plan(s(), s("a"), mode="mirror")
    assert adds.get_column("customer_id").to_list() == ["a"]
    assert removes.is_empty()
    assert unchanged.is_empty()
    adds, removes, unchanged = compute_plan(s("a"), s(), mode="remove")
    assert adds.is_empty()
    assert removes.is_empty()
    assert unchanged.get_column("customer_id").to_list() == ["a"]


def test_equal_hashes_within_one_side_pair_only_equal_ids() -> None:
    live, desired = s("a", "b"), s("b", "c")
    live_hash = pl.Series("h", [1, 1], dtype=pl.UInt64)  # "a" and "b" collide in live
    desired_hash = pl.Series("h", [1, 2], dtype=pl.UInt64)
    live_is_desired, desired_is_live = _membership(live, live_hash, desired, desired_hash)
    assert live_is_desired.to_list() == [False, True]
    assert desired_is_live.to_list() == [True, False]


def test_all_distinct_finds_any_repeat() -> None:
    def h(*values: int) -> pl.Series:
        return pl.Series("h", values, dtype=pl.UInt64)

    assert all_distinct(h())
    assert all_distinct(h(7))
    assert all_distinct(h(3, 1, 2))
    assert not all_distinct(h(5, 1, 5))
    assert not all_distinct(h(2**64 - 1, 0, 2**64 - 1))


@pytest.mark.parametrize(
    ("ids", "distinct"),
    [
        ([], True),
        (["c1"], True),
        (["c1", "c2", "c3"], True),  # in order: checked as it is
        (["c1", "c2", "c2", "c3"], False),
        (["c3", "c1", "c2"], True),  # out of order: sorted first
        (["c2", "c1", "c2"], False),
    ],
)
def test_all_distinct_on_ids_in_order_or_not(ids: list[str], distinct: bool) -> None:
    series = pl.Series("customer_id", ids, dtype=pl.String)
    assert all_distinct(series) is distinct
    assert series.to_list() == ids  # the caller's series is left as it was


def test_ids_in_many_chunks_give_the_same_plan() -> None:
    live = pl.concat([s("x", "a"), s("x", None), s("b")], rechunk=False)
    desired = pl.concat([s("d", "b"), s("d", None, "c"), s("b")], rechunk=False)
    assert live.n_chunks() > 1
    adds, removes, unchanged = compute_plan(live, desired, mode="mirror")
    assert adds.get_column("customer_id").to_list() == ["d", "c"]
    assert removes.get_column("customer_id").to_list() == ["x", "a"]
    assert unchanged.get_column("customer_id").to_list() == ["b"]
    assert adds.schema == removes.schema == unchanged.schema == {"customer_id": pl.String}
    # distinct ids: the path that keeps the input as it is
    live = pl.concat([s("e", "a"), s("b", "f")], rechunk=False)
    desired = pl.concat([s("b"), s("g", "e")], rechunk=False)
    adds, removes, unchanged = compute_plan(live, desired, mode="mirror")
    assert adds.get_column("customer_id").to_list() == ["g"]
    assert removes.get_column("customer_id").to_list() == ["a", "f"]
    assert unchanged.get_column("customer_id").to_list() == ["e", "b"]
