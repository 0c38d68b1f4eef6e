"""The sandbox's remaining fast paths answer exactly what the plain code answers.

A segment's members are ``MemberKeys``: a set beside a sorted view that catches up lazily
(member writes come in batches of up to 1,000 keys; pages want the keys in order); it is
compared here with a plain sorted set. A customer id is parsed without a regex
(``_split_id``); it is compared with the id pattern. ``locate_id`` hands out an id's member
key with its index (the id's first 64 bits, not recomputed from the index); the customer
table remembers the ids it found (``CustomerTable.locate``); a member page filtered by id
lists the ids the request named instead of formatting them again; member items are checked
once each, dicts before the ``Mapping`` ABC. Each is compared with the plain computation.
The wire-level fast paths (packed id lanes, a fixed-offset reader of member bodies, JSON
written as text) are gone: the sandbox runs in its own process, and the benchmarks hold on
the plain code.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import pytest
from sandbox_helpers import FakeClock, list_members

from segwidgets.sandbox import SandboxModel, _customers, _member_keys, _requests
from segwidgets.sandbox._customers import CustomerTable
from segwidgets.sandbox._member_keys import MemberKeys
from segwidgets.sandbox._requests import MemberItems, member_items
from segwidgets.sandbox._seed import _ID_RE, SeedCustomers, _split_id
from segwidgets.sandbox._service_error import ServiceError, item_error


# -- member keys ----------------------------------------------------------------------------
def _walk(keys: MemberKeys, limit: int) -> list[int]:
    seen: list[int] = []
    after = None
    while True:
        page, more = keys.page(after, limit)
        seen += page
        if not more or not page:
            return seen
        after = page[-1]


@pytest.mark.parametrize("seed", range(6))
def test_member_keys_behave_like_a_sorted_set(seed: int) -> None:
    rng = random.Random(seed)
    universe = [rng.getrandbits(64) for _ in range(400)]
    start = rng.sample(universe, 150)
    keys = MemberKeys(start)
    truth = set(start)
    for _ in range(120):
        batch = rng.sample(universe, rng.choice([1, 3, 20, 100]))
        if rng.random() < 0.5:
            keys.add(batch)
            truth |= set(batch)
        else:
            gone = [k for k in batch if k in truth] if rng.random() < 0.5 else batch
            keys.remove(gone)
            truth -= set(gone)
        assert len(keys) == len(truth)
        assert all((k in keys) == (k in truth) for k in batch)
        if rng.random() < 0.3:  # reads between writes: small catch-ups and rebuilds
            after = rng.choice([None, *universe])
            page, more = keys.page(after, 25)
            expected = sorted(k for k in truth if after is None or k > after)
            assert page == expected[:25]
            assert more == (len(expected) > 25)
    assert list(keys) == sorted(truth)
    assert _walk(keys, 7) == sorted(truth)
    assert keys.present(universe) == truth


def test_member_keys_catch_up_by_themselves_after_many_writes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_member_keys, "_MAX_WAITING", 500)
    keys = MemberKeys(range(10))
    for start in range(100, 20_100, 100):
        keys.add(range(start, start + 100))
    assert keys._n_touched <= 20_000  # folded into the sorted view on the way
    assert keys.page(20_090, 100) == (list(range(20_091, 20_100)), False)
    assert len(keys) == 20_010


# -- ids ------------------------------------------------------------------------------------
def _spoilt(customer_id: str) -> list[str]:
    last = "0" if customer_id[-1] != "0" else "1"
    return [
        customer_id.upper(),
        customer_id[:-1] + last,  # another tail: well-formed, not this seed's id
        customer_id + "\n",
        " " + customer_id[1:],
        customer_id.replace("-", "_", 1),
        customer_id[:8] + customer_id[9:] + "0",  # a dash moved
        "+" + customer_id[1:],
        customer_id[:-1] + "\u0663",  # a non-ASCII digit
        customer_id[:20] + "-" + customer_id[21:],  # a dash too many
        "",
    ]


def _parsed_plainly(text: str) -> tuple[int, int] | None:
    if not _ID_RE.match(text) or text.endswith("\n"):
        return None
    value = int(text.replace("-", ""), 16)
    return value >> 64, value & ((1 << 64) - 1)


def test_ids_are_parsed_without_a_regex_exactly_as_with_it() -> None:
    seeded = SeedCustomers(seed=5, count=400)
    rng = random.Random(7)
    for index in range(0, 400, 7):
        good = seeded.id_of(index)
        assert _split_id(good) == _parsed_plainly(good)
        assert seeded.index_of_id(good, limit=400) == index
        for bad in _spoilt(good):
            assert _split_id(bad) == _parsed_plainly(bad), bad
            assert seeded.index_of_id(bad, limit=400) is None, bad
        for _ in range(30):
            chars = list(good)
            chars[rng.randrange(36)] = rng.choice("0aAfg-_ +\u0663")
            mutated = "".join(chars)
            assert _split_id(mutated) == _parsed_plainly(mutated), mutated


def test_an_ids_key_comes_with_its_index_exactly_as_computed_from_the_index() -> None:
    seeded = SeedCustomers(seed=5, count=400)
    other = SeedCustomers(seed=6, count=400)
    rng = random.Random(3)
    for index in range(0, 420, 3):
        good = seeded.id_of(index)
        for text in [good, other.id_of(index), *_spoilt(good)]:
            for limit in (0, index, index + 1, 400):
                plain = seeded.index_of_id(text, limit=limit)
                expected = None if plain is None else (plain, seeded.key_of(plain))
                assert seeded.locate_id(text, limit=limit) == expected, (text, limit)
        chars = list(good)
        chars[rng.randrange(36)] = rng.choice("0aAf-")
        mutated = "".join(chars)
        plain = seeded.index_of_id(mutated, limit=400)
        expected = None if plain is None else (plain, seeded.key_of(plain))
        assert seeded.locate_id(mutated, limit=400) == expected


# -- the customer table's known ids ---------------------------------------------------------
@pytest.mark.parametrize("seed", range(4))
def test_known_ids_answer_what_parsing_answers_while_customers_are_added(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_customers, "MAX_KNOWN_IDS", 40)  # forgets older ids now and then
    rng = random.Random(seed)
    seeded = SeedCustomers(seed=seed, count=120)
    table = CustomerTable(seeded, clock=time.time)
    stranger = SeedCustomers(seed=seed + 100, count=200)
    for _ in range(600):
        roll = rng.random()
        if roll < 0.05:
            table.add({"firstName": "Added"})  # the next seeded id becomes a customer's
            continue
        # often near the end: ids of customers about to be added
        end = len(table)
        index = rng.randrange(end - 3, end + 3) if rng.random() < 0.5 else rng.randrange(end)
        text = rng.choice(
            [seeded.id_of(index), stranger.id_of(index), *_spoilt(seeded.id_of(0)), 7, None, ["x"]]
        )
        expected = seeded.locate_id(text, limit=len(table))
        assert table.locate(text) == expected, text
        assert table.index_of(text) == (None if expected is None else expected[0])
        assert table.member_key_of(text) == (None if expected is None else expected[1])
        assert len(table._known) <= 40
        assert len(table._known_before) <= 40
        if expected is not None:
            assert table._known[text] == expected  # the last lookups are remembered


def test_the_ids_of_the_last_lookups_are_not_parsed_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_customers, "MAX_KNOWN_IDS", 50)
    seeded = SeedCustomers(seed=1, count=400)
    table = CustomerTable(seeded, clock=time.time)
    parsed: list[str] = []
    plain = seeded.locate_id

    def counted(customer_id: str, *, limit: int) -> tuple[int, int] | None:
        parsed.append(customer_id)
        return plain(customer_id, limit=limit)

    monkeypatch.setattr(seeded, "locate_id", counted)
    for index in range(170):  # a bulk load before
        table.locate(seeded.id_of(index))
    working = [seeded.id_of(i) for i in range(200, 250)]
    for customer_id in working:  # a push's lookups
        table.locate(customer_id)
    parsed.clear()
    for _ in range(3):  # its writes and its verification
        assert [table.locate(i) for i in working] == [plain(i, limit=400) for i in working]
    assert parsed == []


def test_known_ids_do_not_outlive_a_reset(clock: FakeClock) -> None:
    model = SandboxModel(customers=300, seed=1, clock=clock)
    late = model._table.seeded.id_of(250)
    assert model.get_customer(late)["customer"]["id"] == late  # known now
    model.reset(customers=200)
    with pytest.raises(ServiceError, match="no customer"):
        model.get_customer(late)
    model.reset(customers=300, seed=2)
    with pytest.raises(ServiceError, match="no customer"):
        model.get_customer(late)
    model.reset(customers=300, seed=1)
    assert model.get_customer(late)["customer"]["id"] == late


def test_an_id_refused_before_its_customer_exists_is_taken_after(clock: FakeClock) -> None:
    model = SandboxModel(customers=300, seed=1, clock=clock)
    model.seed_records(segments=[{"code": "s", "name": "S", "type": "fixed"}])
    coming = model._table.seeded.id_of(300)
    assert model.add_members("s", [coming])[0]["code"] == "unknownCustomer"
    assert model.add_customer(firstName="New")["id"] == coming
    assert model.add_members("s", [coming]) == []
    assert model.member_ids("s") == {coming}


# -- a member page filtered by id -----------------------------------------------------------
@pytest.mark.parametrize("seed", range(4))
def test_a_page_filtered_by_id_lists_the_ids_as_formatted_from_their_keys(seed: int) -> None:
    rng = random.Random(seed)
    model = SandboxModel(customers=400, seed=seed, clock=FakeClock())
    table = model._table
    ids = [table.seeded.id_of(i) for i in range(430)]  # the last 30 are no customer's
    model.seed_records(segments=[{"code": "s", "name": "S", "type": "fixed"}])
    live = [i for n, i in enumerate(ids[:400]) if not table.is_deleted(n)]
    model.fill_segment("s", rng.sample(live, 150))
    model.add_device_members("s", ["device-1", "device-2"])
    for _ in range(40):
        asked = rng.sample(ids, rng.choice([1, 5, 40, 100]))
        asked += [_spoilt(asked[0])[1], "device-1"]
        limit = rng.choice([3, 10, 100])
        filters = {"id": {"$in": asked}}
        window = model.member_window("s", limit=limit, filter=_requests.member_filter(filters))
        named = {k for k in (table.member_key_of(i) for i in asked) if k is not None}
        keys = sorted(named & set(model._segments["s"].members))
        assert window.customer_ids == table.ids_of_keys(keys[:limit])
        page = list_members(model, "s", limit=limit, filters=filters)
        assert [m["id"] for m in page["members"] if m["type"] == "customer"] == (
            table.ids_of_keys(keys[:limit])
        )


# -- member items ---------------------------------------------------------------------------
def _items_plainly(items: list[Any]) -> MemberItems:
    """The member items as read before the dict-first check."""
    ids: list[str | None] = []
    errors: list[dict[str, Any]] = []
    for position, item in enumerate(items):
        member_id = item.get("id") if isinstance(item, Mapping) else None
        well_formed = (
            isinstance(item, Mapping)
            and not set(item) - {"id", "type"}
            and isinstance(member_id, str)
            and isinstance(item.get("type"), str)
        )
        if not well_formed:
            shown = member_id if isinstance(member_id, str) else None
            errors.append(
                item_error(
                    position,
                    shown,
                    "invalidMember",
                    'A member is {"id": "<customer id>", "type": "customer"}.',
                )
            )
            ids.append(None)
        elif item["type"] != "customer":
            errors.append(
                item_error(
                    position, member_id, "invalidMemberType", "Member type must be 'customer'."
                )
            )
            ids.append(None)
        else:
            ids.append(member_id)
    return MemberItems(ids=ids, errors=errors)


def _random_item(rng: random.Random) -> Any:
    values: list[Any] = ["a", "customer", "device", "", 7, None, ["a"], {"id": "a"}]
    item: dict[str, Any] = {}
    for key in rng.sample(["id", "type", "extra", "ID"], rng.randrange(4)):
        item[key] = rng.choice(values)
    if rng.random() < 0.5:
        item.setdefault("id", rng.choice(["x", "y", 3]))
        item.setdefault("type", "customer")
    kind = rng.random()
    if kind < 0.1:
        return MappingProxyType(item)  # a Mapping that is not a dict
    if kind < 0.2:
        return rng.choice([None, "id", 5, ["id", "type"], [("id", "a")]])
    return item


@pytest.mark.parametrize("seed", range(5))
def test_member_items_are_read_as_the_plain_checks_read_them(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(60):
        items = [_random_item(rng) for _ in range(rng.randrange(1, 30))]
        assert member_items({"members": items}) == _items_plainly(items)
