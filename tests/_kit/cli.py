"""``segwidgets`` as a real process against a sandbox: its environment and command line."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

__all__ = ["cli", "cli_env", "run_cli", "set_cli_env", "start_cli", "wait_for", "write_ids"]


def cli_env(sandbox: Any, journal: Path | None = None) -> dict[str, str]:
    """The environment of a CLI process that talks to ``sandbox`` (and keeps its journal at
    ``journal``); no ``SHOPGATE_``/``SEGWIDGETS_`` variable of the caller's is kept."""
    creds = sandbox.credentials
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHOPGATE_", "SEGWIDGETS_"))}
    env.update(
        SHOPGATE_MERCHANT_CODE=creds.merchant_code,
        SHOPGATE_CLIENT_ID=creds.client_id,
        SHOPGATE_CLIENT_SECRET=creds.client_secret.get_secret_value(),
        SHOPGATE_USERNAME=creds.username,
        SHOPGATE_PASSWORD=creds.password.get_secret_value(),
        SHOPGATE_BASE_URL=creds.base_url,
    )
    if journal is not None:
        env["SEGWIDGETS_JOURNAL"] = str(journal)
    return env


def set_cli_env(monkeypatch: Any, sandbox: Any, journal: Path) -> None:
    """``cli_env`` in this process (for ``segwidgets.cli.main`` called in-process), undone
    after the test by ``monkeypatch``."""
    wanted = cli_env(sandbox, journal)
    for name in os.environ:
        if name.startswith(("SHOPGATE_", "SEGWIDGETS_")) and name not in wanted:
            monkeypatch.delenv(name)
    for name, value in wanted.items():
        if name.startswith(("SHOPGATE_", "SEGWIDGETS_")):
            monkeypatch.setenv(name, value)


def cli(*args: str) -> list[str]:
    """The command line of ``segwidgets ARGS`` in this Python."""
    return [sys.executable, "-m", "segwidgets.cli", *args]


def start_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    """Start a command with its output captured as text."""
    return subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd
    )


def run_cli(
    args: list[str], env: dict[str, str], *, timeout: float = 60, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command to its end, its output captured as text (the exit code is the
    caller's to check)."""
    return subprocess.run(
        args, env=env, capture_output=True, text=True, timeout=timeout, check=False, cwd=cwd
    )


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll ``condition`` (for a real process: no fake clock can reach it) until it holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def write_ids(path: Path, ids: list[str]) -> Path:
    """A ``customer_id`` CSV at ``path``."""
    pl.DataFrame({"customer_id": ids}).write_csv(path)
    return path
