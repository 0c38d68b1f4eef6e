"""Problem sizes of each mode: ``full`` (the targets), ``quick`` (about a minute), ``smoke``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

__all__ = ["MODES", "Mode", "Sizes", "sizes_for"]

Mode: TypeAlias = Literal["full", "quick", "smoke"]
MODES: tuple[Mode, ...] = ("full", "quick", "smoke")


@dataclass(frozen=True)
class Sizes:
    """Every knob of every benchmark for one mode."""

    mode: Mode
    latency: float
    concurrency: int
    # 1: reading a big segment (concurrent offset pages) against a sequential prefix
    read_members: int
    read_sequential_pages: int
    # 2: a whole apply (stale check + push + verification) on a big segment
    apply_members: int
    apply_adds: int
    apply_removes: int
    # 5: plan + apply as the segment grows (1 % adds + 1 % removes at each size)
    growth_members: tuple[int, ...]
    # 3: the filter matrix: (customers, [emails, ...]) under every filter_in x email_filter
    resolve_matrix: tuple[int, tuple[int, ...]]
    # 8, 9: push
    push_live: int
    push_adds: int
    push_removes: int
    push_customers: int
    batch_size: int
    # 3: resolution, (customers, [emails, ...]) per sandbox
    resolve_cells: tuple[tuple[int, tuple[int, ...]], ...]
    #: a forced strategy predicted to need this many times the requests of the other is
    #: not run (its time is not needed to know the better one)
    resolve_skip_factor: float
    guest_customers: int
    guest_emails: int
    # 4: diff
    diff_sizes: tuple[int, ...]
    # 6: panel
    panel_rows: int
    # 7: input
    input_rows: int
    input_baseline_rows: int
    # 10: the sandbox itself (customers; one segment holds every live one)
    sandbox_customers: int
    #: repeat short measurements and keep the fastest (off for smoke runs)
    repeat_short: bool = True
    #: run each diff method in a process of its own, so its peak memory is its own
    diff_isolated: bool = True
    #: Retry-After values of the injected 429s (target 2)
    retry_after: tuple[str, ...] = ("0", "1")


_FULL = Sizes(
    mode="full",
    latency=0.02,
    concurrency=8,
    read_members=1_000_000,
    read_sequential_pages=500,
    apply_members=1_000_000,
    apply_adds=10_000,
    apply_removes=10_000,
    growth_members=(10_000, 100_000, 1_000_000),
    resolve_matrix=(10_000, (10, 1_000)),
    push_live=100_000,
    push_adds=50_000,
    push_removes=50_000,
    push_customers=200_000,
    batch_size=1000,
    resolve_cells=((100_000, (10, 10_000)),),
    resolve_skip_factor=8.0,
    guest_customers=100_000,
    guest_emails=1_000,
    diff_sizes=(1_000_000, 10_000_000),
    panel_rows=1_000_000,
    input_rows=2_000_000,
    input_baseline_rows=400_000,
    sandbox_customers=1_035_000,
)

_QUICK = Sizes(
    mode="quick",
    latency=0.02,
    concurrency=8,
    read_members=100_000,
    read_sequential_pages=100,
    apply_members=100_000,
    apply_adds=1_000,
    apply_removes=1_000,
    growth_members=(1_000, 10_000, 100_000),
    resolve_matrix=(2_000, (10, 300)),
    push_live=10_000,
    push_adds=5_000,
    push_removes=5_000,
    push_customers=20_000,
    batch_size=1000,
    resolve_cells=((10_000, (10, 2_000)),),
    resolve_skip_factor=8.0,
    guest_customers=10_000,
    guest_emails=200,
    diff_sizes=(1_000_000,),
    panel_rows=100_000,
    input_rows=200_000,
    input_baseline_rows=40_000,
    sandbox_customers=100_000,
)

_SMOKE = Sizes(
    mode="smoke",
    latency=0.002,
    concurrency=4,
    read_members=2_000,
    read_sequential_pages=5,
    apply_members=2_000,
    apply_adds=150,
    apply_removes=150,
    growth_members=(500, 2_000),
    resolve_matrix=(1_000, (5, 150)),
    push_live=400,
    push_adds=200,
    push_removes=200,
    push_customers=1_000,
    batch_size=100,
    resolve_cells=((1_000, (5,)),),
    resolve_skip_factor=8.0,
    guest_customers=1_000,
    guest_emails=20,
    diff_sizes=(20_000,),
    panel_rows=5_000,
    input_rows=3_000,
    input_baseline_rows=500,
    sandbox_customers=2_000,
    repeat_short=False,
    diff_isolated=False,
    retry_after=("0",),
)


def sizes_for(mode: Mode) -> Sizes:
    """The sizes of ``mode``."""
    return {"full": _FULL, "quick": _QUICK, "smoke": _SMOKE}[mode]
