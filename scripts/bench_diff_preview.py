"""How long the diff preview takes to show its first page for a very large plan.

A plan with 1,000,000 adds, 1,000,000 removes and 1,000,000 kept members is handed to a
``PlanView`` (what ``DiffPreview`` shows), and to a single ``PagedTable``; the time until
the widgets hold their first page is measured. The tables render one page only, so this
stays far below 200 ms whatever the size of the plan.

Run: ``.venv/bin/python scripts/bench_diff_preview.py [ROWS]``
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
import time

import polars as pl

from segwidgets._plan import SegmentPlan
from segwidgets.widgets import PagedTable, PlanView


def _ids(prefix: str, n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {"customer_id": pl.int_range(n, eager=True).cast(pl.String).str.pad_start(9, "0")}
    ).select(pl.lit(prefix) + pl.col("customer_id"))


def main(argv: list[str]) -> int:
    """Print the median and worst time of a few repetitions."""
    rows = int(argv[0]) if argv else 1_000_000
    adds, removes, kept = _ids("a", rows), _ids("r", rows), _ids("k", rows)
    plan = SegmentPlan(
        merchant_code="DEMO",
        segment_code="bench",
        target="http://127.0.0.1:1/{service}",
        mode="mirror",
        adds=adds,
        removes=removes,
        unchanged=kept,
        live_fingerprint="-",
        n_live=2 * rows,
        n_desired=2 * rows,
        allow_mass_removal=True,
    )
    replanned = dataclasses.replace(plan, plan_id="another")
    view = PlanView()
    table = PagedTable(page_size=15)
    view_times, replan_times, table_times = [], [], []
    for _ in range(7):
        view.plan = None
        start = time.perf_counter()
        view.plan = plan
        view_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        view.plan = replanned  # a new plan replacing a shown one (traitlets compares them)
        replan_times.append(time.perf_counter() - start)
        table.frame = None
        start = time.perf_counter()
        table.frame = adds
        table_times.append(time.perf_counter() - start)
    assert view.adds_table.html.value.count("<tr>") == 16  # header + one page
    for name, times in (
        ("PlanView (3 tables + counts)", view_times),
        ("PlanView, replacing a plan", replan_times),
        ("PagedTable", table_times),
    ):
        print(
            f"{name:30s} {rows:>12,} rows per side: median {statistics.median(times) * 1000:7.1f} ms, "
            f"worst {max(times) * 1000:7.1f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
