"""`segwidgets sync | history | undo | resume` against the sandbox, by exit code and output."""

from __future__ import annotations

import polars as pl
import pytest
from _kit.cli import set_cli_env

from segwidgets.cli import main


@pytest.fixture
def env(sandbox, tmp_path, monkeypatch):
    set_cli_env(monkeypatch, sandbox, tmp_path / "journal.sqlite3")
    return sandbox


def member_file(sandbox, tmp_path, n: int, name: str = "members.csv"):
    frame = sandbox.model.customers_frame()
    registered = frame.filter(~pl.col("isAnonymous") & (pl.col("status") != "deleted"))
    counts = registered.group_by(pl.col("emailAddress").str.to_lowercase().alias("e")).len()
    unique = registered.with_columns(e=pl.col("emailAddress").str.to_lowercase()).join(
        counts.filter(pl.col("len") == 1), on="e", how="semi"
    )
    chosen = unique.head(n)
    path = tmp_path / name
    chosen.select(pl.col("emailAddress").alias("E-Mail")).write_csv(path)
    return path, set(chosen["id"])


def test_sync_plans_then_applies_with_yes(env, tmp_path, capsys) -> None:
    path, ids = member_file(env, tmp_path, 12)
    assert main(["sync", "--segment", "vip", "--members", str(path), "--mode", "add"]) == 0
    out = capsys.readouterr().out
    assert "add 12" in out
    assert "nothing sent" in out
    assert not ids & env.member_ids("vip")
    assert main(["sync", "--segment", "vip", "--members", str(path), "--mode", "add", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "verified" in out
    assert ids <= env.member_ids("vip")
    assert main(["history", "--segment", "vip"]) == 0
    assert "verified" in capsys.readouterr().out


@pytest.mark.parametrize("stale_check", ["full", "changes"])
def test_stale_check_is_chosen_and_reported(env, tmp_path, capsys, stale_check: str) -> None:
    path, ids = member_file(env, tmp_path, 12)
    args = ["sync", "--segment", "vip", "--members", str(path), "--mode", "add"]
    assert main([*args, "--yes", "--stale-check", stale_check]) == 0
    out = capsys.readouterr().out
    assert f"stale check: {stale_check}; verification: in-filter" in out
    assert ids <= env.member_ids("vip")
    with pytest.raises(SystemExit):
        main([*args, "--stale-check", "quick"])
    assert "--stale-check" in capsys.readouterr().err


def test_dry_run_sends_nothing(env, tmp_path, capsys) -> None:
    path, ids = member_file(env, tmp_path, 5)
    code = main(["sync", "--segment", "vip", "--members", str(path), "--mode", "add", "--dry-run"])
    assert code == 0
    assert "Dry run" in capsys.readouterr().out
    assert not ids & env.member_ids("vip")


def test_bad_input_exits_2(env, tmp_path, capsys) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("email\n")
    assert main(["sync", "--segment", "vip", "--members", str(empty), "--yes"]) == 2
    assert "HeaderOnlyError" in capsys.readouterr().err


def test_mass_removal_refused_exits_2(env, tmp_path, capsys) -> None:
    path, _ = member_file(env, tmp_path, 1)
    before = env.member_ids("newsletter")
    assert len(before) > 2
    assert main(["sync", "--segment", "newsletter", "--members", str(path), "--yes"]) == 2
    assert "allow_mass_removal" in capsys.readouterr().err
    assert env.member_ids("newsletter") == before


def test_unverified_removals_exit_3_and_name_ids(env, tmp_path, capsys) -> None:
    path, ids = member_file(env, tmp_path, 4)
    args = ["sync", "--segment", "vip", "--members", str(path), "--yes", "--allow-mass-removal"]
    assert main(args) == 0
    assert env.member_ids("vip") == ids
    env.configure(delete_delay=None)
    one, _ = member_file(env, tmp_path, 1, "one.csv")
    code = main(
        [
            "sync",
            "--segment",
            "vip",
            "--members",
            str(one),
            "--yes",
            "--allow-mass-removal",
            "--verify-timeout",
            "0.3",
        ]
    )
    out = capsys.readouterr().out
    assert code == 3
    assert "unverified remove" in out


def test_undo_and_resume_commands(env, tmp_path, capsys) -> None:
    path, ids = member_file(env, tmp_path, 6)
    assert main(["sync", "--segment", "vip", "--members", str(path), "--mode", "add", "--yes"]) == 0
    run_id = capsys.readouterr().out.split("run ")[1].split(":")[0]
    assert main(["undo", run_id]) == 0
    assert "remove 6" in capsys.readouterr().out
    assert main(["undo", run_id, "--yes", "--allow-mass-removal"]) == 0
    assert not ids & env.member_ids("vip")
    assert main(["resume", run_id]) == 0  # a finished run: nothing left to send
    assert main(["resume", "no-such-run"]) == 1


def test_missing_credentials_exit_2(monkeypatch, tmp_path, capsys) -> None:
    for var in ("SHOPGATE_MERCHANT_CODE", "SHOPGATE_CLIENT_SECRET"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SEGWIDGETS_JOURNAL", str(tmp_path / "j"))
    assert main(["history"]) == 2
    assert "SHOPGATE_MERCHANT_CODE" in capsys.readouterr().err
