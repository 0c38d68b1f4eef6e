"""The sandbox's remaining fast paths answer exactly what the plain code answers.

A segment's members are ``MemberKeys``: a set beside a sorted view that catches up lazily
(member writes come in batches of up to 1,000 keys; pages want the keys in order); it is
compared here with a plain sorted set. A customer id is parsed without a regex
(``_split_id``); it is compared with the id pattern. The wire-level fast paths (packed id
lanes, a fixed-offset reader of member bodies, JSON written as text) are gone: the sandbox
runs in its own process, and the benchmarks hold on the plain code.
"""

from __future__ import annotations

import random

import pytest

from segwidgets.sandbox import _member_keys
from segwidgets.sandbox._member_keys import MemberKeys
from segwidgets.sandbox._seed import _ID_RE, SeedCustomers, _split_id


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
