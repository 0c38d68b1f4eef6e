"""One check that a plan or a run belongs to the merchant and host a session is connected to:
``apply``, ``resume`` and ``undo`` all refuse another target before sending anything."""

from __future__ import annotations

import httpx
import pytest

import segwidgets as sw
from segwidgets._apply import check_same_target
from segwidgets._journal import Journal


def creds(merchant: str = "M1", host: str = "shopgate.test") -> sw.Credentials:
    return sw.Credentials(
        merchant_code=merchant,
        client_id="c",
        client_secret="s",
        username="u",
        password="p",
        base_url=f"https://{{service}}.{host}",
    )


def test_the_same_merchant_and_host_pass() -> None:
    here = creds()
    check_same_target("M1", here.url_template, here, what="This plan")


@pytest.mark.parametrize(("merchant", "host"), [("M2", "shopgate.test"), ("M1", "elsewhere.test")])
def test_another_merchant_or_host_is_refused_naming_both(merchant: str, host: str) -> None:
    there = creds(merchant, host)
    with pytest.raises(sw.PlanTargetError) as info:
        check_same_target("M1", creds().url_template, there, what="Run r1")
    message = str(info.value)
    assert message.startswith("Run r1 was made for merchant 'M1'")
    assert f"connected to {merchant!r} at {there.url_template}" in message
    assert "Nothing was sent" in message


def test_resume_and_undo_of_another_merchants_run_send_nothing(tmp_path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    run_id = journal.start_run(
        kind="sync",
        plan_id="p",
        merchant_code="M1",
        target=creds().url_template,
        segment_code="vip",
        mode="mirror",
        live_fingerprint="f",
        batches=[("add", ["a"])],
        settings={},
    )
    sent: list[httpx.Request] = []

    def wire(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(500)

    with sw.SegmentSession(
        creds("M2"), journal=journal, transport=httpx.MockTransport(wire)
    ) as session:
        with pytest.raises(sw.PlanTargetError, match=f"Run {run_id} was made for merchant 'M1'"):
            session.resume(run_id)
        with pytest.raises(sw.PlanTargetError, match=f"Run {run_id} was made for merchant 'M1'"):
            session.undo(run_id)
    assert sent == []
    journal.close()
