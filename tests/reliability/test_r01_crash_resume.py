"""R1: a push interrupted at every batch boundary, then finished in a fresh session.

1,000 live members, 2,000 desired (1,500 adds, 500 removes), batches of 100: 5 remove batches,
then 15 add batches. For every k in 0..20 the client "dies" once k batches were answered,
either before the next request goes out or after the server applied it but before its answer
arrived. A fresh session on the same journal then resumes the run (or plans again). Must hold:
the segment ends exactly as planned, no batch the server confirmed is sent again, and no more
than adds + removes + one batch members travel in total.

The same is done with a real process: ``python -m segwidgets.cli sync`` killed with SIGKILL
after k batches (10 seeded k, one batch at a time; and twice at concurrency 8 with deletes
applied 3 s late), then ``segwidgets resume RUN_ID``: no id the server received is sent to
it again.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest
from _kit.cli import cli, cli_env, run_cli, start_cli
from _kit.writes import Crash, Received, member_writes
from reliability_kit import Exchange, Wire, make_segment, registered_ids, session_for

from segwidgets._journal import Journal

N_LIVE, N_KEEP, N_NEW, BATCH = 1000, 500, 1500, 100
N_ADD, N_REMOVE = N_NEW, N_LIVE - N_KEEP
N_BATCHES = N_ADD // BATCH + N_REMOVE // BATCH  # 20
MODES = ["before-send", "answer-lost"]


def crash_at(k: int, mode: str, *, at_least: bool = False) -> Wire:
    """A wire that crashes the client once ``k`` member writes were answered.

    For k < 20 the next request is the (k+1)-th write; for k = 20 it is the first read of
    the reconciliation/verification after the last write. With several workers, answers
    may jump past k between two requests: ``at_least`` crashes the first write after.
    """
    state = {"answered": 0, "crashed": False}
    lock = threading.Lock()

    def armed(exchange: Exchange) -> bool:
        with lock:
            reached = state["answered"] >= k if at_least else state["answered"] == k
            if state["crashed"] or not reached or not (exchange.is_write or k > 0):
                return False
            # Between writes the run reads the segment's member count (once per wave): the
            # boundary is the next write; after the last one, the first read.
            if not exchange.is_write and k < N_BATCHES:
                return False
            if at_least and not exchange.is_write:
                return False
            state["crashed"] = True
            return True

    def before(exchange: Exchange, request: httpx.Request) -> None:
        if mode == "before-send" and armed(exchange):
            raise Crash

    def after(exchange: Exchange, request: httpx.Request, response: httpx.Response) -> None:
        if mode == "answer-lost" and armed(exchange):
            raise Crash
        if exchange.is_write:
            with lock:
                state["answered"] += 1

    return Wire(before=before, after=after)


def layout(model: Any, code: str) -> tuple[list[str], list[str]]:
    """Create the segment with 1,000 live members; return (live, desired)."""
    pool = registered_ids(model, N_LIVE + N_NEW)
    live, desired = pool[:N_LIVE], pool[N_LIVE - N_KEEP :]
    make_segment(model, code, live)
    return live, desired


def check_no_resend(first: Wire, second: Wire) -> None:
    """No id the server confirmed in the first session is in any write of the second."""
    for action in ("add", "remove"):
        confirmed = first.confirmed(action)
        again = set(second.sent_ids(action)) & confirmed
        assert not again, f"{len(again)} confirmed {action}s sent again"


def check_journal_claims(journal: Path, run_id: str, wire: Wire) -> None:
    """The journal calls confirmed exactly what the server confirmed to the client."""
    store = Journal(journal)
    try:
        members = store.member_frame(run_id)
    finally:
        store.close()
    for action, done in (("add", "applied"), ("remove", "accepted")):
        claimed = set(
            members.filter((pl.col("action") == action) & (pl.col("status") == done))["customer_id"]
        )
        assert claimed == wire.confirmed(action)


def check_budget(*wires: Wire) -> None:
    sent = sum(w.members_sent() for w in wires)
    assert sent <= N_ADD + N_REMOVE + BATCH, sent


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("k", range(N_BATCHES + 1), ids=lambda k: f"R1-k{k}")
def test_r1_crash_at_every_boundary_then_resume(big_sandbox, tmp_path, k: int, mode: str) -> None:
    big_sandbox.configure(delete_delay=0.0)
    code = f"r1-{k}-{mode}"
    _, desired = layout(big_sandbox.model, code)
    journal = tmp_path / "journal.sqlite3"
    first = crash_at(k, mode)
    with session_for(
        big_sandbox.credentials, journal, wire=first, batch_size=BATCH, concurrency=1
    ) as session:
        plan = session.plan(code, desired)
        assert (plan.n_add, plan.n_remove) == (N_ADD, N_REMOVE)
        with pytest.raises(Crash):
            session.apply(plan)
        run_id = session.history(code)["run_id"][0]
        assert session.history(code)["status"][0] == "interrupted"
    confirmed_writes = [e for e in first.writes() if e.ok and e.delivered]
    assert len(confirmed_writes) == k
    check_journal_claims(journal, run_id, first)

    second = Wire()
    with session_for(big_sandbox.credentials, journal, wire=second, batch_size=BATCH) as fresh:
        result = fresh.resume(run_id)
        assert result.status == "verified", result.message
        assert result.n_added == N_ADD
        assert result.n_removed == N_REMOVE
        # the run's journal agrees with the server, member by member
        statuses = fresh.run_details(run_id).group_by("status").len()
        assert dict(statuses.iter_rows()) == {"verified": N_ADD + N_REMOVE}
    assert big_sandbox.member_ids(code) == set(desired)
    check_no_resend(first, second)
    check_budget(first, second)
    # what the first session never sent (or sent without an answer) is all the second sends
    unsettled = N_ADD + N_REMOVE - k * BATCH
    assert second.members_sent() <= unsettled


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("k", [0, 4, 5, 6, 12, 19, 20], ids=lambda k: f"R1-k{k}")
def test_r1_crash_then_plan_again_in_a_fresh_session(
    big_sandbox, tmp_path, k: int, mode: str
) -> None:
    big_sandbox.configure(delete_delay=0.0)
    code = f"r1s-{k}-{mode}"
    _, desired = layout(big_sandbox.model, code)
    journal = tmp_path / "journal.sqlite3"
    first = crash_at(k, mode)
    with session_for(
        big_sandbox.credentials, journal, wire=first, batch_size=BATCH, concurrency=1
    ) as session:
        plan = session.plan(code, desired)
        with pytest.raises(Crash):
            session.apply(plan)
    second = Wire()
    with session_for(big_sandbox.credentials, journal, wire=second, batch_size=BATCH) as fresh:
        again = fresh.plan(code, desired, allow_mass_removal=True)
        result = fresh.apply(again)
        assert result.status == "verified", result.message
        assert fresh.plan(code, desired).is_empty()
    assert big_sandbox.member_ids(code) == set(desired)
    check_no_resend(first, second)
    check_budget(first, second)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("k", [0, 3, 11], ids=lambda k: f"R1-concurrent-k{k}")
def test_r1_crash_with_batches_in_flight(big_sandbox, tmp_path, k: int, mode: str) -> None:
    """Four workers: the crash of one stops the others; what they confirmed is kept."""
    big_sandbox.configure(delete_delay=0.0, latency=0.005)
    code = f"r1c-{k}-{mode}"
    _, desired = layout(big_sandbox.model, code)
    journal = tmp_path / "journal.sqlite3"
    first = crash_at(k, mode, at_least=True)
    with session_for(
        big_sandbox.credentials, journal, wire=first, batch_size=BATCH, concurrency=4
    ) as session:
        plan = session.plan(code, desired)
        with pytest.raises(Crash):
            session.apply(plan)
        run_id = session.history(code)["run_id"][0]
    check_journal_claims(journal, run_id, first)
    second = Wire()
    with session_for(big_sandbox.credentials, journal, wire=second, batch_size=BATCH) as fresh:
        result = fresh.resume(run_id)
        assert result.status == "verified", result.message
    assert big_sandbox.member_ids(code) == set(desired)
    check_no_resend(first, second)
    check_budget(first, second)


# -- a real process, killed ---------------------------------------------------------------------

KILL_SEED = 20261126
KILL_AT = sorted(random.Random(KILL_SEED).sample(range(1, N_BATCHES), 10))


def journal_batches(path: Path) -> tuple[str, pl.DataFrame, pl.DataFrame]:
    store = Journal(path)
    try:
        run_id = store.runs()["run_id"][0]
        return run_id, store.batch_frame(run_id), store.member_frame(run_id)
    finally:
        store.close()


#: (k, concurrency, delete delay): one batch at a time with deletes applied at once, and
#: eight at a time with deletes applied 3 s later (longer than the restart), killed while
#: removals are in flight.
KILLS = [(k, 1, 0.0) for k in KILL_AT] + [(2, 8, 3.0), (4, 8, 3.0)]


@pytest.mark.parametrize(
    ("k", "concurrency", "delete_delay"),
    KILLS,
    ids=[f"R1-sigkill-k{k}-c{c}-d{d:g}" for k, c, d in KILLS],
)
def test_r1_sigkill_after_k_batches_then_cli_resume(
    big_sandbox, tmp_path, monkeypatch, *, k: int, concurrency: int, delete_delay: float
) -> None:
    big_sandbox.configure(delete_delay=delete_delay, latency=0.03)
    code = f"r1k-{k}-{concurrency}"
    _, desired = layout(big_sandbox.model, code)
    members = tmp_path / "members.csv"
    pl.DataFrame({"customer_id": desired}).write_csv(members)
    journal = tmp_path / "journal.sqlite3"
    env = cli_env(big_sandbox, journal)
    sync = cli("sync", "--segment", code, "--members", str(members), "--yes")
    sync += ["--batch-size", str(BATCH), "--concurrency", str(concurrency)]
    sync += ["--verify-timeout", "10"]
    received = Received(big_sandbox, monkeypatch)
    process = start_cli(sync, env, tmp_path)
    try:
        deadline = time.monotonic() + 120
        while member_writes(big_sandbox, answered=True) < k:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the sync never got that far"
            time.sleep(0.002)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(30)
        process.stdout.close()  # type: ignore[union-attr]
        process.stderr.close()  # type: ignore[union-attr]
    assert process.returncode == -signal.SIGKILL
    big_sandbox.configure(latency=0.0)
    run_id, batches, before = journal_batches(journal)
    confirmed = batches.filter(pl.col("status") == "confirmed")
    # The server answered k writes; the client may not have journaled the last answers yet
    # (one per worker), and more answers may have come before the kill landed.
    assert k - concurrency <= confirmed.height <= k + concurrency
    assert confirmed.height < N_BATCHES

    done = run_cli(cli("resume", run_id, "--verify-timeout", "10"), env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"run {run_id}: verified" in done.stdout
    assert big_sandbox.member_ids(code) == set(desired)

    _, batches_after, after = journal_batches(journal)
    # Members of batches confirmed before the kill keep their batch: none was sent again.
    kept = before.filter(pl.col("batch").is_in(confirmed["batch"].implode()))
    again = kept.join(after, on=["customer_id", "action"], suffix="_after").filter(
        pl.col("batch") != pl.col("batch_after")
    )
    assert again.height == 0
    # Every batch is journaled as sending before it goes out (batches cut up front but never
    # sent have no start time), so this bounds what travelled: the plan, plus the batches
    # the kill cut off on their way (one per worker), sent again as the read showed them
    # not applied.
    sent = batches_after.filter(pl.col("started_at").is_not_null())
    assert sent["size"].sum() <= N_ADD + N_REMOVE + concurrency * BATCH
    write_requests = member_writes(big_sandbox)
    assert write_requests <= sent.height
    # Counted at the server: no id it received was sent to it again.
    assert received.twice() == {"add": 0, "remove": 0}
