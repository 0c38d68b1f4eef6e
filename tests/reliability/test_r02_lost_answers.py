"""R2: answers lost after the server applied the write; a lost answer leads to a re-read.

The sandbox applies 20 % of member writes and then drops the connection instead of answering
(``lost_response_rate``), under both of its duplicate-add policies (``ignore``: adding a member
again is a no-op; ``conflict``: it is a 409). Must hold: the push converges within 3
read/plan rounds, and no id of a write whose answer was lost is sent again unless a read after
the loss showed it missing (here the server always applied it, so: never sent again).
"""

from __future__ import annotations

import httpx
import pytest
from reliability_kit import Exchange, Wire, make_segment, registered_ids, session_for

BATCH = 20
MAX_ROUNDS = 3


def first_page_reads(wire: Wire) -> list[Exchange]:
    """The start of every full read of a segment's members (not the ``$in`` lookups)."""
    return [
        e
        for e in wire.snapshot()
        if e.route == "members.list"
        and "cursor" not in e.params
        and "filters" not in e.params
        and not int(e.params.get("offset", 0) or 0)
    ]


def check_no_blind_resend(wire: Wire) -> tuple[int, int]:
    """Every id of a lost write is sent again only after a read that followed the loss."""
    exchanges = wire.snapshot()
    lost = [e for e in exchanges if e.is_write and e.sent and not e.delivered]
    resent = 0
    for loss in lost:
        for later in exchanges:
            if later.number <= loss.number or not later.is_write or later.action != loss.action:
                continue
            if set(later.ids) & set(loss.ids):
                resent += 1
                reads = [
                    e
                    for e in exchanges
                    if e.route == "members.list" and loss.number < e.number < later.number
                ]
                assert reads, f"exchange {later.number} re-sent ids of lost {loss.number} blindly"
    return len(lost), resent


@pytest.mark.parametrize("duplicate_add", ["ignore", "conflict"], ids=lambda p: f"R2-{p}")
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_r2_lost_answers_converge_without_blind_resends(
    big_sandbox, tmp_path, duplicate_add: str, seed: int
) -> None:
    pool = registered_ids(big_sandbox.model, 700)
    live, desired = pool[:300], pool[100:700]  # 400 adds, 100 removes
    make_segment(big_sandbox.model, "r2", live)
    big_sandbox.configure(
        delete_delay=0.0,
        duplicate_add=duplicate_add,
        lost_response_rate=0.2,
        fault_scope="writes",
        fault_seed=seed,
    )
    wire = Wire()
    with session_for(
        big_sandbox.credentials,
        tmp_path / "j.sqlite3",
        wire=wire,
        batch_size=BATCH,
        concurrency=4,
    ) as session:
        plan = session.plan("r2", desired)
        reads_before = len(first_page_reads(wire))
        result = session.apply(plan)
        assert result.status == "verified", result.message
        n_lost, n_resent = check_no_blind_resend(wire)
        assert n_lost >= 1, "the seed injected no lost answer"
        # the sandbox applied every write it lost the answer to: a read shows it, so
        # nothing is sent again at all (and a strict server never answers 409)
        assert n_resent == 0
        assert all(e.status != 409 for e in wire.snapshot())
        # stale check + at most 3 reconcile rounds; the verification looks up the 500
        # changes by $in (5 requests) instead of reading the 600 members (7 pages)
        assert result.verify_method == "in-filter"
        rounds = len(first_page_reads(wire)) - reads_before - 1
        assert 1 <= rounds <= MAX_ROUNDS
        big_sandbox.configure(lost_response_rate=0.0)
        assert session.plan("r2", desired).is_empty()
    assert big_sandbox.member_ids("r2") == set(desired)
    assert big_sandbox.state()["faults"].get("lost_response", 0) == n_lost


def test_r2_answers_lost_before_the_server_are_sent_again_after_a_read(
    big_sandbox, tmp_path
) -> None:
    """A dropped connection may also mean "never applied": the read tells, then it is sent."""
    pool = registered_ids(big_sandbox.model, 200)
    make_segment(big_sandbox.model, "r2b")
    dropped: list[int] = []

    def before(exchange: Exchange, request: httpx.Request) -> None:
        if exchange.is_write and exchange.number % 3 == 0 and len(dropped) < 4:
            dropped.append(exchange.number)
            raise httpx.ReadError("connection reset", request=request)

    wire = Wire(before=before)
    with session_for(
        big_sandbox.credentials, tmp_path / "j.sqlite3", wire=wire, batch_size=BATCH
    ) as session:
        result = session.apply(session.plan("r2b", pool))
        assert result.status == "verified", result.message
    assert dropped
    n_lost, _ = check_no_blind_resend(wire)
    assert n_lost == 0  # never reached the server, so no exchange was lost after sending
    assert big_sandbox.member_ids("r2b") == set(pool)
    # each never-applied id was sent exactly once more, after the read
    assert sorted(wire.sent_ids("add")) == sorted(pool)


def test_r2_a_conflict_from_someone_elses_add_is_settled_by_a_read(big_sandbox, tmp_path) -> None:
    """On a strict server a 409 means "some of these are members already": re-read, not fail."""
    pool = registered_ids(big_sandbox.model, 100)
    make_segment(big_sandbox.model, "r2c")
    big_sandbox.configure(duplicate_add="conflict")

    done: list[int] = []

    def before(exchange: Exchange, request: httpx.Request) -> None:
        if exchange.is_write and not done:
            done.append(exchange.number)  # someone else adds one of this batch's ids first
            big_sandbox.model.add_members("r2c", [exchange.ids[0]])

    wire = Wire(before=before)
    with session_for(
        big_sandbox.credentials, tmp_path / "j.sqlite3", wire=wire, batch_size=BATCH
    ) as session:
        result = session.apply(session.plan("r2c", pool))
        assert result.status == "verified", result.message
    assert any(e.status == 409 for e in wire.snapshot())
    assert big_sandbox.member_ids("r2c") == set(pool)
