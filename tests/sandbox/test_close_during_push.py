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


@pytest.mark.parametrize("twice", [False, True])
def test_closing_an_idle_session_is_quick_and_idempotent(sandbox, tmp_path, twice) -> None:
    session = sw.SegmentSession(sandbox.credentials, journal=tmp_path / "j.sqlite3")
    session._pusher.workers()  # threads started, idle
    session.close()
    if twice:
        session.close()
