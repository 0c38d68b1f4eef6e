"""A sandbox in its own process, with a setup channel on stdin for large benchmark states.

Run as ``python bench/_sandbox_proc.py --customers N --seed S`` (a script: it imports
nothing of the bench package). It starts the emulator with
``segwidgets.sandbox.start()`` on a free loopback port (the same server ``python -m
segwidgets.sandbox`` runs), prints one JSON line with its URL, then answers one JSON command
per stdin line with one JSON line on stdout. The commands prepare states that would take
thousands of API calls to build (a segment of a million members, the emails of the first
customers); they never touch what the API serves or how fast it serves it.

The serving happens in the sandbox's own thread of this process, so the client under test
never shares a GIL with the server.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from segwidgets import sandbox

__all__ = ["main"]

_OPS = frozenset({"configure", "reset", "ids", "emails", "fill", "fill_all", "members", "state"})


def _write_lines(path: str, values: list[str]) -> None:
    Path(path).write_text("\n".join(values) + ("\n" if values else ""), encoding="utf-8")


def _read_lines(path: str) -> list[str]:
    return [line for line in Path(path).read_text(encoding="utf-8").splitlines() if line]


class _Commands:
    def __init__(self, handle: sandbox.Sandbox) -> None:
        self.handle = handle
        self.model = handle.model

    def configure(self, knobs: dict[str, Any]) -> dict[str, Any]:
        return self.handle.configure(**knobs).to_dict()

    def reset(self, customers: int | None = None, seed: int | None = None) -> dict[str, Any]:
        self.handle.reset(customers=customers, seed=seed)
        return {"customers": customers}

    def _indices(self, *, registered: bool) -> list[int] | range:
        # The customer table answers "which indices have this status and kind" from a byte
        # per customer; building full records through the API methods would take minutes
        # for a million customers. Codes: status index + 3 * isAnonymous.
        table = self.model._table
        return table.with_codes(frozenset({0, 1} if registered else {0, 1, 3, 4}))

    def ids(self, n: int, path: str, registered: bool = False) -> dict[str, Any]:
        """The ids of the first ``n`` non-deleted customers (registered ones only if asked)."""
        table = self.model._table
        found = [table.field(i, "id") for i in self._indices(registered=registered)[:n]]
        _write_lines(path, found)
        return {"n": len(found)}

    def emails(self, n: int, path: str) -> dict[str, Any]:
        """Emails of the first ``n`` registered, non-deleted customers (distinct, as stored)."""
        table = self.model._table
        found: dict[str, None] = {}
        for index in self._indices(registered=True):
            email = table.field(index, "emailAddress")
            if email:
                found.setdefault(email, None)
                if len(found) >= n:
                    break
        _write_lines(path, list(found))
        return {"n": len(found)}

    def fill(self, code: str, path: str) -> dict[str, Any]:
        """Create fixed segment ``code`` (if new) holding exactly the ids in ``path``."""
        if code not in self.model.segment_codes():
            self.model.seed_records(
                segments=[{"code": code, "name": code, "type": "fixed", "status": "active"}]
            )
        ids = _read_lines(path)
        limit = self.model.settings.max_members_per_request
        # fill_segment checks ids like a member write, size limit included: lift it meanwhile.
        self.model.configure(max_members_per_request=max(limit, len(ids), 1))
        try:
            n = self.model.fill_segment(code, ids)
        finally:
            self.model.configure(max_members_per_request=limit)
        return {"n": n}

    def fill_all(self, code: str) -> dict[str, Any]:
        """Create fixed segment ``code`` holding every non-deleted customer."""
        if code not in self.model.segment_codes():
            self.model.seed_records(
                segments=[{"code": code, "name": code, "type": "fixed", "status": "active"}]
            )
        return {"n": self.model.fill_segment(code, None)}

    def members(self, code: str, path: str | None = None) -> dict[str, Any]:
        """The member ids of ``code`` (pending deletes included) and the pending deletes."""
        ids = sorted(self.model.member_ids(code))
        pending = sorted(self.model.pending_delete_ids(code))
        if path is not None:
            _write_lines(path, ids)
        return {"n": len(ids), "n_pending": len(pending)}

    def state(self) -> dict[str, Any]:
        return self.handle.state()


def main(argv: list[str] | None = None) -> int:
    """Serve until stdin closes or a ``stop`` command comes."""
    parser = argparse.ArgumentParser(prog="bench/_sandbox_proc.py")
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    handle = sandbox.start(customers=args.customers, seed=args.seed, delete_delay=0.0)
    commands = _Commands(handle)
    print(json.dumps({"url": handle.url, "base_url": handle.base_url}), flush=True)
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            request = json.loads(line)
            op = request.pop("op")
            if op == "stop":
                print(json.dumps({"ok": True}), flush=True)
                break
            try:
                if op not in _OPS:
                    msg = f"unknown command {op!r}"
                    raise ValueError(msg)
                answer = getattr(commands, op)(**request)
            except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises
                print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)
            else:
                print(json.dumps({"ok": True, "result": answer}), flush=True)
    finally:
        handle.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
