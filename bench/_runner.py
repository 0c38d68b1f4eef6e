"""Running targets one after another, each isolated: one failing never stops the others."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterable

from ._diff import run_diff
from ._input import run_input
from ._machine import load
from ._panel import run_panel
from ._push import run_push, run_push_faults
from ._read import run_read
from ._report import TargetResult
from ._resolution import run_resolution
from ._sandbox_scale import run_sandbox_scale
from ._sizes import Sizes
from ._sync import run_growth, run_whole_apply

__all__ = ["DEFAULT_TARGETS", "TARGETS", "run_benchmarks"]

#: Target number -> (name, function).
TARGETS: dict[int, tuple[str, Callable[[Sizes], TargetResult]]] = {
    1: ("Reading a big segment", run_read),
    2: ("Whole apply on a big segment", run_whole_apply),
    3: ("Resolution cost", run_resolution),
    4: ("Diff", run_diff),
    5: ("Plan + apply as the segment grows", run_growth),
    6: ("Panels at scale", run_panel),
    7: ("Input reading", run_input),
    8: ("Push efficiency", run_push),
    9: ("Push under faults", run_push_faults),
    10: ("Sandbox at scale", run_sandbox_scale),
}
#: What a run without ``--only`` measures: the push-phase targets 8 and 9 (the targets of an
#: earlier round, a small part of a sync) and 10 (the sandbox itself) run when named.
DEFAULT_TARGETS: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7)


def run_benchmarks(
    sizes: Sizes,
    *,
    only: Iterable[int] | None = None,
    on_result: Callable[[TargetResult], None] | None = None,
) -> list[TargetResult]:
    """Run the targets (``DEFAULT_TARGETS``, or those in ``only``) and return their results
    in order."""
    wanted = sorted(set(only)) if only is not None else list(DEFAULT_TARGETS)
    results: list[TargetResult] = []
    for number in wanted:
        name, function = TARGETS[number]
        before = load()
        start = time.perf_counter()
        try:
            result = function(sizes)
        except Exception as exc:  # noqa: BLE001 - reported as this target's error, the run goes on
            result = TargetResult(number, name, error=f"{type(exc).__name__}: {exc}")
            result.numbers["traceback"] = traceback.format_exc()
        result.seconds = time.perf_counter() - start
        result.numbers["load_before"] = before
        result.numbers["load_after"] = load()
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results
