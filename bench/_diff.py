"""Target 4: the plan's diff step against a bare hash-join floor and Python sets.

Each method runs in its own process (``bench._diff_worker``) on the same ids, generated
once and read from Arrow files, so the peak resident memory reported is that method's
alone (its inputs included, their generation not).
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from . import _diff_worker as diff_worker
from ._report import Check, TargetResult
from ._sizes import Sizes

__all__ = ["run_diff"]

_GIB = 2**30
_METHODS = ("floor", "compute_plan", "sets")


def _worker(method: str, n: int, repeats: int, folder: Path, *, isolated: bool) -> dict[str, Any]:
    args = [method, str(n), str(repeats), str(folder)]
    if not isolated:
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            diff_worker.main(args)
        numbers: dict[str, Any] = json.loads(buffer.getvalue().strip().splitlines()[-1])
        return numbers
    done = subprocess.run(
        [sys.executable, str(Path(diff_worker.__file__)), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=1200,
        cwd=Path(__file__).resolve().parent.parent,
    )
    if done.returncode != 0:
        msg = f"diff worker {method} {n} failed: {done.stderr.strip()[-500:]}"
        raise RuntimeError(msg)
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def run_diff(sizes: Sizes) -> TargetResult:
    """Target 4: ``compute_plan`` <= 1.5x the floor, >= 3x faster than sets, <= 2 GiB."""
    result = TargetResult(4, "Diff")
    by_size: dict[str, dict[str, Any]] = {}
    for n in sizes.diff_sizes:
        # Short runs are repeated and the fastest kept: a busy machine only ever adds time.
        repeats = 3 if n <= 2_000_000 and sizes.repeat_short else 1
        with tempfile.TemporaryDirectory(prefix="segwidgets-bench-") as tmp:
            folder = Path(tmp)
            diff_worker.write_inputs(n, folder)
            runs = {
                method: _worker(method, n, repeats, folder, isolated=sizes.diff_isolated)
                for method in _METHODS
            }
        plan, floor, sets = runs["compute_plan"], runs["floor"], runs["sets"]
        label = f"{n:,} x {n:,}"
        by_size[str(n)] = runs
        counts = {(r["n_add"], r["n_remove"], r["n_unchanged"]) for r in runs.values()}
        result.checks += [
            Check(f"{label}: compute_plan / join floor", plan["seconds"] / floor["seconds"], 1.5),
            Check(
                f"{label}: speed-up over Python sets",
                sets["seconds"] / plan["seconds"],
                3.0,
                "at_least",
            ),
            Check(f"{label}: compute_plan peak memory", plan["rss_peak"] / _GIB, 2.0, unit="GiB"),
            Check(
                f"{label}: all methods agree (1 = yes)",
                float(len(counts) == 1),
                1.0,
                "equal",
                "count",
            ),
        ]
        result.notes.append(
            f"{label}: compute_plan {plan['seconds']:.2f} s, floor {floor['seconds']:.2f} s, "
            f"sets {sets['seconds']:.2f} s; peak RSS compute_plan "
            f"{plan['rss_peak'] / _GIB:.2f} GiB (inputs {plan['rss_before'] / _GIB:.2f} GiB), "
            f"sets {sets['rss_peak'] / _GIB:.2f} GiB; best of {repeats}"
        )
    result.numbers = {"sizes": by_size}
    return result
