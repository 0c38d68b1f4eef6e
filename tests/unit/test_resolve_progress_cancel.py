"""Matching and id checks report progress after every request and stop on a cancel token
between two requests, with ``OperationCancelledError`` and no result.

Against the fake customer service: the events count the requests exactly as the service
saw them, and a token cancelled from the progress callback after the k-th request means
no request after the k-th (concurrency 1) or no more than the requests already in flight.
"""

from __future__ import annotations

import polars as pl
import pytest
from fake_customer_service import FakeCustomerService
from test_resolve_filters import case_list, population, traits_for

import segwidgets as sw
from segwidgets._progress import CancelToken, ProgressEvent
from segwidgets._resolve import resolve_members
from segwidgets._resolve_ids import check_customer_ids


@pytest.mark.parametrize("strategy", ["auto", "lookup", "scan"])
def test_progress_counts_every_request_and_ends_done(strategy: str) -> None:
    service = FakeCustomerService(population(), "exact", "all")
    events: list[ProgressEvent] = []
    with service.client() as client:
        resolution = resolve_members(
            client,
            case_list(),
            strategy=strategy,  # type: ignore[arg-type]
            traits=traits_for(False, "exact", "all"),
            concurrency=1,
            progress=events.append,
        )
    steps = [e for e in events if e.phase == "resolve"]
    assert events[-1].phase == "done"
    # One event per request at least, the last one counting them all.
    sent = [e.phase_done for e in steps]
    assert sent == sorted(sent)
    assert sent[-1] == resolution.n_requests == service.n_requests
    assert set(range(1, service.n_requests + 1)) <= set(sent)
    for event in steps:
        assert event.unit == "requests"
        assert event.phase_done <= event.phase_total
        assert event.requests_done == event.phase_done
        assert event.requests_total == event.phase_total
        assert 0 <= event.members_done <= event.members_total == resolution.n_valid
    assert steps[-1].members_done == resolution.n_valid
    assert steps[-1].phase_total == resolution.n_requests
    assert "emails looked up" in steps[-1].message
    assert steps[-1].label.startswith(f"resolve: {resolution.n_requests}/{resolution.n_requests}")


def test_lookup_reports_emails_as_they_are_looked_up() -> None:
    many = [f"person{i}@example.com" for i in range(450)]
    members = sw.read_members(pl.Series("email", many))
    service = FakeCustomerService(population(), "insensitive", "all")
    events: list[ProgressEvent] = []
    with service.client() as client:
        resolve_members(
            client,
            members,
            strategy="lookup",
            traits=traits_for(False, "insensitive", "all"),
            concurrency=1,
            classify_guests=False,
            progress=events.append,
        )
    done = [e.members_done for e in events if e.phase == "resolve"]
    # Five batches of a hundred spellings: the count of emails looked up climbs in steps.
    assert done == sorted(done)
    assert 0 < len({d for d in done if 0 < d < 450}) >= 4
    assert done[-1] == 450


@pytest.mark.parametrize("after", [1, 2, 3])
def test_cancel_stops_before_the_next_request(after: int) -> None:
    service = FakeCustomerService(population(), "exact", "off")
    token = CancelToken()

    def on_progress(event: ProgressEvent) -> None:
        if event.phase == "resolve" and event.phase_done >= after:
            token.cancel()

    with service.client() as client, pytest.raises(sw.OperationCancelledError) as caught:
        resolve_members(
            client,
            case_list(),
            strategy="scan",
            traits=traits_for(False, "exact", "off"),
            concurrency=1,
            progress=on_progress,
            cancel=token,
        )
    assert service.n_requests == after
    message = str(caught.value)
    assert "cancelled" in message
    assert "@" not in message


def test_cancel_with_requests_in_flight_sends_no_more_than_those() -> None:
    many = [f"person{i}@example.com" for i in range(3000)]
    members = sw.read_members(pl.Series("email", many))
    service = FakeCustomerService(population(), "exact", "off")
    token = CancelToken()

    def on_progress(event: ProgressEvent) -> None:
        if event.phase_done >= 5:
            token.cancel()

    with service.client() as client, pytest.raises(sw.OperationCancelledError):
        resolve_members(
            client,
            members,
            strategy="lookup",
            traits=traits_for(False, "exact", "off"),
            concurrency=4,
            progress=on_progress,
            cancel=token,
        )
    # 3,000 requests were planned (one per email); at most the 4 in flight follow the 5th.
    assert 5 <= service.n_requests <= 5 + 4


def test_a_token_cancelled_before_sends_nothing() -> None:
    service = FakeCustomerService(population(), "exact", "all")
    token = CancelToken()
    token.cancel()
    with service.client() as client, pytest.raises(sw.OperationCancelledError):
        resolve_members(client, case_list(), cancel=token)
    assert service.n_requests == 0


def test_id_check_reports_and_cancels() -> None:
    ids = pl.Series([f"c-{i:04d}" for i in range(250)])
    service = FakeCustomerService(population(), "exact", "id")
    events: list[ProgressEvent] = []
    with service.client() as client:
        check = check_customer_ids(
            client,
            ids,
            concurrency=1,
            traits=traits_for(True, "exact", "id"),
            progress=events.append,
        )
    done = [e.phase_done for e in events]
    assert done == sorted(done)
    assert set(done) == set(range(check.n_requests + 1))
    assert check.n_requests == service.n_requests == 3
    assert events[-1].members_done == 250
    assert events[-1].message == "250/250 ids checked"

    service.reset()
    token = CancelToken()

    def on_progress(event: ProgressEvent) -> None:
        if event.phase_done >= 1:
            token.cancel()

    with service.client() as client, pytest.raises(sw.OperationCancelledError):
        check_customer_ids(
            client,
            ids,
            concurrency=1,
            traits=traits_for(True, "exact", "id"),
            progress=on_progress,
            cancel=token,
        )
    assert service.n_requests == 1


def test_plan_reports_its_resolve_and_read_steps_and_stops_on_cancel(tmp_path) -> None:
    with sw.SegmentSession.sandbox(customers=600, seed=3, journal=tmp_path / "j.sqlite3") as s:
        people = s.client.customer_page(filters={"isAnonymous": False}, limit=80).customers
        members = sw.read_members([str(c["emailAddress"]) for c in people])
        events: list[ProgressEvent] = []
        plan = s.plan("newsletter", members, mode="add", progress=events.append)
        phases = [e.phase for e in events]
        # Matching first (then its done), then the read of the segment in pages.
        assert phases.index("resolve") < phases.index("read")
        # One "done", the plan's own at the end (a bar stays open through every step).
        assert phases.count("done") == 1
        assert phases[-1] == "done"
        assert plan.n_desired > 0

        for phase in ("resolve", "read"):
            token = CancelToken()

            def on_progress(
                event: ProgressEvent, phase: str = phase, token: CancelToken = token
            ) -> None:
                if event.phase == phase and event.phase_done >= 1:
                    token.cancel()

            before = s.client.stats.n_requests
            with pytest.raises(sw.OperationCancelledError, match="nothing was written"):
                s.plan("newsletter", members, mode="add", progress=on_progress, cancel=token)
            sent = s.client.stats.n_requests - before
            full = plan_requests(s, members)
            # Stopped before the next request: matching leaves requests unsent; the read
            # stops after the page that was being read (the last one at worst).
            assert sent < full if phase == "resolve" else sent <= full
        assert s.history().is_empty()  # nothing was run, nothing journalled


def plan_requests(session: sw.SegmentSession, members: sw.MemberList) -> int:
    before = session.client.stats.n_requests
    session.plan("newsletter", members, mode="add")
    return session.client.stats.n_requests - before
