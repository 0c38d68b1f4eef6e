"""The automatic resolution strategy: the request bound and the same answer as both forced ones.

A sandbox of 600 customers read in pages of 50 makes the two strategies cross over at small
N, so every side of the choice (all emails in the first round trip, lookups, scan) is met.
"""

from __future__ import annotations

import math

import polars as pl
import pytest

import segwidgets as sw

CUSTOMERS = 600
PAGE = 50


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    with sw.SegmentSession.sandbox(
        customers=CUSTOMERS,
        seed=7,
        journal=tmp_path_factory.mktemp("j") / "j.sqlite3",
        session_options={"page_size": PAGE},
    ) as session:
        yield session


@pytest.fixture(scope="module")
def emails(session) -> list[str]:
    page = session.client.customer_page(filters={"isAnonymous": False}, limit=CUSTOMERS)
    return sorted({str(c["emailAddress"]) for c in page.customers})


@pytest.mark.parametrize("n", [1, 2, 3, 5, 9, 10, 11, 12, 13, 20, 40, 200])
def test_auto_stays_within_the_request_bound_and_agrees_with_both_strategies(
    session, emails, n: int
) -> None:
    members = sw.read_members(pl.Series("email", emails[:n]), kind="email")
    n_customers = session.client.customer_page(limit=1).total
    bound = min(n, math.ceil(n_customers / PAGE)) + 2
    reports = {}
    for strategy in ("auto", "lookup", "scan"):
        resolution = session.resolve(members, strategy=strategy, classify_guests=False)
        reports[strategy] = resolution.report.sort("email")
        if strategy == "auto":
            assert resolution.n_requests <= bound
            registered = session.client.customer_page(filters={"isAnonymous": False}, limit=1)
            pages = math.ceil(registered.total / PAGE)
            # it took the strategy that needs fewer requests once the first page was in
            expected = "lookup" if n - min(n, 2) <= pages - 1 else "scan"
            assert resolution.strategy == expected
    assert reports["auto"].equals(reports["lookup"])
    assert reports["auto"].equals(reports["scan"])
