"""Where the sandbox state is kept: in memory only (``MemoryStore``), or also in SQLite.

``SqliteStore`` (``start(db=...)``, ``--db``) is written through on every change and read
once at start. ``MemoryStore`` takes the same calls and keeps nothing, so the model writes
through to a store without asking whether it has one. Seeded customers are not stored (they
are recomputed from ``seed`` and ``count``); explicit customer records, segments, members
and pending deletes are. Tokens and knobs are not stored: after a restart clients log in
again and knobs come from the start arguments.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

__all__ = ["MemoryStore", "PendingRow", "Snapshot", "SqliteStore", "Store"]

_OFFSET = 1 << 63  # member keys are unsigned 64-bit; SQLite integers are signed

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS customers (idx INTEGER PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS segments (code TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS members (
    code TEXT NOT NULL, key INTEGER NOT NULL, PRIMARY KEY (code, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pending (
    code TEXT NOT NULL, key INTEGER NOT NULL, seq INTEGER NOT NULL, apply_at REAL,
    PRIMARY KEY (code, key)
) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class PendingRow:
    """A member DELETE accepted but not yet applied."""

    code: str
    key: int
    seq: int
    apply_at: float | None


@dataclass
class Snapshot:
    """Everything read back from the database."""

    seed: int
    count: int
    next_seq: int
    customers: dict[int, dict[str, Any]] = field(default_factory=dict)
    segments: list[dict[str, Any]] = field(default_factory=list)
    members: dict[str, list[int]] = field(default_factory=dict)
    pending: list[PendingRow] = field(default_factory=list)


class Store(Protocol):
    """What the model writes through to on every change."""

    def close(self) -> None:
        """Release the storage."""

    def load(self) -> Snapshot | None:
        """The saved state, or ``None`` when there is none."""

    def replace_all(self, *, seed: int, count: int) -> None:
        """Forget everything and record a fresh seed."""

    def put_customer(self, index: int, record: dict[str, Any]) -> None:
        """Keep an explicit customer record."""

    def put_segment(self, data: dict[str, Any]) -> None:
        """Keep a segment's fields (not its members)."""

    def delete_segment(self, code: str) -> None:
        """Forget a segment with its members and pending deletes."""

    def add_members(self, code: str, keys: Iterable[int]) -> None:
        """Add member keys to a segment (members already: ignored)."""

    def remove_members(self, code: str, keys: Iterable[int]) -> None:
        """Remove member keys and any pending delete of them."""

    def put_pending(
        self, code: str, keys: Iterable[int], *, seq: int, apply_at: float | None
    ) -> None:
        """Keep accepted member DELETEs and the sequence counter."""

    def drop_pending(self, code: str, keys: Iterable[int]) -> None:
        """Forget pending DELETEs that a later add cancelled."""


class MemoryStore:
    """The store of a sandbox without a database: the state lives in the model alone."""

    def close(self) -> None:
        """Nothing to release."""

    def load(self) -> Snapshot | None:
        """Nothing saved: always a fresh start."""
        return None

    def replace_all(self, *, seed: int, count: int) -> None:
        """Nothing to forget."""

    def put_customer(self, index: int, record: dict[str, Any]) -> None:
        """Nothing kept."""

    def put_segment(self, data: dict[str, Any]) -> None:
        """Nothing kept."""

    def delete_segment(self, code: str) -> None:
        """Nothing kept."""

    def add_members(self, code: str, keys: Iterable[int]) -> None:
        """Nothing kept."""

    def remove_members(self, code: str, keys: Iterable[int]) -> None:
        """Nothing kept."""

    def put_pending(
        self, code: str, keys: Iterable[int], *, seq: int, apply_at: float | None
    ) -> None:
        """Nothing kept."""

    def drop_pending(self, code: str, keys: Iterable[int]) -> None:
        """Nothing kept."""


class SqliteStore:
    """Write-through storage in one SQLite file (stdlib ``sqlite3``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database file."""
        self._db.close()

    def load(self) -> Snapshot | None:
        """The saved state, or ``None`` for a new database."""
        meta = dict(self._db.execute("SELECT name, value FROM meta").fetchall())
        if "seed" not in meta:
            return None
        snap = Snapshot(
            seed=int(meta["seed"]), count=int(meta["count"]), next_seq=int(meta.get("seq", "0"))
        )
        for idx, record in self._db.execute("SELECT idx, record FROM customers ORDER BY idx"):
            snap.customers[int(idx)] = json.loads(record)
        for (data,) in self._db.execute("SELECT data FROM segments ORDER BY rowid"):
            snap.segments.append(json.loads(data))
        for seg in snap.segments:
            rows = self._db.execute(
                "SELECT key FROM members WHERE code = ? ORDER BY key", (seg["code"],)
            )
            snap.members[seg["code"]] = [key + _OFFSET for (key,) in rows]
        for code, key, seq, apply_at in self._db.execute(
            "SELECT code, key, seq, apply_at FROM pending ORDER BY seq"
        ):
            snap.pending.append(PendingRow(code, key + _OFFSET, seq, apply_at))
        return snap

    def replace_all(self, *, seed: int, count: int) -> None:
        """Empty the database and record a fresh seed."""
        with self._tx():
            for table in ("meta", "customers", "segments", "members", "pending"):
                self._db.execute(f"DELETE FROM {table}")  # noqa: S608 (fixed table names)
            self._db.executemany(
                "INSERT INTO meta VALUES (?, ?)", [("seed", str(seed)), ("count", str(count))]
            )

    def put_customer(self, index: int, record: dict[str, Any]) -> None:
        """Store an explicit customer record."""
        with self._tx():
            self._db.execute(
                "INSERT OR REPLACE INTO customers VALUES (?, ?)", (index, json.dumps(record))
            )

    def put_segment(self, data: dict[str, Any]) -> None:
        """Store a segment's fields (not its members)."""
        with self._tx():
            updated = self._db.execute(
                "UPDATE segments SET data = ? WHERE code = ?", (json.dumps(data), data["code"])
            )
            if updated.rowcount == 0:
                self._db.execute(
                    "INSERT INTO segments VALUES (?, ?)", (data["code"], json.dumps(data))
                )

    def delete_segment(self, code: str) -> None:
        """Forget a segment with its members and pending deletes."""
        with self._tx():
            for table in ("segments", "members", "pending"):
                self._db.execute(f"DELETE FROM {table} WHERE code = ?", (code,))  # noqa: S608

    def add_members(self, code: str, keys: Iterable[int]) -> None:
        """Add member keys to a segment."""
        with self._tx():
            self._db.executemany(
                "INSERT OR IGNORE INTO members VALUES (?, ?)",
                ((code, key - _OFFSET) for key in keys),
            )

    def remove_members(self, code: str, keys: Iterable[int]) -> None:
        """Remove member keys (and any pending delete of them)."""
        rows = [(code, key - _OFFSET) for key in keys]
        with self._tx():
            self._db.executemany("DELETE FROM members WHERE code = ? AND key = ?", rows)
            self._db.executemany("DELETE FROM pending WHERE code = ? AND key = ?", rows)

    def put_pending(
        self, code: str, keys: Iterable[int], *, seq: int, apply_at: float | None
    ) -> None:
        """Record accepted member DELETEs and the sequence counter."""
        with self._tx():
            self._db.executemany(
                "INSERT OR REPLACE INTO pending VALUES (?, ?, ?, ?)",
                ((code, key - _OFFSET, seq, apply_at) for key in keys),
            )
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('seq', ?)", (str(seq),))

    def drop_pending(self, code: str, keys: Iterable[int]) -> None:
        """Forget pending DELETEs that a later add cancelled."""
        with self._tx():
            self._db.executemany(
                "DELETE FROM pending WHERE code = ? AND key = ?",
                ((code, key - _OFFSET) for key in keys),
            )

    def _tx(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
