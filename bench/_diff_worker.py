"""One diff method on generated ids, in a fresh process so its peak memory is its own.

``python bench/_diff_worker.py METHOD N REPEATS FOLDER`` (run as a script: it imports
nothing of the bench package) reads the ids ``write_inputs`` wrote (Arrow IPC files) and
prints one JSON line: the seconds of each repetition, the resident memory before the
method ran (its inputs), the peak while it ran (sampled every 2 ms) and over the process's
life (``VmHWM``, reading the inputs included), and the sizes of the three results.
Methods: ``compute_plan`` (the engine), ``floor`` (a bare polars anti-join pair on ready
frames), ``sets`` (Python sets from Python lists, set building included).
"""

from __future__ import annotations

import gc
import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
import psutil

__all__ = ["generate", "main", "write_inputs"]


def generate(n: int) -> tuple[pl.Series, pl.Series]:
    """``n`` live and ``n`` desired ids, half of them shared: 36-character strings like
    Shopgate's customer ids, in no particular order."""
    keys = pl.int_range(0, n + n // 2, dtype=pl.UInt64, eager=True)
    frame = pl.DataFrame({"k": keys}).select(
        customer_id=pl.concat_str(
            pl.col("k").hash(1).cast(pl.String).str.zfill(20),
            pl.col("k").hash(2).cast(pl.String).str.zfill(20).str.slice(0, 16),
        )
    )
    ids = frame.get_column("customer_id")
    return ids.slice(0, n), ids.slice(n // 2, n)


def write_inputs(n: int, folder: Path) -> None:
    """Write the live and desired ids of size ``n`` to ``folder`` (``live.arrow``, ...)."""
    live, desired = generate(n)
    pl.DataFrame({"customer_id": live}).write_ipc(folder / "live.arrow")
    pl.DataFrame({"customer_id": desired}).write_ipc(folder / "desired.arrow")


def _read(folder: Path, name: str) -> pl.Series:
    frame = pl.read_ipc(folder / f"{name}.arrow")
    return frame.get_column("customer_id")


def _rss() -> int:
    return int(psutil.Process().memory_info().rss)


def _high_water_mark() -> int:
    """``VmHWM``: the peak resident memory of this process image (reset by exec, unlike
    ``ru_maxrss``, which a child inherits from the parent that started it)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


class _PeakSampler:
    """The largest resident memory seen while the ``with`` block runs (sampled every 2 ms)."""

    def __init__(self) -> None:
        self.peak = _rss()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        process = psutil.Process()
        while not self._done.wait(0.002):
            self.peak = max(self.peak, int(process.memory_info().rss))

    def __enter__(self) -> _PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())


def _method(method: str, live: pl.Series, desired: pl.Series) -> Callable[[], tuple[int, int, int]]:
    """The timed step of ``method`` on the inputs (prepared here, outside the timing)."""
    if method == "compute_plan":
        from segwidgets._plan import compute_plan

        def run_plan() -> tuple[int, int, int]:
            adds, removes, unchanged = compute_plan(live, desired, mode="mirror")
            return adds.height, removes.height, unchanged.height

        return run_plan
    if method == "floor":
        live_df, desired_df = (
            pl.DataFrame({"customer_id": live}),
            pl.DataFrame({"customer_id": desired}),
        )

        def run_floor() -> tuple[int, int, int]:
            adds = desired_df.join(live_df, on="customer_id", how="anti")
            removes = live_df.join(desired_df, on="customer_id", how="anti")
            return adds.height, removes.height, live_df.height - removes.height

        return run_floor
    if method == "sets":
        live_list, desired_list = live.to_list(), desired.to_list()

        def run_sets() -> tuple[int, int, int]:
            live_set, desired_set = set(live_list), set(desired_list)
            adds = [i for i in desired_list if i not in live_set]
            removes = [i for i in live_list if i not in desired_set]
            kept = [i for i in live_list if i in desired_set]
            return len(adds), len(removes), len(kept)

        return run_sets
    msg = f"unknown method {method!r}"
    raise SystemExit(msg)


def main(argv: list[str] | None = None) -> int:
    """Run one method and print its numbers."""
    args = sys.argv[1:] if argv is None else argv
    method, n, repeats, folder = args[0], int(args[1]), int(args[2]), Path(args[3])
    step = _method(method, _read(folder, "live"), _read(folder, "desired"))
    gc.collect()
    before = _rss()
    times: list[float] = []
    counts = (0, 0, 0)
    with _PeakSampler() as sampler:
        for _ in range(repeats):
            start = time.perf_counter()
            counts = step()
            times.append(time.perf_counter() - start)
    print(
        json.dumps(
            {
                "method": method,
                "n": n,
                "seconds": min(times),
                "all_seconds": times,
                "rss_before": before,
                "rss_peak": sampler.peak,
                "rss_high_water_mark": _high_water_mark(),
                "n_add": counts[0],
                "n_remove": counts[1],
                "n_unchanged": counts[2],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
