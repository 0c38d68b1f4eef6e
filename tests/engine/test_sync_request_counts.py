"""The whole sync at Shopgate's real shape (pages of 100 by offset, ``$in`` on ids), counted
exactly against the sandbox: a plan reads ``n // 100 + 1`` pages; an apply sends what its
estimate says, phase by phase, and its progress counts to that total."""

from __future__ import annotations

import pytest
from _kit.segments import member_reads, registered, seed

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


@pytest.mark.parametrize("n", [0, 99, 100, 250])
def test_a_plan_reads_n_div_100_plus_1_pages(sandbox, session, n: int) -> None:
    ids = registered(sandbox, 300)
    seed(sandbox, "s", ids[:n])
    plan = session.plan("s", ids[:n], allow_mass_removal=True)
    assert plan.is_empty()
    assert member_reads(session) == n // 100 + 1


# the stale check: the segment + 3 pages (full), or the segment + the 80 changed ids in one
# $in lookup + the total (changes, what auto takes here)
CHECKS = [("full", 4, (3, 3, "pages")), ("auto", 3, (80, 80, "changed ids"))]


@pytest.mark.parametrize(("stale_check", "check", "counted"), CHECKS)
def test_apply_sends_exactly_its_estimate_phase_by_phase(
    sandbox, session, stale_check: str, check: int, counted: tuple[int, int, str]
) -> None:
    ids = registered(sandbox, 300)
    live, desired = ids[:250], ids[50:250] + ids[250:280]  # 50 out, 30 in
    seed(sandbox, "s", live)
    plan = session.plan("s", desired)
    estimate = plan.estimate(stale_check=stale_check)  # type: ignore[arg-type]
    # push: 2 writes + 1 count check; verify: the 30 adds, then the 50 removes, by $in
    assert [(p.phase, p.n_requests) for p in estimate.phases] == [
        ("check", check),
        ("push", 3),
        ("verify", 2),
    ]
    total = check + 3 + 2
    events: list[ProgressEvent] = []
    before = session.client.stats.snapshot()["by_route"]
    result = session.apply(plan, progress=events.append, stale_check=stale_check)  # type: ignore[arg-type]
    assert result.status == "verified", result.message
    assert result.verify_method == "in-filter"
    assert result.stale_method == ("full" if stale_check == "full" else "changes")
    assert result.n_requests == estimate.n_requests == total
    after = session.client.stats.by_route
    assert after[("GET", "members.list")] - before.get(("GET", "members.list"), 0) == check - 1 + 2
    assert sandbox.member_ids("s") == set(desired)
    # progress: every phase with its own count, the total the estimate's
    assert {e.requests_total for e in events} == {total}
    assert events[-1].phase == "done"
    assert events[-1].requests_done == total
    phases = [e.phase for e in events]
    assert phases.index("check") < phases.index("push") < phases.index("verify")
    last = {e.phase: e for e in events}
    assert (last["check"].phase_done, last["check"].phase_total, last["check"].unit) == counted
    assert (last["push"].phase_done, last["push"].phase_total) == (2, 2)
    assert (last["verify"].phase_done, last["verify"].phase_total, last["verify"].unit) == (
        80,
        80,
        "ids",
    )
    assert last["verify"].label.startswith("verify: 80/80 ids")


def test_without_in_the_run_follows_its_estimate(sandbox, session) -> None:
    sandbox.configure(filter_in="off")
    ids = registered(sandbox, 300)
    seed(sandbox, "s", ids[:250])
    # the plan's id check ($in on the customer filter, refused) teaches it already
    plan = session.plan("s", ids[10:250])
    assert session.client.traits.in_on_id is False
    estimate = plan.estimate()
    assert estimate.verify_method == "full-read"
    result = session.apply(plan)
    assert result.status == "verified", result.message
    assert result.verify_method == "full-read"
    assert result.n_requests == estimate.n_requests


def test_in_refused_during_verification_falls_back_to_a_full_read(sandbox, session) -> None:
    sandbox.configure(filter_in="off")
    ids = registered(sandbox, 300)
    seed(sandbox, "s", ids[:250])
    plan = session.plan("s", ids[10:250], check_ids=False)
    assert session.client.traits.in_on_id is None
    # a full stale check, so that verification is the first to try $in (the stale check's
    # own fallback: tests/unit/test_stale_check.py)
    estimate = plan.estimate(stale_check="full")
    assert estimate.verify_method == "in-filter"
    result = session.apply(plan, stale_check="full")
    assert result.status == "verified", result.message
    assert result.verify_method == "full-read"
    assert session.client.traits.in_on_id is False
    # one refused $in lookup, then the 240 members read back (3 pages) instead of 1 lookup
    assert result.n_requests == estimate.n_requests - 1 + 1 + (240 // 100 + 1)


def test_one_change_in_a_big_segment_is_verified_by_one_lookup(sandbox, session) -> None:
    ids = registered(sandbox, 300)
    seed(sandbox, "s", ids[:300])
    plan = session.plan("s", ids[1:300])
    reads = member_reads(session)
    result = session.apply(plan)
    assert result.verify_method == "in-filter"
    assert result.stale_method == "changes"
    # the stale check looks the one change up and reads the total instead of 4 pages;
    # verification 1 lookup instead of 3 pages
    assert member_reads(session) - reads == 2 + 1
    assert result.n_requests == plan.estimate().n_requests


def test_the_plan_reports_its_read_in_pages(sandbox, session) -> None:
    ids = registered(sandbox, 300)
    seed(sandbox, "s", ids[:250])
    events: list[ProgressEvent] = []
    session.plan("s", ids[:250], progress=events.append)
    reads = [e for e in events if e.phase == "read"]
    assert [e.phase_done for e in reads] == [0, 1, 2, 3]
    assert {e.phase_total for e in reads} == {3}
    assert events[-1].phase == "done"
    assert reads[-1].label.startswith("read: 3/3 pages")


def test_removals_still_applying_are_waited_for_with_one_lookup(sandbox, session) -> None:
    sandbox.configure(delete_delay=0.3)
    ids = registered(sandbox, 300)
    live, desired = ids[:250], ids[20:250] + ids[250:260]  # 20 out, 10 in
    seed(sandbox, "s", live)
    plan = session.plan("s", desired)
    estimate = plan.estimate()
    assert estimate.phase("verify").n_requests == 2  # type: ignore[union-attr]
    result = session.apply(plan)
    assert result.status == "verified", result.message
    assert result.verify_method == "in-filter"
    # while the removals apply, only their last lookup (the 20 removes) is sent again
    lookups = result.n_requests - (estimate.n_requests - 2)
    assert lookups >= 2
    waits = lookups - 2
    # the plan's 3 pages, the stale check's lookup and total, then the verification
    assert session.client.stats.by_route[("GET", "members.list")] == 3 + 2 + lookups
    assert waits <= 4  # 0.15 + 0.3 s of waiting covers 0.3 s, and two to spare


# (writes, concurrency): the member-count reads are one after each wave that a full wave
# follows and one after the last write, whatever the order the answers come in
WAVES = [(7, 8, 1), (8, 8, 1), (12, 8, 1), (16, 8, 2), (20, 8, 2), (24, 8, 3), (20, 1, 2)]


@pytest.mark.parametrize(("writes", "concurrency", "counts"), WAVES)
def test_member_count_reads_follow_the_waves(
    sandbox, tmp_path, writes: int, concurrency: int, counts: int
) -> None:
    from segwidgets._cost import count_checks

    assert count_checks(writes, concurrency) == counts
    sandbox.configure(delete_delay=0.0)
    ids = registered(sandbox, 10 * writes + 10)
    seed(sandbox, "s", ids[:5])
    with sw.SegmentSession(
        sandbox.credentials,
        journal=tmp_path / "journal.sqlite3",
        batch_size=10,
        concurrency=concurrency,
        verify_timeout=5,
    ) as session:
        plan = session.plan("s", ids[: 5 + 10 * writes])
        estimate = plan.estimate()
        push = estimate.phase("push")
        assert push is not None
        assert push.n_requests == writes + counts
        before = session.client.stats.snapshot()["by_route"]
        result = session.apply(plan)
        assert result.status == "verified", result.message
        after = session.client.stats.by_route
    segment_reads = after[("GET", "segments.get")] - before.get(("GET", "segments.get"), 0)
    assert segment_reads == 1 + counts  # is the segment fixed?, then the count checks
    assert result.n_requests == estimate.n_requests
