"""R16: resolving emails to customers — 0, 1 or several customers per email, guests too.

Must hold, for every strategy (lookup, scan, auto) and every ambiguity policy, and in every
cell of how the sandbox's ``emailAddress`` filter compares (exact / insensitive) x where
``$in`` works (id / all / off): the outcome of each email is what the customer data says
(customers stored with other letter case than the list included); the outcome counts sum
to the valid emails; no id of an unmatched, guest-only or skipped-ambiguous email (nor any
guest's or deleted customer's id) is ever sent; every customer query carries the guest
filter — asserted on the requests that went out.
"""

from __future__ import annotations

import json
import random

import polars as pl
import pytest
from reliability_kit import Wire, make_segment, session_for

import segwidgets as sw
from segwidgets._email import normalize_emails

POLICIES = ["skip", "all", "latest"]
STRATEGIES = ["lookup", "scan"]
PAGE = 100
CELLS = [(f, i) for f in ("exact", "insensitive") for i in ("id", "all", "off")]
#: every policy and strategy in the default cell; every cell with each strategy
RUNS = [("exact", "id", s, p) for s in [*STRATEGIES, "auto"] for p in POLICIES] + [
    (f, i, s, "skip") for f, i in CELLS[1:] for s in [*STRATEGIES, "auto"]
]


def truth(model) -> pl.DataFrame:
    """Every customer with its normalised email key."""
    frame = model.customers_frame()
    keys = normalize_emails(frame["emailAddress"].fill_null("")).get_column("email")
    return frame.with_columns(key=keys).filter(pl.col("key").is_not_null())


def expected(customers: pl.DataFrame, keys: list[str]) -> dict[str, tuple[str, set[str]]]:
    """email key -> (outcome, registered usable ids), from the data alone."""
    out = {}
    for key in keys:
        rows = customers.filter(pl.col("key") == key)
        usable = rows.filter(~pl.col("isAnonymous") & (pl.col("status") != "deleted"))
        ids = set(usable["id"])
        if len(ids) == 1:
            out[key] = ("matched", ids)
        elif ids:
            out[key] = ("ambiguous", ids)
        elif rows["isAnonymous"].any():
            out[key] = ("guest_only", ids)
        else:
            out[key] = ("unmatched", ids)
    return out


@pytest.fixture
def people(big_sandbox):
    """Explicit cases on top of the seeded data (which has shared emails and guests too)."""
    model = big_sandbox.model
    cases = {
        "one": [{}],
        "two-registered": [{}, {}],
        "three-registered": [{}, {}, {}],
        "guest-only": [{"isAnonymous": True}],
        "two-guests": [{"isAnonymous": True}, {"isAnonymous": True}],
        "guest-and-registered": [{"isAnonymous": True}, {}],
        "deleted-only": [{"status": "deleted"}],
        "deleted-and-registered": [{"status": "deleted"}, {}],
        "inactive": [{"status": "inactive"}],
    }
    emails = {}
    for name, records in cases.items():
        email = f"r16.{name}@Example.ORG"
        emails[name] = email
        for n, fields in enumerate(records):
            model.add_customer(emailAddress=email if n % 2 else email.lower(), **fields)
    # stored with capitals, listed in lower case: an exact filter finds neither spelling
    model.add_customer(emailAddress="R16.Stored-Capitals@Example.ORG")
    emails["stored-capitals"] = "r16.stored-capitals@example.org"
    emails["nobody"] = "r16.nobody@example.org"
    return emails


def customer_filters(wire: Wire) -> list[dict]:
    return [
        json.loads(e.params.get("filters", "{}"))
        for e in wire.snapshot()
        if e.route == "customers.list"
    ]


@pytest.mark.parametrize("run", RUNS, ids=[f"R16-{f}-in_{i}-{s}-{p}" for f, i, s, p in RUNS])
def test_r16_outcomes_match_the_data_and_only_chosen_ids_are_sent(
    big_sandbox, people, tmp_path, run: tuple[str, str, str, str]
) -> None:
    email_filter, filter_in, strategy, policy = run
    big_sandbox.configure(email_filter=email_filter, filter_in=filter_in)
    model = big_sandbox.model
    customers = truth(model)
    # the explicit cases plus 150 random addresses of the seeded data (guests, deleted,
    # shared ones included), written as people type them
    seeded = customers.filter(~pl.col("emailAddress").str.starts_with("r16."))
    sample = random.Random(16).sample(seeded["emailAddress"].to_list(), 150)
    typed = [e.upper() if n % 3 == 0 else f" {e} " for n, e in enumerate(sample)]
    members = sw.read_members(pl.DataFrame({"email": [*people.values(), *typed]}))
    keys = members.keys.to_list()
    want = expected(customers, keys)

    make_segment(model, "r16")
    wire = Wire()
    with session_for(
        big_sandbox.credentials, tmp_path / "j.sqlite3", wire=wire, page_size=PAGE
    ) as session:
        resolution = session.resolve(members, policy=policy, strategy=strategy)
        result = session.apply(session.plan("r16", resolution))
        assert result.status == "verified"
    report = resolution.report
    assert resolution.strategy == strategy or (
        strategy == "auto" and resolution.strategy in STRATEGIES
    )
    got = dict(zip(report["email"], report["outcome"], strict=True))
    assert got == {k: outcome for k, (outcome, _) in want.items()}
    counts = (
        resolution.n_matched
        + resolution.n_ambiguous
        + resolution.n_guest_only
        + resolution.n_unmatched
    )
    assert counts == resolution.n_valid == members.n_valid

    chosen = dict(zip(report["email"], report["customer_ids"].to_list(), strict=True))
    for key, (outcome, ids) in want.items():
        if outcome == "matched" or (outcome == "ambiguous" and policy == "all"):
            assert set(chosen[key]) == ids
        elif outcome == "ambiguous" and policy == "latest":
            assert len(chosen[key]) == 1
            assert set(chosen[key]) <= ids
        else:
            assert chosen[key] == []

    # on the wire: only chosen ids were ever written, never a guest's or a deleted one's
    sent = set(wire.sent_ids("add"))
    allowed = {i for ids in chosen.values() for i in ids}
    assert sent == allowed == big_sandbox.member_ids("r16")
    forbidden = set(customers.filter(pl.col("isAnonymous") | (pl.col("status") == "deleted"))["id"])
    assert not sent & forbidden
    # the guest filter is on every customer query; only guest classification asks for guests
    filters = customer_filters(wire)
    assert filters
    assert all("isAnonymous" in f for f in filters)
    assert {f["isAnonymous"] for f in filters} <= {True, False}
    assert any(f["isAnonymous"] is True for f in filters)  # guests were told apart


def test_r16_no_guest_is_trusted_even_if_the_server_ignores_the_filter(
    big_sandbox, people, tmp_path
) -> None:
    """A server that returns guests despite ``isAnonymous: false``: they are still dropped."""
    import httpx

    class IgnoreGuestFilter(httpx.BaseTransport):
        def __init__(self) -> None:
            self.inner = httpx.HTTPTransport()

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/customers") and "filters" in request.url.params:
                filters = json.loads(request.url.params["filters"])
                filters.pop("isAnonymous", None)
                params = dict(request.url.params)
                params["filters"] = json.dumps(filters)
                request = httpx.Request(
                    request.method, request.url.copy_with(params=params), headers=request.headers
                )
            return self.inner.handle_request(request)

        def close(self) -> None:
            self.inner.close()

    make_segment(big_sandbox.model, "r16b")
    wire = Wire(IgnoreGuestFilter())
    members = sw.read_members([people["guest-and-registered"], people["guest-only"]])
    with session_for(
        big_sandbox.credentials, tmp_path / "j.sqlite3", wire=wire, page_size=PAGE
    ) as session:
        for strategy in STRATEGIES:
            resolution = session.resolve(members, strategy=strategy)
            assert resolution.n_matched == 1
            assert resolution.n_ids == 1
        session.apply(session.plan("r16b", resolution))
    guests = set(truth(big_sandbox.model).filter(pl.col("isAnonymous"))["id"])
    assert not set(wire.sent_ids("add")) & guests
