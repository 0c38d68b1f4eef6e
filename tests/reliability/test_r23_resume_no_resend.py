"""R23 (issue 11 item 4): resume never re-sends what Shopgate accepted.

A real ``segwidgets sync`` at concurrency 8 is killed with SIGKILL while its removals are in
flight; Shopgate applies accepted removals only 3 s later (longer than a restart). A
``segwidgets resume`` then settles the batches left *sending* by reading, waiting out the
delete delay, before anything is sent again. Counted at the sandbox: no member id is
received twice, so at most one batch more than the plan travels (the documented bound).
"""

from __future__ import annotations

import os
import signal

import pytest
from _kit.cli import cli, cli_env, run_cli, start_cli, wait_for, write_ids
from _kit.writes import Received, member_writes
from reliability_kit import make_segment, registered_ids

from segwidgets._journal import Journal

N_LIVE, N_KEEP, N_NEW, BATCH, CONCURRENCY = 1000, 200, 400, 50, 8
N_REMOVE, N_ADD = N_LIVE - N_KEEP, N_NEW
DELETE_DELAY = 3.0


@pytest.mark.parametrize("kill_after", [3, 9])
def test_r23_sigkill_at_concurrency_8_then_resume_sends_no_accepted_removal_again(
    big_sandbox, tmp_path, monkeypatch, kill_after: int
) -> None:
    big_sandbox.configure(delete_delay=DELETE_DELAY, latency=0.05)
    code = f"r23-{kill_after}"
    pool = registered_ids(big_sandbox.model, N_LIVE + N_NEW)
    live, desired = pool[:N_LIVE], pool[N_LIVE - N_KEEP :]
    make_segment(big_sandbox.model, code, live)
    received = Received(big_sandbox, monkeypatch)
    members = write_ids(tmp_path / "members.csv", desired)
    journal = tmp_path / "journal.sqlite3"
    env = cli_env(big_sandbox, journal)
    options = ["--batch-size", str(BATCH), "--concurrency", str(CONCURRENCY)]
    options += ["--verify-timeout", "10"]
    sync = start_cli(
        cli(
            "sync",
            "--segment",
            code,
            "--members",
            str(members),
            "--yes",
            "--allow-mass-removal",
            *options,
        ),
        env,
        tmp_path,
    )
    try:
        wait_for(
            lambda: (
                member_writes(big_sandbox, answered=True) >= kill_after or sync.poll() is not None
            ),
            timeout=40,
            what="the sync's first answered writes",
        )
        assert sync.poll() is None, sync.communicate()
        os.kill(sync.pid, signal.SIGKILL)
    finally:
        sync.wait(30)
        sync.communicate()
    assert sync.returncode == -signal.SIGKILL
    store = Journal(journal)
    try:
        run_id = store.runs()["run_id"][0]
        sending = store.member_ids(run_id, "remove", ["sending"])
    finally:
        store.close()
    # Removals were in flight when the process died: that is what resume must settle.
    assert sending, "the kill came when no removal was in flight"
    big_sandbox.configure(latency=0.0)

    done = run_cli(cli("resume", run_id, *options), env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"run {run_id}: verified" in done.stdout
    assert big_sandbox.member_ids(code) == set(desired)
    # Nothing Shopgate received was sent to it again, removals included.
    assert received.twice() == {"add": 0, "remove": 0}
    assert set(received.removes) == set(live) - set(desired)
    assert sum(received.removes.values()) + sum(received.adds.values()) <= N_ADD + N_REMOVE + BATCH
