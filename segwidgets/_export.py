"""Writing result tables to CSV for a spreadsheet: private files, formula-like cells defused.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is run as a
formula by Excel, LibreOffice and Google Sheets (CSV injection). Such cells are written with a
leading ``'``, which spreadsheets show as text. Files are created readable by this user only
(mode 0600): they may hold customer ids and email addresses.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

__all__ = ["FORMULA_PREFIXES", "defuse_formulas", "write_private_csv"]

#: First characters that make a spreadsheet read a cell as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def defuse_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """Every text cell that a spreadsheet would run as a formula, prefixed with ``'``.

    List columns are joined with ``;`` first (CSV has no lists).
    """
    columns = []
    for name, dtype in frame.schema.items():
        column = pl.col(name)
        if isinstance(dtype, pl.List):
            column = column.cast(pl.List(pl.String)).list.join(";")
        elif dtype != pl.String:
            columns.append(column)
            continue
        risky = column.str.starts_with(FORMULA_PREFIXES[0])
        for prefix in FORMULA_PREFIXES[1:]:
            risky = risky | column.str.starts_with(prefix)
        columns.append(pl.when(risky).then(pl.lit("'") + column).otherwise(column).alias(name))
    return frame.select(columns)


def write_private_csv(frame: pl.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``frame`` as UTF-8 CSV to ``path`` (mode 0600, formulas defused); returns the path."""
    target = Path(path)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        defuse_formulas(frame).write_csv(fh)
    target.chmod(0o600)
    return target
