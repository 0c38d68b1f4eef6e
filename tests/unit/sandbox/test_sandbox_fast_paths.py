"""The sandbox's fast paths answer exactly what the plain per-item code answers.

Member writes, member pages and customer pages skip per-item Python work (packed lanes,
a set beside a lazily sorted view, a JSON-free body reader, JSON written as text). Each
fast path is compared here with the straightforward computation it replaces.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from sandbox_helpers import FakeClock, members
from starlette.responses import JSONResponse

from segwidgets.sandbox import SandboxModel, Settings, _member_keys
from segwidgets.sandbox._lanes import CHUNK, chunks, lanes
from segwidgets.sandbox._member_body import MemberIds, read_member_ids
from segwidgets.sandbox._member_keys import MemberKeys
from segwidgets.sandbox._seed import (
    _DOMAINS,
    _FIRST_NAMES,
    _LAST_NAMES,
    SeedCustomers,
    _iso_seconds,
    _mix,
    _unmix,
    iso_time,
)
from segwidgets.sandbox._service_error import ServiceError
from segwidgets.sandbox._wire import member_page


# -- lanes and batch ids ------------------------------------------------------------------
def test_lanes_mix_every_lane_like_the_scalar_mix() -> None:
    rng = random.Random(1)
    values = [rng.getrandbits(64) for _ in range(300)] + [0, 1, (1 << 64) - 1]
    layout = lanes(len(values))
    packed = layout.pack(values)
    assert layout.unpack(packed) == values
    assert layout.unpack(_mix(packed, layout.mask)) == [_mix(v) for v in values]
    assert layout.unpack(_unmix(packed, layout.mask)) == [_unmix(v) for v in values]
    assert layout.unpack(layout.ones * 12345) == [12345] * len(values)
    assert [len(c) for c in chunks(list(range(2 * CHUNK + 3)))] == [CHUNK, CHUNK, 3]
    with pytest.raises(ValueError, match="lanes"):
        lanes(CHUNK + 1)


def test_batch_ids_and_keys_equal_the_one_by_one_answers() -> None:
    seeded = SeedCustomers(seed=5, count=CHUNK + 50)
    indices = list(range(CHUNK + 50))  # more than one chunk
    keys = [seeded.key_of(i) for i in indices]
    ids = [seeded.id_of(i) for i in indices]
    assert seeded.keys_of(indices) == keys
    assert seeded.ids_of(indices) == ids
    assert seeded.ids_of_keys(keys) == ids
    assert seeded.keys_of_ids(ids, limit=len(indices)) == keys
    assert seeded.ids_of([]) == []
    assert seeded.keys_of_ids([], limit=10) == []


def _spoilt(customer_id: str) -> list[str]:
    last = "0" if customer_id[-1] != "0" else "1"
    return [
        customer_id.upper(),
        customer_id[:-1] + last,  # another tail: not this seed's id
        customer_id + "\n",
        " " + customer_id[1:],
        customer_id.replace("-", "_", 1),
        customer_id[:8] + customer_id[9:] + "0",  # a dash moved
        "+" + customer_id[1:],
        customer_id[:-1] + "\u0663",  # a non-ASCII digit
        customer_id[:20] + "-" + customer_id[21:],  # a dash too many
        "",
    ]


def test_one_bad_id_sends_the_batch_to_the_slow_path() -> None:
    seeded = SeedCustomers(seed=5, count=400)
    ids = [seeded.id_of(i) for i in range(300)]
    assert seeded.keys_of_ids(ids, limit=300) is not None
    assert seeded.keys_of_ids(ids, limit=299) is None  # one index past the limit
    assert seeded.keys_of_ids([*ids, seeded.id_of(350)], limit=300) is None
    assert seeded.keys_of_ids([*ids, SeedCustomers(seed=6, count=5).id_of(0)], limit=300) is None
    for bad in _spoilt(ids[7]):
        assert seeded.index_of_id(bad, limit=300) is None, bad
        assert seeded.keys_of_ids([*ids[:7], bad, *ids[8:]], limit=300) is None, bad


def test_iso_seconds_equals_iso_time() -> None:
    for epoch in range(1_546_300_000, 1_735_700_000, 999_983):
        for second in (epoch, epoch + 59, epoch - epoch % 86400):
            assert _iso_seconds(second) == iso_time(second)


def test_seed_emails_need_no_json_escape() -> None:
    # records_json writes emails into JSON as they are.
    parts = [a for _, a in _FIRST_NAMES] + [a for _, a in _LAST_NAMES] + list(_DOMAINS)
    assert all(p.isascii() and json.dumps(p)[1:-1] == p for p in parts)
    assert all(c.isalnum() or c in "._-" for p in parts for c in p)


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


# -- member write bodies --------------------------------------------------------------------
def _ids(n: int) -> list[str]:
    return SeedCustomers(seed=1, count=n).ids_of(range(n))


@pytest.mark.parametrize("separators", [(",", ":"), (", ", ": ")])
def test_member_bodies_in_the_usual_layouts_are_read_without_a_parser(
    separators: tuple[str, str],
) -> None:
    body = members(*_ids(50))
    raw = json.dumps(body, separators=separators).encode()
    read = read_member_ids(b" \r\n" + raw + b"\t")
    assert read is not None
    assert read.to_body() == body


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b'{"members":[]}',
        b'{"members":[{"id":"x","type":"customer"}]}',  # another id length
        b'{"members":[{"type":"customer","id":"%s"}]}',  # another key order
        b'{"members":[{"id":"%s","type":"device"}]}',
        b'{"members":[{"id":"%s","type":"customer"}],"x":1}',
        b'{"members":[{"id":"%s","type":"customer"} ]}',
        b'{"members":[{"id":"%s","type":"customer"},]}',
        '{"members":[{"id":"%s","type":"customer"}]}'.replace("%s", "é" * 36).encode(),
        b'{"members":[{"id":"\\u0030%s","type":"customer"}]}',
        b'{"members":[{"id":"%s","type":"customer"}]}\x00',
    ],
)
def test_other_member_bodies_are_left_to_the_json_parser(raw: bytes) -> None:
    raw = raw.replace(b"%s", _ids(1)[0].encode())
    assert read_member_ids(raw) is None


def test_every_body_the_reader_accepts_means_the_same_to_json_loads() -> None:
    rng = random.Random(3)
    templates = [
        json.dumps(members(*_ids(3)), separators=(",", ":")).encode(),
        json.dumps(members(*_ids(2))).encode(),
    ]
    accepted = 0
    for trial in range(4000):
        raw = bytearray(templates[trial % 2])
        for _ in range(rng.randint(1, 2)):
            raw[rng.randrange(len(raw))] = rng.choice(b'"\\{}[],: \nx0aZ-\x00\xe9')
        read = read_member_ids(bytes(raw))
        if read is not None:
            accepted += 1
            assert json.loads(bytes(raw)) == read.to_body()
    assert accepted > 50  # mutated ids (x, 0, a, Z, -) still read


# -- writes: the fast path and the item-by-item path agree ----------------------------------
def _outcome(call: Any, *args: Any) -> Any:
    try:
        call(*args)
    except ServiceError as problem:
        return problem.status, problem.body()
    return "ok"


def _twin(clock: FakeClock) -> SandboxModel:
    model = SandboxModel(customers=400, seed=2, clock=clock, settings=Settings())
    model.create_segments({"segments": [{"code": "s", "name": "S"}]})
    return model


def test_member_writes_answer_the_same_from_both_paths() -> None:
    clock = FakeClock()
    fast, slow = _twin(clock), _twin(clock)
    table = fast._table
    ids = [table.field(i, "id") for i in range(400)]
    deleted = table.field(table.with_codes(frozenset({2}))[0], "id")
    unknown = SeedCustomers(seed=9, count=1).id_of(0)
    batches: list[list[str]] = [
        ids[:50],
        ids[40:60] + ids[40:45],  # duplicates
        [*ids[60:70], deleted],
        [ids[70], unknown, ids[71]],
        [ids[1].upper()],
        ids[100:130],
    ]
    for batch in batches:
        for verb in ("add_members", "remove_members"):
            quick = _outcome(getattr(fast, verb), "s", MemberIds(batch))
            plain = _outcome(getattr(slow, verb), "s", members(*batch))
            assert quick == plain, (verb, batch)
            assert fast.member_ids("s") == slow.member_ids("s")
            assert fast.pending_delete_ids("s") == slow.pending_delete_ids("s")
        clock.advance(0.3)  # some deletes apply between batches, some stay pending
    for model in (fast, slow):
        model.configure(max_members_per_request=5)
    assert _outcome(fast.add_members, "s", MemberIds(ids[:6])) == _outcome(
        slow.add_members, "s", members(*ids[:6])
    )


# -- pages as JSON text -----------------------------------------------------------------------
@pytest.mark.parametrize("paging", ["offset", "cursor"])
def test_member_pages_are_the_bytes_json_response_renders(paging: str) -> None:
    model = SandboxModel(customers=600, seed=4, settings=Settings(member_paging=paging))
    model.add_device_members("newsletter", ["device-\u00e9", 'dev"2', "dev-3"])
    cursor = None
    seen: list[dict[str, Any]] = []
    for number in range(10):
        offset = 40 * number if paging == "offset" else None
        page = member_page(
            model, "newsletter", limit=40, offset=offset, cursor=cursor, filters=None
        )
        assert page.to_json() == JSONResponse(page.to_dict()).body
        seen += page.to_dict()["members"]
        cursor = page.meta.get("cursors", {}).get("next")
        if paging == "cursor" and cursor is None:
            break
    assert [m["type"] for m in seen].count("device") == 3
    for filters in ({"type": "device"}, {"id": seen[0]["id"]}, {"id": {"$in": ["dev-3"]}}):
        page = member_page(
            model, "newsletter", limit=None, offset=None, cursor=None, filters=filters
        )
        assert page.to_json() == JSONResponse(page.to_dict()).body


def test_customer_pages_are_the_bytes_json_response_renders() -> None:
    model = SandboxModel(customers=1500, seed=3, settings=Settings())
    model.add_customer(firstName='Zoë "the" \\ Quote', emailAddress="weird\u2028@x.de")
    changed = model.list_customers(limit=1, offset=7)["customers"][0]["id"]
    model.update_customer(changed, lastName="Ünïcødé", settings={"marketingOptIn": True})
    for filters in (None, {"isAnonymous": False}, {"status": "deleted"}, {"id": changed}):
        for offset in (0, 1000):
            plain = model.list_customers(limit=1000, offset=offset, filters=filters)
            assert model.list_customers_json(limit=1000, offset=offset, filters=filters) == (
                JSONResponse(plain).body
            )
    seeded = SeedCustomers(seed=8, count=3000)
    indices = list(range(3000))
    assert seeded.records_json(indices) == [
        JSONResponse(seeded.record(i)).body.decode() for i in indices
    ]
