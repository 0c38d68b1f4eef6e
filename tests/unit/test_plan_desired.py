"""``desired_ids`` (what a plan is made from) and ``undo_plan`` (the plan that reverses a run),
as plain functions: no session, no client, no network."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import polars as pl
import pytest

from segwidgets._errors import PlanError
from segwidgets._members import MemberList, read_members
from segwidgets._plan import desired_ids, fingerprint_ids, undo_plan
from segwidgets._resolve_ids import IdCheck


class Calls:
    """A fake ``resolve`` and ``check`` that record what they were given."""

    def __init__(self, outcomes: dict[str, str] | None = None) -> None:
        self.resolved: list[MemberList] = []
        self.checked: list[list[str]] = []
        self.outcomes = outcomes or {}

    def resolve(self, members: MemberList) -> Any:
        self.resolved.append(members)
        return SimpleNamespace(customer_ids=pl.Series(["r1", "r2"], dtype=pl.String))

    def check(self, ids: pl.Series) -> IdCheck:
        self.checked.append(ids.to_list())
        report = pl.DataFrame(
            {
                "customer_id": ids,
                "outcome": [self.outcomes.get(i, "customer") for i in ids],
                "reason": ["" for _ in ids],
            }
        )
        return IdCheck(report=report, n_requests=1, seconds=0.0, how="test")


def ids_of(desired: Any, calls: Calls, *, check: bool = True) -> tuple[list[str], str]:
    series, source = desired_ids(
        desired,
        resolve=calls.resolve,
        check=calls.check if check else None,
        merchant_code="M1",
    )
    return series.to_list(), source


def test_a_list_of_ids_is_made_distinct_and_checked() -> None:
    calls = Calls()
    ids, source = ids_of(["b", "a", "b", "c"], calls)
    assert ids == ["b", "a", "c"]
    assert calls.checked == [["b", "a", "c"]]
    assert calls.resolved == []
    assert source.startswith("ids (")


def test_unchecked_ids_are_offered_as_given_and_say_so() -> None:
    calls = Calls()
    ids, source = ids_of(["b", "a", "b"], calls, check=False)
    assert ids == ["b", "a"]
    assert calls.checked == []
    assert source == "ids (2 ids, not checked)"


def test_ids_that_are_not_customers_are_left_out() -> None:
    calls = Calls({"g": "guest", "u": "unknown"})
    ids, _ = ids_of(["a", "g", "u", "b"], calls)
    assert ids == ["a", "b"]


def test_no_registered_customer_at_all_is_refused_naming_the_merchant() -> None:
    calls = Calls({"g": "guest", "u": "unknown"})
    with pytest.raises(PlanError, match="'M1'"):
        ids_of(["g", "u"], calls)


def test_a_frame_of_ids_a_lazy_frame_and_a_series() -> None:
    frame = pl.DataFrame({"customer_id": ["x", "y", "x"], "other": [1, 2, 3]})
    for desired in (frame, frame.lazy(), frame.get_column("customer_id")):
        calls = Calls()
        assert ids_of(desired, calls)[0] == ["x", "y"]
        assert calls.checked == [["x", "y"]]


def test_a_frame_of_emails_is_resolved() -> None:
    calls = Calls()
    ids, source = ids_of(pl.DataFrame({"email": ["a@example.com", "b@example.com"]}), calls)
    assert ids == ["r1", "r2"]
    assert len(calls.resolved) == 1
    assert calls.resolved[0].kind == "email"
    assert calls.checked == []
    assert source == "data frame (resolved emails)"


def test_a_frame_without_a_member_column_is_refused() -> None:
    with pytest.raises(PlanError, match="'customer_id' or an 'email' column"):
        ids_of(pl.DataFrame({"name": ["a"]}), Calls())


def test_member_lists_of_ids_are_checked_and_of_emails_resolved() -> None:
    calls = Calls()
    by_id = read_members(pl.DataFrame({"customer_id": ["c1", "c2"]}))
    assert ids_of(by_id, calls)[0] == ["c1", "c2"]
    by_email = read_members(pl.DataFrame({"email": ["a@example.com"]}))
    assert ids_of(by_email, calls)[0] == ["r1", "r2"]
    assert calls.checked == [["c1", "c2"]]
    assert [m.kind for m in calls.resolved] == ["email"]


def test_a_path_is_read_and_a_string_that_names_no_file_is_refused(tmp_path) -> None:
    path = tmp_path / "list.csv"
    pl.DataFrame({"customer_id": ["p1", "p2"]}).write_csv(path)
    assert ids_of(str(path), Calls())[0] == ["p1", "p2"]
    assert ids_of(path, Calls())[0] == ["p1", "p2"]
    with pytest.raises(PlanError, match="is not a file"):
        ids_of("c1", Calls())


# -- undo ---------------------------------------------------------------------------------------


def make_undo(added: list[str], removed: list[str], live: list[str]) -> Any:
    series = pl.Series("customer_id", live, dtype=pl.String)
    return undo_plan(
        "run1",
        added=added,
        removed=removed,
        live=series,
        live_fingerprint=fingerprint_ids(series),
        merchant_code="M1",
        segment_code="vip",
        target="https://{service}.shopgate.test",
        mass_removal_threshold=1.0,
    )


def test_undo_removes_what_the_run_added_and_adds_back_what_it_removed() -> None:
    plan = make_undo(added=["a1", "a2"], removed=["r1", "r2"], live=["a1", "a2", "k1"])
    assert sorted(plan.removes["customer_id"]) == ["a1", "a2"]
    assert sorted(plan.adds["customer_id"]) == ["r1", "r2"]
    assert sorted(plan.unchanged["customer_id"]) == ["k1"]
    assert (plan.kind, plan.mode, plan.undo_of) == ("undo", "mirror", "run1")
    assert plan.n_live == 3
    assert plan.n_after == 3  # k1 and the two members put back
    assert plan.source == "undo of run run1"


def test_undo_leaves_alone_what_changed_again_since_the_run() -> None:
    # a2 was removed by someone else since; r2 was added back by someone else since.
    plan = make_undo(added=["a1", "a2"], removed=["r1", "r2"], live=["a1", "r2", "k1"])
    assert plan.removes["customer_id"].to_list() == ["a1"]
    assert plan.adds["customer_id"].to_list() == ["r1"]
    assert sorted(plan.unchanged["customer_id"]) == ["k1", "r2"]


def test_undo_of_a_run_that_changed_nothing_is_empty() -> None:
    plan = make_undo(added=[], removed=[], live=["k1", "k2"])
    assert plan.is_empty()
    assert plan.n_desired == 2
    assert plan.live_fingerprint == fingerprint_ids(pl.Series(["k2", "k1"]))
