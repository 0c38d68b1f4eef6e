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
its members to it, which is the only per-member write on the way out. A status without an
error set later for every member of an answered batch (a verification) is set on the batch
too: an answered batch is never marked again, so its ``member_status`` can carry it.

The journal also holds the segment leases (``leases``: one writer per segment, see
``_lease``). Every statement waits for a lock held by another process at most
``lock_timeout`` seconds, then raises ``JournalError``; any other SQLite failure is a
``JournalError`` too. ``check_intact`` tells a run whether its file was deleted, replaced or
emptied meanwhile. Only a file the journal creates is made private (0600).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import threading
import time
import uuid
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

import platformdirs
import polars as pl

from ._errors import ApplyInProgressError, JournalError, RunNotFoundError, SegmentBusyError

__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "DEFAULT_STALE_AFTER",
    "JOURNAL_ENV_VAR",
    "Action",
    "Journal",
    "LeaseHolder",
    "MemberStatus",
    "RunRecord",
    "default_journal_path",
]

JOURNAL_ENV_VAR = "SEGWIDGETS_JOURNAL"

#: Seconds a journal locked by another process is waited for before ``JournalError``.
DEFAULT_LOCK_TIMEOUT = 10.0

#: Seconds without a heartbeat after which a segment lease counts as abandoned.
DEFAULT_STALE_AFTER = 60.0

#: The first bytes of every SQLite database file.
_SQLITE_HEADER = b"SQLite format 3\x00"

_T = TypeVar("_T")

logger = logging.getLogger("segwidgets.journal")

Action = Literal["add", "remove"]

#: pending: not yet sent · sending: handed to the network, outcome unknown ·
#: applied: add confirmed (201) · accepted: remove confirmed (202, applies later) ·
#: verified: a read showed it · unverified: accepted but not seen applied in time ·
#: failed: refused by the server (``error`` says why)
MemberStatus = Literal[
    "pending", "sending", "applied", "accepted", "verified", "unverified", "failed"
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
CREATE TABLE IF NOT EXISTS leases (
    merchant_code TEXT NOT NULL,
    target TEXT NOT NULL,
    segment_code TEXT NOT NULL,
    holder TEXT NOT NULL,
    run_id TEXT,
    kind TEXT NOT NULL,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    since TEXT NOT NULL,
    heartbeat REAL NOT NULL,
    PRIMARY KEY (merchant_code, target, segment_code)
);
"""

#: ``PRAGMA user_version`` of the current layout. Version 1 (no ``member_status``, every
#: member status written per member) is upgraded in place when a journal is opened;
#: version 2 only lacks the ``leases`` table.
_SCHEMA_VERSION = 3

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


@dataclass(frozen=True)
class LeaseHolder:
    """Who holds a segment: the run, the process and machine, since when, last heartbeat."""

    holder: str
    run_id: str | None
    kind: str
    pid: int
    host: str
    since: str
    heartbeat: float

    def is_alive(self, *, now: float, stale_after: float) -> bool:
        """Still working: a recent heartbeat and, on this machine, a running process (in
        this process: a lease not released)."""
        if now - self.heartbeat > stale_after:
            return False
        if self.host == socket.gethostname():
            if self.pid == os.getpid():
                return self.holder in _HELD
            return _pid_alive(self.pid)
        return True

    def describe(self) -> str:
        """For messages: which run, which process on which machine, since when."""
        what = f"run {self.run_id}" if self.run_id else "a run not recorded yet"
        return f"{what} ({self.kind}, process {self.pid} on {self.host}, since {self.since})"


#: Holder ids of the leases this process holds (released ones leave it even when the
#: journal could not be written then, e.g. closed under a running push).
_HELD: set[str] = set()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _close_quietly(fd: int) -> None:
    with suppress(OSError):
        os.close(fd)


def _is_locked(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


class Journal:
    """Thread-safe access to the journal file. One per session.

    ``lock_timeout``: seconds to wait for a journal another process keeps locked, with a
    warning logged, before ``JournalError``. ``must_exist``: refuse a path with no journal
    (reading commands: ``history``, ``resume``, ``undo``) instead of creating one.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        must_exist: bool = False,
    ) -> None:
        self.path = Path(path) if path is not None else default_journal_path()
        self.lock_timeout = lock_timeout
        self._lock = threading.RLock()
        self._seen_header = False
        self._gave_up = False
        self._checkpointer: threading.Thread | None = None
        # The header is read through this descriptor, under a lock of its own: a push
        # thread's check waits for no other thread's journal write.
        self._fd: int | None = None
        self._fd_lock = threading.Lock()
        try:
            if not self.path.exists():
                if must_exist:
                    msg = (
                        f"There is no journal at {self.path}: no run was recorded there, or the "
                        "file was deleted. Pass --journal (journal=) the path your runs used."
                    )
                    raise JournalError(msg)
                self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                try:
                    # Only a file this creates is made private; an existing one keeps its mode.
                    fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    os.close(fd)
                    created = True
                except FileExistsError:
                    created = False
            else:
                created = False
            if not created:
                self._check_header(opening=True, allow_empty=not must_exist)
            self._db = sqlite3.connect(
                self.path,
                check_same_thread=False,
                isolation_level=None,
                timeout=min(0.5, max(lock_timeout, 0.0)),
            )
        except JournalError:
            raise
        except (OSError, sqlite3.Error) as exc:
            raise self._cannot_open(exc) from exc
        try:
            self._retry(lambda: self._db.execute("PRAGMA journal_mode=WAL"))
            self._retry(lambda: self._db.execute("PRAGMA synchronous=NORMAL"))
            self._retry(self._prepare_schema)
        except BaseException as exc:
            self._db.close()
            if isinstance(exc, sqlite3.Error):
                raise self._cannot_open(exc) from exc
            raise
        # ``check_intact`` reads the header through a descriptor kept open (one read, not an
        # open, a read and a close: closing a descriptor of the file would also drop the
        # locks SQLite holds on it in this process).
        try:
            if hasattr(os, "pread"):
                self._fd = os.open(self.path, os.O_RDONLY)
                self._fd_closer = weakref.finalize(self, _close_quietly, self._fd)
            st = os.fstat(self._fd) if self._fd is not None else os.stat(self.path)
        except OSError as exc:
            self._db.close()
            raise self._cannot_open(exc) from exc
        self._identity = (st.st_dev, st.st_ino)

    def _cannot_open(self, exc: Exception) -> JournalError:
        msg = f"Cannot open the journal at {self.path}: {exc}. Pass journal= another path."
        return JournalError(msg)

    def _wal_has_data(self) -> bool:
        try:
            return os.path.getsize(f"{self.path}-wal") > 0
        except OSError:
            return False

    def _check_header(self, *, opening: bool = False, allow_empty: bool = False) -> None:
        """The file is an SQLite database (not emptied, truncated or overwritten)."""
        head: bytes | None = None
        with self._fd_lock:  # not while ``close`` gives the descriptor back
            if self._fd is not None:
                head = os.pread(self._fd, len(_SQLITE_HEADER), 0)
        if head is None:
            with open(self.path, "rb") as f:
                head = f.read(len(_SQLITE_HEADER))
        if head == _SQLITE_HEADER:
            self._seen_header = True
            return
        if not head and not self._seen_header and (allow_empty or self._wal_has_data()):
            # A journal just created (by this or another process) whose pages are still
            # all in the write-ahead log: the main file stays empty until a checkpoint.
            return
        what = "empty (0 bytes)" if not head else "not a segwidgets journal"
        if opening:
            msg = (
                f"The journal at {self.path} is {what}: it was truncated or overwritten, or the "
                "path names another file. Its runs cannot be read; restore it from a backup or "
                "pass journal= another path."
            )
        else:
            msg = (
                f"The journal at {self.path} became {what} during the run. Nothing more is "
                "sent; restore the file or pass another journal, then check the segment."
            )
        raise JournalError(msg)

    def check_intact(self) -> None:
        """Before a wave of writes: the journal file is still the one this opened, intact.

        Raises ``JournalError`` if it was deleted, replaced, truncated or overwritten.
        """
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            msg = (
                f"The journal at {self.path} was deleted during the run. Nothing more is sent: "
                "without it the run could not be resumed or undone. Check the segment, then "
                "run again with a journal that stays in place."
            )
            raise JournalError(msg) from None
        except OSError as exc:
            msg = (
                f"The journal at {self.path} cannot be read any more ({exc}). Nothing more is sent."
            )
            raise JournalError(msg) from exc
        if (st.st_dev, st.st_ino) != self._identity:
            msg = (
                f"The journal at {self.path} was replaced by another file during the run. "
                "Nothing more is sent; check the segment, then run again."
            )
            raise JournalError(msg)
        try:
            self._check_header()
        except OSError as exc:
            msg = (
                f"The journal at {self.path} cannot be read any more ({exc}). Nothing more is sent."
            )
            raise JournalError(msg) from exc

    def _retry(self, step: Callable[[], _T]) -> _T:
        """Run one journal step; wait for a lock held elsewhere up to ``lock_timeout``."""
        deadline: float | None = None
        while True:
            try:
                result = step()
            except sqlite3.Error as exc:
                if not _is_locked(exc):
                    raise self._broken(exc) from exc
                now = time.monotonic()
                if deadline is None:
                    # Once a wait gave up, the steps that follow (recording the stop) try
                    # once each instead of waiting again one after the other.
                    deadline = now + (0.0 if self._gave_up else self.lock_timeout)
                    if not self._gave_up:
                        logger.warning(
                            "The journal at %s is locked by another process; waiting up to %g s.",
                            self.path,
                            self.lock_timeout,
                        )
                if now >= deadline:
                    self._gave_up = True
                    msg = (
                        f"The journal at {self.path} stayed locked by another process for "
                        f"{self.lock_timeout:g} s. Nothing more was recorded or sent. Close the "
                        "program holding it (an open sqlite3 shell, another segwidgets run), "
                        "then resume; or raise the journal lock timeout."
                    )
                    raise JournalError(msg) from exc
                time.sleep(0.05)
            else:
                self._gave_up = False
                return result

    def _broken(self, exc: sqlite3.Error) -> JournalError:
        msg = (
            f"The journal at {self.path} cannot be read or written ({exc}): it was changed or "
            "damaged outside segwidgets. Nothing more is sent; restore it or pass another path."
        )
        return JournalError(msg)

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._retry(lambda: self._db.execute(sql, params))

    def _query(self, sql: str, params: Sequence[Any] = ()) -> tuple[list[Any], list[str]]:
        def step() -> tuple[list[Any], list[str]]:
            cur = self._db.execute(sql, params)
            return cur.fetchall(), [d[0] for d in cur.description]

        with self._lock:
            return self._retry(step)

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
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version == _SCHEMA_VERSION:
                db.execute("COMMIT")  # another process prepared it meanwhile
                return
            old = db.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='members'"
            ).fetchone()
            if old is not None and version < 2:
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
        """Close the file (after a checkpoint under way)."""
        checkpointer = self._checkpointer
        if checkpointer is not None:
            checkpointer.join()
        with self._lock:
            self._db.close()
            with self._fd_lock:
                if self._fd is not None:
                    self._fd = None
                    self._fd_closer()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._retry(lambda: self._db.execute("BEGIN IMMEDIATE"))
            try:
                yield self._db
            except BaseException as exc:
                with suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise self._broken(exc) from exc
                raise
            try:
                self._retry(lambda: self._db.execute("COMMIT"))
            except JournalError:
                with suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise

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
            # One statement per batch, the ids travelling as a JSON array SQLite expands:
            # no Python object per member. Adds before removes, the order of the table's
            # key, so each batch's rows (sorted by the caller) append to the end of a range.
            for number, action, ids in sorted(
                ((n, a, ids) for n, (a, ids) in enumerate(batches)), key=lambda b: b[1]
            ):
                db.execute(
                    "INSERT INTO members (run_id, action, customer_id, batch)"
                    " SELECT ?, ?, value, ? FROM json_each(?)",
                    (run_id, action, number, json.dumps(list(ids))),
                )
        # Move the rows just written out of the write-ahead log now, rather than inside a
        # batch's mark (SQLite checkpoints when a commit finds the log long); on a
        # connection of its own, so the first batches are marked meanwhile.
        self._checkpoint_soon()
        return run_id

    def _checkpoint_soon(self) -> None:
        """Copy the write-ahead log into the file, on a thread and a connection of its own.

        A checkpoint only copies what commits already wrote: nothing that was recorded
        depends on it. It waits for no lock, and a file gone meanwhile is left alone (the
        connection may not create one).
        """

        def checkpoint() -> None:
            with suppress(sqlite3.Error, OSError):
                db = sqlite3.connect(
                    f"{self.path.resolve().as_uri()}?mode=rw",
                    uri=True,
                    timeout=0.0,
                    isolation_level=None,
                )
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
                finally:
                    db.close()

        with self._lock:
            if self._checkpointer is not None and self._checkpointer.is_alive():
                return
            self._checkpointer = threading.Thread(
                target=checkpoint, name="segwidgets-journal-checkpoint", daemon=True
            )
            self._checkpointer.start()

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
        rows, names = self._query("SELECT * FROM runs WHERE run_id=?", (run_id,))
        if not rows:
            msg = f"No run {run_id!r} in the journal at {self.path}."
            raise RunNotFoundError(msg)
        return RunRecord(zip(names, rows[0], strict=True))

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
        rows, names = self._query(query, args)
        rows = self._effective_status(rows, names)
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
        rows, _ = self._query(
            f"SELECT json_group_array(customer_id) FROM member_states WHERE run_id=? AND action=? AND status IN ({marks})",  # noqa: S608 (placeholders only)
            (run_id, action, *wanted),
        )
        found: list[str] = json.loads(rows[0][0])  # one JSON array: no Python row per id
        return found

    def member_frame(self, run_id: str) -> pl.DataFrame:
        """Every member change of a run: customer_id, action, status, batch, error."""

        def step() -> tuple[tuple[str, ...], list[Any]]:
            # Each column as one JSON array (no Python row per member); the member_states
            # view's join with batches, and the order, are done on the frame.
            members = self._db.execute(
                "SELECT json_group_array(customer_id), json_group_array(action),"
                " json_group_array(status), json_group_array(batch), json_group_array(error)"
                " FROM members WHERE run_id=?",
                (run_id,),
            ).fetchone()
            batches = self._db.execute(
                "SELECT batch, member_status, error FROM batches WHERE run_id=?", (run_id,)
            ).fetchall()
            return members, batches

        with self._lock:
            columns, batches = self._retry(step)
        frame = pl.DataFrame(
            [json.loads(column) for column in columns],
            schema=_MEMBER_FRAME_SCHEMA,
            orient="col",
        )
        batch_frame = pl.DataFrame(
            batches,
            schema={"batch": pl.Int64, "batch_status": pl.String, "batch_error": pl.String},
            orient="row",
        )
        own = pl.col("status").is_not_null()
        return (
            frame.join(batch_frame, on="batch", how="left")
            .select(
                "customer_id",
                "action",
                pl.coalesce("status", "batch_status", pl.lit("pending")).alias("status"),
                "batch",
                pl.when(own).then("error").otherwise("batch_error").alias("error"),
            )
            .sort("action", "customer_id")
        )

    def next_batch_number(self, run_id: str) -> int:
        """The first unused batch number of a run."""
        rows, _ = self._query(
            "SELECT COALESCE(MAX(batch), -1) + 1 FROM batches WHERE run_id=?", (run_id,)
        )
        return int(rows[0][0])

    def batch_sending(
        self, run_id: str, batch: int, action: Action, ids: Sequence[str] | None = None
    ) -> None:
        """Before a batch goes out: the batch, and so its members, are ``sending``.

        ``ids=None`` for a batch recorded by ``start_run`` (one row is written); otherwise
        a new batch of these members, who move to it (a resend or a split).
        """
        if ids is None:
            # One statement: SQLite commits it on its own, no BEGIN/COMMIT round.
            updated = self._exec(
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
        self._exec(
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
        """Set the status of some members (verification, reconciliation).

        When ``ids`` hold every member of an answered batch (a verification), with no
        ``error``, the status is set on the batch (``member_status``), as its answer was:
        one row written for the batch instead of one per member.
        """
        chosen = list(ids)
        if not chosen:
            return
        with self._tx() as db:
            planned = db.execute(
                "SELECT COALESCE(SUM(size), 0) FROM batches WHERE run_id=? AND action=?",
                (run_id, action),
            ).fetchone()[0]
            many = 2 * len(chosen) >= planned
            if many and error is None:
                chosen = _set_whole_batches(db, run_id, action, chosen, status)
            if not chosen:
                return
            # Few ids: each one looked up by the table's key. Many of the action's members:
            # one pass over the action's rows, each looked up among the ids
            # (``+customer_id`` keeps SQLite from using the key for it), cheaper than as
            # many lookups in the table.
            column = "+customer_id" if 2 * len(chosen) >= planned else "customer_id"
            db.execute(
                "UPDATE members SET status=?, error=? WHERE run_id=? AND action=?"  # noqa: S608 (no value)
                f" AND {column} IN (SELECT value FROM json_each(?))",
                (status, error, run_id, action, json.dumps(chosen)),
            )

    def batch_frame(self, run_id: str) -> pl.DataFrame:
        """Every batch of a run."""
        rows, _ = self._query(
            "SELECT batch, action, size, status, started_at, finished_at, error FROM batches"
            " WHERE run_id=? ORDER BY batch",
            (run_id,),
        )
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
        rows, _ = self._query(query, (merchant_code, target, segment_code))
        for customer_id, action, _ in rows:
            owned[customer_id] = action == "add"
        return [cid for cid, is_owned in owned.items() if is_owned]

    # -- segment leases ---------------------------------------------------------------------

    def acquire_lease(
        self,
        *,
        merchant_code: str,
        target: str,
        segment_code: str,
        kind: str,
        run_id: str | None = None,
        stale_after: float = DEFAULT_STALE_AFTER,
    ) -> str:
        """Become the one writer of a segment; returns the holder id to renew and release.

        Raises ``SegmentBusyError`` (who, since when) if a live holder has it. A lease whose
        process is gone (on this machine) or whose heartbeat is older than ``stale_after``
        seconds is taken over. Checked and written in one transaction.
        """
        holder = uuid.uuid4().hex
        now = time.time()
        taken_over: LeaseHolder | None = None
        with self._tx() as db:
            row = db.execute(
                "SELECT holder, run_id, kind, pid, host, since, heartbeat FROM leases"
                " WHERE merchant_code=? AND target=? AND segment_code=?",
                (merchant_code, target, segment_code),
            ).fetchone()
            if row is not None:
                current = LeaseHolder(*row)
                if current.is_alive(now=now, stale_after=stale_after):
                    msg = (
                        f"Segment {segment_code!r} is already being pushed by {current.describe()}. "
                        "Nothing was sent. Wait for it to finish (segwidgets history shows "
                        "it); if that process is gone, its hold ends "
                        f"{stale_after:g} s after its last sign of life."
                    )
                    raise SegmentBusyError(
                        msg,
                        holder={
                            "run_id": current.run_id,
                            "kind": current.kind,
                            "pid": current.pid,
                            "host": current.host,
                            "since": current.since,
                        },
                    )
                taken_over = current
            db.execute(
                "INSERT OR REPLACE INTO leases (merchant_code, target, segment_code, holder,"
                " run_id, kind, pid, host, since, heartbeat) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    merchant_code,
                    target,
                    segment_code,
                    holder,
                    run_id,
                    kind,
                    os.getpid(),
                    socket.gethostname(),
                    _now(),
                    now,
                ),
            )
        _HELD.add(holder)
        if taken_over is not None:
            logger.warning(
                "Segment %r was held by %s, which stopped; taken over.",
                segment_code,
                taken_over.describe(),
            )
        return holder

    def renew_lease(self, holder: str, *, run_id: str | None = None) -> bool:
        """A heartbeat (and the run id once known). False if the lease is no longer ours."""
        if run_id is None:
            cur = self._exec("UPDATE leases SET heartbeat=? WHERE holder=?", (time.time(), holder))
        else:
            cur = self._exec(
                "UPDATE leases SET heartbeat=?, run_id=? WHERE holder=?",
                (time.time(), run_id, holder),
            )
        return cur.rowcount == 1

    def release_lease(self, holder: str) -> None:
        """Give the segment up."""
        _HELD.discard(holder)
        self._exec("DELETE FROM leases WHERE holder=?", (holder,))

    def lease(self, merchant_code: str, target: str, segment_code: str) -> LeaseHolder | None:
        """Who holds a segment now (alive or not), if anyone."""
        rows, _ = self._query(
            "SELECT holder, run_id, kind, pid, host, since, heartbeat FROM leases"
            " WHERE merchant_code=? AND target=? AND segment_code=?",
            (merchant_code, target, segment_code),
        )
        return LeaseHolder(*rows[0]) if rows else None

    def _effective_status(
        self, rows: list[Any], names: list[str], *, stale_after: float = DEFAULT_STALE_AFTER
    ) -> list[Any]:
        """A run recorded ``running`` whose process holds no live lease was interrupted."""
        at = names.index("status")
        if not any(row[at] == "running" for row in rows):
            return rows
        leases, _ = self._query(
            "SELECT holder, run_id, kind, pid, host, since, heartbeat FROM leases"
        )
        now = time.time()
        live = {
            lease.run_id
            for lease in (LeaseHolder(*row) for row in leases)
            if lease.is_alive(now=now, stale_after=stale_after)
        }
        run_at = names.index("run_id")
        return [
            row
            if row[at] != "running" or row[run_at] in live
            else (*row[:at], "interrupted", *row[at + 1 :])
            for row in rows
        ]

    def is_running(self, run_id: str, *, stale_after: float = DEFAULT_STALE_AFTER) -> bool:
        """Whether a live process is working on this run now."""
        rows, names = self._query("SELECT run_id, status FROM runs WHERE run_id=?", (run_id,))
        return (
            bool(rows)
            and self._effective_status(rows, names, stale_after=stale_after)[0][1] == "running"
        )

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
        self._exec(_TRAITS_TABLE)
        rows, _ = self._query(
            "SELECT traits FROM server_traits WHERE merchant_code=? AND target=?",
            (merchant, target),
        )
        if not rows:
            return None
        data = json.loads(rows[0][0])
        return data if isinstance(data, dict) else None

    # -- segment sizes --------------------------------------------------------------------------

    def record_size(
        self,
        run_id: str,
        *,
        merchant_code: str,
        target: str,
        segment_code: str,
        n_before: int,
        n_after: int,
    ) -> None:
        """Keep a segment's member count before and after a run (for the size-over-time
        chart); a second record for the same run replaces the first (a resume)."""
        with self._tx() as db:
            db.execute(_SIZES_TABLE)
            db.execute(
                "INSERT OR REPLACE INTO segment_sizes VALUES (?, ?, ?, ?, ?, ?, ?)",
                (run_id, merchant_code, target, segment_code, _now(), n_before, n_after),
            )

    def sizes(self, merchant_code: str, target: str, segment_code: str) -> pl.DataFrame:
        """The recorded sizes of a segment, oldest first: ``run_id``, ``recorded_at``
        (ISO time, UTC), ``n_before``, ``n_after``."""
        self._exec(_SIZES_TABLE)
        rows, _ = self._query(
            "SELECT run_id, recorded_at, n_before, n_after FROM segment_sizes"
            " WHERE merchant_code=? AND target=? AND segment_code=?"
            " ORDER BY recorded_at, run_id",
            (merchant_code, target, segment_code),
        )
        return pl.DataFrame(
            rows,
            schema={
                "run_id": pl.String,
                "recorded_at": pl.String,
                "n_before": pl.Int64,
                "n_after": pl.Int64,
            },
            orient="row",
        )


def _set_whole_batches(
    db: sqlite3.Connection, run_id: str, action: Action, ids: list[str], status: MemberStatus
) -> list[str]:
    """Set ``status`` on each answered batch (with no error) whose members are all in
    ``ids``; the ids left (in no such batch) are returned.

    An answered batch is marked no more (``batch_done`` records its answer once; a resend
    makes a new batch), so its ``member_status`` can hold a later status of all its
    members: the members that had one of their own follow the batch again.
    """
    answered = {
        row[0]
        for row in db.execute(
            "SELECT batch FROM batches WHERE run_id=? AND action=?"
            " AND status NOT IN ('pending', 'sending') AND error IS NULL",
            (run_id, action),
        )
    }
    if not answered:
        return ids
    # Every member of the action with its batch: two JSON arrays, no Python row each.
    members, numbers = db.execute(
        "SELECT json_group_array(customer_id), json_group_array(batch) FROM members"
        " WHERE run_id=? AND action=?",
        (run_id, action),
    ).fetchone()
    in_action: list[str] = json.loads(members)
    batch_numbers: list[int | None] = json.loads(numbers)
    wanted = set(ids)
    size = Counter(batch_numbers)
    whole = answered.intersection(size)
    left_out = set(in_action).difference(wanted)
    if left_out:
        whole.difference_update(
            number for cid, number in zip(in_action, batch_numbers, strict=True) if cid in left_out
        )
    if not whole:
        return ids
    numbers_json = json.dumps(sorted(whole))
    db.execute(
        "UPDATE batches SET member_status=? WHERE run_id=? AND batch IN"
        " (SELECT value FROM json_each(?))",
        (status, run_id, numbers_json),
    )
    db.execute(
        "UPDATE members SET status=NULL, error=NULL WHERE run_id=? AND action=?"
        " AND status IS NOT NULL AND batch IN (SELECT value FROM json_each(?))",
        (run_id, action, numbers_json),
    )
    if len(wanted) == sum(size[number] for number in whole):
        return []  # the ids are the members of these batches, no other
    done = {cid for cid, number in zip(in_action, batch_numbers, strict=True) if number in whole}
    return [cid for cid in ids if cid not in done]


_MEMBER_FRAME_SCHEMA = {
    "customer_id": pl.String,
    "action": pl.String,
    "status": pl.String,
    "batch": pl.Int64,
    "error": pl.String,
}

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

#: A segment's member count at each run (created on first use, like ``server_traits``).
_SIZES_TABLE = """
CREATE TABLE IF NOT EXISTS segment_sizes (
    run_id TEXT PRIMARY KEY,
    merchant_code TEXT NOT NULL,
    target TEXT NOT NULL,
    segment_code TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    n_before INTEGER NOT NULL,
    n_after INTEGER NOT NULL
)
"""
