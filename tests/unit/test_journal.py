"""The journal: runs, member statuses, owned ids, file permissions."""

from __future__ import annotations

import stat
import uuid

import pytest

from segwidgets._errors import RunNotFoundError
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
        adds=list(adds),
        removes=list(removes),
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
    journal.batch_sending(run_id, 0, "add", ["a", "b"])
    assert journal.member_ids(run_id, "add", ["pending"]) == []
    journal.batch_done(run_id, 0, "add", ["a", "b"], status="applied", batch_status="confirmed")
    assert journal.next_batch_number(run_id) == 1
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
