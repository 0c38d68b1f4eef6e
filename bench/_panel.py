"""Target 6: the first page of a million-row diff shown in ``DiffPreview`` (no browser).

The plan is computed beforehand (not timed). What is timed is the Python twin of showing
it: ``diff.plan = plan``, which draws the summary and the first page of each table, and
then a new plan replacing the shown one.
"""

from __future__ import annotations

import dataclasses
import html
import time

from segwidgets._plan import SegmentPlan, compute_plan, fingerprint_ids

from ._diff_worker import generate
from ._report import Check, TargetResult
from ._sizes import Sizes

__all__ = ["run_panel"]

_LIMIT_MS = 200.0


def _plan(rows: int) -> SegmentPlan:
    """A plan with ``rows`` changes: half adds, half removes (and as many kept)."""
    live, desired = generate(rows)
    adds, removes, unchanged = compute_plan(live, desired, mode="mirror")
    return SegmentPlan(
        merchant_code="DEMO",
        segment_code="bench",
        target="http://127.0.0.1:1/{service}",
        mode="mirror",
        adds=adds,
        removes=removes,
        unchanged=unchanged,
        live_fingerprint=fingerprint_ids(live.head(10)),
        n_live=live.len(),
        n_desired=desired.len(),
        live=live,
    )


def run_panel(sizes: Sizes) -> TargetResult:
    """Target 6: ``diff.plan = plan`` for a 1,000,000-change plan in <= 200 ms."""
    result = TargetResult(6, "Panels at scale")
    try:
        from segwidgets.widgets import DiffPreview
    except ImportError as exc:
        result.skipped_reason = f"segwidgets.widgets.DiffPreview is not available ({exc})"
        return result
    plan = _plan(sizes.panel_rows)
    diff = DiffPreview(None)
    timings: list[float] = []
    for _ in range(3):
        diff.plan = None
        start = time.perf_counter()
        diff.plan = plan
        timings.append(time.perf_counter() - start)
    # a new plan replacing a shown one (traitlets compares the two)
    replanned = dataclasses.replace(plan, plan_id="replanned")
    start = time.perf_counter()
    diff.plan = replanned
    replace_seconds = time.perf_counter() - start
    shown = diff.view.adds_table.html.value
    first_id = plan.adds.get_column("customer_id")[0]
    has_first = first_id in shown or html.escape(first_id) in shown
    result.numbers = {
        "changes": plan.n_add + plan.n_remove,
        "n_add": plan.n_add,
        "n_remove": plan.n_remove,
        "n_unchanged": plan.n_unchanged,
        "first_seconds": timings[0],
        "all_seconds": timings,
        "replace_seconds": replace_seconds,
        "html_chars": len(shown),
    }
    result.checks = [
        Check("first page shown, first time (ms)", timings[0] * 1000, _LIMIT_MS, unit="ms"),
        Check(
            "the first id to add is on the page (1 = yes)", float(has_first), 1.0, "equal", "count"
        ),
    ]
    result.notes = [
        (
            f"{plan.n_add + plan.n_remove:,} changes ({plan.n_add:,} adds, {plan.n_remove:,} removes, "
            f"{plan.n_unchanged:,} kept): shown in {timings[0] * 1000:.0f} ms the first time, "
            f"{min(timings[1:]) * 1000:.0f} ms after, "
            f"{replace_seconds * 1000:.0f} ms replacing it with a new plan"
        )
    ]
    return result
