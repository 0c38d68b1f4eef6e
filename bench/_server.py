"""``SandboxProcess``: the parent side of ``bench._sandbox_proc`` (a sandbox in its own process)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from segwidgets import Credentials, Secret
from segwidgets.sandbox._tokens import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_PASSWORD,
    SANDBOX_USERNAME,
)

__all__ = ["SandboxProcess"]

_MERCHANT = "DEMO"


class SandboxProcess:
    """A sandbox serving from a child process; setup commands go over its stdin.

    Use it as a context manager. ``configure(latency=0.02)`` changes knobs, ``ids(n)`` and
    ``emails(n)`` return customer data, ``fill(code, ids)`` makes a fixed segment hold
    exactly ``ids``, ``members(code)`` reads them back, ``state()`` has the request counters.
    """

    def __init__(self, *, customers: int, seed: int = 1) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="segwidgets-bench-")
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        self._proc = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).with_name("_sandbox_proc.py")),
                "--customers",
                str(customers),
                "--seed",
                str(seed),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=Path(__file__).resolve().parent.parent,
        )
        ready = self._readline()
        self.url: str = ready["url"]
        self.base_url: str = ready["base_url"]
        self.customers = customers
        self._n_files = 0

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self._proc.pid

    @property
    def credentials(self) -> Credentials:
        """Credentials that sign in to this sandbox (sandbox values, not secrets)."""
        return Credentials(
            merchant_code=_MERCHANT,
            client_id=SANDBOX_CLIENT_ID,
            client_secret=Secret(SANDBOX_CLIENT_SECRET),
            username=SANDBOX_USERNAME,
            password=Secret(SANDBOX_PASSWORD),
            base_url=self.base_url,
        )

    def _readline(self) -> dict[str, Any]:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            code = self._proc.wait(timeout=10)
            msg = f"The sandbox process ended (exit code {code})."
            raise RuntimeError(msg)
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _call(self, op: str, **args: Any) -> Any:
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self._proc.stdin.flush()
        answer = self._readline()
        if "error" in answer:
            msg = f"sandbox command {op} failed: {answer['error']}"
            raise RuntimeError(msg)
        return answer.get("result")

    def _path(self, stem: str) -> str:
        self._n_files += 1
        return str(Path(self._tmp.name) / f"{stem}-{self._n_files}.txt")

    def configure(self, **knobs: Any) -> dict[str, Any]:
        """Change sandbox knobs (``latency``, ``error_429_rate``, ...)."""
        settings: dict[str, Any] = self._call("configure", knobs=knobs)
        return settings

    def reset(self, *, customers: int | None = None) -> None:
        """Back to freshly seeded data, request counters at zero."""
        self._call("reset", customers=customers)
        if customers is not None:
            self.customers = customers

    def ids(self, n: int, *, registered: bool = False) -> list[str]:
        """Ids of the first ``n`` non-deleted customers."""
        path = self._path("ids")
        self._call("ids", n=n, path=path, registered=registered)
        return _read(path)

    def emails(self, n: int) -> list[str]:
        """Distinct emails of the first ``n`` registered, non-deleted customers."""
        path = self._path("emails")
        self._call("emails", n=n, path=path)
        return _read(path)

    def fill(self, code: str, ids: list[str]) -> int:
        """Make fixed segment ``code`` (created if new) hold ``ids``."""
        path = self._path("fill")
        Path(path).write_text("\n".join(ids) + "\n", encoding="utf-8")
        result: dict[str, int] = self._call("fill", code=code, path=path)
        return result["n"]

    def fill_all(self, code: str) -> int:
        """Make fixed segment ``code`` (created if new) hold every non-deleted customer."""
        result: dict[str, int] = self._call("fill_all", code=code)
        return result["n"]

    def members(self, code: str) -> tuple[set[str], int]:
        """The ids ``GET members`` shows for ``code`` now, and how many deletes are pending."""
        path = self._path("members")
        result = self._call("members", code=code, path=path)
        return set(_read(path)), int(result["n_pending"])

    def state(self) -> dict[str, Any]:
        """The sandbox state with its request counters (``requests``) and faults."""
        state: dict[str, Any] = self._call("state")
        return state

    def write_requests(self) -> dict[str, int]:
        """Member write requests the server saw, by status (``POST``/``DELETE`` members)."""
        counts: dict[str, int] = {}
        for route, by_status in self.state().get("requests", {}).items():
            if route.endswith("/members") and route.split(" ")[0] in {"POST", "DELETE"}:
                for status, n in by_status.items():
                    counts[status] = counts.get(status, 0) + int(n)
        return counts

    def http(self) -> httpx.Client:
        """A plain client for the sandbox's host (the caller closes it)."""
        return httpx.Client(base_url=self.url, trust_env=False)

    def close(self) -> None:
        """Stop the child process and remove its files."""
        if self._proc.poll() is None:
            with contextlib.suppress(RuntimeError, OSError, ValueError):
                self._call("stop")
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
        for stream in (self._proc.stdin, self._proc.stdout):
            if stream is not None:
                stream.close()
        self._tmp.cleanup()

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _read(path: str) -> list[str]:
    return [line for line in Path(path).read_text(encoding="utf-8").splitlines() if line]
