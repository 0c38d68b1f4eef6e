"""Progress of a whole run: each phase with its own count, the ETA from the estimate's
request count (a fake clock, no waiting)."""

from __future__ import annotations

from segwidgets._progress import ProgressEvent, ProgressTracker


def test_each_phase_counts_in_its_own_unit_and_the_eta_follows_requests() -> None:
    now = [0.0]
    sent = [0]
    events: list[ProgressEvent] = []
    tracker = ProgressTracker(
        events.append,
        batches_total=0,
        members_total=0,
        clock=lambda: now[0],
        requests_total=10,
        requests=lambda: sent[0],
    )
    tracker.start_phase("check", 3, "pages")
    for _ in range(3):
        now[0] += 1.0
        sent[0] += 1
        tracker.step("check")
    last = events[-1]
    assert (last.phase, last.phase_done, last.phase_total, last.unit) == ("check", 3, 3, "pages")
    assert (last.requests_done, last.requests_total) == (3, 10)
    assert last.eta == 7.0  # 7 requests left at 1 s each so far
    assert last.label == "check: 3/3 pages, about 7 s left"
    tracker.add_work(batches=4, members=4000)
    now[0] += 1.0
    sent[0] += 1
    tracker.advance(batches=1, members=1000)
    push = events[-1]
    assert (push.phase, push.phase_done, push.phase_total, push.unit) == ("push", 1, 4, "batches")
    assert push.eta == 6.0
    assert push.requests_fraction == 0.4


def test_without_a_request_count_the_eta_comes_from_members() -> None:
    now = [0.0]
    events: list[ProgressEvent] = []
    tracker = ProgressTracker(
        events.append, batches_total=2, members_total=200, clock=lambda: now[0]
    )
    now[0] = 1.0
    tracker.advance(batches=1, members=100)
    assert events[-1].eta == 1.0
    assert events[-1].requests_total == 0
    assert events[-1].requests_fraction == 1.0
