"""Ctrl-C (a real SIGINT) in the middle of ``segwidgets sync``: exit 130, no traceback, and
one line naming the run that ``segwidgets resume`` then finishes."""

from __future__ import annotations

import re
import signal

import polars as pl
from _kit.cli import cli, cli_env, run_cli, start_cli, wait_for, write_ids
from _kit.writes import member_writes


def test_sigint_mid_push_exits_130_and_names_the_run(sandbox, tmp_path) -> None:
    frame = sandbox.model.customers_frame()
    ids = (
        frame.filter(~pl.col("isAnonymous") & (pl.col("status") != "deleted"))
        .get_column("id")
        .head(200)
        .to_list()
    )
    members = write_ids(tmp_path / "ids.csv", ids)
    env = cli_env(sandbox, tmp_path / "journal.sqlite3")
    sandbox.configure(latency=0.05)
    sync = cli("sync", "--segment", "vip", "--members", str(members), "--mode", "add")
    sync += ["--yes", "--batch-size", "10", "--concurrency", "1"]
    process = start_cli(sync, env, tmp_path)
    try:
        wait_for(
            lambda: member_writes(sandbox, answered=True) >= 2 or process.poll() is not None,
            timeout=25,
            what="the sync's second write",
        )
        assert process.poll() is None, process.communicate()
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=25)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, err
    assert "Traceback" not in err
    match = re.search(r"interrupted — run (\S+); `segwidgets resume \1` sends the rest", err)
    assert match, err
    assert not set(ids) <= sandbox.member_ids("vip")

    sandbox.configure(latency=0.0)
    done = run_cli(cli("resume", match.group(1)), env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert set(ids) <= sandbox.member_ids("vip")
