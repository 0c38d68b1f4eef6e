"""The journal: runs, member statuses, owned ids, file permissions."""

from __future__ import annotations

import os
import sqlite3
import stat
import uuid

import polars as pl
import pytest

from segwidgets._errors import JournalError, RunNotFoundError
from segwidgets._journal import Action, Journal, default_journal_path


@pytest.fixture
def journal(tmp_path):
    j = Journal(tmp_path / "j.sqlite3")
    yield j
    j.close()


def start(journal: Journal, adds=("a", "b"), removes=("c",), segment="seg", batches=None) -> str:
    """A run of ``batches`` (default: one of ``adds`` and one of ``removes``)."""
    if batches is None:
        batches = [("add", list(adds)), ("remove", list(removes))]
    return journal.start_run(
        kind="apply",
        plan_id=uuid.uuid4().hex,
        merchant_code="DEMO",
        target="http://127.0.0.1:1/{service}",
        segment_code=segment,
        mode="mirror",
        live_fingerprint="f",
        batches=batches,
        settings={"batch_size": 2},
    )


def test_file_is_private(tmp_path) -> None:
    j = Journal(tmp_path / "sub" / "j.sqlite3")
    assert stat.S_IMODE((tmp_path / "sub" / "j.sqlite3").stat().st_mode) == 0o600
    j.close()


def test_env_var_overrides_location(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("SEGWIDGETS_JOURNAL", str(tmp_path / "custom.sqlite3"))
    assert default_journal_path() == tmp_path / "custom.sqlite3"


def test_run_lifecycle(journal: Journal) -> None:
    run_id = start(journal)
    assert journal.run(run_id).status == "running"
    assert sorted(journal.member_ids(run_id, "add", ["pending"])) == ["a", "b"]
    journal.batch_sending(run_id, 0, "add")
    assert journal.member_ids(run_id, "add", ["pending"]) == []
    assert sorted(journal.member_ids(run_id, "add", ["sending"])) == ["a", "b"]
    journal.batch_done(run_id, 0, status="applied", batch_status="confirmed")
    assert journal.next_batch_number(run_id) == 2  # batch 1 holds the remove
    journal.finish_run(run_id, status="verified", n_requests=3)
    record = journal.run(run_id)
    assert (record.status, record.n_requests) == ("verified", 3)
    frame = journal.member_frame(run_id)
    assert frame.height == 3
    assert set(frame.filter(frame["action"] == "add")["status"]) == {"applied"}
    history = journal.runs(merchant_code="DEMO", segment_code="seg")
    assert history.get_column("run_id").to_list() == [run_id]


def test_unknown_run(journal: Journal) -> None:
    with pytest.raises(RunNotFoundError, match="No run 'nope'"):
        journal.run("nope")


def test_owned_ids_follow_adds_and_later_removes(journal: Journal) -> None:
    first = start(journal, adds=("a", "b"), removes=())
    journal.set_member_status(first, "add", ["a", "b"], "verified")
    second = start(journal, adds=(), removes=("a",))
    journal.set_member_status(second, "remove", ["a"], "verified")
    third = start(journal, adds=("z",), removes=())  # never confirmed: not owned
    assert third
    assert journal.owned_ids("DEMO", "http://127.0.0.1:1/{service}", "seg") == ["b"]
    assert journal.owned_ids("OTHER", "http://127.0.0.1:1/{service}", "seg") == []


def test_members_follow_their_batch_until_they_get_a_status_of_their_own(journal: Journal) -> None:
    run_id = start(journal, adds=("a", "b", "c"), removes=())
    journal.batch_sending(run_id, 0, "add")
    journal.batch_done(run_id, 0, status="applied", batch_status="confirmed")
    journal.set_member_status(run_id, "add", ["b"], "verified")
    frame = journal.member_frame(run_id).sort("customer_id")
    assert frame["status"].to_list() == ["applied", "verified", "applied"]
    # A resend moves members to a new batch: they follow it, not their old one.
    journal.batch_sending(run_id, 2, "add", ["b", "c"])
    journal.batch_done(run_id, 2, status="failed", batch_status="rejected", error="no")
    frame = journal.member_frame(run_id).sort("customer_id")
    assert frame.select("status", "batch", "error").rows() == [
        ("applied", 0, None),
        ("failed", 2, "no"),
        ("failed", 2, "no"),
    ]


def _view(journal: Journal, run_id: str) -> list[tuple[object, ...]]:
    """The member_states view itself, for comparison with the frames built from it."""
    return journal._db.execute(
        "SELECT customer_id, action, status, batch, error FROM member_states"
        " WHERE run_id=? ORDER BY action, customer_id",
        (run_id,),
    ).fetchall()


def _batches(journal: Journal, run_id: str) -> list[tuple[object, ...]]:
    return journal._db.execute(
        "SELECT batch, member_status FROM batches WHERE run_id=? ORDER BY batch", (run_id,)
    ).fetchall()


def _own_statuses(journal: Journal, run_id: str) -> list[tuple[object, ...]]:
    return journal._db.execute(
        "SELECT customer_id, status FROM members WHERE run_id=? AND status IS NOT NULL"
        " ORDER BY customer_id",
        (run_id,),
    ).fetchall()


def test_a_status_for_every_member_of_answered_batches_is_set_on_the_batches(
    journal: Journal,
) -> None:
    run_id = start(journal, batches=[("add", ["a", "b"]), ("add", ["c", "d"]), ("add", ["e", "f"])])
    for batch in range(3):
        journal.batch_sending(run_id, batch, "add")
    journal.set_member_status(run_id, "add", ["b"], "failed", error="refused")
    journal.batch_done(run_id, 0, status="applied", batch_status="confirmed")
    journal.batch_done(run_id, 1, status="applied", batch_status="confirmed")
    journal.batch_done(run_id, 2, status="sending", batch_status="uncertain", error="no answer")
    # Every member of batches 0 and 1, one of batch 2 (whose answer carries an error).
    journal.set_member_status(run_id, "add", ["a", "b", "c", "d", "e"], "verified")
    assert _batches(journal, run_id) == [(0, "verified"), (1, "verified"), (2, "sending")]
    assert _own_statuses(journal, run_id) == [("e", "verified")]
    expected = [
        ("a", "add", "verified", 0, None),
        ("b", "add", "verified", 0, None),
        ("c", "add", "verified", 1, None),
        ("d", "add", "verified", 1, None),
        ("e", "add", "verified", 2, None),
        ("f", "add", "sending", 2, "no answer"),
    ]
    assert _view(journal, run_id) == expected
    assert journal.member_frame(run_id).rows() == expected
    assert journal.member_ids(run_id, "add", ["verified"]) == ["a", "b", "c", "d", "e"]
    # A status with an error is each member's own.
    journal.set_member_status(run_id, "add", ["a", "b"], "unverified", error="not seen")
    assert _batches(journal, run_id)[0] == (0, "verified")
    assert journal.member_frame(run_id).rows()[:2] == [
        ("a", "add", "unverified", 0, "not seen"),
        ("b", "add", "unverified", 0, "not seen"),
    ]


def test_members_marked_before_their_batch_is_answered_keep_their_status(
    journal: Journal,
) -> None:
    # Refused ids are marked before their batch's answer is recorded: that answer must
    # not overwrite them, even when they are the whole batch.
    run_id = start(journal, adds=("a", "b"), removes=("c",))
    journal.batch_sending(run_id, 0, "add")
    journal.set_member_status(run_id, "add", ["a", "b"], "applied")
    journal.batch_done(run_id, 0, status="sending", batch_status="uncertain")
    assert journal.member_frame(run_id).filter(action="add")["status"].to_list() == [
        "applied",
        "applied",
    ]
    assert _own_statuses(journal, run_id) == [("a", "applied"), ("b", "applied")]


def test_member_frame_is_the_member_states_view_in_key_order(journal: Journal) -> None:
    ids = [uuid.uuid4().hex for _ in range(60)]
    batches: list[tuple[Action, list[str]]] = [
        ("remove", ids[40:50]),
        ("remove", ids[50:]),
        ("add", ids[:20]),  # unsorted ids, batches out of the key's order
        ("add", ids[20:40]),
    ]
    run_id = start(journal, batches=batches)
    journal.batch_sending(run_id, 0, "remove")
    journal.batch_done(run_id, 0, status="accepted", batch_status="confirmed")
    journal.batch_sending(run_id, 2, "add")
    journal.batch_done(run_id, 2, status="failed", batch_status="rejected", error="bad")
    journal.batch_sending(run_id, 4, "add", ids[5:15])  # a resend moves them
    journal.batch_done(run_id, 4, status="applied", batch_status="confirmed")
    journal.set_member_status(run_id, "remove", ids[40:45], "verified")
    journal.set_member_status(run_id, "add", ids[25:30], "failed", error="unknown")
    frame = journal.member_frame(run_id)
    assert frame.schema == {
        "customer_id": pl.String,
        "action": pl.String,
        "status": pl.String,
        "batch": pl.Int64,
        "error": pl.String,
    }
    assert frame.rows() == _view(journal, run_id)
    assert frame.height == 60
    assert journal.member_frame("no such run").height == 0


def test_sending_a_batch_that_was_never_cut_is_an_error(journal: Journal) -> None:
    run_id = start(journal)
    with pytest.raises(JournalError, match="no remove batch 0"):
        journal.batch_sending(run_id, 0, "remove")


def test_a_journal_of_the_first_layout_is_upgraded_in_place(tmp_path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE runs (run_id TEXT PRIMARY KEY, kind TEXT NOT NULL, parent_run_id TEXT,
            plan_id TEXT NOT NULL, merchant_code TEXT NOT NULL, target TEXT NOT NULL,
            segment_code TEXT NOT NULL, mode TEXT NOT NULL, live_fingerprint TEXT NOT NULL,
            n_add INTEGER NOT NULL, n_remove INTEGER NOT NULL, settings TEXT NOT NULL,
            status TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT,
            n_requests INTEGER NOT NULL DEFAULT 0, message TEXT);
        CREATE TABLE members (run_id TEXT NOT NULL, action TEXT NOT NULL,
            customer_id TEXT NOT NULL, status TEXT NOT NULL, batch INTEGER, error TEXT,
            PRIMARY KEY (run_id, action, customer_id)) WITHOUT ROWID;
        CREATE TABLE batches (run_id TEXT NOT NULL, batch INTEGER NOT NULL,
            action TEXT NOT NULL, size INTEGER NOT NULL, status TEXT NOT NULL,
            started_at TEXT, finished_at TEXT, error TEXT, PRIMARY KEY (run_id, batch));
        INSERT INTO runs VALUES ('r1', 'apply', NULL, 'p', 'DEMO', 't', 'seg', 'mirror', 'f',
            2, 0, '{}', 'verified', '2026-01-01T00:00:00', NULL, 3, NULL);
        INSERT INTO members VALUES ('r1', 'add', 'a', 'verified', 0, NULL),
            ('r1', 'add', 'b', 'failed', 0, 'refused');
        INSERT INTO batches VALUES ('r1', 0, 'add', 2, 'confirmed', NULL, NULL, NULL);
        """
    )
    db.close()
    journal = Journal(path)
    try:
        frame = journal.member_frame("r1")
        assert frame.select("customer_id", "status", "error").rows() == [
            ("a", "verified", None),
            ("b", "failed", "refused"),
        ]
        assert journal.owned_ids("DEMO", "t", "seg") == ["a"]
        run_id = start(journal)  # and it takes new runs
        assert sorted(journal.member_ids(run_id, "add", ["pending"])) == ["a", "b"]
    finally:
        journal.close()
    again = Journal(path)  # opening an upgraded journal changes nothing
    assert again.member_frame("r1").height == 2
    again.close()


def test_a_journal_from_a_newer_version_is_refused(tmp_path) -> None:
    path = tmp_path / "new.sqlite3"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version=99")
    db.close()
    with pytest.raises(JournalError, match="newer segwidgets"):
        Journal(path)


# -- files the journal did not create, damaged files, locks ---------------------------------


def test_an_existing_file_keeps_its_mode(tmp_path) -> None:
    path = tmp_path / "shared.sqlite3"
    Journal(path).close()
    path.chmod(0o640)
    Journal(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_a_file_that_is_not_a_journal_is_refused_and_left_alone(tmp_path) -> None:
    path = tmp_path / "some.csv"
    path.write_text("customer_id\n1\n")
    path.chmod(0o644)
    with pytest.raises(JournalError, match="not a segwidgets journal"):
        Journal(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert path.read_text() == "customer_id\n1\n"


def test_reading_commands_refuse_a_missing_or_emptied_journal(tmp_path) -> None:
    path = tmp_path / "j.sqlite3"
    with pytest.raises(JournalError, match="There is no journal"):
        Journal(path, must_exist=True)
    assert not path.exists()
    path.write_bytes(b"")
    with pytest.raises(JournalError, match=r"empty \(0 bytes\)"):
        Journal(path, must_exist=True)


def test_check_intact_sees_a_deleted_emptied_or_replaced_file(tmp_path) -> None:
    path = tmp_path / "j.sqlite3"
    for damage in ("delete", "empty", "overwrite", "replace"):
        j = Journal(path)
        start(j)
        j.check_intact()
        if damage == "delete":
            path.unlink()
            match = "was deleted during the run"
        elif damage == "empty":
            path.write_bytes(b"")
            match = "became empty"
        elif damage == "overwrite":  # in place: the same file, its size kept
            with path.open("r+b") as f:
                f.write(b"\0" * 100)
            match = "became not a segwidgets journal"
        else:
            path.rename(tmp_path / "old")
            Journal(path).close()
            match = "replaced by another file"
        with pytest.raises(JournalError, match=match):
            j.check_intact()
        j.close()
        for leftover in tmp_path.iterdir():
            leftover.unlink()


def test_a_locked_journal_gives_up_in_the_time_given(tmp_path) -> None:
    import time

    path = tmp_path / "j.sqlite3"
    j = Journal(path, lock_timeout=0.3)
    run_id = start(j)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        t = time.monotonic()
        with pytest.raises(JournalError, match=r"stayed locked by another process for 0\.3 s"):
            j.finish_run(run_id, status="verified", n_requests=1)
        assert time.monotonic() - t < 3
        # the steps that follow a give-up do not wait again
        t = time.monotonic()
        with pytest.raises(JournalError):
            j.batch_done(run_id, 0, status="applied", batch_status="confirmed")
        assert time.monotonic() - t < 1.5
    finally:
        other.execute("ROLLBACK")
        other.close()
    j.finish_run(run_id, status="verified", n_requests=1)
    assert j.run(run_id).status == "verified"
    j.close()


# -- segment leases -------------------------------------------------------------------------

KEY = {"merchant_code": "DEMO", "target": "http://127.0.0.1:1/{service}", "segment_code": "seg"}


def test_a_second_writer_is_refused_with_who_and_since(journal: Journal) -> None:
    from segwidgets._errors import SegmentBusyError

    holder = journal.acquire_lease(**KEY, kind="apply")
    journal.renew_lease(holder, run_id="RUN-1")
    with pytest.raises(SegmentBusyError, match="already being pushed by run RUN-1") as info:
        journal.acquire_lease(**KEY, kind="resume")
    assert info.value.holder["run_id"] == "RUN-1"
    assert info.value.holder["pid"] == os.getpid()
    assert info.value.holder["since"]
    # another segment is free
    journal.release_lease(journal.acquire_lease(**{**KEY, "segment_code": "other"}, kind="apply"))
    journal.release_lease(holder)
    journal.release_lease(journal.acquire_lease(**KEY, kind="resume"))


def test_a_lease_of_a_dead_process_or_a_silent_one_is_taken_over(journal: Journal) -> None:
    import subprocess
    import sys

    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead_pid = int(gone.stdout)
    holder = journal.acquire_lease(**KEY, kind="apply")
    journal._exec("UPDATE leases SET pid=? WHERE holder=?", (dead_pid, holder))
    taken = journal.acquire_lease(**KEY, kind="resume")
    assert not journal.renew_lease(holder)  # the old holder learns it lost the segment
    # alive but silent for longer than stale_after
    journal._exec("UPDATE leases SET heartbeat=heartbeat-1000 WHERE holder=?", (taken,))
    journal.acquire_lease(**KEY, kind="undo", stale_after=60)


def test_a_run_left_running_by_a_dead_process_reads_as_interrupted(journal: Journal) -> None:
    run_id = start(journal)
    holder = journal.acquire_lease(**KEY, kind="apply", run_id=run_id)
    assert journal.runs()["status"][0] == "running"
    assert journal.is_running(run_id)
    journal._exec("UPDATE leases SET heartbeat=0 WHERE holder=?", (holder,))
    assert journal.runs()["status"][0] == "interrupted"
    assert not journal.is_running(run_id)


def test_a_lease_taken_over_stops_its_old_holder(journal: Journal) -> None:
    import time

    from segwidgets._errors import SegmentBusyError
    from segwidgets._lease import SegmentLease

    lease = SegmentLease(journal, **KEY, kind="apply", heartbeat=0.02)
    try:
        lease.attach("RUN-1")
        lease.check()
        beat = journal.lease(**KEY)
        assert beat is not None
        time.sleep(0.1)
        renewed = journal.lease(**KEY)
        assert renewed is not None
        assert renewed.heartbeat > beat.heartbeat  # the heartbeat runs
        assert renewed.run_id == "RUN-1"
        journal._exec("UPDATE leases SET heartbeat=0")  # silent for long: taken over
        other = journal.acquire_lease(**KEY, kind="resume")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                lease.check()
            except SegmentBusyError:
                break
            time.sleep(0.01)
        else:
            pytest.fail("the old holder never noticed")
    finally:
        lease.release()
    # releasing a lost lease leaves the new holder's alone
    current = journal.lease(**KEY)
    assert current is not None
    assert current.holder == other
