"""``python -m bench [--quick | --smoke] [--only 1,3] [--out DIR]``: run the benchmarks.

``python -m bench --table bench/results/FILE.json`` prints a saved run as a Markdown table.

Prints each target's measured ratios with PASS/FAIL against its target and writes a JSON
file with every raw number and the machine's description to ``bench/results/``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from ._machine import load, machine_info
from ._report import format_result, markdown_table, write_json
from ._runner import TARGETS, run_benchmarks
from ._sizes import Mode, sizes_for

_RESULTS = Path(__file__).resolve().parent / "results"


def _targets(text: str) -> list[int]:
    numbers = [int(part) for part in text.replace(" ", "").split(",") if part]
    unknown = [n for n in numbers if n not in TARGETS]
    if unknown or not numbers:
        msg = f"targets are numbers from {min(TARGETS)} to {max(TARGETS)}, not {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return numbers


def main(argv: list[str] | None = None) -> int:
    """Run, print, save; the exit code is 0 when every target that ran passed."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smaller sizes, about a minute")
    size.add_argument("--smoke", action="store_true", help="tiny sizes: checks that it runs")
    parser.add_argument("--only", type=_targets, help="comma-separated target numbers, e.g. 1,3")
    parser.add_argument("--out", type=Path, default=_RESULTS, help="folder of the JSON file")
    parser.add_argument("--no-save", action="store_true", help="do not write the JSON file")
    parser.add_argument(
        "--table",
        type=Path,
        metavar="JSON",
        help="print a saved run as a Markdown table, run nothing",
    )
    args = parser.parse_args(argv)
    if args.table is not None:
        print(markdown_table(json.loads(args.table.read_text(encoding="utf-8"))))
        return 0
    mode: Mode = "quick" if args.quick else "smoke" if args.smoke else "full"
    sizes = sizes_for(mode)
    machine = machine_info()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    before = load()
    print(
        f"segwidgets benchmarks, {mode} mode, on {machine['cpu']} "
        f"({machine['cores_usable']} cores), Python {machine['python']}, "
        f"load {before['load1']:.1f}",
        flush=True,
    )
    if before["load1_per_core"] > 1.0:
        print("WARNING: the machine is busy (load above its core count): expect noise.")
    start = time.perf_counter()
    results = run_benchmarks(
        sizes, only=args.only, on_result=lambda r: print(format_result(r), flush=True)
    )
    after = load()
    run = {
        "started": started,
        "seconds": time.perf_counter() - start,
        "argv": sys.argv[1:] if argv is None else argv,
        "load_before": before,
        "load_after": after,
        "overloaded": max(before["load1_per_core"], after["load1_per_core"]) > 1.0,
        "sizes": dataclasses.asdict(sizes),
        "pid": os.getpid(),
    }
    summary = ", ".join(f"{r.number}: {r.status}" for r in results)
    print(f"done in {run['seconds']:.0f} s, load {after['load1']:.1f}. {summary}")
    if not args.no_save:
        path = write_json(args.out, mode=mode, machine=machine, run=run, results=results)
        print(f"raw numbers: {path}")
    return 0 if all(r.status == "pass" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
