"""Checks on a ``MemberList``'s row report."""

from __future__ import annotations

from segwidgets._members import MemberList

__all__ = ["assert_accounting"]


def assert_accounting(members: MemberList) -> None:
    """Every data line is valid, rejected, a duplicate or blank; no row is counted twice."""
    assert (
        members.n_valid + members.n_rejected + members.n_duplicates + members.n_blank
        == members.n_rows
    )
    rows = [
        *members.valid["row"].to_list(),
        *members.rejected["row"].to_list(),
        *members.duplicates["row"].to_list(),
    ]
    assert len(rows) == len(set(rows)) == members.n_rows - members.n_blank
    assert all(1 <= r <= members.n_rows for r in rows)
