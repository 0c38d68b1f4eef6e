"""The stale check before a push, each way, counted exactly against the sandbox: ``full``
reads every page, ``changes`` looks the planned ids up by ``$in`` and reads the total,
``auto`` takes the one with fewer requests; ``$in`` refused falls back to a full read."""

from __future__ import annotations

from typing import Any

import pytest
from _kit.segments import member_reads, registered, seed, writes

import segwidgets as sw
from segwidgets._progress import ProgressEvent


@pytest.fixture
def session(sandbox, tmp_path):
    sandbox.configure(delete_delay=0.0)
    s = sw.SegmentSession(
        sandbox.credentials, journal=tmp_path / "journal.sqlite3", verify_timeout=5
    )
    yield s
    s.close()


@pytest.fixture
def pool(sandbox) -> list[str]:
    return registered(sandbox, 400)


def plan_80_changes(sandbox: Any, session: sw.SegmentSession, pool: list[str]) -> sw.SegmentPlan:
    """250 members (3 pages); the plan removes 50 and adds 30."""
    seed(sandbox, "s", pool[:250])
    plan = session.plan("s", pool[50:250] + pool[250:280])
    assert (plan.n_add, plan.n_remove) == (30, 50)
    assert plan.live_total == 250
    return plan


# (stale_check asked, way used, member reads of the check): a full read is 250 // 100 + 1
# pages; the changes are 80 ids (one $in lookup) and the total (one read of one member)
WAYS = [("full", "full", 3), ("changes", "changes", 2), ("auto", "changes", 2)]


@pytest.mark.parametrize("way", WAYS, ids=[w[0] for w in WAYS])
def test_each_way_sends_exactly_its_requests(sandbox, session, pool, way) -> None:
    asked, used, reads = way
    plan = plan_80_changes(sandbox, session, pool)
    estimate = plan.estimate(stale_check=asked)
    assert estimate.stale_method == used
    check = estimate.phase("check")
    assert check is not None
    assert check.n_requests == 1 + reads  # the segment (is it fixed?), then the reads
    assert (check.unit, check.count) == (("changed ids", 80) if used == "changes" else ("pages", 3))
    before = member_reads(session)
    dry = session.apply(plan, dry_run=True, stale_check=asked)
    assert dry.stale_method == used
    assert dry.n_requests == 1 + reads
    assert member_reads(session) - before == reads
    before, requests = member_reads(session), session.client.stats.n_requests
    result = session.apply(plan, stale_check=asked)
    assert result.status == "verified", result.message
    assert result.stale_method == used
    # check, then 2 writes and 1 count check, then 2 lookups (the adds, then the removes)
    assert result.n_requests == session.client.stats.n_requests - requests
    assert result.n_requests == estimate.n_requests == 1 + reads + 3 + 2
    assert member_reads(session) - before == reads + 2
    assert sandbox.member_ids("s") == set(pool[50:280])


def test_auto_reads_in_full_when_that_is_fewer_requests(sandbox, session, pool) -> None:
    seed(sandbox, "s", pool[:250])
    plan = session.plan("s", pool[100:400])  # 100 out, 150 in: 3 lookups + 1 > 3 pages
    assert plan.estimate().stale_method == "full"
    assert plan.estimate(stale_check="changes").phase("check").n_requests == 1 + 3 + 1  # type: ignore[union-attr]
    dry = session.apply(plan, dry_run=True)
    assert (dry.stale_method, dry.n_requests) == ("full", 1 + 3)
    forced = session.apply(plan, dry_run=True, stale_check="changes")
    assert (forced.stale_method, forced.n_requests) == ("changes", 1 + 3 + 1)


def test_in_refused_falls_back_to_a_full_read(sandbox, session, pool) -> None:
    sandbox.configure(filter_in="off")
    seed(sandbox, "s", pool[:250])
    plan = session.plan("s", pool[50:250] + pool[250:280], check_ids=False)
    assert session.client.traits.in_on_id is None
    assert plan.estimate().stale_method == "changes"  # not known yet: tried
    before = member_reads(session)
    dry = session.apply(plan, dry_run=True)
    # the segment, one refused lookup, then the 3 pages
    assert (dry.stale_method, dry.n_requests) == ("full", 1 + 1 + 3)
    assert member_reads(session) - before == 1 + 3
    assert session.client.traits.in_on_id is False
    # now known: straight to the full read, asked for the changes or not
    for asked in ("auto", "changes"):
        dry = session.apply(plan, dry_run=True, stale_check=asked)  # type: ignore[arg-type]
        assert (dry.stale_method, dry.n_requests) == ("full", 1 + 3)
    assert plan.estimate(in_filter=False, stale_check="changes").stale_method == "full"
    events: list[ProgressEvent] = []
    result = session.apply(plan, progress=events.append)
    assert result.status == "verified", result.message
    assert result.stale_method == "full"
    checks = [e for e in events if e.phase == "check"]
    assert (checks[-1].phase_done, checks[-1].phase_total, checks[-1].unit) == (3, 3, "pages")


def test_progress_names_the_way_in_its_label(sandbox, session, pool) -> None:
    plan = plan_80_changes(sandbox, session, pool)
    events: list[ProgressEvent] = []
    result = session.apply(plan, progress=events.append)
    assert result.stale_method == "changes"
    checks = [e for e in events if e.phase == "check"]
    assert [e.phase_done for e in checks] == [0, 80]
    assert checks[-1].label.startswith("check: 80/80 changed ids")
    assert {e.requests_total for e in events} == {plan.estimate().n_requests}
    events.clear()
    session.apply(session.plan("s", pool[:250]), progress=events.append, stale_check="full")
    checks = [e for e in events if e.phase == "check"]
    assert checks[-1].label.startswith("check: 3/3 pages")


# someone else's change after planning: (added, removed) as slices of the pool; the plan
# removes pool[0:50] and adds pool[250:280]
SEEN = {
    "a-planned-add-made": (slice(250, 251), slice(0, 0)),
    "a-planned-remove-made": (slice(0, 0), slice(0, 1)),
    "an-untouched-member-added": (slice(300, 301), slice(0, 0)),
    "an-untouched-member-removed": (slice(0, 0), slice(100, 101)),
    "a-swap-with-a-planned-remove": (slice(300, 301), slice(10, 11)),
}


@pytest.mark.parametrize("change", list(SEEN), ids=list(SEEN))
def test_changes_sees_a_planned_id_or_the_total_and_states_the_drift(
    sandbox, session, pool, change
) -> None:
    plan = plan_80_changes(sandbox, session, pool)
    added, removed = (pool[s] for s in SEEN[change])
    if added:
        sandbox.model.add_members("s", added)
    if removed:
        sandbox.model.remove_members("s", removed)
    sent = writes(session)
    before = session.client.stats.n_requests
    with pytest.raises(sw.StalePlanError, match="changed since this plan was made") as info:
        session.apply(plan, stale_check="changes")
    # the drift is exact: the plan found stale is read in full before the error
    assert (info.value.n_added_since, info.value.n_removed_since) == (len(added), len(removed))
    n_live = 250 + len(added) - len(removed)
    assert session.client.stats.n_requests - before == 1 + 2 + n_live // 100 + 1
    assert writes(session) == sent


def test_changes_cannot_see_a_swap_of_members_the_plan_does_not_touch(
    sandbox, session, pool
) -> None:
    plan = plan_80_changes(sandbox, session, pool)
    sandbox.model.remove_members("s", pool[100:101])  # a member the plan keeps
    sandbox.model.add_members("s", pool[300:301])  # one it never saw
    # the full read sees it, the changes cannot (documented): the lease and the count
    # checks are the lines against other writers
    with pytest.raises(sw.StalePlanError):
        session.apply(plan, dry_run=True, stale_check="full")
    dry = session.apply(plan, dry_run=True, stale_check="changes")
    assert dry.stale_method == "changes"


def test_devices_are_in_both_totals(sandbox, session, pool) -> None:
    seed(sandbox, "s", pool[:250])
    sandbox.model.add_device_members("s", ["dev-1", "dev-2"])
    plan = session.plan("s", pool[50:250] + pool[250:280])
    assert (plan.n_live, plan.live_total) == (250, 252)
    result = session.apply(plan, stale_check="changes")
    assert result.status == "verified", result.message
    assert result.stale_method == "changes"
    plan = session.plan("s", pool[50:280])
    assert plan.is_empty()
    dry = session.apply(plan, dry_run=True, stale_check="changes")
    assert (dry.stale_method, dry.n_requests) == ("changes", 1 + 1)  # no ids: the total only
    # A device joins: the total moves, so the segment is read in full, and a plan of
    # customers still holds (as for the full check, which compares customer members).
    sandbox.model.add_device_members("s", ["dev-3"])
    dry = session.apply(plan, dry_run=True, stale_check="changes")
    assert (dry.stale_method, dry.n_requests) == ("full", 1 + 1 + 3)


def test_a_total_that_leaves_out_pending_removals_is_compared_as_reported(
    sandbox, session, pool
) -> None:
    # Removals accepted and never applied: listed, but left out of totalItemCount.
    sandbox.configure(total_counts_pending=False, delete_delay=None)
    seed(sandbox, "s", pool[:250])
    sandbox.model.remove_members("s", pool[200:210])
    plan = session.plan("s", pool[50:280])
    assert (plan.n_live, plan.live_total) == (250, 240)
    for asked in ("changes", "full"):
        dry = session.apply(plan, dry_run=True, stale_check=asked)  # type: ignore[arg-type]
        assert dry.stale_method == asked
    sandbox.model.add_members("s", pool[300:301])
    with pytest.raises(sw.StalePlanError):
        session.apply(plan, dry_run=True, stale_check="changes")


def test_a_saved_plan_keeps_its_total_and_an_unknown_one_reads_in_full(
    sandbox, session, pool, tmp_path
) -> None:
    plan = plan_80_changes(sandbox, session, pool)
    loaded = sw.SegmentPlan.load(plan.save(tmp_path / "plan.json"))
    assert loaded.live_total == 250
    assert loaded.estimate().stale_method == "changes"
    from dataclasses import replace

    unknown = replace(plan, live_total=None)
    assert unknown.estimate(stale_check="changes").stale_method == "full"
    dry = session.apply(unknown, dry_run=True, stale_check="changes")
    assert (dry.stale_method, dry.n_requests) == ("full", 1 + 3)


def test_an_unknown_way_is_refused(sandbox, session, pool) -> None:
    plan = plan_80_changes(sandbox, session, pool)
    with pytest.raises(ValueError, match="stale_check must be"):
        session.apply(plan, stale_check="quick")  # type: ignore[arg-type]


@pytest.mark.parametrize("n_asked", [20, 200])
def test_a_filtered_page_leaves_out_its_pending_removals_from_the_total(
    sandbox, session, pool, n_asked
) -> None:
    # Fewer ids asked than removals pending, and more: the sandbox counts either way.
    sandbox.configure(total_counts_pending=False, delete_delay=None)
    seed(sandbox, "s", pool[:250])
    sandbox.model.remove_members("s", pool[:50])  # pending, still listed
    asked = pool[45 : 45 + n_asked]  # 5 of them pending
    page = session.client.member_page("s", limit=100, filters={"id": {"$in": asked}})
    listed = min(n_asked, 100)
    assert len(page.members) == listed
    assert page.total == n_asked - 5


@pytest.mark.parametrize("stale_check", ["changes", "full"])
def test_count_checks_count_devices_like_shopgate(sandbox, session, pool, stale_check) -> None:
    # memberCount counts the segment's devices; the count checks during a push must
    # compare it with a count that does too, or many devices read as another writer.
    seed(sandbox, "s", pool[:250])
    sandbox.model.add_device_members("s", [f"dev-{i}" for i in range(40)])
    plan = session.plan("s", pool[5:250] + pool[250:255])
    assert (plan.n_add, plan.n_remove) == (5, 5)
    result = session.apply(plan, stale_check=stale_check)
    assert result.status == "verified", result.message
    assert sandbox.member_ids("s") == set(pool[5:255])
