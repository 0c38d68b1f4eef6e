"""The match panel while it matches: a labelled bar that counts emails and requests, a
Cancel button (Python twin ``report.cancel()``) that stops before the next request, and
after a cancel "Matching cancelled" with an offer to match again."""

from __future__ import annotations

import threading

import segwidgets as sw
import segwidgets.widgets as sww
from segwidgets._progress import ProgressEvent
from segwidgets.widgets._match import progress_text


def _events(report: sww.MatchReport) -> list[ProgressEvent]:
    seen: list[ProgressEvent] = []
    draw = report._on_progress

    def recorded(event: ProgressEvent) -> None:
        seen.append(event)
        draw(event)

    report._on_progress = recorded  # type: ignore[method-assign]
    return seen


def test_the_bar_counts_requests_and_emails_then_hides(session, registered, output_of):
    emails = registered["emailAddress"].head(40).to_list()
    report = sww.MatchReport(session, members=sw.read_members(emails))
    assert report.cancel_button.disabled
    assert report.progress_box.layout.display == "none"
    seen = _events(report)
    resolution = report.run()
    assert resolution is not None, output_of(report)
    steps = [e for e in seen if e.phase == "resolve"]
    assert steps
    assert steps[-1].phase_done == resolution.n_requests
    assert steps[-1].members_done == steps[-1].members_total == 40
    assert seen[-1].phase == "done"
    # The last drawing is the finished bar; the bar is hidden once the funnel shows.
    assert report.progress.value == report.progress.max
    assert report.progress_label.value.count("Matched") == 1
    assert report.progress_box.layout.display == "none"
    assert report.cancel_button.disabled
    assert not report.cancelled


def test_progress_text_names_emails_requests_and_time_left():
    event = ProgressEvent(
        phase="resolve",
        batches_done=0,
        batches_total=0,
        members_done=1200,
        members_total=3000,
        n_failed=0,
        elapsed=2.0,
        rate=600.0,
        eta=3.0,
        requests_done=12,
        requests_total=30,
        phase_done=12,
        phase_total=30,
        unit="requests",
    )
    assert progress_text(event) == (
        "Matching: 1,200/3,000 emails looked up · 12/30 requests · about 3 s left"
    )


def test_cancel_stops_matching_and_offers_to_match_again(session, registered, output_of):
    emails = registered["emailAddress"].head(300).to_list()
    report = sww.MatchReport(session, members=sw.read_members(emails))
    report.background = True
    first, release = threading.Event(), threading.Event()
    draw = report._on_progress

    def held(event: ProgressEvent) -> None:
        draw(event)
        if event.phase_done >= 1 and not first.is_set():
            first.set()
            release.wait(30)

    report._on_progress = held  # type: ignore[method-assign]
    before = session.client.stats.n_requests
    assert report.run() is None  # runs in its worker
    assert first.wait(30)
    # Matching runs in the worker; this thread (the kernel's) can press Cancel.
    assert report.busy
    assert report.run_button.disabled
    assert not report.cancel_button.disabled
    assert report.progress_box.layout.display == "flex"
    assert "emails looked up" in report.progress_label.value
    assert report.cancel() is True
    assert "Cancelling" in output_of(report)
    release.set()
    assert report.wait(60)
    assert not report.busy
    assert report.cancelled
    assert report.resolution is None
    assert report.last_error is None  # a cancel is not an error
    assert "Matching cancelled" in output_of(report)
    assert report.run_button.description == "Match again"
    assert not report.run_button.disabled
    assert report.cancel_button.disabled
    assert report.progress_box.layout.display == "none"
    assert "Match again" in report.intro.value
    # Nothing new was asked after the cancel: at most the requests then in flight.
    sent = session.client.stats.n_requests - before
    assert sent <= 1 + session.concurrency

    # Matching again (the Python twin of the button) finishes and clears the notice.
    report.background = False
    resolution = report.run()
    assert resolution is not None, output_of(report)
    assert resolution.n_valid == 300
    assert sent < resolution.n_requests, (sent, resolution.n_requests)
    assert not report.cancelled
    assert report.run_button.description == "Find customers"
    assert "Matching cancelled" not in output_of(report)


def test_cancel_without_a_running_match_does_nothing(session, registered, output_of):
    report = sww.MatchReport(session, members=sw.read_members(["a@example.com"]))
    assert report.cancel() is False
    assert output_of(report) == ""
    assert not report.cancelled


def test_a_new_list_forgets_the_cancel(session, registered):
    report = sww.MatchReport(session, members=sw.read_members(["a@example.com"]))
    report.cancelled = True
    assert report.run_button.description == "Match again"
    report.members = sw.read_members(["b@example.com"])
    assert not report.cancelled
    assert report.run_button.description == "Find customers"
