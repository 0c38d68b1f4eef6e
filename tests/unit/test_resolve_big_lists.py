"""A big list is resolved with its emails kept in polars, not as Python objects per email:
the same outcomes and the same request counts as the small-list path.

``_BIG`` (the size from which the frame paths are taken) is set to 0 here, so the cases of
``test_resolve_filters`` run through them at a small size.
"""

from __future__ import annotations

import polars as pl
import pytest
from fake_customer_service import FakeCustomerService
from test_resolve_filters import (
    FILTERS,
    IN_MODES,
    case_list,
    expected,
    outcomes,
    population,
    traits_for,
)

import segwidgets as sw
from segwidgets import _resolve
from segwidgets._resolve import _is_wanted, _n_spellings, lookup_spellings, resolve_members

MESSY = [" Anna@X.de", "anna@x.de", "BOB@y.com ", "bob@y.com", "Carl@Z.org", "dora@w.net"]


@pytest.mark.parametrize("email_filter", [None, "exact", "insensitive"])
def test_spellings_counted_in_the_frame_are_the_spellings(email_filter: str | None) -> None:
    members = sw.read_members(pl.Series("email", MESSY))
    assert _n_spellings(members.valid, email_filter) == len(lookup_spellings(members, email_filter))


def test_membership_in_a_series_is_membership_in_a_set() -> None:
    keys = ["a@x.de", None, "b@y.com", "c@z.org"]
    wanted = {"a@x.de", "c@z.org"}
    assert _is_wanted(keys, pl.Series(sorted(wanted))) == _is_wanted(keys, wanted)


@pytest.mark.parametrize("strategy", ["auto", "lookup", "scan"])
@pytest.mark.parametrize("filter_in", IN_MODES)
@pytest.mark.parametrize("email_filter", FILTERS)
def test_the_frame_paths_resolve_like_the_small_ones(
    monkeypatch: pytest.MonkeyPatch, email_filter: str, filter_in: str, strategy: str
) -> None:
    def run() -> tuple[dict[str, tuple[str, frozenset[str]]], int]:
        service = FakeCustomerService(population(), email_filter, filter_in)  # type: ignore[arg-type]
        with service.client() as client:
            resolution = resolve_members(
                client,
                case_list(),
                strategy=strategy,  # type: ignore[arg-type]
                traits=traits_for(False, email_filter, filter_in),
                concurrency=4,
            )
        return outcomes(resolution), resolution.n_requests

    small = run()
    monkeypatch.setattr(_resolve, "_BIG", 0)
    big = run()
    assert big == small
    assert big[0] == expected()


@pytest.mark.parametrize("email_filter", [None, "exact", "insensitive"])
def test_spellings_of_some_rows_counted_in_slices(
    monkeypatch: pytest.MonkeyPatch, email_filter: str | None
) -> None:
    values = [*MESSY, "ANNA@x.de", "Eve@V.io", " eve@v.io"]
    members = sw.read_members(pl.Series("email", values))
    rows = pl.Series([i % 3 != 1 for i in range(members.n_valid)])
    picked = sw.read_members(
        pl.Series("email", members.valid.filter(rows).get_column("value").to_list())
    )
    monkeypatch.setattr(_resolve, "_SLICE_ROWS", 2)
    assert _n_spellings(members.valid, email_filter, rows) == len(
        lookup_spellings(picked, email_filter)
    )
    assert _n_spellings(members.valid, email_filter) == len(lookup_spellings(members, email_filter))
