"""R24 (issue 11 items 6 and 8): the journal is part of the run.

A real ``segwidgets sync`` whose journal is deleted or emptied mid-run stops (exit 1, the
reason stated) with nothing new sent after the next wave; ``history`` on such a journal
says what is wrong (exit 1), never "no runs yet". A journal another process keeps locked is
waited for with a message and given up in seconds (``--journal-timeout``), not minutes,
and the run is not left looking ``running``.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from _kit.cli import cli, cli_env, run_cli, start_cli, wait_for, write_ids
from _kit.writes import member_writes
from reliability_kit import make_segment, registered_ids

N_LIVE, N_NEW, BATCH, CONCURRENCY = 100, 900, 30, 2
N_BATCHES = N_NEW // BATCH


def _setup(sandbox, tmp_path: Path, code: str) -> tuple[list[str], dict[str, str], list[str]]:
    sandbox.configure(delete_delay=0.0, latency=0.05)
    pool = registered_ids(sandbox.model, N_LIVE + N_NEW)
    make_segment(sandbox.model, code, pool[:N_LIVE])
    desired = pool
    members = write_ids(tmp_path / "members.csv", desired)
    env = cli_env(sandbox, tmp_path / "journal.sqlite3")
    args = cli("sync", "--segment", code, "--members", str(members), "--yes")
    args += ["--batch-size", str(BATCH), "--concurrency", str(CONCURRENCY)]
    return desired, env, args


def _history(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return run_cli(cli("history"), env, cwd=tmp_path)


@pytest.mark.parametrize("damage", ["deleted", "emptied"])
def test_r24_journal_lost_mid_run_stops_the_run(big_sandbox, tmp_path, damage: str) -> None:
    code = f"r24-{damage}"
    _, env, args = _setup(big_sandbox, tmp_path, code)
    journal = tmp_path / "journal.sqlite3"
    sync = start_cli(args, env, tmp_path)
    try:
        wait_for(
            lambda: member_writes(big_sandbox, answered=True) >= 3 or sync.poll() is not None,
            timeout=40,
            what="the first writes",
        )
        assert sync.poll() is None, sync.communicate()
        if damage == "deleted":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{journal}{suffix}").unlink(missing_ok=True)
        else:
            os.truncate(journal, 0)
        at_damage = member_writes(big_sandbox, answered=True)
        stdout, stderr = sync.communicate(timeout=60)
    finally:
        if sync.poll() is None:
            sync.kill()
            sync.communicate()
    assert sync.returncode == 1, stdout + stderr
    assert "journal" in stderr
    assert ": verified" not in stdout
    reason = "was deleted during the run" if damage == "deleted" else "became empty"
    assert reason in stdout + stderr
    # The writes in flight finished; at most one more wave went out, then nothing.
    assert member_writes(big_sandbox, answered=True) <= at_damage + 2 * CONCURRENCY
    assert member_writes(big_sandbox, answered=True) < N_BATCHES

    if damage == "emptied":
        # The run's own process may have written pages back on exit: make it plainly empty.
        os.truncate(journal, 0)
        for suffix in ("-wal", "-shm"):
            Path(f"{journal}{suffix}").unlink(missing_ok=True)
    history = _history(env, tmp_path)
    assert history.returncode == 1, history.stdout + history.stderr
    assert "no runs yet" not in history.stdout
    expected = "There is no journal" if damage == "deleted" else "is empty (0 bytes)"
    assert expected in history.stderr


def test_r24_locked_journal_gives_up_in_seconds_and_leaves_no_run_running(
    big_sandbox, tmp_path
) -> None:
    code = "r24-locked"
    desired, env, args = _setup(big_sandbox, tmp_path, code)
    journal = tmp_path / "journal.sqlite3"
    # Someone else (an sqlite3 shell) holds the journal's write lock once the run is going.
    sync = start_cli([*args, "--journal-timeout", "2"], env, tmp_path)
    holder = None
    try:
        wait_for(
            lambda: member_writes(big_sandbox, answered=True) >= 3 or sync.poll() is not None,
            timeout=40,
            what="the first writes",
        )
        assert sync.poll() is None, sync.communicate()
        holder = sqlite3.connect(journal, isolation_level=None, timeout=5)
        holder.execute("BEGIN IMMEDIATE")
        locked_at = time.monotonic()
        stdout, stderr = sync.communicate(timeout=60)
        waited = time.monotonic() - locked_at
    finally:
        if holder is not None:
            holder.execute("ROLLBACK")
            holder.close()
        if sync.poll() is None:
            sync.kill()
            sync.communicate()
    assert sync.returncode == 1, stdout + stderr
    assert "is locked by another process; waiting up to 2 s" in stderr
    assert "JournalError" in stderr
    assert "stayed locked by another process for 2 s" in stderr
    assert "OperationalError" not in stderr
    assert waited < 12
    assert member_writes(big_sandbox, answered=True) < N_BATCHES

    history = _history(env, tmp_path)
    assert history.returncode == 0, history.stderr
    assert " running " not in history.stdout
    assert "interrupted" in history.stdout
    run_id = history.stdout.split()[0]
    done = run_cli(cli("resume", run_id), env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert big_sandbox.member_ids(code) == set(desired)


def test_r24_locked_journal_before_the_run_sends_nothing(big_sandbox, tmp_path) -> None:
    code = "r24-locked-early"
    _, env, args = _setup(big_sandbox, tmp_path, code)
    journal = tmp_path / "journal.sqlite3"
    holder = sqlite3.connect(journal, isolation_level=None)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("CREATE TABLE other (x)")
    holder.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        done = run_cli([*args, "--journal-timeout", "1"], env, cwd=tmp_path)
        took = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert done.returncode == 1, done.stdout + done.stderr
    assert "stayed locked by another process for 1 s" in done.stderr
    assert took < 20
    assert member_writes(big_sandbox, answered=True) == 0
