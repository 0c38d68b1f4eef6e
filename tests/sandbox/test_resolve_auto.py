"""The automatic resolution strategy: the request bound, remembered counts, the same answer.

A sandbox of 600 customers read in pages of 50 makes the two strategies cross over at small
N, so both sides of the choice are met.
"""

from __future__ import annotations

import math

import polars as pl
import pytest

import segwidgets as sw
from segwidgets._resolve import CustomerCounts, choose_strategy, resolve_members

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
    for counts in (CustomerCounts(), None):  # counted first, then with nothing remembered
        resolution = resolve_members(
            session.client, members, page_size=PAGE, classify_guests=False, counts=counts
        )
        assert resolution.n_requests <= bound
        assert resolution.strategy == choose_strategy(n, n_customers, PAGE)
        reports["auto"] = resolution.report.sort("email")
    for strategy in ("lookup", "scan"):
        resolution = session.resolve(members, strategy=strategy, classify_guests=False)
        reports[strategy] = resolution.report.sort("email")
    assert reports["auto"].equals(reports["lookup"])
    assert reports["auto"].equals(reports["scan"])


def test_a_session_remembers_the_counts_for_its_next_resolutions(session, emails) -> None:
    members = sw.read_members(pl.Series("email", emails[:30]), kind="email")
    session._customer_counts.clear()
    first = session.resolve(members, classify_guests=False)
    second = session.resolve(members, classify_guests=False)
    assert second.n_requests == first.n_requests - 2  # no counting the second time
    assert "earlier resolution" in second.notes[0]
    assert second.report.equals(first.report)


def test_a_stale_count_cannot_hide_a_customer(session, emails) -> None:
    """Counts remembered as far too small: the scan still reads every page there is."""
    members = sw.read_members(pl.Series("email", emails), kind="email")
    truth = resolve_members(session.client, members, page_size=PAGE, strategy="scan")
    stale = CustomerCounts()
    stale.put(1, 1)  # one customer, says the memory: a scan of one page is planned
    resolution = resolve_members(session.client, members, page_size=PAGE, counts=stale)
    assert resolution.strategy == "scan"
    assert resolution.report.sort("email").equals(truth.report.sort("email"))
    assert resolution.n_matched == truth.n_matched > 0


def test_counts_expire() -> None:
    now = [0.0]
    counts = CustomerCounts(ttl=10, clock=lambda: now[0])
    assert counts.get() is None
    counts.put(5, 4)
    now[0] = 10.0
    assert counts.get() == (5, 4)
    now[0] = 10.5
    assert counts.get() is None
