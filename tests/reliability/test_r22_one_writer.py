"""R22 (issue 11 items 2 and 3): one writer per segment.

Two ``segwidgets sync --yes`` processes started at once on one segment with different lists
(sharing the journal, or each with its own), and the same interrupted run resumed by two
``segwidgets resume`` processes at once. Must hold: never both succeed; with a shared
journal the second is refused before it sends anything, naming who holds the segment; the
segment ends as the list of the one that succeeded; with separate journals the run that
meets the other's writes stops (its check after each wave, or the stale plan check).
A resume of a run another process is resuming is refused: every id is received once.
"""

from __future__ import annotations

import subprocess
import threading
from typing import Any

import httpx
import pytest
from _kit.cli import cli, cli_env, start_cli, write_ids
from _kit.writes import Crash, Received
from reliability_kit import Exchange, Wire, make_segment, registered_ids, session_for

import segwidgets as sw

N_LIVE, N_NEW, BATCH = 200, 600, 50


def _run_two(procs: list[subprocess.Popen[str]]) -> list[tuple[int, str, str]]:
    out = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=60)
        out.append((proc.returncode, stdout, stderr))
    return out


@pytest.mark.parametrize("journals", ["shared"])
def test_r22_two_syncs_at_once_never_both_succeed(big_sandbox, tmp_path, journals: str) -> None:
    # Slow calls, one write at a time: each push takes seconds, so the two overlap.
    big_sandbox.configure(delete_delay=0.5, latency=0.2)
    code = f"r22-{journals}"
    pool = registered_ids(big_sandbox.model, N_LIVE + 2 * N_NEW)
    live = pool[:N_LIVE]
    lists = [live + pool[N_LIVE : N_LIVE + N_NEW], live + pool[N_LIVE + N_NEW :]]
    make_segment(big_sandbox.model, code, live)
    procs = []
    for n, ids in enumerate(lists):
        journal = tmp_path / ("journal.sqlite3" if journals == "shared" else f"journal-{n}.sqlite3")
        members = write_ids(tmp_path / f"list-{n}.csv", ids)
        args = cli("sync", "--segment", code, "--members", str(members), "--yes")
        args += ["--batch-size", str(BATCH), "--concurrency", "1"]
        procs.append(start_cli(args, cli_env(big_sandbox, journal), tmp_path))
    results = _run_two(procs)
    codes = [rc for rc, _, _ in results]
    assert codes.count(0) <= 1, results
    for rc, stdout, stderr in results:
        if rc == 0:
            assert "verified" in stdout
        else:
            refused = "already being pushed" in stderr
            changed = "changed by someone else" in stdout + stderr
            stale = "changed since this plan was made" in stderr
            assert refused or changed or stale, (rc, stdout, stderr)
    winners = [n for n, rc in enumerate(codes) if rc == 0]
    # The loser was refused before it wrote: the segment is exactly the winner's list.
    assert len(winners) == 1, results
    assert big_sandbox.member_ids(code) == set(lists[winners[0]])


def test_r22_two_pushes_with_separate_journals_do_not_both_succeed(big_sandbox, tmp_path) -> None:
    """Two sessions with their own journals (two machines): both plans pass the stale check,
    then both push at once. The check after each wave and after the last write sees the
    other's writes: at most one ends verified, the other stops saying why."""
    big_sandbox.configure(delete_delay=0.5)
    code = "r22-separate"
    pool = registered_ids(big_sandbox.model, N_LIVE + 2 * N_NEW)
    live = pool[:N_LIVE]
    lists = [live + pool[N_LIVE : N_LIVE + N_NEW], live + pool[N_LIVE + N_NEW :]]
    make_segment(big_sandbox.model, code, live)
    about_to_write = [threading.Event(), threading.Event()]

    def gate(n: int) -> Wire:
        def before(exchange: Exchange, request: httpx.Request) -> None:
            # No write of either push goes out until both are about to write (both passed
            # the stale check on the same segment).
            if exchange.is_write:
                about_to_write[n].set()
                assert about_to_write[1 - n].wait(30)

        return Wire(before=before)

    outcome: dict[int, Any] = {}
    sessions = [
        session_for(
            big_sandbox.credentials,
            tmp_path / f"journal-{n}.sqlite3",
            wire=gate(n),
            batch_size=BATCH,
            concurrency=2,
        )
        for n in range(2)
    ]
    try:
        plans = [sessions[n].plan(code, lists[n]) for n in range(2)]

        def push(n: int) -> None:
            try:
                outcome[n] = sessions[n].apply(plans[n])
            except sw.SegwidgetsError as exc:
                outcome[n] = exc

        workers = [threading.Thread(target=push, args=(n,)) for n in range(2)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
    finally:
        for session in sessions:
            session.close()
    verified = [n for n in range(2) if isinstance(outcome[n], sw.ApplyResult)]
    assert len(verified) <= 1, outcome
    for n in range(2):
        if n not in verified:
            assert isinstance(outcome[n], sw.ApplyIncompleteError), outcome[n]
            assert "changed by someone else" in str(outcome[n])


def test_r22_the_same_run_resumed_twice_at_once_is_pushed_once(
    big_sandbox, tmp_path, monkeypatch
) -> None:
    big_sandbox.configure(delete_delay=0.0)
    code = "r22-resume"
    pool = registered_ids(big_sandbox.model, N_LIVE + N_NEW)
    live, desired = pool[:N_LIVE], pool[N_LIVE // 2 :]
    make_segment(big_sandbox.model, code, live)
    journal = tmp_path / "journal.sqlite3"
    answered = {"n": 0}

    def after(exchange, request, response) -> None:
        if exchange.is_write:
            answered["n"] += 1
            if answered["n"] == 2:
                raise Crash

    with session_for(
        big_sandbox.credentials, journal, wire=Wire(after=after), batch_size=BATCH, concurrency=1
    ) as session:
        plan = session.plan(code, desired)
        with pytest.raises(Crash):
            session.apply(plan)
        run_id = session.history(code)["run_id"][0]
    received = Received(big_sandbox, monkeypatch)
    big_sandbox.configure(latency=0.1)
    env = cli_env(big_sandbox, journal)
    args = cli("resume", run_id, "--batch-size", str(BATCH), "--concurrency", "2")
    results = _run_two([start_cli(args, env, tmp_path) for _ in range(2)])
    codes = sorted(rc for rc, _, _ in results)
    assert codes == [0, 1], results
    refused = next(stderr for rc, _, stderr in results if rc == 1)
    assert "SegmentBusyError" in refused
    assert "already being pushed" in refused
    assert f"run {run_id}" in refused
    assert big_sandbox.member_ids(code) == set(desired)
    assert received.twice() == {"add": 0, "remove": 0}
