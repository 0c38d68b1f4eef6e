"""R12: email addresses are personal data; they stay out of logs, errors and unasked files.

Canary addresses (random, unique to each run) go into the input list and into the customer
lookups. Must hold: no raw (or URL-encoded) canary in any log record at INFO and above, in
any exception message, or in a repr; displays show masked samples; a sync writes no file but
the journal (mode 0600, no address in it); files written on request (plan, CSV exports) are
mode 0600; CSV exports neutralise formula-like cells.
"""

from __future__ import annotations

import csv
import logging
import secrets
import stat
import urllib.parse
from pathlib import Path

import httpx
import polars as pl
import pytest
from reliability_kit import Wire, capture_logs, make_segment, session_for

import segwidgets as sw


def canary_email(kind: str) -> str:
    return f"{kind}.{secrets.token_hex(5)}@canary-{secrets.token_hex(3)}.example"


def forms(email: str) -> list[str]:
    return [email, email.lower(), urllib.parse.quote(email), urllib.parse.quote(email, safe="")]


def leaked(text: str, emails: list[str]) -> list[str]:
    return [e for e in emails for f in forms(e) if f in text]


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def canaries(big_sandbox):
    """Canary customers: 3 registered, 1 guest-only, 2 sharing one address; and 2 unknown."""
    model = big_sandbox.model
    emails = {
        "registered": [canary_email(f"reg{i}") for i in range(3)],
        "guest": [canary_email("guest")],
        "shared": [canary_email("shared")],
        "unknown": [canary_email("nobody"), canary_email("nobody2")],
    }
    for email in emails["registered"]:
        model.add_customer(emailAddress=email, firstName="R12")
    model.add_customer(emailAddress=emails["guest"][0], isAnonymous=True)
    for _ in range(2):
        model.add_customer(emailAddress=emails["shared"][0])
    return emails


def all_emails(canaries: dict[str, list[str]]) -> list[str]:
    return [e for group in canaries.values() for e in group]


def input_file(tmp_path: Path, canaries: dict[str, list[str]]) -> Path:
    rows = [
        *all_emails(canaries),
        "  " + canaries["registered"][0].upper() + " ",  # a duplicate, differently written
        f"not-an-address-{canaries['unknown'][0]}@",  # rejected, holds an address
    ]
    path = tmp_path / "members.csv"
    path.write_text("email\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("strategy", ["lookup", "scan"], ids=lambda s: f"R12-{s}")
def test_r12_no_address_in_logs_reprs_or_unasked_files(
    big_sandbox, canaries, tmp_path, monkeypatch, strategy: str
) -> None:
    make_segment(big_sandbox.model, "r12")
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    source = input_file(tmp_path, canaries)
    journal = tmp_path / "state" / "journal.sqlite3"
    emails = all_emails(canaries)
    with capture_logs(logging.DEBUG) as logs:
        session = session_for(big_sandbox.credentials, journal, wire=Wire())
        members = sw.read_members(source)
        resolution = session.resolve(members, strategy=strategy)
        assert (resolution.n_matched, resolution.n_ambiguous) == (3, 1)
        assert (resolution.n_guest_only, resolution.n_unmatched) == (1, 2)
        plan = session.plan("r12", resolution)
        result = session.apply(plan)
        assert result.status == "verified"
        displays = [
            repr(members),
            members._repr_html_(),
            repr(resolution),
            resolution._repr_html_(),
            repr(plan),
            plan._repr_html_(),
            repr(result),
            result._repr_html_(),
            repr(session),
        ]
        session.close()
    assert leaked(logs.text(at_least=logging.INFO), emails) == []
    # not even at DEBUG: lookups name the call by its path only, inputs by their counts
    assert leaked(logs.text(), emails) == []
    assert leaked("\n".join(displays), emails) == []
    assert "***@" in members._repr_html_()  # samples are shown masked
    # no file was written but the journal, which is private and holds ids only
    assert list(workdir.iterdir()) == []
    assert mode_of(journal) == 0o600
    for path in journal.parent.iterdir():
        data = path.read_bytes()
        assert not [e for e in emails if e.encode() in data or e.lower().encode() in data]


def test_r12_no_address_in_exception_messages(big_sandbox, canaries, tmp_path) -> None:
    """A server that echoes the address in its error, and input files that cannot be read."""
    emails = all_emails(canaries)

    def echo(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth/token"):
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
        filters = request.url.params.get("filters", "")
        return httpx.Response(
            400,
            json={
                "message": f"Invalid filter {filters} for {canaries['registered'][0]}",
                "errors": [{"id": canaries["registered"][1], "message": "bad"}],
            },
        )

    session = session_for(
        big_sandbox.credentials, tmp_path / "j.sqlite3", wire=Wire(httpx.MockTransport(echo))
    )
    messages = []
    members = sw.read_members(canaries["registered"])
    for strategy in ("lookup", "scan"):
        with pytest.raises(sw.APIStatusError) as info:
            session.resolve(members, strategy=strategy)
        messages += [str(info.value), repr(info.value), info.value.path]
    session.close()

    broken_inputs = {
        "two email columns": f"{emails[0]},{emails[1]}\n{emails[2]},{emails[3]}\n",
        "duplicate header": f"{emails[0]},{emails[0]}\n{emails[1]},{emails[2]}\n",
        "header only": f"{emails[0]}\n",
        "no such column": f"email\n{emails[0]}\n",
    }
    for name, text in broken_inputs.items():
        path = tmp_path / f"{name}.csv"
        path.write_text(text, encoding="utf-8")
        column = "mail" if name == "no such column" else None
        try:
            sw.read_members(path, column=column)
        except sw.InputFileError as exc:
            messages += [str(exc), repr(exc)]
    with pytest.raises(sw.InputFileError) as info:
        sw.read_members(tmp_path / f"{emails[0]}.csv")  # a file named by an address
    messages.append(str(info.value))
    assert len(messages) >= 9
    assert leaked("\n".join(messages), emails) == []


FORMULAS = ["=1+2", "+SUM(A1)", "-2+3", "@cmd", "\t=x", "\r=y"]


def test_r12_exports_are_private_and_defuse_formulas(big_sandbox, canaries, tmp_path) -> None:
    model = big_sandbox.model
    risky = [f"{prefix}{secrets.token_hex(3)}@canary.example" for prefix in ("=", "+", "-")]
    for email in risky:
        model.add_customer(emailAddress=email)
    make_segment(model, "r12x")
    members = sw.read_members(pl.DataFrame({"email": [*risky, *canaries["unknown"]]}))
    assert members.n_valid == 5
    with session_for(big_sandbox.credentials, tmp_path / "j.sqlite3", wire=Wire()) as session:
        resolution = session.resolve(members)
        assert resolution.n_matched == 3
        result = session.apply(session.plan("r12x", resolution))
        plan_file = session.plan("r12x", resolution).save(tmp_path / "plan.json")
    files = {
        "report": resolution.export_csv(tmp_path / "report.csv"),
        "problems": resolution.export_csv(tmp_path / "problems.csv", rows="problems"),
        "outcomes": result.export_csv(tmp_path / "outcomes.csv"),
        "plan": plan_file,
    }
    for path in files.values():
        assert mode_of(path) == 0o600
    with files["report"].open(encoding="utf-8", newline="") as fh:
        cells = [cell for row in csv.reader(fh) for cell in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    for email in risky:
        assert "'" + email in cells  # shown as text, nothing lost
    problems = pl.read_csv(files["problems"], infer_schema=False)
    assert problems.height == 2
    outcomes = pl.read_csv(files["outcomes"], infer_schema=False)
    assert outcomes.height == 3
    assert set(outcomes["outcome"]) == {"verified"}
    # any text column: every formula-like cell is defused, other cells stay as they were
    frame = pl.DataFrame({"value": [*FORMULAS, "plain", None], "n": list(range(8))})
    path = sw.ApplyResult(
        run_id="r",
        status="verified",
        segment_code="s",
        outcomes=frame,
        n_requests=0,
        seconds=0.0,
    ).export_csv(tmp_path / "any.csv")
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert [r[0] for r in rows[1:]] == ["'" + f for f in FORMULAS] + ["plain", ""]
    assert mode_of(path) == 0o600
