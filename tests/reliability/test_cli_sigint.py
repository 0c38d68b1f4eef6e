"""Ctrl-C (a real SIGINT) in the middle of ``segwidgets sync``: exit 130, no traceback, and
one line naming the run that ``segwidgets resume`` then finishes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl


def cli_env(sandbox: Any, journal: Path) -> dict[str, str]:
    creds = sandbox.credentials
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHOPGATE_", "SEGWIDGETS_"))}
    env.update(
        SHOPGATE_MERCHANT_CODE=creds.merchant_code,
        SHOPGATE_CLIENT_ID=creds.client_id,
        SHOPGATE_CLIENT_SECRET=creds.client_secret.get_secret_value(),
        SHOPGATE_USERNAME=creds.username,
        SHOPGATE_PASSWORD=creds.password.get_secret_value(),
        SHOPGATE_BASE_URL=creds.base_url,
        SEGWIDGETS_JOURNAL=str(journal),
    )
    return env


def answered_writes(sandbox: Any) -> int:
    return sum(
        count
        for name, by_status in sandbox.state()["requests"].items()
        if name.endswith("/segments/{code}/members") and not name.startswith("GET")
        for status, count in by_status.items()
        if status.startswith("2")
    )


def test_sigint_mid_push_exits_130_and_names_the_run(sandbox, tmp_path) -> None:
    frame = sandbox.model.customers_frame()
    ids = (
        frame.filter(~pl.col("isAnonymous") & (pl.col("status") != "deleted"))
        .get_column("id")
        .head(200)
        .to_list()
    )
    members = tmp_path / "ids.csv"
    pl.DataFrame({"customer_id": ids}).write_csv(members)
    env = cli_env(sandbox, tmp_path / "journal.sqlite3")
    sandbox.configure(latency=0.05)
    base = [sys.executable, "-m", "segwidgets.cli"]
    sync = [*base, "sync", "--segment", "vip", "--members", str(members), "--mode", "add"]
    sync += ["--yes", "--batch-size", "10", "--concurrency", "1"]
    process = subprocess.Popen(
        sync, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path
    )
    try:
        deadline = time.monotonic() + 25
        while answered_writes(sandbox) < 2:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the sync never got that far"
            time.sleep(0.005)
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
    done = subprocess.run(
        [*base, "resume", match.group(1)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert set(ids) <= sandbox.member_ids("vip")
