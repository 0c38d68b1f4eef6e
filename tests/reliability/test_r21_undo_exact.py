"""R21 (issue 11 item 1): undo is exact.

An undo of a run killed mid-push (a batch applied whose answer never arrived, journaled
*sending*) removes those members too; an undo of a run that ended ``accepted_unverified``
(removals accepted, applied later) waits for them to apply before it reads the segment, so
it adds them back instead of losing them. If the removals still have not applied within the
verification timeout, the undo is refused with ``RunNotSettledError`` and sends nothing.
After a successful undo the segment holds exactly its members from before the run.
"""

from __future__ import annotations

import threading

import pytest
from _kit.writes import Crash
from reliability_kit import Wire, make_segment, registered_ids

import segwidgets as sw

N_LIVE, N_KEEP, N_NEW, BATCH = 300, 200, 150, 50


def _layout(sandbox, code: str) -> tuple[list[str], list[str]]:
    pool = registered_ids(sandbox.model, N_LIVE + N_NEW)
    live, desired = pool[:N_LIVE], pool[N_LIVE - N_KEEP :]
    make_segment(sandbox.model, code, live)
    return live, desired


def _session(sandbox, journal, **options) -> sw.SegmentSession:
    return sw.SegmentSession(sandbox.credentials, journal=journal, batch_size=BATCH, **options)


def test_r21_undo_of_a_run_that_ended_accepted_unverified_loses_no_member(
    big_sandbox, tmp_path
) -> None:
    big_sandbox.configure(delete_delay=2.0)
    code = "r21-unverified"
    live, desired = _layout(big_sandbox, code)
    journal = tmp_path / "journal.sqlite3"
    with _session(big_sandbox, journal, verify_timeout=0.2) as session:
        result = session.apply(session.plan(code, desired))
        assert result.status == "accepted_unverified"
        run_id = result.run_id
        assert run_id is not None
    with _session(big_sandbox, journal, verify_timeout=15) as session:
        plan = session.undo(run_id)
        assert (plan.n_add, plan.n_remove) == (N_LIVE - N_KEEP, N_NEW)
        done = session.apply(plan)
        assert done.status == "verified", done.message
    assert big_sandbox.member_ids(code) == set(live)


def test_r21_undo_of_a_run_not_settled_in_time_is_refused(big_sandbox, tmp_path) -> None:
    big_sandbox.configure(delete_delay=None)  # accepted, never applied
    code = "r21-never"
    live, desired = _layout(big_sandbox, code)
    journal = tmp_path / "journal.sqlite3"
    with _session(big_sandbox, journal, verify_timeout=0.5) as session:
        result = session.apply(session.plan(code, desired))
        assert result.status == "accepted_unverified"
        assert result.run_id is not None
        before = session.client.stats.n_requests
        with pytest.raises(sw.RunNotSettledError, match="resume") as info:
            session.undo(result.run_id)
        assert info.value.n_unsettled == N_LIVE - N_KEEP
        assert session.history(code).height == 1  # nothing applied, no new run
        assert session.client.stats.n_requests > before  # it did read, and only read
    assert big_sandbox.member_ids(code) == set(live) | set(desired)


def test_r21_undo_of_a_run_killed_with_an_answer_in_flight_removes_its_adds(
    big_sandbox, tmp_path
) -> None:
    big_sandbox.configure(delete_delay=0.0)
    code = "r21-killed"
    live, desired = _layout(big_sandbox, code)
    journal = tmp_path / "journal.sqlite3"
    lock = threading.Lock()
    adds = {"answered": 0}

    def after(exchange, request, response) -> None:
        # The second add batch is applied by Shopgate, then the process dies before the
        # answer arrives: the journal holds that batch as "sending".
        if exchange.is_write and request.method == "POST":
            with lock:
                adds["answered"] += 1
                if adds["answered"] == 2:
                    raise Crash

    with _session(big_sandbox, journal, transport=Wire(after=after), concurrency=1) as session:
        with pytest.raises(Crash):
            session.apply(session.plan(code, desired))
        run_id = session.history(code)["run_id"][0]
        frame = session.run_details(run_id)
        in_flight = frame.filter(frame["status"] == "sending")["customer_id"].to_list()
        assert len(in_flight) == BATCH
        assert set(in_flight) <= big_sandbox.member_ids(code)  # applied, answer lost
    with _session(big_sandbox, journal, verify_timeout=10) as session:
        plan = session.undo(run_id, allow_mass_removal=True)
        assert set(in_flight) <= set(plan.removes["customer_id"].to_list())
        done = session.apply(plan)
        assert done.status == "verified", done.message
    assert big_sandbox.member_ids(code) == set(live)


def test_r21_undo_while_the_run_is_still_pushing_is_refused(big_sandbox, tmp_path) -> None:
    code = "r21-busy"
    live, desired = _layout(big_sandbox, code)
    journal = tmp_path / "journal.sqlite3"
    started, release = threading.Event(), threading.Event()

    def before(exchange, request) -> None:
        if exchange.is_write:
            started.set()
            assert release.wait(30)

    outcome: dict[str, object] = {}
    with (
        _session(big_sandbox, journal, transport=Wire(before=before)) as pushing,
        _session(big_sandbox, journal) as other,
    ):
        plan = pushing.plan(code, desired)
        worker = threading.Thread(target=lambda: outcome.setdefault("r", pushing.apply(plan)))
        worker.start()
        assert started.wait(30)
        run_id = other.history(code)["run_id"][0]
        assert other.history(code)["status"][0] == "running"
        with pytest.raises(sw.SegmentBusyError, match="already being pushed by run") as info:
            other.undo(run_id)
        assert info.value.holder["run_id"] == run_id
        release.set()
        worker.join(60)
    assert big_sandbox.member_ids(code) | set(live) >= set(desired)
