"""Write notebooks/data/orders.csv: a year of web-shop orders for the polars notebook.

The buyers come from the sandbox's seed 1 with 5,000 customers (what the notebooks start),
so the file resolves the same way every time: mostly registered customers, some guest
checkouts (guests cannot be segment members), and the mess an export has (addresses typed
with capitals or spaces, orders without an address).

Run ``python scripts/make_orders_data.py [OUT]``; ``tests/notebooks`` checks that the
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
DEFAULT_OUT = ROOT / "notebooks" / "data" / "orders.csv"

CUSTOMERS = 5000
SEED = 1
BUYERS = 420  # registered customers who ordered in the year
GUEST_BUYERS = 40  # addresses only ever used for guest checkouts
NO_ADDRESS = 12  # orders taken by phone, without an address
FIRST_DAY = date(2025, 12, 1)
DAYS = 365
ORDERS_PER_BUYER = (1, 1, 1, 1, 2, 2, 2, 3, 3, 4, 5, 7)
CHANNELS = ("web", "web", "web", "app", "app", "phone")


def build(out: io.StringIO) -> None:
    """Write the CSV text to ``out``."""
    rng = random.Random(20261206)
    model = SandboxModel(customers=CUSTOMERS, seed=SEED)
    try:
        customers = model.customers_frame().with_columns(
            key=pl.col("emailAddress").str.to_lowercase()
        )
    finally:
        model.close()
    registered = customers.filter(~pl.col("isAnonymous"), pl.col("status") == "active")
    shared = registered.group_by("key").len().filter(pl.col("len") > 1).get_column("key")
    single = registered.filter(~pl.col("key").is_in(shared.implode()))
    known = customers.filter(~pl.col("isAnonymous")).get_column("key")
    guests_only = customers.filter(pl.col("isAnonymous"), ~pl.col("key").is_in(known.implode()))
    guests_only = guests_only.unique("key", keep="first", maintain_order=True)

    buyers = [single["emailAddress"][i] for i in sorted(rng.sample(range(single.height), BUYERS))]
    buyers += [
        guests_only["emailAddress"][i]
        for i in sorted(rng.sample(range(guests_only.height), GUEST_BUYERS))
    ]

    orders: list[tuple[date, str, str, float]] = []  # (day, address as typed, channel, total)
    for address in buyers:
        for _ in range(rng.choice(ORDERS_PER_BUYER)):
            typed = address
            roll = rng.random()
            if roll < 0.05:
                typed = address.upper()
            elif roll < 0.10:
                typed = f" {address}  "
            day = FIRST_DAY + timedelta(days=rng.randrange(DAYS))
            orders.append((day, typed, rng.choice(CHANNELS), round(rng.uniform(9, 260), 2)))
    for _ in range(NO_ADDRESS):
        day = FIRST_DAY + timedelta(days=rng.randrange(DAYS))
        orders.append((day, "", "phone", round(rng.uniform(9, 260), 2)))
    orders.sort(key=lambda order: (order[0], order[1].strip().lower(), order[3]))

    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["order_id", "ordered_on", "email", "channel", "total_eur"])
    for number, (day, typed, channel, total) in enumerate(orders, start=100001):
        writer.writerow([f"SO-{number}", day.isoformat(), typed, channel, f"{total:.2f}"])


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
