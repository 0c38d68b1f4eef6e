"""R6: a stale plan, a plan for another target, and a push started twice at once.

Must hold: a named error with zero writes and the drift stated; the second push is refused
(or is a no-op when there is nothing left to do).
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

import httpx
import pytest
from reliability_kit import Exchange, Wire, make_segment, registered_ids, session_for

import segwidgets as sw
from segwidgets import sandbox as sandbox_package


@pytest.fixture
def setup(big_sandbox, tmp_path):
    pool = registered_ids(big_sandbox.model, 300)
    make_segment(big_sandbox.model, "r6", pool[:100])
    big_sandbox.configure(delete_delay=0.0)
    wire = Wire()
    session = session_for(big_sandbox.credentials, tmp_path / "j.sqlite3", wire=wire, batch_size=25)
    yield big_sandbox, session, wire, pool
    session.close()


# (ids added outside, ids removed outside) after planning, as slices of the pool
CHANGES = {
    "R6-stale-add-one": (slice(250, 251), slice(0, 0)),
    "R6-stale-remove-one": (slice(0, 0), slice(0, 1)),
    "R6-stale-swap-same-count": (slice(251, 252), slice(1, 2)),
    "R6-stale-many": (slice(260, 300), slice(10, 40)),
}


@pytest.mark.parametrize("change", list(CHANGES), ids=list(CHANGES))
def test_r6_stale_plan_is_refused_with_zero_writes_and_the_drift(setup, change: str) -> None:
    handle, session, wire, pool = setup
    plan = session.plan("r6", pool[50:200], allow_mass_removal=True)
    added, removed = (pool[s] for s in CHANGES[change])
    if added:
        handle.model.add_members("r6", added)
    if removed:
        handle.model.remove_members("r6", removed)
    server = handle.member_ids("r6")
    # every way of the stale check: each of these changes touches a planned id or the total
    for dry_run, stale_check in itertools.product((True, False), ("auto", "full", "changes")):
        with pytest.raises(sw.StalePlanError) as info:
            session.apply(plan, dry_run=dry_run, stale_check=stale_check)  # type: ignore[arg-type]
        assert info.value.n_added_since == len(added)
        assert info.value.n_removed_since == len(removed)
        text = str(info.value)
        assert f"{len(added):,} members added and {len(removed):,} removed" in text
        assert "Nothing was sent" in text
    assert wire.writes() == []
    assert handle.member_ids("r6") == server
    assert session.history("r6").height == 0  # no run was even started


def test_r6_stale_saved_plan_is_refused_in_another_session(setup, tmp_path) -> None:
    handle, session, _, pool = setup
    saved = session.plan("r6", pool[:150]).save(tmp_path / "plan.json")
    handle.model.add_members("r6", pool[290:291])
    other = Wire()
    with (
        session_for(handle.credentials, tmp_path / "j2.sqlite3", wire=other) as second,
        pytest.raises(sw.StalePlanError),
    ):
        second.apply(sw.SegmentPlan.load(saved))
    assert other.writes() == []


def test_r6_plan_for_another_segment_is_refused(setup) -> None:
    _, session, wire, pool = setup
    plan = session.plan("r6", pool[:150])
    with pytest.raises(sw.PlanTargetError, match="not 'vip'"):
        session.apply(plan, segment="vip")
    assert wire.writes() == []


def test_r6_plan_file_edited_to_another_segment_is_refused(setup, tmp_path) -> None:
    handle, session, wire, pool = setup
    make_segment(handle.model, "r6-other", pool[200:230])
    path = session.plan("r6", pool[:150]).save(tmp_path / "plan.json")
    path.write_text(path.read_text().replace('"r6"', '"r6-other"'))
    with pytest.raises(sw.StalePlanError):
        session.apply(sw.SegmentPlan.load(path))
    assert wire.writes() == []
    assert handle.member_ids("r6-other") == set(pool[200:230])


def test_r6_plan_for_another_merchant_or_host_is_refused(setup, tmp_path) -> None:
    handle, session, wire, pool = setup
    plan = session.plan("r6", pool[:150])
    creds = handle.credentials
    other_merchant = sw.Credentials(
        merchant_code="OTHER",
        client_id=creds.client_id,
        client_secret=creds.client_secret,
        username=creds.username,
        password=creds.password,
        base_url=creds.base_url,
    )
    other = Wire()
    with (
        session_for(other_merchant, tmp_path / "j2.sqlite3", wire=other) as second,
        pytest.raises(sw.PlanTargetError, match="merchant 'DEMO'"),
    ):
        second.apply(plan)
    assert other.snapshot() == []  # refused before a single request
    # the same merchant code on another host (a second sandbox) is another target too
    with sandbox_package.start(customers=10) as elsewhere:
        third_wire = Wire()
        with (
            session_for(elsewhere.credentials, tmp_path / "j3.sqlite3", wire=third_wire) as third,
            pytest.raises(sw.PlanTargetError),
        ):
            third.apply(plan)
        assert third_wire.snapshot() == []
    assert wire.writes() == []


def test_r6_double_click_in_one_session(setup) -> None:
    handle, session, wire, pool = setup
    handle.configure(latency=0.02)
    plan = session.plan("r6", pool[:200])
    started = threading.Event()
    outcome: dict[str, Any] = {}

    def first() -> None:
        outcome["first"] = session.apply(plan, progress=lambda _event: started.set())

    worker = threading.Thread(target=first)
    worker.start()
    assert started.wait(30)
    writes_before = len(wire.writes())
    with pytest.raises(sw.ApplyInProgressError, match="Nothing was sent"):
        session.apply(plan)
    worker.join(60)
    assert outcome["first"].status == "verified"
    n_writes = len(wire.writes())
    assert n_writes >= writes_before
    # clicked again after it finished: the plan is stale now, refused with zero writes
    with pytest.raises(sw.StalePlanError):
        session.apply(plan)
    # ... and a plan with nothing to do is a no-op
    empty = session.plan("r6", pool[:200])
    assert empty.is_empty()
    assert session.apply(empty).status == "verified"
    assert len(wire.writes()) == n_writes
    assert handle.member_ids("r6") == set(pool[:200])


def test_r6_same_plan_pushed_from_two_sessions_at_once(setup, tmp_path) -> None:
    """Two sessions (two kernels, or a notebook and the CLI) share the journal: the plan is
    pushed once; the other push is refused before it sends anything."""
    handle, session, _, pool = setup
    plan_path = session.plan("r6", pool[:200]).save(tmp_path / "plan.json")
    gate = threading.Event()
    release = threading.Event()

    def before(exchange: Exchange, request: httpx.Request) -> None:
        if exchange.is_write:  # hold every write of the first push until released
            gate.set()
            assert release.wait(30)

    first_wire = Wire(before=before)
    second_wire = Wire()
    journal = tmp_path / "j.sqlite3"
    outcome: dict[str, Any] = {}
    with (
        session_for(handle.credentials, journal, wire=first_wire, batch_size=25) as one,
        session_for(handle.credentials, journal, wire=second_wire, batch_size=25) as two,
    ):

        def first() -> None:
            outcome["first"] = one.apply(sw.SegmentPlan.load(plan_path))

        worker = threading.Thread(target=first)
        worker.start()
        assert gate.wait(30)  # the first push is about to send its first batch
        with pytest.raises(sw.ApplyInProgressError, match="already being pushed"):
            two.apply(sw.SegmentPlan.load(plan_path))
        release.set()
        worker.join(60)
    assert outcome["first"].status == "verified"
    assert second_wire.writes() == []
    assert handle.member_ids("r6") == set(pool[:200])
