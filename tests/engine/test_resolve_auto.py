"""The automatic resolution strategy: the request bound, remembered counts, the same answer,
in every cell of the sandbox's email filter (exact / insensitive) x ``$in`` support
(id / all / off).

A sandbox of 600 customers read in pages of 50 makes the two strategies cross over at
small N, so both sides of the choice are met. Where the server's traits are known the
bound is ``min(lookup, ceil(C / page)) + 2``, the lookup costing ``ceil(S / 100)`` with
``$in`` on ``emailAddress`` and S without (S: the list's distinct spellings, N <= S <= 2N).
"""

from __future__ import annotations

import math

import polars as pl
import pytest

import segwidgets as sw
from segwidgets._customer_search import in_requests, traits_of
from segwidgets._email import normalize_emails
from segwidgets._resolve import CustomerCounts, choose_strategy, lookup_spellings, resolve_members
from segwidgets._traits import ServerTraits

CUSTOMERS = 600
PAGE = 50
CELLS = [(f, i) for f in ("exact", "insensitive") for i in ("id", "all", "off")]


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
    """The email of every registered customer, as stored (many with capitals), that no
    other registered account (deleted or not) shares: a lookup answers one record each."""
    records: list[dict] = []
    offset = 0
    while True:
        page = session.client.customer_page(
            filters={"isAnonymous": False}, limit=PAGE, offset=offset
        )
        records += page.customers
        offset += len(page.customers)
        if not page.customers or offset >= page.total:
            break
    keys = normalize_emails(pl.Series([str(c["emailAddress"]) for c in records]))["email"]
    frame = pl.DataFrame(
        {
            "stored": [str(c["emailAddress"]) for c in records],
            "key": keys,
            "status": [c["status"] for c in records],
        }
    )
    once = frame.filter((pl.len().over("key") == 1) & (pl.col("status") != "deleted"))
    return sorted(once["stored"].to_list())


@pytest.fixture(params=CELLS, ids=lambda c: f"{c[0]}-in_{c[1]}")
def cell(request, session) -> tuple[str, str]:
    """The sandbox set to one cell; the client forgets what it learnt in another."""
    email_filter, filter_in = request.param
    session.server.configure(email_filter=email_filter, filter_in=filter_in)
    traits_of(session.client).learn(email_filter=None, in_on_email=None, in_on_id=None)
    session._customer_counts.clear()
    yield request.param
    session.server.configure(email_filter="exact", filter_in="id")


def known(cell: tuple[str, str]) -> ServerTraits:
    email_filter, filter_in = cell
    return ServerTraits(
        email_filter=email_filter,  # type: ignore[arg-type]
        in_on_email=filter_in == "all",
        in_on_id=filter_in != "off",
    )


def n_customers(session) -> int:
    return session.client.customer_page(limit=1).total


@pytest.mark.parametrize("n", [1, 3, 10, 12, 13, 40, 200])
def test_auto_stays_within_the_request_bound_and_agrees_with_both_strategies(
    session, emails, cell, n: int
) -> None:
    members = sw.read_members(pl.Series("email", emails[:n]), kind="email")
    traits = known(cell)
    spellings = len(lookup_spellings(members, traits.email_filter))
    assert n <= spellings <= 2 * n
    lookup = in_requests(spellings, traits.in_on_email, PAGE)
    c = n_customers(session)
    bound = min(lookup, math.ceil(c / PAGE)) + 2
    reports = {}
    for counts in (CustomerCounts(), None):  # counted first, then with nothing remembered
        resolution = resolve_members(
            session.client,
            members,
            page_size=PAGE,
            classify_guests=False,
            counts=counts,
            traits=traits,
        )
        assert resolution.n_requests <= bound
        assert resolution.strategy == choose_strategy(lookup, c, PAGE)
        assert resolution.n_matched + resolution.n_ambiguous == n
        reports["auto"] = resolution.report.sort("email")
    for strategy in ("lookup", "scan"):
        resolution = resolve_members(
            session.client,
            members,
            page_size=PAGE,
            classify_guests=False,
            strategy=strategy,  # type: ignore[arg-type]
            traits=traits,
        )
        reports[strategy] = resolution.report.sort("email")
    assert reports["auto"].equals(reports["lookup"])
    assert reports["auto"].equals(reports["scan"])


@pytest.mark.parametrize("n", [1, 13, 200])
def test_learning_the_server_costs_at_most_one_request_more(session, emails, cell, n) -> None:
    """Traits not known: a refused $in is the one extra request (every email is found as
    stored, so the filter's way need not be probed); the next resolution knows."""
    members = sw.read_members(pl.Series("email", emails[:n]), kind="email")
    truth = resolve_members(
        session.client, members, page_size=PAGE, strategy="scan", classify_guests=False
    )
    traits = ServerTraits()
    first = resolve_members(
        session.client, members, page_size=PAGE, classify_guests=False, traits=traits
    )
    second = resolve_members(
        session.client, members, page_size=PAGE, classify_guests=False, traits=traits
    )
    assert traits.in_on_email in {None, cell[1] == "all"}
    c = n_customers(session)
    spellings = len(lookup_spellings(members, None))
    bound = min(in_requests(spellings, traits.in_on_email, PAGE), math.ceil(c / PAGE)) + 2
    assert first.n_requests <= bound + 1
    assert second.n_requests <= bound
    assert first.report.sort("email").equals(truth.report.sort("email"))
    assert second.report.sort("email").equals(truth.report.sort("email"))


def test_capitals_stored_lower_typed_are_found_in_every_cell(session, emails, cell) -> None:
    """The list in lower case, the customers stored with capitals: matched whichever way the
    filter compares; under an exact filter at the price of a scan."""
    stored = [e for e in emails if e != e.lower()][:5]
    assert len(stored) == 5
    members = sw.read_members(pl.Series("email", [e.lower() for e in stored]))
    truth = resolve_members(
        session.client, members, page_size=PAGE, strategy="scan", classify_guests=False
    )
    assert truth.n_matched + truth.n_ambiguous == 5
    for strategy in ("auto", "lookup"):
        resolution = resolve_members(
            session.client,
            members,
            page_size=PAGE,
            strategy=strategy,  # type: ignore[arg-type]
            classify_guests=False,
            traits=ServerTraits(),
        )
        assert resolution.report.sort("email").equals(truth.report.sort("email"))
        scanned = any("scanned" in note for note in resolution.notes)
        assert scanned == (cell[0] == "exact")


def test_a_session_remembers_the_counts_for_its_next_resolutions(session, emails, cell) -> None:
    members = sw.read_members(pl.Series("email", emails[:30]), kind="email")
    session._customer_counts.clear()
    session.resolve(members, classify_guests=False)  # learns the server's traits
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


def each_way(session, members, ways, *, used, counts, traits, made):  # type: ignore[no-untyped-def]
    """Resolve ``members`` each of ``ways`` with counts and traits known; per way, the
    calls counted in ``made`` and the resolution (which must have used ``used``)."""
    runs = {}
    for way in ways:
        made.clear()
        resolution = resolve_members(
            session.client,
            members,
            page_size=PAGE,
            classify_guests=False,
            strategy=way,
            counts=counts,
            traits=traits,
        )
        assert resolution.strategy == used
        runs[way] = (len(made), resolution)
    return runs


def test_auto_works_the_spellings_out_once_as_the_forced_lookup(
    session, emails, monkeypatch
) -> None:
    """With the counts known, ``auto`` does the forced lookup's work and no more: the
    list's spellings, which it weighs and then asks for, are worked out once."""
    import segwidgets._resolve as resolve_module

    made = []
    original = resolve_module._spellings

    def counting(pairs, email_filter):  # type: ignore[no-untyped-def]
        made.append(1)
        return original(pairs, email_filter)

    monkeypatch.setattr(resolve_module, "_spellings", counting)
    session.server.configure(email_filter="exact", filter_in="all")
    members = sw.read_members(pl.Series("email", emails[:3]), kind="email")
    traits = known(("exact", "all"))
    counts = CustomerCounts()
    counts.put(n_customers(session), n_customers(session))
    runs = each_way(
        session, members, ("auto", "lookup"), used="lookup", counts=counts, traits=traits, made=made
    )
    calls = {way: (n_made, resolution.n_requests) for way, (n_made, resolution) in runs.items()}
    session.server.configure(email_filter="exact", filter_in="id")
    assert calls["auto"] == calls["lookup"] == (1, calls["lookup"][1])


@pytest.mark.parametrize("filter_in", ["off", "id"])
def test_auto_that_scans_does_the_forced_scan_and_no_more(
    session, emails, monkeypatch, filter_in: str
) -> None:
    """With the counts known and the keys alone needing more lookups than the scan has
    pages, ``auto`` scans exactly as the forced scan does: the same requests, and the list's
    spellings (needed only by a lookup) are never worked out."""
    import segwidgets._resolve as resolve_module

    made = []
    for name in ("_spellings", "_typed_spellings", "_n_spellings"):
        original = getattr(resolve_module, name)

        def counting(*args, _original=original, **kwargs):  # type: ignore[no-untyped-def]
            made.append(1)
            return _original(*args, **kwargs)

        monkeypatch.setattr(resolve_module, name, counting)
    session.server.configure(email_filter="exact", filter_in=filter_in)
    traits = known(("exact", filter_in))
    c = n_customers(session)
    registered = session.client.customer_page(filters={"isAnonymous": False}, limit=1).total
    pages = math.ceil(c / PAGE)
    # the fewest keys whose lookup alone needs more requests than the scan has pages
    n = next(k for k in range(1, len(emails)) if in_requests(k, traits.in_on_email, PAGE) > pages)
    members = sw.read_members(pl.Series("email", emails[:n]), kind="email")
    counts = CustomerCounts()
    counts.put(c, registered)
    runs = each_way(
        session, members, ("auto", "scan"), used="scan", counts=counts, traits=traits, made=made
    )
    session.server.configure(email_filter="exact", filter_in="id")
    auto, scan = runs["auto"], runs["scan"]
    assert (auto[0], auto[1].n_requests) == (scan[0], scan[1].n_requests)
    assert (scan[0], scan[1].n_requests) == (0, math.ceil(registered / PAGE))
    assert auto[1].report.equals(scan[1].report)
