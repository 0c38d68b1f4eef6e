"""The segwidgets benchmark suite: ``python -m bench`` (see ``docs/benchmarks.md``).

Each target measures a ratio side by side in one run (machines are noisy): the engine
against a bound or a baseline measured in the same run. ``run_benchmarks`` runs the targets
of one mode and returns their results; the command line prints them and writes every raw
number to ``bench/results/``.
"""

from __future__ import annotations

from ._report import Check, TargetResult
from ._runner import TARGETS, run_benchmarks
from ._sizes import MODES, Mode, Sizes, sizes_for

__all__ = [
    "MODES",
    "TARGETS",
    "Check",
    "Mode",
    "Sizes",
    "TargetResult",
    "run_benchmarks",
    "sizes_for",
]
