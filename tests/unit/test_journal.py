"""The journal: runs, member statuses, owned ids, file permissions."""

from __future__ import annotations

import sqlite3
import stat
import uuid

import pytest

from segwidgets._errors import JournalError, RunNotFoundError
from segwidgets._journal import Journal, default_journal_path


@pytest.fixture
def journal(tmp_path):
    j = Journal(tmp_path / "j.sqlite3")
    yield j
    j.close()


def start(journal: Journal, adds=("a", "b"), removes=("c",), segment="seg") -> str:
    return journal.start_run(
        kind="apply",
        plan_id=uuid.uuid4().hex,
        merchant_code="DEMO",
        target="http://127.0.0.1:1/{service}",
        segment_code=segment,
        mode="mirror",
        live_fingerprint="f",
        batches=[("add", list(adds)), ("remove", list(removes))],
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
