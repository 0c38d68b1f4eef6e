"""Closing a session while it pushes: batches in flight finish, the rest wait for resume."""

from __future__ import annotations

import threading

import pytest

import segwidgets as sw
from segwidgets._progress import ProgressEvent


def test_closing_mid_push_interrupts_the_run_and_resume_finishes_it(sandbox, tmp_path) -> None:
    sandbox.configure(latency=0.05, delete_delay=0.0)
    journal = tmp_path / "journal.sqlite3"
    session = sw.SegmentSession(sandbox.credentials, journal=journal, batch_size=10, concurrency=2)
    session.create_segment("closing", "Closing")
    page = session.client.customer_page(filters={"isAnonymous": False}, limit=400)
    ids = [c["id"] for c in page.customers if c["status"] != "deleted"][:200]
    plan = session.plan("closing", ids)
    first_batch = threading.Event()

    def progress(event: ProgressEvent) -> None:
        if event.batches_done >= 1:
            first_batch.set()

    outcome: list[BaseException | sw.ApplyResult] = []

    def push() -> None:
        try:
            outcome.append(session.apply(plan, progress=progress))
        except BaseException as exc:  # noqa: BLE001 - asserted below
            outcome.append(exc)

    pusher = threading.Thread(target=push)
    pusher.start()
    assert first_batch.wait(30)
    session.close()
    pusher.join(30)
    assert not pusher.is_alive()
    assert isinstance(outcome[0], BaseException)  # the push did not pretend to finish

    with sw.SegmentSession(sandbox.credentials, journal=journal) as again:
        runs = again.history()
        assert runs["status"].to_list() == ["interrupted"]
        sent = sandbox.member_ids("closing")
        assert 0 < len(sent) < len(ids)
        result = again.resume(runs["run_id"][0])
        assert result.status == "verified"
    assert sandbox.member_ids("closing") == set(ids)


def push_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("segwidgets-push")]


@pytest.mark.parametrize("twice", [False, True])
def test_closing_an_idle_session_ends_its_threads_and_sends_and_waits_for_nothing(
    sandbox, tmp_path, twice
) -> None:
    slept: list[float] = []
    before = push_threads()
    session = sw.SegmentSession(
        sandbox.credentials, journal=tmp_path / "j.sqlite3", concurrency=3, sleep=slept.append
    )
    session._pusher.workers()  # threads started, idle
    started = [t for t in push_threads() if t not in before]
    assert len(started) == 3
    session.close()
    if twice:
        session.close()
    # every push thread has ended, the connection pool is closed, and closing neither sent
    # a request nor waited on the session's clock
    assert not any(t.is_alive() for t in started)
    assert session.client.is_closed
    assert session.client.stats.n_requests == 0
    assert slept == []
