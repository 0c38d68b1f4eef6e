"""``segwidgets doctor`` against the sandbox: the table, the exit code, and every switch flip."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

import segwidgets as sw
from segwidgets._doctor import DoctorReport, run_doctor
from segwidgets._journal import Journal
from segwidgets.cli import main
from segwidgets.sandbox import Sandbox

WRITES = ("POST", "DELETE", "PUT", "PATCH")


class FakeClock:
    """Time that moves only when slept on (the write test waits on it)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def session(sandbox: Sandbox, tmp_path: Path) -> Iterator[sw.SegmentSession]:
    with sw.SegmentSession(sandbox.credentials, journal=tmp_path / "journal.sqlite3") as session:
        yield session


def _writes(sandbox: Sandbox) -> dict[str, dict[str, int]]:
    return {
        route: counts
        for route, counts in sandbox.state()["requests"].items()
        if route.split()[0] in WRITES and "oauth" not in route
    }


def _doctor(session: sw.SegmentSession, *, write_test: bool = False) -> DoctorReport:
    clock = FakeClock()
    return run_doctor(
        session.client, write_test=write_test, clock=clock, sleep=clock.sleep, delete_timeout=5.0
    )


def test_cli_doctor_sandbox_prints_the_table_and_exits_0(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    journal = tmp_path / "journal.sqlite3"
    assert main(["doctor", "--sandbox", "--journal", str(journal)]) == 0
    out = capsys.readouterr().out
    for probe in ("sign-in", "segments list", "largest page", "member paging", "email filter"):
        assert f"] {probe}" in out
    assert "Shopgate did:" in out
    assert "segwidgets will do:" in out
    assert "reads pages of 100" in out
    assert "result: ok" in out
    assert "@" not in out, "no email address is printed"
    with closing(sqlite3.connect(journal)) as db:
        rows = db.execute("SELECT merchant_code, traits FROM server_traits").fetchall()
    assert [(merchant, json.loads(traits)["page_limit"]) for merchant, traits in rows] == [
        ("DEMO", 100)
    ]


def test_cli_doctor_takes_sandbox_settings(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = ["doctor", "--sandbox", "--journal", str(tmp_path / "j.sqlite3")]
    argv += ["--sandbox-setting", "member_paging=cursor", "--sandbox-setting", "max_page_size=250"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "member_paging=cursor" in out
    assert "page_limit=250" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["doctor", "--sandbox", "--sandbox-setting", "member_paging=pages"],
        ["doctor", "--sandbox", "--sandbox-setting", "colour=red"],
        ["doctor", "--sandbox", "--sandbox-setting", "member_paging"],
        ["doctor", "--sandbox-setting", "member_paging=cursor"],
    ],
)
def test_cli_doctor_bad_input_exits_2(argv: list[str]) -> None:
    assert main(argv) == 2


def test_cli_doctor_without_credentials_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MERCHANT_CODE", "CLIENT_ID", "CLIENT_SECRET", "USERNAME", "PASSWORD"):
        monkeypatch.delenv(f"SHOPGATE_{name}", raising=False)
    assert main(["doctor"]) == 2


def test_doctor_is_read_only_and_learns_the_defaults(
    sandbox: Sandbox, session: sw.SegmentSession
) -> None:
    report = session.doctor()
    assert report.ok
    assert _writes(sandbox) == {}
    assert report.traits.to_dict() == {
        "page_limit": 100,
        "member_paging": "offset",
        "email_filter": "exact",
        "in_on_id": True,
        "in_on_email": False,
    }
    assert session.traits.to_dict() == report.traits.to_dict()
    frame = report.to_polars()
    assert frame.columns == ["probe", "outcome", "shopgate_did", "segwidgets_will"]
    assert "failed" not in frame.get_column("outcome").to_list()
    assert "<table" in report._repr_html_()
    assert "largest page" in repr(report)


def test_doctor_keeps_the_traits_per_merchant_in_the_journal(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.configure(member_paging="cursor", email_filter="insensitive")
    path = tmp_path / "journal.sqlite3"
    with sw.SegmentSession(sandbox.credentials, journal=path) as first:
        first.doctor()
    journal = Journal(path)
    try:
        saved = journal.load_traits(sandbox.merchant, target=sandbox.credentials.url_template)
        assert saved is not None
        assert (saved["member_paging"], saved["email_filter"]) == ("cursor", "insensitive")
        assert journal.load_traits("OTHER") is None
    finally:
        journal.close()
    with sw.SegmentSession(sandbox.credentials, journal=path) as second:
        assert second.traits.member_paging == "cursor", "a new session starts from what was saved"


def _trait(name: str) -> Any:
    return lambda report: report.traits.to_dict()[name]


def _did(probe: str) -> Any:
    return lambda report: report.finding(probe).shopgate_did


#: switch -> (default setting, flipped setting, what the report says, default, flipped)
FLIPS: dict[str, tuple[dict[str, Any], Any, Any, Any]] = {
    "member_paging": ({"member_paging": "cursor"}, _trait("member_paging"), "offset", "cursor"),
    "max_page_size": ({"max_page_size": 250}, _trait("page_limit"), 100, 250),
    "page_limit_mode": (
        {"page_limit_mode": "clamp"},
        lambda r: "400 naming limit" in r.finding("largest page").shopgate_did,
        True,
        False,
    ),
    "email_filter": (
        {"email_filter": "insensitive"},
        _trait("email_filter"),
        "exact",
        "insensitive",
    ),
    "filter_in=all": ({"filter_in": "all"}, _trait("in_on_email"), False, True),
    "filter_in=off": ({"filter_in": "off"}, _trait("in_on_id"), True, False),
    "refused_items": (
        {"refused_items": "400"},
        lambda r: "with 400" in r.finding("refused items").shopgate_did,
        False,
        True,
    ),
    "total_counts_pending": (
        {"total_counts_pending": False},
        lambda r: "left it out" in r.finding("pending deletes").shopgate_did,
        False,
        True,
    ),
}


@pytest.mark.parametrize("switch", sorted(FLIPS))
def test_doctor_detects_each_switch_flip(
    sandbox: Sandbox, session: sw.SegmentSession, switch: str
) -> None:
    flipped, read, at_default, after_flip = FLIPS[switch]
    sandbox.configure(delete_delay=2.0)  # the write test sees the DELETE pending first
    write_test = switch in {"refused_items", "total_counts_pending"}
    before = _doctor(session, write_test=write_test)
    assert before.ok
    assert read(before) == at_default
    sandbox.configure(**flipped)
    after = _doctor(session, write_test=write_test)
    assert after.ok
    assert read(after) == after_flip


def test_write_test_cleans_up_and_times_the_delete(
    sandbox: Sandbox, session: sw.SegmentSession
) -> None:
    sandbox.configure(delete_delay=0)
    codes = set(sandbox.model.segment_codes())
    report = _doctor(session, write_test=True)
    assert report.ok
    assert report.wrote
    assert report.finding("write test").outcome == "ok"
    assert "showed after 0.0 s" in report.finding("write test").shopgate_did
    assert set(sandbox.model.segment_codes()) == codes, "the scratch segment is gone"
    writes = _writes(sandbox)
    assert writes["POST /segmentation/v1/merchants/{merchantCode}/segments"] == {"201": 1}
    assert writes["DELETE /segmentation/v1/merchants/{merchantCode}/segments/{code}"] == {"202": 1}


def test_write_test_reports_a_delete_that_never_shows(
    sandbox: Sandbox, session: sw.SegmentSession
) -> None:
    sandbox.configure(delete_delay=None)
    clock = FakeClock()
    report = run_doctor(
        session.client, write_test=True, clock=clock, sleep=clock.sleep, delete_timeout=3.0
    )
    finding = report.finding("write test")
    assert finding.outcome == "unknown"
    assert "had not shown after 3.0 s" in finding.shopgate_did
    assert sum(clock.slept) == pytest.approx(3.0)


def test_a_refused_sign_in_fails_the_report(sandbox: Sandbox, tmp_path: Path) -> None:
    creds = sandbox.credentials
    wrong = sw.SegmentSession.connect(
        merchant_code=creds.merchant_code,
        client_id=creds.client_id,
        client_secret=creds.client_secret,
        username=creds.username,
        password="not-the-password",
        base_url=creds.base_url,
        journal=tmp_path / "journal.sqlite3",
    )
    with wrong:
        report = wrong.doctor()
        assert not report.ok
        assert report.finding("sign-in").outcome == "failed"
        assert report.finding("largest page").outcome == "skipped"
        assert wrong.journal.load_traits(creds.merchant_code, target=creds.url_template) is None
