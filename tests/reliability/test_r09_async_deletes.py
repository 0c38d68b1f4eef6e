"""R9: member DELETEs that Shopgate applies after 0 s, 3 s, 30 s, or never.

The sandbox model runs on a fake clock that moves only when segwidgets waits, so 30 s take no
time. Must hold: a removal is reported verified only after a read shows it gone (checked at
every wait); "never" ends as ``accepted_unverified`` with exactly the ids still present, and
the CLI exits 3 and names them; a later resume verifies what has gone meanwhile.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import polars as pl
import pytest
from _kit.cli import set_cli_env
from reliability_kit import (
    FakeTime,
    Wire,
    clocked_sandbox,
    make_segment,
    registered_ids,
    session_for,
)

import segwidgets as sw
from segwidgets._cli_sync import EXIT_OK, EXIT_UNVERIFIED
from segwidgets.cli import main
from segwidgets.sandbox import Sandbox

N_LIVE, N_REMOVE, N_ADD = 40, 15, 10


@pytest.fixture
def clocked() -> Iterator[tuple[Sandbox, FakeTime]]:
    """A sandbox whose model runs on a fake clock, served on 127.0.0.1."""
    fake = FakeTime()
    with clocked_sandbox(fake) as handle:
        yield handle, fake


def setup_segment(handle: Sandbox) -> tuple[list[str], list[str]]:
    pool = registered_ids(handle.model, N_LIVE + N_ADD)
    make_segment(handle.model, "r9", pool[:N_LIVE])
    desired = pool[N_REMOVE:]
    return pool[:N_REMOVE], desired


def watch_verified(handle: Sandbox, session: sw.SegmentSession, fake: FakeTime) -> list[int]:
    """At every wait: no removal the journal calls verified is still a member."""
    checks: list[int] = []

    def check() -> None:
        runs = session.journal.runs()
        if runs.is_empty():
            return
        details = session.run_details(runs["run_id"][0])
        verified = details.filter((pl.col("action") == "remove") & (pl.col("status") == "verified"))
        assert not set(verified["customer_id"]) & handle.member_ids("r9")
        checks.append(verified.height)

    fake.on_sleep = check
    return checks


@pytest.mark.parametrize(
    ("delay", "verify_timeout"),
    [(0.0, 30.0), (3.0, 30.0), (30.0, 60.0)],
    ids=["R9-0s", "R9-3s", "R9-30s"],
)
def test_r9_removals_verified_only_once_a_read_shows_them_gone(
    clocked, tmp_path, delay: float, verify_timeout: float
) -> None:
    handle, fake = clocked
    handle.configure(delete_delay=delay)
    _, desired = setup_segment(handle)
    wire = Wire()
    with session_for(
        handle.credentials,
        tmp_path / "j.sqlite3",
        wire=wire,
        time=fake,
        batch_size=5,
        verify_timeout=verify_timeout,
    ) as session:
        checks = watch_verified(handle, session, fake)
        start = fake.now()
        result = session.apply(session.plan("r9", desired))
        assert result.status == "verified", result.message
        assert result.n_removed == N_REMOVE
        assert result.n_verified == N_REMOVE + N_ADD
        waited = fake.now() - start
    assert handle.member_ids("r9") == set(desired)
    assert handle.model.pending_delete_ids("r9") == set()
    if delay:
        assert delay <= waited < delay + 10  # it waited for the deletes, then stopped
        assert checks
        assert checks[0] < N_REMOVE  # seen pending first, verified only later
    else:
        assert waited == 0


def test_r9_removals_never_applied_end_unverified_with_exact_ids(clocked, tmp_path) -> None:
    handle, fake = clocked
    handle.configure(delete_delay=None)
    removes, desired = setup_segment(handle)
    journal = tmp_path / "j.sqlite3"
    with session_for(handle.credentials, journal, wire=Wire(), time=fake, batch_size=5) as session:
        checks = watch_verified(handle, session, fake)
        start = fake.now()
        result = session.apply(session.plan("r9", desired))
        assert fake.now() - start >= 30.0  # waited the whole verify_timeout
        assert checks
        assert max(checks) == 0
        assert result.status == "accepted_unverified"
        assert set(result.unverified["customer_id"]) == set(removes)
        assert result.n_unverified == N_REMOVE
        assert result.n_verified == N_ADD
        assert str(N_REMOVE) in result.message
        history = session.history("r9")
        assert history["status"][0] == "accepted_unverified"
    # they are still members with a pending delete, exactly these
    assert handle.model.pending_delete_ids("r9") == set(removes)


def test_r9_removals_applied_after_the_timeout_are_verified_by_resume(clocked, tmp_path) -> None:
    """Applied after 120 s, beyond the 30 s verification: unverified first, then a resume
    (once they are gone) verifies them without sending anything."""
    handle, fake = clocked
    handle.configure(delete_delay=120.0)
    removes, desired = setup_segment(handle)
    journal = tmp_path / "j.sqlite3"
    with session_for(handle.credentials, journal, wire=Wire(), time=fake) as session:
        result = session.apply(session.plan("r9", desired))
        assert result.status == "accepted_unverified"
        assert set(result.unverified["customer_id"]) == set(removes)
    fake.advance(120.0)
    wire = Wire()
    with session_for(handle.credentials, journal, wire=wire, time=fake) as fresh:
        done = fresh.resume(result.run_id)
        assert done.status == "verified", done.message
        assert done.n_unverified == 0
        assert done.n_verified == N_REMOVE + N_ADD
        assert fresh.history("r9")["status"][0] == "verified"
    assert wire.writes() == []
    assert handle.member_ids("r9") == set(desired)


@pytest.fixture
def cli_env(clocked, tmp_path, monkeypatch) -> dict[str, Any]:
    handle, _ = clocked
    set_cli_env(monkeypatch, handle, tmp_path / "cli.sqlite3")
    return {"handle": handle}


def test_r9_never_applied_removals_exit_3_and_are_named(cli_env, tmp_path, capsys) -> None:
    handle = cli_env["handle"]
    handle.configure(delete_delay=None)
    removes, desired = setup_segment(handle)
    members = tmp_path / "members.csv"
    pl.DataFrame({"customer_id": desired}).write_csv(members)
    code = main(
        ["sync", "--segment", "r9", "--members", str(members), "--yes", "--verify-timeout", "0.3"]
    )
    out = capsys.readouterr().out
    assert code == EXIT_UNVERIFIED, out
    named = set(re.findall(r"unverified remove (\S+)", out))
    assert named == set(removes)
    assert re.search(r"run \S+: accepted_unverified", out)
    # nothing new to send: planning again shows the same removals still pending in Shopgate
    assert main(["sync", "--segment", "r9", "--members", str(members)]) == EXIT_OK
