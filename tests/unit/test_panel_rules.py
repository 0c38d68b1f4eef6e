"""Rules the panels show, each with one home in the engine."""

from __future__ import annotations

import polars as pl

from segwidgets._members import list_columns
from segwidgets._segment_kind import is_fixed, not_editable_reason


def test_only_fixed_segments_are_editable():
    assert is_fixed({"code": "a", "type": "fixed"})
    assert is_fixed({"code": "a"})  # no type named: fixed
    assert not is_fixed({"code": "b", "type": "dynamic"})
    assert not_editable_reason({"code": "a", "type": "fixed"}) == ""
    reason = not_editable_reason({"code": "b", "type": "dynamic"})
    assert "'b' is dynamic" in reason
    assert "Only fixed segments" in reason


def test_column_discovery():
    frame = pl.DataFrame({"E-Mail": ["a@b.de"], "first_name": ["A"]})
    assert list_columns(frame) == ["E-Mail", "first_name"]
    assert list_columns(frame.lazy()) == ["E-Mail", "first_name"]
    assert list_columns(b"E-Mail;Name\na@b.de;A\n", name="x.csv") == ["E-Mail", "Name"]
    assert list_columns(b"", name="empty.csv") == []
    assert list_columns(pl.Series(["a@b.de"])) == []
    assert list_columns(["a@b.de"]) == []
