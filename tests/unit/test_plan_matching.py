"""The hashed matching inside compute_plan: collisions never pair ids, repeats count once."""

from __future__ import annotations

import polars as pl

from segwidgets._plan import _membership, compute_plan


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
