"""The journal keeps a segment's size before and after each run (the History chart), and
a plan's estimate never reads "about under a second"."""

from __future__ import annotations

import polars as pl
import pytest

import segwidgets as sw
from segwidgets._journal import Journal
from segwidgets._plan import Estimate
from segwidgets._progress import CancelToken


@pytest.fixture
def journal(tmp_path):
    j = Journal(tmp_path / "j.sqlite3")
    try:
        yield j
    finally:
        j.close()


def _record(journal: Journal, run_id: str, code: str, before: int, after: int) -> None:
    journal.record_size(
        run_id, merchant_code="M", target="t", segment_code=code, n_before=before, n_after=after
    )


def test_sizes_are_kept_per_segment_oldest_first(journal):
    _record(journal, "r1", "news", 10, 14)
    _record(journal, "r2", "vip", 3, 2)
    _record(journal, "r3", "news", 14, 9)
    sizes = journal.sizes("M", "t", "news")
    assert sizes["run_id"].to_list() == ["r1", "r3"]
    assert sizes["n_before"].to_list() == [10, 14]
    assert sizes["n_after"].to_list() == [14, 9]
    assert journal.sizes("M", "other", "news").height == 0


def test_a_second_record_of_a_run_replaces_the_first(journal):
    _record(journal, "r1", "news", 10, 12)
    _record(journal, "r1", "news", 10, 14)  # resumed: the run ends at 14
    assert journal.sizes("M", "t", "news")["n_after"].to_list() == [14]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.2, "under a second"), (14, "about 14 s"), (300, "about 5.0 min")],
)
def test_estimate_wording(seconds, text):
    estimate = Estimate(
        n_add_requests=1,
        n_remove_requests=0,
        n_read_requests=2,
        batch_size=1000,
        concurrency=8,
        seconds=seconds,
    )
    assert str(estimate).startswith(f"3 requests, {text}: 1 batch to add and 0 to remove")
    assert "about under" not in str(estimate)


def test_estimate_names_each_phase_in_words():
    from segwidgets._plan import PhaseCost

    estimate = Estimate(
        n_add_requests=1,
        n_remove_requests=1,
        n_read_requests=16,
        batch_size=1000,
        concurrency=8,
        seconds=0.3,
        phases=(
            PhaseCost("check", 11, "pages", 10, 0.1),
            PhaseCost("push", 3, "batches", 2, 0.1),
            PhaseCost("verify", 1, "ids", 1, 0.1),
        ),
    )
    assert str(estimate) == (
        "18 requests, under a second: check 11 requests (10 pages); "
        "push 3 requests (2 batches, 1 member count); verify 1 request (1 id). "
        "Writes: 1 batch to add and 1 to remove, up to 1,000 members each, "
        "8 requests at a time"
    )


def test_a_resumed_run_updates_its_size(sandbox, tmp_path):
    sandbox.configure(delete_delay=0)
    with sw.SegmentSession(
        sandbox.credentials, journal=tmp_path / "j.sqlite3", batch_size=10, concurrency=1
    ) as session:
        before = sandbox.member_ids("vip")
        customers = sandbox.model.customers_frame()
        ids = customers.filter(
            ~pl.col("isAnonymous"),
            pl.col("status") == "active",
            ~pl.col("id").is_in(sorted(before)),
        )["id"].head(30)
        token = CancelToken()
        token.cancel()
        result = session.apply(session.plan("vip", ids, mode="add"), cancel=token)
        assert result.run_id is not None
        creds = session.client.credentials
        sizes = session.journal.sizes(creds.merchant_code, creds.url_template, "vip")
        assert sizes["n_before"].to_list() == [len(before)]
        assert sizes["n_after"].to_list() == [len(before) + result.n_added]
        assert result.n_added < 30
        session.resume(result.run_id)
        sizes = session.journal.sizes(creds.merchant_code, creds.url_template, "vip")
        assert sizes["n_after"].to_list() == [len(before) + 30]
        assert len(sandbox.member_ids("vip")) == len(before) + 30
