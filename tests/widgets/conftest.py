"""Panels driven through their Python twins against a real sandbox (no browser, no kernel)."""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl
import pytest

import segwidgets as sw


@pytest.fixture
def session(sandbox, tmp_path) -> Iterator[sw.SegmentSession]:
    """A session on the shared sandbox (500 customers, seed 1; deletes apply at once)."""
    sandbox.configure(delete_delay=0)
    with sw.SegmentSession(sandbox.credentials, journal=tmp_path / "journal.sqlite3") as session:
        yield session


@pytest.fixture
def customers(sandbox) -> pl.DataFrame:
    """The sandbox's customers (id, emailAddress, status, isAnonymous, ...)."""
    return sandbox.model.customers_frame()


@pytest.fixture
def registered(customers) -> pl.DataFrame:
    """Active registered customers whose email no other registered customer has."""
    frame = customers.filter(~pl.col("isAnonymous"), pl.col("status") == "active")
    key = pl.col("emailAddress").str.to_lowercase()
    shared = (
        customers.filter(~pl.col("isAnonymous"))
        .group_by(key.alias("key"))
        .len()
        .filter(pl.col("len") > 1)
        .get_column("key")
    )
    return frame.filter(~key.is_in(shared.implode()))


def _output_text(panel) -> str:
    parts = []
    for output in panel.out.outputs:
        data = output.get("data", {})
        parts.append(str(data.get("text/plain", "")) + str(data.get("text/html", "")))
        parts.append(str(output.get("text", "")))
    return "\n".join(parts)


@pytest.fixture
def output_of():
    """``output_of(panel)``: everything the panel's status ``Output`` holds, as text."""
    return _output_text
