"""The diff panel while it plans: a labelled bar (ids checked or emails matched, then pages
of the segment read), a Cancel button (Python twin ``diff.cancel()``) that stops before the
next request, then "Planning cancelled" and Plan again; the app's hint follows a cancelled
match or plan."""

from __future__ import annotations

import threading

import polars as pl

import segwidgets as sw
import segwidgets.widgets as sww
from segwidgets._progress import ProgressEvent
from segwidgets.widgets._diff import resolving_of
from segwidgets.widgets._phase_bar import progress_text


def _event(phase: str, **counts: int) -> ProgressEvent:
    values = {
        "batches_done": 0, "batches_total": 0, "members_done": 0, "members_total": 0,
        "n_failed": 0, "elapsed": 1.0, "rate": 0.0, "eta": 40.0,
    }  # fmt: skip
    values.update(counts)
    return ProgressEvent(phase=phase, **values)  # type: ignore[arg-type]


def test_progress_words_for_each_step_of_a_plan():
    read = _event("read", phase_done=120, phase_total=10_000, requests_done=120)
    assert progress_text(read) == "Reading the segment: 120/10,000 pages · about 40 s left"
    ids = _event("resolve", members_done=200, members_total=500, phase_done=2, phase_total=5)
    assert progress_text(ids, resolving="ids") == (
        "Checking the ids: 200/500 ids checked · 2/5 requests · about 40 s left"
    )
    assert progress_text(ids, resolving="emails").startswith(
        "Matching: 200/500 emails looked up · 2/5 requests"
    )
    done = ProgressEvent("done", 0, 0, 0, 0, 0, 1.0, 0.0, None, message="3 members in 1 pages")
    assert progress_text(done, done="Segment read") == "Segment read: 3 members in 1 pages"


def test_what_a_plan_does_before_reading(registered):
    ids = sw.read_members(pl.DataFrame({"customer_id": registered["id"].head(2).to_list()}))
    emails = sw.read_members(registered["emailAddress"].head(2).to_list())
    assert resolving_of(ids) == "ids"
    assert resolving_of(emails) == "emails"
    assert resolving_of(pl.DataFrame({"email": ["a@example.com"]})) == "emails"
    assert resolving_of(["x"]) == "ids"
    assert resolving_of(None) is None


def _held(diff: sww.DiffPreview) -> tuple[threading.Event, threading.Event, list[ProgressEvent]]:
    """Hold the planning at its first progress event until ``release`` is set."""
    first, release = threading.Event(), threading.Event()
    seen: list[ProgressEvent] = []
    draw = diff._on_progress

    def held(event: ProgressEvent) -> None:
        seen.append(event)
        draw(event)
        if not first.is_set():
            first.set()
            release.wait(30)

    diff._on_progress = held  # type: ignore[method-assign]
    return first, release, seen


def test_the_bar_follows_the_id_check_and_the_read_then_hides(session, registered, output_of):
    diff = sww.DiffPreview(session, segment="vip")
    assert diff.cancel_button.layout.display == "none"  # nothing to cancel
    seen: list[ProgressEvent] = []
    draw = diff._on_progress
    diff._on_progress = lambda e: (seen.append(e), draw(e))  # type: ignore[method-assign]
    diff.desired = sw.read_members(
        pl.DataFrame({"customer_id": registered["id"].head(30).to_list()})
    )
    assert diff.plan is not None, output_of(diff)
    phases = [e.phase for e in seen]
    assert "resolve" in phases
    assert "read" in phases
    assert phases.index("resolve") < phases.index("read")
    assert phases[-1] == "done"
    assert phases.count("done") == 1  # the id check's own end is not passed on
    reads = [e for e in seen if e.phase == "read"]
    assert reads[-1].phase_done == reads[-1].phase_total >= 1
    assert diff.progress_box.layout.display == "none"
    assert "Segment read" in diff.progress_box.label.value
    assert not diff.cancelled
    assert diff.refresh_button.description == "Refresh plan"


def test_cancel_stops_planning_and_offers_to_plan_again(session, registered, output_of):
    diff = sww.DiffPreview(session, segment="vip", mode="add")
    diff.background = True
    first, release, _ = _held(diff)
    before = session.client.stats.n_requests
    diff.desired = sw.read_members(
        pl.DataFrame({"customer_id": registered["id"].head(30).to_list()})
    )
    assert first.wait(30)
    assert diff.busy
    assert diff.refresh_button.disabled
    assert not diff.cancel_button.disabled
    assert diff.cancel_button.layout.display is None
    assert diff.progress_box.layout.display == "flex"
    assert "Checking the ids" in diff.progress_box.label.value
    assert diff.cancel() is True
    assert "Cancelling" in output_of(diff)
    release.set()
    assert diff.wait(60)
    assert not diff.busy
    assert diff.cancelled
    assert diff.plan is None
    assert diff.last_error is None  # a cancel is not an error
    assert "Planning cancelled" in output_of(diff)
    assert diff.refresh_button.description == "Plan again"
    assert not diff.refresh_button.disabled
    assert diff.cancel_button.layout.display == "none"
    assert diff.progress_box.layout.display == "none"
    assert "Plan again" in diff.intro.value
    # Nothing new was asked after the cancel: at most the requests then in flight.
    assert session.client.stats.n_requests - before <= 1 + session.concurrency

    # Planning again (the twin of the button) finishes and clears the notice.
    diff.background = False
    plan = diff.refresh()
    assert plan is not None, output_of(diff)
    assert plan.n_desired == 30
    assert not diff.cancelled
    assert diff.refresh_button.description == "Refresh plan"
    assert "Planning cancelled" not in output_of(diff)


def test_cancel_without_a_running_plan_does_nothing(session, output_of):
    diff = sww.DiffPreview(session)
    assert diff.cancel() is False
    assert not diff.cancelled
    assert output_of(diff) == ""


def test_the_app_hint_follows_a_cancelled_match(session, registered):
    app = sww.SegmentApp(session, environ={}, background=True)
    app.picker.value = "vip"
    app.builder.load(pl.DataFrame({"email": registered["emailAddress"].head(300).to_list()}))
    assert "Find customers" in app.hint.value
    report = app.match
    first, release = threading.Event(), threading.Event()
    draw = report._on_progress

    def held(event: ProgressEvent) -> None:
        draw(event)
        if event.phase_done >= 1 and not first.is_set():
            first.set()
            release.wait(30)

    report._on_progress = held  # type: ignore[method-assign]
    report.run()
    assert first.wait(30)
    assert app.state.activity == "resolving"
    assert "Matching" in app.hint.value
    report.cancel()
    release.set()
    assert app.wait(60)
    assert app.state.match_stopped
    assert app.state.step == "match"
    assert "Match again" in app.state.next_hint()
    assert "Match again" in app.hint.value
    assert "Find customers" not in app.hint.value
    # Matching again ends the offer; the plan follows.
    report._on_progress = draw  # type: ignore[method-assign]
    report.run()
    assert app.wait(60)
    assert app.match.resolution is not None
    assert not app.state.match_stopped
    assert app.state.plan is not None, app.diff.status_text
    assert "Match again" not in app.hint.value


def test_the_app_hint_follows_a_cancelled_plan(session, registered):
    app = sww.SegmentApp(session, environ={}, background=True)
    app.picker.value = "vip"
    app.diff.mode = "add"
    first, release, _ = _held(app.diff)
    app.builder.load(pl.DataFrame({"customer_id": registered["id"].head(20).to_list()}))
    assert first.wait(30)
    assert app.state.activity == "planning"
    assert "Planning" in app.hint.value
    assert app.diff.cancel()
    release.set()
    assert app.wait(60)
    assert app.state.plan is None
    assert app.state.plan_stopped
    assert app.state.step == "plan"
    assert "Plan again" in app.hint.value
    assert app.pusher.push_button.disabled  # nothing to push
    # A new mode plans again at once: the offer goes, the plan comes.
    app.diff._on_progress = lambda e: None  # type: ignore[method-assign]
    app.diff.mode = "mirror"
    assert app.wait(60)
    assert not app.state.plan_stopped
    assert app.state.plan is app.diff.plan is not None
    assert "Plan again" not in app.hint.value
