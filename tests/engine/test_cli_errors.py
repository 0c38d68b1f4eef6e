"""The headless commands end in one line and an exit code, never a traceback.

* segment codes are checked before any request (exit 2, the code shown escaped);
* ``--save-plan`` and ``--journal`` problems (missing directory, a directory, no
  permission, disk full, not a journal) are exit 2 with one line;
* Ctrl-C ends with exit 130 and names the run to resume, and ``resume`` finishes it.
"""

from __future__ import annotations

import errno
import os
import re
import sqlite3
from pathlib import Path

import polars as pl
import pytest
from _kit.cli import set_cli_env

from segwidgets import InvalidSegmentCodeError, SegmentSession
from segwidgets import _cli_sync as cli_sync
from segwidgets._client import ShopgateClient
from segwidgets._plan import SegmentPlan
from segwidgets._segment_code import check_segment_code
from segwidgets.cli import main


@pytest.fixture
def env(sandbox, tmp_path, monkeypatch):
    set_cli_env(monkeypatch, sandbox, tmp_path / "journal.sqlite3")
    return sandbox


def id_file(sandbox, tmp_path: Path, n: int) -> tuple[Path, list[str]]:
    frame = sandbox.model.customers_frame()
    ids = (
        frame.filter(~pl.col("isAnonymous") & (pl.col("status") != "deleted"))
        .get_column("id")
        .head(n)
        .to_list()
    )
    path = tmp_path / "ids.csv"
    pl.DataFrame({"customer_id": ids}).write_csv(path)
    return path, ids


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.endswith("\n")
    assert err.count("\n") == 1, err
    assert "\r" not in err
    return err


BAD_CODES = [
    "",
    "   ",
    "a/b",
    ".",
    "..",
    "vip\r\nX-Injected: yes",
    "\x1b[31mred",
    "vip\u2028",
    " vip",
]


@pytest.mark.parametrize("code", BAD_CODES)
def test_check_segment_code_refuses(code: str) -> None:
    with pytest.raises(InvalidSegmentCodeError) as info:
        check_segment_code(code)
    message = str(info.value)
    assert "\n" not in message
    assert "\r" not in message
    assert "\x1b" not in message
    assert "\u2028" not in message


@pytest.mark.parametrize("code", ["vip", "newsletter-2026", "Ä_b.c", "a b", "..x", "123"])
def test_check_segment_code_accepts(code: str) -> None:
    assert check_segment_code(code) == code


@pytest.mark.parametrize("code", BAD_CODES)
def test_cli_refuses_bad_codes_before_any_request(env, tmp_path, capsys, code: str) -> None:
    path, _ = id_file(env, tmp_path, 3)
    before = env.state()["requests"]
    assert main(["sync", "--segment", code, "--members", str(path), "--yes"]) == 2
    err = one_line_error(capsys)
    assert "InvalidSegmentCodeError" in err
    assert env.state()["requests"] == before
    assert not (tmp_path / "journal.sqlite3").exists()  # not even the session was opened


def test_history_refuses_a_bad_code(env, capsys) -> None:
    assert main(["history", "--segment", "a/../b"]) == 2
    assert "InvalidSegmentCodeError" in one_line_error(capsys)


def test_session_checks_codes_before_any_request(env, tmp_path) -> None:
    with SegmentSession(env.credentials, journal=tmp_path / "j.sqlite3") as session:
        n = session.client.stats.n_requests
        for method in (session.members, session.segment):
            with pytest.raises(InvalidSegmentCodeError):
                method("..")
        with pytest.raises(InvalidSegmentCodeError):
            session.plan("a/b", ["c1"])
        with pytest.raises(InvalidSegmentCodeError):
            session.create_segment("x\ny", "name")
        assert session.client.stats.n_requests == n


# -- --save-plan and --journal ----------------------------------------------------------------


def test_save_plan_missing_directory(env, tmp_path, capsys) -> None:
    path, _ = id_file(env, tmp_path, 3)
    target = tmp_path / "nowhere" / "plan.json"
    args = ["sync", "--segment", "vip", "--members", str(path), "--save-plan", str(target)]
    assert main(args) == 2
    err = one_line_error(capsys)
    assert "does not exist" in err
    assert not (tmp_path / "journal.sqlite3").exists()  # checked before the session opened


def test_save_plan_a_directory(env, tmp_path, capsys) -> None:
    path, _ = id_file(env, tmp_path, 3)
    args = ["sync", "--segment", "vip", "--members", str(path), "--save-plan", str(tmp_path)]
    assert main(args) == 2
    assert "is a directory" in one_line_error(capsys)


def test_save_plan_a_fifo(env, tmp_path, capsys) -> None:
    path, _ = id_file(env, tmp_path, 3)
    fifo = tmp_path / "plan.fifo"
    os.mkfifo(fifo)
    args = ["sync", "--segment", "vip", "--members", str(path), "--save-plan", str(fifo)]
    assert main(args) == 2
    assert "not a regular file" in one_line_error(capsys)


def test_save_plan_no_permission(env, tmp_path, capsys, monkeypatch) -> None:
    # The tests may run as root, for whom file modes do not refuse: the check is forced.
    path, _ = id_file(env, tmp_path, 3)
    locked = tmp_path / "locked"
    locked.mkdir()
    monkeypatch.setattr(cli_sync.os, "access", lambda p, mode: Path(p) != locked)
    target = locked / "plan.json"
    args = ["sync", "--segment", "vip", "--members", str(path), "--save-plan", str(target)]
    assert main(args) == 2
    assert "permission denied" in one_line_error(capsys)


def test_save_plan_disk_full_sends_nothing(env, tmp_path, capsys, monkeypatch) -> None:
    path, ids = id_file(env, tmp_path, 3)

    def full(self, target):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))

    monkeypatch.setattr(SegmentPlan, "save", full)
    target = tmp_path / "plan.json"
    args = ["sync", "--segment", "vip", "--members", str(path), "--mode", "add"]
    assert main([*args, "--save-plan", str(target), "--yes"]) == 2
    _, err = capsys.readouterr()
    assert "Traceback" not in err
    assert err.count("\n") == 1
    assert "No space left on device" in err
    assert not set(ids) & env.member_ids("vip")


def test_journal_a_directory(env, tmp_path, capsys) -> None:
    assert main(["history", "--journal", str(tmp_path)]) == 2
    assert "is a directory" in one_line_error(capsys)


def test_journal_under_a_file(env, tmp_path, capsys) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    assert main(["history", "--journal", str(blocker / "journal.sqlite3")]) == 2
    err = one_line_error(capsys)
    assert "journal" in err.lower()


@pytest.mark.parametrize(
    ("command", "code"),
    # history cannot show the runs (1, issue 11: never "no runs yet"); sync was given an
    # unusable --journal (2)
    [("history", 1), ("sync", 2)],
)
def test_journal_not_a_database(env, tmp_path, capsys, command: str, code: int) -> None:
    bad = tmp_path / "journal.sqlite3"
    bad.write_bytes(b"no database here " * 200)
    path, _ = id_file(env, tmp_path, 3)
    extra = ["--segment", "vip", "--members", str(path)] if command == "sync" else []
    assert main([command, "--journal", str(bad), *extra]) == code
    err = one_line_error(capsys)
    assert "pass --journal another file" in err.lower()


def test_journal_no_permission(env, tmp_path, capsys, monkeypatch) -> None:
    # As root, file modes do not refuse: the refusal is injected where the journal opens.
    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "j.sqlite3"))

    monkeypatch.setattr("segwidgets._journal.os.open", refused)
    path, _ = id_file(env, tmp_path, 3)
    args = ["sync", "--segment", "vip", "--members", str(path)]
    assert main([*args, "--journal", str(tmp_path / "j.sqlite3")]) == 2
    err = one_line_error(capsys)
    assert "Permission denied" in err


def test_journal_disk_full_during_a_run(env, tmp_path, capsys, monkeypatch) -> None:
    path, ids = id_file(env, tmp_path, 3)

    def full(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr("segwidgets._journal.Journal.start_run", full)
    args = ["sync", "--segment", "vip", "--members", str(path), "--mode", "add", "--yes"]
    assert main(args) == 2
    err = one_line_error(capsys)
    assert "disk is full" in err
    assert not set(ids) & env.member_ids("vip")


# -- Ctrl-C ------------------------------------------------------------------------------------


def test_ctrl_c_during_push_names_the_run_and_resume_finishes(
    env, tmp_path, capsys, monkeypatch
) -> None:
    path, ids = id_file(env, tmp_path, 30)
    real_add = ShopgateClient.add_members
    calls = {"n": 0}

    def add_then_interrupt(self, code, batch, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_add(self, code, batch, **kw)

    monkeypatch.setattr(ShopgateClient, "add_members", add_then_interrupt)
    args = ["sync", "--segment", "vip", "--members", str(path), "--mode", "add", "--yes"]
    assert main([*args, "--batch-size", "10", "--concurrency", "1"]) == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err
    match = re.search(r"interrupted — run (\S+); `segwidgets resume \1` sends the rest", err)
    assert match, err
    run_id = match.group(1)
    assert not set(ids) <= env.member_ids("vip")
    monkeypatch.setattr(ShopgateClient, "add_members", real_add)
    assert main(["resume", run_id]) == 0
    assert set(ids) <= env.member_ids("vip")


def test_ctrl_c_before_any_run_says_nothing_was_sent(env, tmp_path, capsys, monkeypatch) -> None:
    path, ids = id_file(env, tmp_path, 5)

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(SegmentSession, "plan", interrupt)
    args = ["sync", "--segment", "vip", "--members", str(path), "--mode", "add", "--yes"]
    assert main(args) == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "interrupted — nothing was sent" in err
    assert not set(ids) & env.member_ids("vip")
