"""Email resolution is the same whichever way Shopgate's customer filter behaves.

Against a fake customer service (``fake_customer_service``): every cell of
``emailAddress`` comparison (exact / insensitive) x ``$in`` support (id / all / off), with
the server's traits known beforehand or learnt on the way, and every strategy, gives the
same outcome and customer ids per email as a plain scan; and the requests sent are
counted exactly.
"""

from __future__ import annotations

import math
from typing import Any

import polars as pl
import pytest
from fake_customer_service import FakeCustomerService, customer

import segwidgets as sw
from segwidgets._resolve import CustomerCounts, resolve_members
from segwidgets._traits import ServerTraits

FILTERS = ["exact", "insensitive"]
IN_MODES = ["id", "all", "off"]

#: (customers, list spelling, expected outcome, expected ids)
CASES: dict[str, tuple[list[dict[str, Any]], str, str, set[str]]] = {
    "stored with capitals": (
        [customer("c-9001", "Anna.Schmidt@GMX.de")],
        "anna.schmidt@gmx.de",
        "matched",
        {"c-9001"},
    ),
    "typed with capitals, stored so": (
        [customer("c-9002", "Bob.Brown@Example.com")],
        "Bob.Brown@Example.com",
        "matched",
        {"c-9002"},
    ),
    "typed with capitals, stored lower": (
        [customer("c-9003", "carol@example.com")],
        " CAROL@example.com ",
        "matched",
        {"c-9003"},
    ),
    "stored with other capitals than typed": (
        [customer("c-9004", "Dora.Day@example.com")],
        "dora.DAY@example.com",
        "matched",
        {"c-9004"},
    ),
    "shared, both stored with capitals": (
        [customer("c-9005", "Shared@Example.com"), customer("c-9006", "Shared@Example.com")],
        "shared@example.com",
        "ambiguous",
        {"c-9005", "c-9006"},
    ),
    "shared, both stored lower": (
        [customer("c-9007", "dup@example.com"), customer("c-9008", "dup@example.com")],
        "dup@example.com",
        "ambiguous",
        {"c-9007", "c-9008"},
    ),
    "guest only, stored with capitals": (
        [customer("c-9009", "Guest@Example.com", guest=True)],
        "guest@example.com",
        "guest_only",
        set(),
    ),
    "guest and registered with other capitals": (
        [
            customer("c-9010", "gr@example.com", guest=True),
            customer("c-9011", "GR@example.com"),
        ],
        "gr@example.com",
        "matched",
        {"c-9011"},
    ),
    "deleted only, stored with capitals": (
        [customer("c-9012", "Gone@example.com", status="deleted")],
        "gone@example.com",
        "unmatched",
        set(),
    ),
    "deleted lower, registered with capitals": (
        [
            customer("c-9013", "back@example.com", status="deleted"),
            customer("c-9014", "Back@example.com"),
        ],
        "back@example.com",
        "matched",
        {"c-9014"},
    ),
    "only a longer address contains it": (
        [customer("c-9015", "joann@x.de")],
        "ann@x.de",
        "unmatched",
        set(),
    ),
    "nobody": ([], "nobody@example.com", "unmatched", set()),
}


def population(n_filler: int = 250) -> list[dict[str, Any]]:
    """Filler customers (some guests, some with capitals) plus every case's customers."""
    people = [
        customer(
            f"c-{i:04d}",
            f"User{i}@Example.com" if i % 3 == 0 else f"user{i}@example.com",
            guest=i % 7 == 0,
        )
        for i in range(n_filler)
    ]
    for records, *_ in CASES.values():
        people += records
    return people


def case_list() -> sw.MemberList:
    return sw.read_members(pl.Series("email", [typed for _, typed, *_ in CASES.values()]))


def outcomes(resolution: sw.Resolution) -> dict[str, tuple[str, frozenset[str]]]:
    report = resolution.report
    return {
        email: (outcome, frozenset(ids))
        for email, outcome, ids in zip(
            report["email"], report["outcome"], report["customer_ids"].to_list(), strict=True
        )
    }


def expected() -> dict[str, tuple[str, frozenset[str]]]:
    members = case_list()
    keys = members.keys.to_list()
    return {
        key: (outcome, frozenset(ids if outcome != "ambiguous" else ()))
        for key, (_, _, outcome, ids) in zip(keys, CASES.values(), strict=True)
    }


def traits_for(known: bool, email_filter: str, filter_in: str) -> ServerTraits:
    if not known:
        return ServerTraits()
    return ServerTraits(
        email_filter=email_filter,  # type: ignore[arg-type]
        in_on_email=filter_in == "all",
        in_on_id=filter_in != "off",
    )


@pytest.mark.parametrize("known", [False, True], ids=["learnt", "known"])
@pytest.mark.parametrize("strategy", ["auto", "lookup", "scan"])
@pytest.mark.parametrize("filter_in", IN_MODES)
@pytest.mark.parametrize("email_filter", FILTERS)
def test_the_resolution_is_the_same_in_every_cell(
    email_filter: str, filter_in: str, strategy: str, known: bool
) -> None:
    service = FakeCustomerService(population(), email_filter, filter_in)  # type: ignore[arg-type]
    traits = traits_for(known, email_filter, filter_in)
    with service.client() as client:
        resolution = resolve_members(
            client,
            case_list(),
            strategy=strategy,
            traits=traits,
            concurrency=4,  # type: ignore[arg-type]
        )
    assert outcomes(resolution) == expected()
    # every customer query carries the guest filter; nothing was sent over the page limit
    assert all("isAnonymous" in f for f in service.filters_sent())
    assert all(int(r.url.params["limit"]) <= 100 for r in service.requests)
    assert resolution.n_requests == service.n_requests
    if strategy != "scan":
        # what was learnt is true of the server
        assert traits.email_filter in {None, email_filter}
        assert traits.in_on_email in {None, filter_in == "all"}


@pytest.mark.parametrize("email_filter", FILTERS)
def test_a_loose_filter_adds_nobody(email_filter: str) -> None:
    """A server whose filter also returns addresses that merely contain the one asked for:
    every candidate is checked again on its normalised email."""
    service = FakeCustomerService(population(), "loose", "all")
    with service.client() as client:
        resolution = resolve_members(client, case_list(), strategy="lookup", traits=ServerTraits())
    assert outcomes(resolution) == expected()


# -- request counts -----------------------------------------------------------------------------


def lower_emails(n: int) -> list[str]:
    return [f"user{i}@example.com" for i in range(1, n * 3, 3) if i % 3 and i % 7][:n]


def big_population(n: int) -> list[dict[str, Any]]:
    """``n`` registered customers stored in lower case (and no guests)."""
    return [customer(f"c-{i:05d}", f"user{i}@example.com") for i in range(n)]


@pytest.mark.parametrize("n", [1, 99, 100, 101, 250])
def test_in_batches_send_one_request_per_hundred_emails(n: int) -> None:
    """Known traits, every email found: ceil(N / 100) lookups plus the two counts."""
    service = FakeCustomerService(big_population(3000), "exact", "all")
    emails = [f"user{i}@example.com" for i in range(0, 3 * n, 3)]
    traits = ServerTraits(email_filter="exact", in_on_email=True)
    with service.client() as client:
        resolution = resolve_members(
            client,
            sw.read_members(pl.Series("email", emails)),
            traits=traits,
            counts=CustomerCounts(),
        )
    assert resolution.n_matched == n
    assert resolution.strategy == "lookup"
    assert resolution.n_requests == service.n_requests == math.ceil(n / 100) + 2
    bound = min(math.ceil(n / 100), n, math.ceil(3000 / 100)) + 2
    assert resolution.n_requests <= bound


def test_an_in_answer_longer_than_a_page_is_paged_through() -> None:
    """100 emails each shared by two customers: each $in answer holds two pages."""
    people = big_population(2000) + [
        customer(f"c-twin-{i:05d}", f"user{i}@example.com") for i in range(0, 200, 2)
    ]
    service = FakeCustomerService(people, "exact", "all")
    emails = [f"user{i}@example.com" for i in range(0, 200, 2)]
    traits = ServerTraits(email_filter="exact", in_on_email=True)
    with service.client() as client:
        resolution = resolve_members(
            client, sw.read_members(pl.Series("email", emails)), traits=traits, policy="all"
        )
    assert resolution.n_ambiguous == 100
    assert resolution.n_ids == 200
    assert resolution.n_requests == service.n_requests == 2 + 2  # counts + two pages
    offsets = [r.url.params["offset"] for r in service.requests[2:]]
    assert offsets == ["0", "100"]


def test_learning_in_support_costs_one_request_and_is_remembered() -> None:
    service = FakeCustomerService(big_population(3000), "insensitive", "all")
    emails = [f"user{i}@example.com" for i in range(0, 750, 3)]  # 250
    traits = ServerTraits()
    with service.client() as client:
        members = sw.read_members(pl.Series("email", emails))
        first = resolve_members(client, members, traits=traits)
        second = resolve_members(client, members, traits=traits)
    assert traits.in_on_email is True
    # every email found: no probe of the filter needed, nothing else to learn
    assert first.n_requests == 2 + 3
    assert second.n_requests == 2 + 3
    assert any("takes $in" in note for note in first.notes)
    assert not any("takes $in" in note for note in second.notes)


def test_a_refused_in_makes_auto_weigh_single_lookups_against_a_scan() -> None:
    """$in on emailAddress refused: 250 single lookups would cost more than 30 pages."""
    service = FakeCustomerService(big_population(3000), "insensitive", "id")
    emails = [f"user{i}@example.com" for i in range(0, 750, 3)]
    traits = ServerTraits()
    with service.client() as client:
        resolution = resolve_members(
            client, sw.read_members(pl.Series("email", emails)), traits=traits
        )
    assert traits.in_on_email is False
    assert resolution.strategy == "scan"
    assert resolution.n_matched == 250
    # counts, the refused $in, 30 scan pages: one over the bound min(N, C/100) + 2
    assert resolution.n_requests == service.n_requests == 2 + 1 + 30
    assert any("refused $in" in note for note in resolution.notes)


def test_without_in_small_lists_are_looked_up_one_spelling_at_a_time() -> None:
    service = FakeCustomerService(big_population(3000), "insensitive", "off")
    emails = ["USER3@example.com", "user6@example.com", "user9@example.com"]
    traits = ServerTraits(in_on_email=False, email_filter="insensitive")
    with service.client() as client:
        resolution = resolve_members(
            client, sw.read_members(pl.Series("email", emails)), traits=traits
        )
    assert resolution.n_matched == 3
    # insensitive: "USER3@example.com" needs no second spelling
    assert resolution.n_requests == service.n_requests == 2 + 3


def test_exact_filter_an_email_not_found_costs_a_scan() -> None:
    people = big_population(3000)
    people[3]["emailAddress"] = "User3@Example.com"
    service = FakeCustomerService(people, "exact", "all")
    emails = ["user3@example.com", "user6@example.com"]
    traits = ServerTraits(in_on_email=True, email_filter="exact")
    with service.client() as client:
        resolution = resolve_members(
            client,
            sw.read_members(pl.Series("email", emails)),
            traits=traits,
            classify_guests=False,
        )
    assert resolution.n_matched == 2
    assert resolution.n_requests == service.n_requests == 2 + 1 + 30
    assert any("scanned" in note for note in resolution.notes)


@pytest.mark.parametrize("email_filter", FILTERS)
def test_the_filter_is_learnt_with_one_request(email_filter: str) -> None:
    """Unknown filter and an email not found: one probe tells; a case-insensitive filter
    then needs no scan."""
    service = FakeCustomerService(big_population(3000), email_filter, "all")  # type: ignore[arg-type]
    emails = ["user3@example.com", "nobody@example.com"]
    traits = ServerTraits(in_on_email=True)
    with service.client() as client:
        resolution = resolve_members(
            client,
            sw.read_members(pl.Series("email", emails)),
            traits=traits,
            classify_guests=False,
        )
    assert traits.email_filter == email_filter
    assert resolution.n_matched == 1
    scan = 30 if email_filter == "exact" else 0
    assert resolution.n_requests == service.n_requests == 2 + 1 + 1 + scan
