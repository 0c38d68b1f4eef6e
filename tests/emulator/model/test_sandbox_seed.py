"""Seed data: deterministic, realistic, with every kind of customer the sync must handle."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from segwidgets.sandbox import SandboxModel
from segwidgets.sandbox._seed import SeedCustomers, format_id, parse_id_key

UUID_LIKE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def test_same_seed_same_customers_other_seed_other_customers() -> None:
    a = [SeedCustomers(seed=7, count=50).record(i) for i in range(50)]
    b = [SeedCustomers(seed=7, count=50).record(i) for i in range(50)]
    c = [SeedCustomers(seed=8, count=50).record(i) for i in range(50)]
    assert a == b
    assert [r["id"] for r in a] != [r["id"] for r in c]
    assert [r["emailAddress"] for r in a] != [r["emailAddress"] for r in c]


def test_ids_are_unique_uuid_like_and_invertible() -> None:
    seeded = SeedCustomers(seed=3, count=2000)
    ids = [seeded.id_of(i) for i in range(2000)]
    assert len(set(ids)) == 2000
    assert all(UUID_LIKE.match(i) for i in ids)
    assert [seeded.index_of_id(i, limit=2000) for i in ids] == list(range(2000))
    # Not a customer: past the end, another seed's id, junk, a changed character.
    assert seeded.index_of_id(seeded.id_of(2000), limit=2000) is None
    assert seeded.index_of_id(SeedCustomers(seed=4, count=5).id_of(0), limit=2000) is None
    assert seeded.index_of_id("not-an-id", limit=2000) is None
    flipped = ids[5][:-1] + ("0" if ids[5][-1] != "0" else "1")
    assert seeded.index_of_id(flipped, limit=2000) is None


def test_member_key_order_is_id_order() -> None:
    seeded = SeedCustomers(seed=1, count=500)
    keys = sorted(seeded.key_of(i) for i in range(500))
    assert [seeded.id_of_key(k) for k in keys] == sorted(seeded.id_of(i) for i in range(500))
    assert all(parse_id_key(format_id(k, salt=99)) == k for k in keys)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_seed_has_every_kind_of_customer(seed: int) -> None:
    model = SandboxModel(customers=500, seed=seed)
    records = list(model.customers())
    kinds = Counter((r["status"], r["isAnonymous"]) for r in records)
    assert kinds[("active", False)] > 300
    assert kinds[("inactive", False)] > 5
    assert kinds[("deleted", False)] > 2
    assert kinds[("active", True)] > 20  # guests
    by_email: dict[str, list[dict[str, object]]] = {}
    for r in records:
        by_email.setdefault(str(r["emailAddress"]).lower(), []).append(r)
    shared = [group for group in by_email.values() if len(group) > 1]
    guest_with_registered = [
        g
        for g in shared
        if any(r["isAnonymous"] for r in g) and any(not r["isAnonymous"] for r in g)
    ]
    registered_groups = [g for g in shared if sum(not r["isAnonymous"] for r in g) >= 2]
    assert len(guest_with_registered) >= 3
    assert 2 <= len(registered_groups) <= 4
    for group in registered_groups:
        dates = [r["updateDate"] for r in group if not r["isAnonymous"]]
        assert len(set(dates)) == len(dates), "the latest must be decidable"
    domains = Counter(str(r["emailAddress"]).rsplit("@", 1)[1].lower() for r in records)
    assert len(domains) >= 6
    assert any(r["emailAddress"] != str(r["emailAddress"]).lower() for r in records)
    numbers = [r["externalCustomerNumber"] for r in records if not r["isAnonymous"]]
    assert all(isinstance(n, str) and n.isdigit() and len(n) == 8 for n in numbers)
    assert all(r["externalCustomerNumber"] is None for r in records if r["isAnonymous"])


def test_seed_segments() -> None:
    model = SandboxModel(customers=5000, seed=1)
    counts = {code: s["memberCount"] for code, s in model.state()["segments"].items()}
    assert 0.15 * 5000 < counts["newsletter"] < 0.25 * 5000
    assert 0.01 * 5000 < counts["vip"] < 0.03 * 5000
    dynamic = model.get_segment("inactive-gmail")["segment"]
    assert dynamic["type"] == "dynamic"
    assert dynamic["rules"]
    members = model.member_ids("inactive-gmail")
    assert members
    for customer_id in members:
        c = model.get_customer(customer_id)["customer"]
        assert c["status"] == "inactive"
        assert "@gmail.com" in c["emailAddress"].lower()
    for code in ("newsletter", "vip"):
        for customer_id in list(model.member_ids(code))[:50]:
            c = model.get_customer(customer_id)["customer"]
            assert c["status"] != "deleted"


def test_customer_dates_are_iso_and_ordered() -> None:
    model = SandboxModel(customers=200, seed=5)
    iso = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
    for r in model.customers():
        assert iso.match(r["createDate"])
        assert iso.match(r["updateDate"])
        assert r["updateDate"] >= r["createDate"]


def test_customers_frame_matches_the_records() -> None:
    model = SandboxModel(customers=120, seed=2)
    frame = model.customers_frame()
    assert frame.height == 120
    assert frame["id"].to_list() == [r["id"] for r in model.customers()]
    assert frame.schema["isAnonymous"].__class__.__name__ == "Boolean"


def test_a_million_customers_are_addressable() -> None:
    seeded = SeedCustomers(seed=1, count=1_000_000)
    last = seeded.record(999_999)
    assert seeded.index_of_id(last["id"], limit=1_000_000) == 999_999
    assert 999_999 in seeded.email_candidates(str(last["emailAddress"]).lower())
