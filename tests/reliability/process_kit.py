"""Real processes against the in-process sandbox: CLI commands, and what the server received.

Used by the R21-R24 modules (issue 11: undo, one writer, resume, journal).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

__all__ = [
    "Received",
    "cli",
    "cli_env",
    "start_cli",
    "wait_for",
    "write_ids",
    "writes_answered",
]


def cli_env(sandbox: Any, journal: Path | None = None) -> dict[str, str]:
    """The environment of a CLI process that talks to ``sandbox``."""
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


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "segwidgets.cli", *args]


def start_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd
    )


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def write_ids(path: Path, ids: list[str]) -> Path:
    pl.DataFrame({"customer_id": ids}).write_csv(path)
    return path


def writes_answered(sandbox: Any) -> int:
    """Member writes the sandbox answered with a 2xx so far."""
    return sum(
        count
        for name, by_status in sandbox.state()["requests"].items()
        if name.endswith("/segments/{code}/members") and not name.startswith("GET")
        for status, count in by_status.items()
        if status.startswith("2")
    )


def _ids_of(ids: Any) -> list[str]:
    return [str(i) for i in ids]


class Received:
    """Counts, per member id, the member writes the sandbox's model received."""

    def __init__(self, sandbox: Any, monkeypatch: Any) -> None:
        self.adds: Counter[str] = Counter()
        self.removes: Counter[str] = Counter()
        self._lock = threading.Lock()
        model = sandbox.model
        add, remove = model.add_members, model.remove_members

        def add_members(code: str, body: Any, **options: Any) -> Any:
            with self._lock:
                self.adds.update(_ids_of(body))
            return add(code, body, **options)

        def remove_members(code: str, body: Any, **options: Any) -> Any:
            with self._lock:
                self.removes.update(_ids_of(body))
            return remove(code, body, **options)

        monkeypatch.setattr(model, "add_members", add_members)
        monkeypatch.setattr(model, "remove_members", remove_members)

    def twice(self) -> dict[str, int]:
        """Ids received more than once, by action."""
        return {
            "add": sum(1 for n in self.adds.values() if n > 1),
            "remove": sum(1 for n in self.removes.values() if n > 1),
        }
