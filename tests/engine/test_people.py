"""``session.people``: who customer ids are, asked for with ``$in`` a hundred at a time and
cached for the session; the per-id fallback where ``$in`` on id is refused."""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl
import pytest

import segwidgets as sw
from segwidgets._people import person_of


@pytest.fixture
def session(sandbox, tmp_path) -> Iterator[sw.SegmentSession]:
    with sw.SegmentSession(sandbox.credentials, journal=tmp_path / "journal.sqlite3") as s:
        yield s


def _sent(session: sw.SegmentSession) -> int:
    return session.client.stats.n_requests


def test_people_asks_in_batches_of_100_and_caches(session, sandbox):
    customers = sandbox.model.customers_frame()
    ids = customers["id"].head(250).to_list()
    before = _sent(session)
    people = session.people(ids)
    assert _sent(session) - before == 3  # 100 + 100 + 50 ids, one $in each
    assert people["customer_id"].to_list() == ids
    expected = customers.head(250)
    assert people["email"].to_list() == expected["emailAddress"].to_list()
    first = expected.row(0, named=True)
    name = " ".join(n for n in (first["firstName"], first["middleName"], first["lastName"]) if n)
    assert people["name"][0] == (name or None)

    again = session.people(list(reversed(ids[:40])))
    assert _sent(session) - before == 3  # all known: nothing asked
    assert again["customer_id"].to_list() == list(reversed(ids[:40]))


def test_people_only_asks_for_ids_not_seen(session, sandbox):
    ids = sandbox.model.customers_frame()["id"].head(130).to_list()
    session.people(ids[:100])
    before = _sent(session)
    session.people(ids)  # 30 new ids
    assert _sent(session) - before == 1


def test_unknown_ids_are_reported_and_cached(session, sandbox):
    customers = sandbox.model.customers_frame()
    known = customers.filter(~pl.col("isAnonymous"), pl.col("status") == "active")["id"][0]
    guest = customers.filter(pl.col("isAnonymous"))["id"][0]
    people = session.people([known, "00000000-0000-0000-0000-000000000000", guest])
    assert people["account"].to_list() == ["registered", "unknown", "guest"]
    assert people["email"][1] is None
    before = _sent(session)
    session.people(["00000000-0000-0000-0000-000000000000"])
    assert _sent(session) == before


def test_cached_only_asks_nothing(session, sandbox):
    ids = sandbox.model.customers_frame()["id"].head(5).to_list()
    before = _sent(session)
    assert session.people(ids, cached_only=True).height == 0
    assert _sent(session) == before
    session.people(ids[:2])
    cached = session.people(ids, cached_only=True)
    assert cached["customer_id"].to_list() == ids[:2]


def test_falls_back_to_one_request_per_id_when_in_is_refused(sandbox, tmp_path):
    sandbox.configure(filter_in="off")
    with sw.SegmentSession(sandbox.credentials, journal=tmp_path / "j.sqlite3") as session:
        customers = sandbox.model.customers_frame().head(5)
        before = _sent(session)
        people = session.people(customers["id"])
        assert _sent(session) - before == 1 + 5  # the refused $in, then one GET per id
        assert people["email"].to_list() == customers["emailAddress"].to_list()
        assert session.traits.in_on_id is False
        before = _sent(session)
        session.people(customers["id"].head(3))
        assert _sent(session) == before


@pytest.mark.parametrize(
    ("record", "account"),
    [
        (None, "unknown"),
        ({"isAnonymous": True, "emailAddress": "g@x.de"}, "guest"),
        ({"isAnonymous": False, "status": "deleted"}, "deleted"),
        (
            {"isAnonymous": False, "status": "active", "firstName": " Ana ", "lastName": "Li"},
            "registered",
        ),
    ],
)
def test_person_of(record, account):
    _email, name, got = person_of(record)
    assert got == account
    if record and record.get("firstName"):
        assert name == "Ana Li"


def test_people_frame_schema(session):
    frame = session.people([])
    assert frame.schema == pl.Schema(
        {"customer_id": pl.String, "email": pl.String, "name": pl.String, "account": pl.String}
    )
