"""Write notebooks/data/newsletter_signups.csv: a messy newsletter export for the notebooks.

The addresses come from the sandbox's seed 1 with 5,000 customers (what the notebooks
start), so the file resolves the same way every time:

* most current members of the ``newsletter`` segment (some have unsubscribed since, so a
  mirror sync removes them), plus new sign-ups among registered customers;
* the mess a real export has: different capitalisation, spaces around addresses,
  duplicates, blank lines, an empty address, invalid values and a spreadsheet formula;
* addresses that cannot become members: guest checkouts only, unknown addresses, an
  address several registered customers share (ambiguous) and a deleted customer.

Run ``python scripts/make_sample_data.py [OUT]``; ``tests/notebooks`` checks that the
committed file is exactly what this script writes.
"""

from __future__ import annotations

import csv
import io
import random
import sys
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from segwidgets.sandbox import SandboxModel

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "notebooks" / "data" / "newsletter_signups.csv"

CUSTOMERS = 5000
SEED = 1
KEEP_MEMBERS = 860  # of the ~980 newsletter members; the others unsubscribed
NEW_SIGNUPS = 120
GUEST_ONLY = 9
DUPLICATES = 14
INVALID = (
    "anna.schmidt(at)web.de",
    "jonas@",
    "n/a",
    "lea@@gmx.de",
    "paul.weber@gmail",
    '=HYPERLINK("http://example.com","click")',
)
UNKNOWN = (
    "zoe.nobody99001@gmail.com",
    "max.mustermann@example.com",
    "info@shop-that-does-not-exist.de",
    "karl.unknown99002@web.de",
)
SOURCES = ("website", "checkout", "event", "import", "app")


def build(out: io.StringIO) -> None:
    """Write the CSV text to ``out``."""
    rng = random.Random(20261126)
    model = SandboxModel(customers=CUSTOMERS, seed=SEED)
    try:
        customers = model.customers_frame().with_columns(
            key=pl.col("emailAddress").str.to_lowercase()
        )
        members = model.member_ids("newsletter")
    finally:
        model.close()
    registered = customers.filter(~pl.col("isAnonymous"), pl.col("status") != "deleted")
    shared = registered.group_by("key").len().filter(pl.col("len") > 1).get_column("key")
    single = registered.filter(~pl.col("key").is_in(shared.implode()))
    in_segment = single.filter(pl.col("id").is_in(sorted(members)))
    outside = single.filter(~pl.col("id").is_in(sorted(members)), pl.col("status") == "active")
    guests_only = customers.filter(pl.col("isAnonymous")).join(registered, on="key", how="anti")
    deleted = customers.filter(~pl.col("isAnonymous"), pl.col("status") == "deleted")

    rows: list[tuple[str, str]] = []  # (first name, address as typed)

    def take(frame: pl.DataFrame, n: int) -> list[tuple[str, str]]:
        picked = sorted(rng.sample(range(frame.height), n))
        return [(frame["firstName"][i], frame["emailAddress"][i]) for i in picked]

    rows += take(in_segment, KEEP_MEMBERS)
    rows += take(outside, NEW_SIGNUPS)
    rows += take(guests_only, GUEST_ONLY)
    rows += [("", address) for address in shared.sort().head(1).to_list()]
    rows += take(deleted, 1)
    rng.shuffle(rows)

    # Messy, as exports are: capitals and spaces, duplicates, blanks and junk.
    for i in rng.sample(range(len(rows)), 40):
        name, address = rows[i]
        rows[i] = (name, address.upper() if i % 2 else f"  {address} ")
    for i in rng.sample(range(len(rows)), DUPLICATES):
        name, address = rows[i]
        rows.insert(rng.randrange(len(rows)), (name, address.lower().strip()))
    for value in (*INVALID, *UNKNOWN, ""):
        rows.insert(rng.randrange(len(rows)), ("", value))

    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["signup_date", "first_name", "E-Mail", "source"])
    day = date(2026, 1, 1)
    blank_at = set(rng.sample(range(len(rows)), 3))
    for i, (name, address) in enumerate(rows):
        if i in blank_at:
            out.write("\r\n")
        signed = day + timedelta(days=rng.randrange(300))
        writer.writerow([signed.isoformat(), name, address, rng.choice(SOURCES)])


def main(argv: list[str]) -> int:
    """Write the file (to ``argv[0]`` if given)."""
    target = Path(argv[0]) if argv else DEFAULT_OUT
    text = io.StringIO()
    build(text)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(text.getvalue().encode("utf-8"))
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
