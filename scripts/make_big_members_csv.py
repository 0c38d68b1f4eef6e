"""Write a big member list (CSV) for measuring memory and time end to end.

    python scripts/make_big_members_csv.py OUT.csv [--mb 200] [--seed 1] [--customers 5000]

Rows look like a typical member export (``customer_name,email,city``, about 55 bytes a
line); one row in a thousand carries the email of a customer of the sandbox started with
the same ``--seed`` and ``--customers`` (written with another letter case now and then), so
``segwidgets sync --sandbox`` on the file matches some of them. The file is the same for the
same arguments.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl

from segwidgets.sandbox._seed import SeedCustomers


def write(path: Path, *, megabytes: float, seed: int, customers: int) -> int:
    """Write the list to ``path``; the number of data lines."""
    rows = int(megabytes * 1e6 / 57)
    index = pl.int_range(0, rows, eager=True).cast(pl.String)
    frame = pl.DataFrame(
        {
            "customer_name": "Name Person" + index,
            "email": "user" + index + ".x" + index.str.reverse() + "@example.com",
            "city": pl.repeat("Berlin", rows, eager=True),
        }
    )
    seeded = SeedCustomers(seed=seed, count=customers)
    at = list(range(0, rows, 1000))
    known = [seeded.email(i % customers) for i in range(len(at))]
    known = [e.upper() if i % 7 == 0 else e for i, e in enumerate(known)]
    frame = frame.with_columns(
        email=frame.get_column("email").scatter(at, pl.Series(known, dtype=pl.String))
    )
    frame.write_csv(path)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--mb", type=float, default=200.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--customers", type=int, default=5000)
    args = parser.parse_args()
    rows = write(args.out, megabytes=args.mb, seed=args.seed, customers=args.customers)
    print(f"{args.out}: {rows:,} rows, {args.out.stat().st_size / 1e6:,.1f} MB")


if __name__ == "__main__":
    main()
