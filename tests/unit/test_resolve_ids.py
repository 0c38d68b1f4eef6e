"""Customer ids given directly are checked against Shopgate before a plan offers them.

Against a fake customer service: with ``$in`` on ``id`` (known or learnt) one request per
hundred ids; without it one ``GET customers/{id}`` per id; the outcome of every id (a
registered customer, unknown, a guest, a deleted account) is the same either way.
"""

from __future__ import annotations

import math

import polars as pl
import pytest
from fake_customer_service import FakeCustomerService, customer

from segwidgets._resolve_ids import check_customer_ids
from segwidgets._traits import ServerTraits

PEOPLE = [
    *(customer(f"c-{i:04d}", f"user{i}@example.com") for i in range(300)),
    customer("g-0001", "guest@example.com", guest=True),
    customer("d-0001", "gone@example.com", status="deleted"),
    customer("i-0001", "idle@example.com", status="inactive"),
]
IDS = ["c-0001", "nope-1", "g-0001", "d-0001", "c-0002", "i-0001", "c-0001", "nope-2"]
WANT = {
    "c-0001": "customer",
    "nope-1": "unknown",
    "g-0001": "guest",
    "d-0001": "deleted",
    "c-0002": "customer",
    "i-0001": "customer",
    "nope-2": "unknown",
}


@pytest.mark.parametrize("known", [False, True], ids=["learnt", "known"])
@pytest.mark.parametrize("filter_in", ["id", "all", "off"])
def test_every_id_gets_its_outcome_in_every_cell(filter_in: str, known: bool) -> None:
    service = FakeCustomerService(PEOPLE, "exact", filter_in)  # type: ignore[arg-type]
    traits = ServerTraits(in_on_id=filter_in != "off") if known else ServerTraits()
    with service.client() as client:
        check = check_customer_ids(client, pl.Series(IDS), traits=traits)
    report = check.report
    assert dict(zip(report["customer_id"], report["outcome"], strict=True)) == WANT
    assert report["customer_id"].to_list() == list(WANT)  # input order, each id once
    assert check.customer_ids.to_list() == ["c-0001", "c-0002", "i-0001"]
    assert (check.n_unknown, check.n_guest, check.n_deleted, check.n_left_out) == (2, 1, 1, 4)
    assert check.problems().height == 4
    assert "left out: 2 unknown, 1 guests, 1 deleted" in check.summary()
    assert traits.in_on_id is (filter_in != "off")
    n = len(WANT)
    if filter_in == "off":
        assert check.how == "one request per id"
        assert check.n_requests == service.n_requests == n + (0 if known else 1)
    else:
        assert check.how == "$in on id"
        assert check.n_requests == service.n_requests == 1


@pytest.mark.parametrize("n", [1, 100, 101, 250])
def test_in_checks_a_hundred_ids_a_request(n: int) -> None:
    service = FakeCustomerService(PEOPLE, "exact", "id")
    ids = [f"c-{i:04d}" for i in range(n)]
    with service.client() as client:
        check = check_customer_ids(client, pl.Series(ids), traits=ServerTraits(in_on_id=True))
    assert check.n_customers == min(n, 300)
    assert check.n_requests == service.n_requests == math.ceil(n / 100)
    assert all(int(r.url.params["limit"]) <= 100 for r in service.requests)


def test_nothing_to_check_sends_nothing() -> None:
    service = FakeCustomerService(PEOPLE)
    with service.client() as client:
        check = check_customer_ids(client, pl.Series([], dtype=pl.String))
    assert check.n_checked == check.n_requests == service.n_requests == 0
