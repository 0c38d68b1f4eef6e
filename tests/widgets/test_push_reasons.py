"""The Push panel shows Shopgate's reason per refused id: one line per reason, its count,
the ids under it."""

from __future__ import annotations

import polars as pl

from segwidgets import widgets as sww
from segwidgets._result import ApplyResult


def result_with_failures() -> ApplyResult:
    rows = [
        ("c1", "add", "verified", None),
        ("x1", "add", "failed", "There is no customer with this id."),
        ("x2", "add", "failed", "There is no customer with this id."),
        ("d1", "remove", "failed", "Customer <deleted>."),
    ]
    outcomes = pl.DataFrame(
        rows, schema=["customer_id", "action", "outcome", "error"], orient="row"
    )
    return ApplyResult(
        run_id="r1",
        status="partial",
        segment_code="vip",
        outcomes=outcomes,
        n_requests=2,
        seconds=0.1,
    )


def test_reasons_are_grouped_with_counts_and_ids() -> None:
    result = result_with_failures()
    reasons = result.failure_reasons()
    assert reasons.select("error", "action", "n").rows() == [
        ("There is no customer with this id.", "add", 2),
        ("Customer <deleted>.", "remove", 1),
    ]
    assert reasons["customer_ids"].to_list()[0] == ["x1", "x2"]
    assert result.n_added == 1


def test_push_panel_lists_one_line_per_reason() -> None:
    push = sww.PushPanel(None)
    push.result = result_with_failures()
    text = push.reasons_html.value
    assert text.count("<li>") == 2
    assert "<b>2</b> adds refused: There is no customer with this id." in text
    assert "x1, x2" in text
    assert "Customer &lt;deleted&gt;." in text  # escaped
    assert push.failed_box.layout.display == "flex"
    push.result = None
    assert push.failed_box.layout.display == "none"
