"""Target 7: reading a messy two-million-row CSV with ``read_members``.

The file mixes what analysts' exports contain: a BOM, quoted fields, padding with spaces and
no-break spaces, mixed case, repeated addresses, blank lines, invalid values, Unicode
domains and local parts. The baseline is a plain Python loop over ``csv.reader`` calling
``email_validator.validate_email(value, check_deliverability=False)`` per row, with the same
outcome per row (valid key, duplicate, rejected, blank); it reads a prefix of the same file
when it is too slow to read all of it, and the comparison is in rows per second.
"""

from __future__ import annotations

import csv
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from email_validator import EmailNotValidError, validate_email

from segwidgets import read_members

from ._report import Check, TargetResult
from ._sizes import Sizes

__all__ = ["baseline_read", "run_input", "write_messy_csv"]

_FIRST = ("anna", "ben", "chris", "dana", "emil", "fatma", "george", "hanna", "ivan", "julia")
_DOMAINS = ("gmail.com", "web.de", "GMX.de", "outlook.com", "t-online.de", "example.org")
_UNICODE = ("müller.de", "exämple.com", "straße.de", "xn--mnchen-3ya.de")
_INVALID = ("not-an-email", "john@", "@example.com", "a@b", "two@@example.com", "x y@example.com")
_PAD = (" ", "\u00a0", "\t", " \u00a0", "\u200b")


def write_messy_csv(path: Path, rows: int, *, seed: int = 7) -> dict[str, int]:
    """Write the benchmark file; returns how many rows of each kind it holds."""
    rng = random.Random(seed)
    kinds = {"plain": 0, "padded": 0, "duplicate": 0, "blank": 0, "invalid": 0, "unicode": 0}
    earlier: list[str] = []
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out, quoting=csv.QUOTE_MINIMAL)
        writer.writerow(["customer_number", "E-Mail Address", "first name"])
        for i in range(rows):
            draw = rng.random()
            first = _FIRST[i % len(_FIRST)]
            if draw < 0.02:
                kinds["blank"] += 1
                writer.writerow(["", "", ""])
                continue
            if draw < 0.03:
                kinds["invalid"] += 1
                email = rng.choice(_INVALID)
            elif draw < 0.04:
                kinds["unicode"] += 1
                local = f"{first}.{i}" if rng.random() < 0.5 else f"jürgen.{i}"
                email = f"{local}@{rng.choice(_UNICODE)}"
            elif draw < 0.19 and earlier:
                kinds["duplicate"] += 1
                email = rng.choice(earlier).upper()
            elif draw < 0.30:
                kinds["padded"] += 1
                email = f"{rng.choice(_PAD)}{first.title()}.{i}@{rng.choice(_DOMAINS)}{rng.choice(_PAD)}"
            else:
                kinds["plain"] += 1
                email = f"{first}.{i}@{rng.choice(_DOMAINS)}"
                if len(earlier) < 50_000:
                    earlier.append(email)
            writer.writerow([f"{i + 1:08d}", email, first.title()])
    return kinds


def baseline_read(path: Path, *, limit: int) -> dict[str, Any]:
    """The plain loop: csv.reader, strip, validate_email per row, dedupe by the key."""
    seen: dict[str, int] = {}
    counts = {"rows": 0, "valid": 0, "duplicates": 0, "rejected": 0, "blank": 0}
    start = time.perf_counter()
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        column = header.index("E-Mail Address")
        for number, row in enumerate(reader, start=1):
            if number > limit:
                break
            counts["rows"] += 1
            value = row[column].strip(" \t\u00a0\u200b") if column < len(row) else ""
            if not value:
                counts["blank"] += 1
                continue
            try:
                key = validate_email(value, check_deliverability=False).normalized.lower()
            except EmailNotValidError:
                counts["rejected"] += 1
                continue
            if key in seen:
                counts["duplicates"] += 1
            else:
                seen[key] = number
                counts["valid"] += 1
    seconds = time.perf_counter() - start
    return counts | {"seconds": seconds, "rows_per_second": counts["rows"] / seconds}


def run_input(sizes: Sizes) -> TargetResult:
    """Target 7: rows/s of ``read_members`` >= 5x the plain validate_email loop."""
    result = TargetResult(7, "Input reading")
    with tempfile.TemporaryDirectory(prefix="segwidgets-bench-") as tmp:
        path = Path(tmp) / "members.csv"
        kinds = write_messy_csv(path, sizes.input_rows)
        size_mb = path.stat().st_size / 2**20
        start = time.perf_counter()
        members = read_members(path)
        seconds = time.perf_counter() - start
        baseline = baseline_read(path, limit=sizes.input_baseline_rows)
        prefix = read_members(_prefix(path, sizes.input_baseline_rows), name="prefix.csv")
    engine_rate = members.n_rows / seconds
    ratio = engine_rate / baseline["rows_per_second"]
    agree = (
        prefix.n_valid == baseline["valid"]
        and prefix.n_duplicates == baseline["duplicates"]
        and prefix.n_blank == baseline["blank"]
        and prefix.n_rejected == baseline["rejected"]
    )
    result.numbers = {
        "rows": members.n_rows,
        "file_mib": size_mb,
        "kinds": kinds,
        "seconds": seconds,
        "rows_per_second": engine_rate,
        "valid": members.n_valid,
        "duplicates": members.n_duplicates,
        "rejected": members.n_rejected,
        "blank": members.n_blank,
        "baseline": baseline,
        "baseline_prefix_engine_counts": {
            "valid": prefix.n_valid,
            "duplicates": prefix.n_duplicates,
            "rejected": prefix.n_rejected,
            "blank": prefix.n_blank,
        },
        "speedup": ratio,
    }
    result.checks = [
        Check("read_members rows/s / plain validate_email loop rows/s", ratio, 5.0, "at_least"),
        Check(
            "row outcomes agree with the loop on its rows (1 = yes)",
            float(agree),
            1.0,
            "equal",
            "count",
        ),
    ]
    result.notes = [
        (
            f"read_members: {members.n_rows:,} rows ({size_mb:.0f} MiB) in {seconds:.2f} s = "
            f"{engine_rate:,.0f} rows/s ({members.n_valid:,} valid, {members.n_duplicates:,} "
            f"duplicates, {members.n_rejected:,} rejected, {members.n_blank:,} blank)"
        ),
        (
            f"plain loop: {baseline['rows']:,} rows (a prefix of the same file) in "
            f"{baseline['seconds']:.2f} s = {baseline['rows_per_second']:,.0f} rows/s"
        ),
    ]
    return result


def _prefix(path: Path, rows: int) -> bytes:
    """The header and the first ``rows`` data lines of the file, as bytes."""
    with path.open("rb") as handle:
        lines = [handle.readline() for _ in range(rows + 1)]
    return b"".join(lines)
