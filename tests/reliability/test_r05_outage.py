"""R5: an outage (every call 503, forever, on a fake clock) ends in a typed error, in budget.

Must hold: the push stops within the client's attempts and retry budget, raises
``ApplyIncompleteError`` (or the typed API error when nothing could even be checked), and its
result says exactly which changes were applied and which were not; once the service is back,
``resume`` finishes the run without sending anything the server confirmed.
"""

from __future__ import annotations

import httpx
import polars as pl
import pytest
from reliability_kit import Exchange, FakeTime, Wire, make_segment, registered_ids, session_for

import segwidgets as sw
from segwidgets._retry import RetryPolicy

POLICY = RetryPolicy()
BATCH = 50


def outage_after(sandbox, k: int, **knobs) -> Wire:
    """A wire that turns every call into a 503 once ``k`` member writes were answered."""
    answered = [0]

    def after(exchange: Exchange, request: httpx.Request, response: httpx.Response) -> None:
        if exchange.is_write and exchange.ok:
            answered[0] += 1
            if answered[0] == k:
                sandbox.configure(error_5xx_rate=1.0, error_5xx_status=503, **knobs)

    return Wire(after=after)


def outcome_ids(result: sw.ApplyResult, *outcomes: str) -> set[str]:
    frame = result.outcomes.filter(pl.col("outcome").is_in(list(outcomes)))
    return set(frame["customer_id"])


@pytest.mark.parametrize("concurrency", [1, 4], ids=lambda c: f"R5-workers{c}")
@pytest.mark.parametrize("k", [0, 3], ids=lambda k: f"R5-after{k}")
def test_r5_outage_stops_in_budget_and_reports_what_was_applied(
    big_sandbox, tmp_path, k: int, concurrency: int
) -> None:
    pool = registered_ids(big_sandbox.model, 600)
    make_segment(big_sandbox.model, "r5", pool[:100])
    desired = pool[50:600]  # 500 adds (10 batches), 50 removes (1 batch)
    big_sandbox.configure(delete_delay=0.0)
    wire = outage_after(big_sandbox, k) if k else Wire()
    fake = FakeTime()
    journal = tmp_path / "j.sqlite3"
    with session_for(
        big_sandbox.credentials,
        journal,
        wire=wire,
        time=fake,
        batch_size=BATCH,
        concurrency=concurrency,
    ) as session:
        plan = session.plan("r5", desired)
        if k == 0:
            big_sandbox.configure(error_5xx_rate=1.0, error_5xx_status=503, fault_scope="writes")
        before = session.client.stats.snapshot()
        with pytest.raises(sw.ApplyIncompleteError) as info:
            session.apply(plan)
        stats = session.client.stats.snapshot()
        result = info.value.result
        assert isinstance(result, sw.ApplyResult)
        assert "resume" in str(info.value).lower()
        assert isinstance(info.value.__cause__, sw.ServerError)
        assert info.value.__cause__.status_code == 503
        run_id = result.run_id
        assert session.history("r5")["status"][0] == result.status

    # within the attempts and the budget: the run stops after max(3, workers) refusals in a
    # row (plus what the other workers had in flight then), each after at most max_attempts
    # sends, and never more retries than the budget holds
    failed = [e for e in wire.snapshot() if e.status == 503]
    refused_batches = {tuple(e.ids) for e in failed if e.is_write}
    assert len(refused_batches) <= max(3, concurrency) + concurrency - 1
    assert len(failed) <= len(refused_batches) * POLICY.max_attempts + POLICY.max_attempts
    assert stats["n_retries"] - before["n_retries"] <= POLICY.budget_capacity
    assert all(0 <= s <= POLICY.backoff_max for s in fake.slept)

    # what was and was not applied, exactly as the server has it
    server = big_sandbox.member_ids("r5")
    applied_adds = outcome_ids(result, "applied", "verified") & set(plan.adds["customer_id"])
    assert applied_adds == set(plan.adds["customer_id"]) & server
    assert applied_adds == wire.confirmed("add")
    removed = set(plan.removes["customer_id"]) - server
    assert outcome_ids(result, "applied", "verified") & set(plan.removes["customer_id"]) == removed
    not_sent = outcome_ids(result, "pending")
    assert not_sent
    assert not not_sent & set(plan.adds["customer_id"]) & server
    assert result.n_pending + result.n_added + result.n_removed == plan.n_add + plan.n_remove
    assert result.n_unknown == 0
    assert result.status == ("partial" if k else "failed")

    # the service comes back: resume finishes, nothing confirmed is sent again
    big_sandbox.configure(error_5xx_rate=0.0)
    again = Wire()
    with session_for(big_sandbox.credentials, journal, wire=again, batch_size=BATCH) as fresh:
        done = fresh.resume(run_id)
        assert done.status == "verified", done.message
    assert big_sandbox.member_ids("r5") == set(desired)
    assert not set(again.sent_ids("add")) & wire.confirmed("add")
    assert not set(again.sent_ids("remove")) & wire.confirmed("remove")


def test_r5_outage_on_every_call_fails_before_any_write(big_sandbox, tmp_path) -> None:
    pool = registered_ids(big_sandbox.model, 100)
    make_segment(big_sandbox.model, "r5b")
    wire = Wire()
    fake = FakeTime()
    with session_for(
        big_sandbox.credentials, tmp_path / "j.sqlite3", wire=wire, time=fake
    ) as session:
        plan = session.plan("r5b", pool)
        big_sandbox.configure(error_5xx_rate=1.0, error_5xx_status=503, fault_scope="all")
        with pytest.raises(sw.ServerError) as info:
            session.apply(plan)
        assert info.value.status_code == 503
        assert "try again later" in str(info.value)
    assert not wire.writes()
    assert big_sandbox.member_ids("r5b") == set()
    assert len([e for e in wire.snapshot() if e.status == 503]) == POLICY.max_attempts


def test_r5_service_unreachable_mid_push_is_reported_too(big_sandbox, tmp_path) -> None:
    """Connection refused (the host is down) after 2 batches: nothing was sent, so the report
    is exact, and the run stops instead of trying every batch."""
    pool = registered_ids(big_sandbox.model, 400)
    make_segment(big_sandbox.model, "r5c")
    answered = [0]

    def before(exchange: Exchange, request: httpx.Request) -> None:
        if answered[0] >= 2:
            raise httpx.ConnectError("connection refused", request=request)

    def after(exchange: Exchange, request: httpx.Request, response: httpx.Response) -> None:
        if exchange.is_write:
            answered[0] += 1

    wire = Wire(before=before, after=after)
    fake = FakeTime()
    with session_for(
        big_sandbox.credentials,
        tmp_path / "j.sqlite3",
        wire=wire,
        time=fake,
        batch_size=BATCH,
        concurrency=1,
    ) as session:
        with pytest.raises(sw.ApplyIncompleteError) as info:
            session.apply(session.plan("r5c", pool))
        result = info.value.result
        assert isinstance(info.value.__cause__, sw.APIConnectionError)
    assert result.n_added == 2 * BATCH
    assert outcome_ids(result, "applied", "verified") == big_sandbox.member_ids("r5c")
    assert result.n_pending == len(pool) - 2 * BATCH
    attempts = [e for e in wire.snapshot() if e.error is None and not e.sent]
    assert len(attempts) <= 3 * POLICY.max_attempts
