"""``session.plan`` reads a path like ``read_members``, converts pandas, refuses a bare string."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import segwidgets as sw
from segwidgets import _members


@pytest.fixture
def session(sandbox, tmp_path):
    sandbox.configure(delete_delay=0)
    with sw.SegmentSession(sandbox.credentials, journal=tmp_path / "j.sqlite3") as session:
        yield session


@pytest.fixture
def new_ids(sandbox):
    customers = sandbox.model.customers_frame()
    live = sandbox.member_ids("vip")
    frame = customers.filter(
        ~pl.col("isAnonymous"), pl.col("status") == "active", ~pl.col("id").is_in(sorted(live))
    )
    return frame["id"].head(7).to_list()


@pytest.mark.parametrize("as_path", [str, Path])
def test_a_path_is_read_as_a_member_list(session, new_ids, tmp_path, as_path):
    path = tmp_path / "list.csv"
    pl.DataFrame({"customer_id": new_ids}).write_csv(path)
    plan = session.plan("vip", as_path(path), mode="add")
    assert plan.n_add == len(new_ids)
    assert set(plan.adds["customer_id"]) == set(new_ids)


def test_a_string_that_is_not_a_file_is_refused(session):
    with pytest.raises(sw.PlanError, match="is not a file") as caught:
        session.plan("vip", "list.csv", mode="add")
    assert "Nothing was planned" in str(caught.value)


def test_a_pandas_frame_is_read_by_its_rows(session, new_ids, monkeypatch):
    class DataFrame:  # stands in for pandas.DataFrame: only its module and name matter
        pass

    DataFrame.__module__ = "pandas.core.frame"
    fake = DataFrame()
    seen = []

    def from_pandas(obj):
        seen.append(obj)
        return pl.DataFrame({"customer_id": new_ids})

    monkeypatch.setattr(_members.pl, "from_pandas", from_pandas)
    plan = session.plan("vip", fake, mode="add")  # type: ignore[arg-type]
    assert seen == [fake]
    assert set(plan.adds["customer_id"]) == set(new_ids)
    assert _members.from_pandas(object()) is None
