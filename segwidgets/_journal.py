"""The local audit trail: every run, every batch, every member change and its outcome.

A SQLite file in the user's data directory (``SEGWIDGETS_JOURNAL`` or ``journal=`` overrides
it), readable by this user only. It stores customer ids, never emails, and it is written
*before* a batch is sent and *after* the server confirmed it, so a push that stops for any
reason can be resumed without re-sending what was confirmed.

A run's member changes are cut into batches when the run starts, and each member row names
its batch. Marking a batch *sending* or recording its answer then updates one row of
``batches`` however many members it holds: a member's status is its own ``status`` when one
was set for it (a refused id, a reconciliation, a verification) and otherwise its batch's
``member_status`` (the ``member_states`` view). A batch made later (a resend, a split) moves
its members to it, which is the only per-member write on the way out.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import platformdirs
import polars as pl

from ._errors import ApplyInProgressError, JournalError, RunNotFoundError

__all__ = [
    "JOURNAL_ENV_VAR",
    "Action",
    "Journal",
    "MemberStatus",
    "RunRecord",
    "default_journal_path",
]

JOURNAL_ENV_VAR = "SEGWIDGETS_JOURNAL"

Action = Literal["add", "remove"]

#: pending: not yet sent · sending: handed to the network, outcome unknown ·
#: applied: add confirmed (201) · accepted: remove confirmed (202, applies later) ·
#: verified: a read showed it · unverified: accepted but not seen applied in time ·
#: failed: refused by the server (``error`` says why) · skipped: nothing to do any more
MemberStatus = Literal[
    "pending", "sending", "applied", "accepted", "verified", "unverified", "failed", "skipped"
]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    parent_run_id TEXT,
    plan_id TEXT NOT NULL,
    merchant_code TEXT NOT NULL,
    target TEXT NOT NULL,
    segment_code TEXT NOT NULL,
    mode TEXT NOT NULL,
    live_fingerprint TEXT NOT NULL,
    n_add INTEGER NOT NULL,
    n_remove INTEGER NOT NULL,
    settings TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    n_requests INTEGER NOT NULL DEFAULT 0,
    message TEXT
);
CREATE TABLE IF NOT EXISTS members (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    action TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    status TEXT,
    batch INTEGER,
    error TEXT,
    PRIMARY KEY (run_id, action, customer_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS batches (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    batch INTEGER NOT NULL,
    action TEXT NOT NULL,
    size INTEGER NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    error TEXT,
    member_status TEXT NOT NULL DEFAULT 'pending',
    PRIMARY KEY (run_id, batch)
);
CREATE VIEW IF NOT EXISTS member_states AS
    SELECT m.run_id AS run_id, m.action AS action, m.customer_id AS customer_id,
           COALESCE(m.status, b.member_status, 'pending') AS status, m.batch AS batch,
           CASE WHEN m.status IS NULL THEN b.error ELSE m.error END AS error
    FROM members m LEFT JOIN batches b ON b.run_id = m.run_id AND b.batch = m.batch;
CREATE INDEX IF NOT EXISTS runs_by_segment ON runs (merchant_code, segment_code, started_at);
"""

#: ``PRAGMA user_version`` of the current layout. Version 1 (no ``member_status``, every
#: member status written per member) is upgraded in place when a journal is opened.
_SCHEMA_VERSION = 2

_UPGRADE_FROM_1 = """
ALTER TABLE members RENAME TO members_v1;
CREATE TABLE members (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    action TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    status TEXT,
    batch INTEGER,
    error TEXT,
    PRIMARY KEY (run_id, action, customer_id)
) WITHOUT ROWID;
INSERT INTO members SELECT run_id, action, customer_id, status, batch, error FROM members_v1;
DROP TABLE members_v1;
ALTER TABLE batches ADD COLUMN member_status TEXT NOT NULL DEFAULT 'pending';
"""


def default_journal_path() -> Path:
    """``$SEGWIDGETS_JOURNAL``, else ``<user data dir>/segwidgets/journal.sqlite3``."""
    override = os.environ.get(JOURNAL_ENV_VAR)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_data_dir("segwidgets", appauthor=False)) / "journal.sqlite3"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class RunRecord(dict[str, Any]):
    """One row of ``runs`` as a dict (``record["status"]``), with attribute access."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError as exc:
            raise AttributeError(name) from exc


class Journal:
    """Thread-safe access to the journal file. One per session."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_journal_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not self.path.exists():
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
                os.close(fd)
            self.path.chmod(0o600)
            self._db = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None, timeout=30
            )
        except (OSError, sqlite3.Error) as exc:
            raise self._cannot_open(exc) from exc
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._prepare_schema()
        except BaseException as exc:
            self._db.close()
            if isinstance(exc, sqlite3.Error):
                raise self._cannot_open(exc) from exc
            raise
        self._lock = threading.RLock()

    def _cannot_open(self, exc: Exception) -> JournalError:
        msg = f"Cannot open the journal at {self.path}: {exc}. Pass journal= another path."
        return JournalError(msg)

    def _prepare_schema(self) -> None:
        """Create the tables, or upgrade a journal written by an earlier version."""
        db = self._db
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > _SCHEMA_VERSION:
            msg = (
                f"The journal at {self.path} was written by a newer segwidgets (layout "
                f"{version}); upgrade segwidgets or pass journal= another path."
            )
            raise JournalError(msg)
        if version == _SCHEMA_VERSION:
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            if db.execute("PRAGMA user_version").fetchone()[0] == _SCHEMA_VERSION:
                db.execute("COMMIT")  # another process prepared it meanwhile
                return
            old = db.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='members'"
            ).fetchone()
            if old is not None:
                for statement in _UPGRADE_FROM_1.split(";"):
                    if statement.strip():
                        db.execute(statement)
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- runs -------------------------------------------------------------------------------

    def start_run(
        self,
        *,
        kind: str,
        plan_id: str,
        merchant_code: str,
        target: str,
        segment_code: str,
        mode: str,
        live_fingerprint: str,
        batches: Sequence[tuple[Action, Sequence[str]]],
        settings: dict[str, Any],
        parent_run_id: str | None = None,
    ) -> str:
        """Record a new run, its batches (numbered from 0) and their members, all ``pending``.

        Returns the run id.

        Raises ``ApplyInProgressError`` if a run of the same plan is still running (another
        session or process sharing this journal): checked and recorded in one transaction,
        so of two pushes of one plan started at once, one is refused before sending anything.
        """
        run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
        with self._tx() as db:
            running = db.execute(
                "SELECT run_id FROM runs WHERE plan_id=? AND status='running'", (plan_id,)
            ).fetchone()
            if running is not None:
                msg = (
                    f"This plan is already being pushed (run {running[0]}), by another session "
                    "or a process that was stopped. Nothing was sent. If that process is gone, "
                    f"finish its run with resume('{running[0]}')."
                )
                raise ApplyInProgressError(msg)
            db.execute(
                "INSERT INTO runs (run_id, kind, parent_run_id, plan_id, merchant_code, target,"
                " segment_code, mode, live_fingerprint, n_add, n_remove, settings, status,"
                " started_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    run_id,
                    kind,
                    parent_run_id,
                    plan_id,
                    merchant_code,
                    target,
                    segment_code,
                    mode,
                    live_fingerprint,
                    sum(len(ids) for action, ids in batches if action == "add"),
                    sum(len(ids) for action, ids in batches if action == "remove"),
                    json.dumps(settings, sort_keys=True),
                    "running",
                    _now(),
                ),
            )
            db.executemany(
                "INSERT INTO batches (run_id, batch, action, size, status) VALUES (?,?,?,?,?)",
                (
                    (run_id, number, action, len(ids), "pending")
                    for number, (action, ids) in enumerate(batches)
                ),
            )
            db.executemany(
                "INSERT INTO members (run_id, action, customer_id, batch) VALUES (?,?,?,?)",
                _member_rows(run_id, batches),
            )
        # Move the rows just written out of the write-ahead log now, rather than inside the
        # first batch's mark (SQLite checkpoints when a commit finds the log long).
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        return run_id

    def finish_run(
        self, run_id: str, *, status: str, n_requests: int, message: str | None = None
    ) -> None:
        """Record the final status of a run."""
        with self._tx() as db:
            db.execute(
                "UPDATE runs SET status=?, finished_at=?, n_requests=n_requests+?, message=?"
                " WHERE run_id=?",
                (status, _now(), n_requests, message, run_id),
            )

    def mark_running(self, run_id: str) -> None:
        """A run picked up again by ``resume``."""
        with self._tx() as db:
            db.execute(
                "UPDATE runs SET status='running', finished_at=NULL WHERE run_id=?", (run_id,)
            )

    def run(self, run_id: str) -> RunRecord:
        """One run, or ``RunNotFoundError``."""
        with self._lock:
            cur = self._db.execute("SELECT * FROM runs WHERE run_id=?", (run_id,))
            row = cur.fetchone()
            names = [d[0] for d in cur.description]
        if row is None:
            msg = f"No run {run_id!r} in the journal at {self.path}."
            raise RunNotFoundError(msg)
        return RunRecord(zip(names, row, strict=True))

    def runs(
        self, *, merchant_code: str | None = None, segment_code: str | None = None
    ) -> pl.DataFrame:
        """Past runs, newest first."""
        query = "SELECT * FROM runs"
        clauses: list[str] = []
        args: list[str] = []
        if merchant_code is not None:
            clauses.append("merchant_code=?")
            args.append(merchant_code)
        if segment_code is not None:
            clauses.append("segment_code=?")
            args.append(segment_code)
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        query += " ORDER BY started_at DESC, run_id DESC"
        with self._lock:
            cur = self._db.execute(query, args)
            rows = cur.fetchall()
            names = [d[0] for d in cur.description]
        schema = dict.fromkeys(names, pl.String) | {
            "n_add": pl.Int64,
            "n_remove": pl.Int64,
            "n_requests": pl.Int64,
        }
        return pl.DataFrame(rows, schema=schema, orient="row")

    # -- members and batches --------------------------------------------------------------------

    def member_ids(self, run_id: str, action: Action, statuses: Iterable[str]) -> list[str]:
        """Ids of one action whose status is one of ``statuses``."""
        wanted = list(statuses)
        marks = ",".join("?" * len(wanted))
        with self._lock:
            rows = self._db.execute(
                f"SELECT customer_id FROM member_states WHERE run_id=? AND action=? AND status IN ({marks})",  # noqa: S608 (placeholders only)
                (run_id, action, *wanted),
            ).fetchall()
        return [r[0] for r in rows]

    def member_frame(self, run_id: str) -> pl.DataFrame:
        """Every member change of a run: customer_id, action, status, batch, error."""
        with self._lock:
            rows = self._db.execute(
                "SELECT customer_id, action, status, batch, error FROM member_states"
                " WHERE run_id=? ORDER BY action, customer_id",
                (run_id,),
            ).fetchall()
        return pl.DataFrame(
            rows,
            schema={
                "customer_id": pl.String,
                "action": pl.String,
                "status": pl.String,
                "batch": pl.Int64,
                "error": pl.String,
            },
            orient="row",
        )

    def next_batch_number(self, run_id: str) -> int:
        """The first unused batch number of a run."""
        with self._lock:
            row = self._db.execute(
                "SELECT COALESCE(MAX(batch), -1) + 1 FROM batches WHERE run_id=?", (run_id,)
            ).fetchone()
        return int(row[0])

    def batch_sending(
        self, run_id: str, batch: int, action: Action, ids: Sequence[str] | None = None
    ) -> None:
        """Before a batch goes out: the batch, and so its members, are ``sending``.

        ``ids=None`` for a batch recorded by ``start_run`` (one row is written); otherwise
        a new batch of these members, who move to it (a resend or a split).
        """
        if ids is None:
            # One statement: SQLite commits it on its own, no BEGIN/COMMIT round.
            with self._lock:
                updated = self._db.execute(
                    "UPDATE batches SET status='sending', member_status='sending', started_at=?"
                    " WHERE run_id=? AND batch=? AND action=?",
                    (_now(), run_id, batch, action),
                ).rowcount
            if updated != 1:
                msg = f"Run {run_id} has no {action} batch {batch} to send."
                raise JournalError(msg)
            return
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO batches (run_id, batch, action, size, status,"
                " member_status, started_at) VALUES (?,?,?,?,?,?,?)",
                (run_id, batch, action, len(ids), "sending", "sending", _now()),
            )
            # One set-based statement: the ids travel as a JSON array SQLite expands.
            db.execute(
                "UPDATE members SET status=NULL, error=NULL, batch=? WHERE run_id=? AND action=?"
                " AND customer_id IN (SELECT value FROM json_each(?))",
                (batch, run_id, action, json.dumps(list(ids))),
            )

    def batch_done(
        self,
        run_id: str,
        batch: int,
        *,
        status: MemberStatus,
        batch_status: str,
        error: str | None = None,
    ) -> None:
        """After the server answered a batch (or refused it): its outcome and its members'."""
        with self._lock:
            self._db.execute(
                "UPDATE batches SET status=?, member_status=?, finished_at=?, error=?"
                " WHERE run_id=? AND batch=?",
                (batch_status, status, _now(), error, run_id, batch),
            )

    def set_member_status(
        self,
        run_id: str,
        action: Action,
        ids: Iterable[str],
        status: MemberStatus,
        *,
        error: str | None = None,
    ) -> None:
        """Set the status of some members (verification, reconciliation)."""
        with self._tx() as db:
            db.execute(
                "UPDATE members SET status=?, error=? WHERE run_id=? AND action=?"
                " AND customer_id IN (SELECT value FROM json_each(?))",
                (status, error, run_id, action, json.dumps(list(ids))),
            )

    def batch_frame(self, run_id: str) -> pl.DataFrame:
        """Every batch of a run."""
        with self._lock:
            rows = self._db.execute(
                "SELECT batch, action, size, status, started_at, finished_at, error FROM batches"
                " WHERE run_id=? ORDER BY batch",
                (run_id,),
            ).fetchall()
        return pl.DataFrame(
            rows,
            schema={
                "batch": pl.Int64,
                "action": pl.String,
                "size": pl.Int64,
                "status": pl.String,
                "started_at": pl.String,
                "finished_at": pl.String,
                "error": pl.String,
            },
            orient="row",
        )

    def owned_ids(self, merchant_code: str, target: str, segment_code: str) -> list[str]:
        """Ids that segwidgets runs added to a segment and no later run removed."""
        query = """
            SELECT m.customer_id, m.action, r.started_at FROM member_states m
            JOIN runs r ON r.run_id = m.run_id
            WHERE r.merchant_code=? AND r.target=? AND r.segment_code=?
              AND m.status IN ('applied', 'accepted', 'verified')
            ORDER BY r.started_at
        """
        owned: dict[str, bool] = {}
        with self._lock:
            for customer_id, action, _ in self._db.execute(
                query, (merchant_code, target, segment_code)
            ):
                owned[customer_id] = action == "add"
        return [cid for cid, is_owned in owned.items() if is_owned]

    # -- server traits ------------------------------------------------------------------------

    def save_traits(self, merchant: str, traits: dict[str, Any], *, target: str = "") -> None:
        """Keep what ``segwidgets doctor`` learned of a merchant's Shopgate (``ServerTraits``
        as a dict), replacing what was kept before for that merchant and target."""
        with self._tx() as db:
            db.execute(_TRAITS_TABLE)
            db.execute(
                "INSERT OR REPLACE INTO server_traits VALUES (?, ?, ?, ?)",
                (merchant, target, json.dumps(traits, sort_keys=True), _now()),
            )

    def load_traits(self, merchant: str, *, target: str = "") -> dict[str, Any] | None:
        """The traits last saved for a merchant and target, or ``None``."""
        with self._lock:
            self._db.execute(_TRAITS_TABLE)
            row = self._db.execute(
                "SELECT traits FROM server_traits WHERE merchant_code=? AND target=?",
                (merchant, target),
            ).fetchone()
        if row is None:
            return None
        data = json.loads(row[0])
        return data if isinstance(data, dict) else None


#: What ``segwidgets doctor`` learned per merchant and target (created on first use, so
#: journals of every layout version take it without an upgrade).
_TRAITS_TABLE = """
CREATE TABLE IF NOT EXISTS server_traits (
    merchant_code TEXT NOT NULL,
    target TEXT NOT NULL,
    traits TEXT NOT NULL,
    saved_at TEXT NOT NULL,
    PRIMARY KEY (merchant_code, target)
)
"""


def _member_rows(
    run_id: str, batches: Sequence[tuple[Action, Sequence[str]]]
) -> Iterator[tuple[str, str, str, int]]:
    for number, (action, ids) in enumerate(batches):
        for cid in ids:
            yield (run_id, action, cid, number)
