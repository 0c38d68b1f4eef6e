"""Ids given directly to ``session.plan`` are checked against the sandbox first.

Whatever carries them (a list, a Series, a frame's ``customer_id`` column, a
``MemberList`` of ids) and wherever ``$in`` works on ``id`` (id / all / off): unknown
ids, guests and deleted accounts are left out of the plan and reported with a reason, the
plan's source says how many, and no member write ever names them.
"""

from __future__ import annotations

import json
import math

import httpx
import polars as pl
import pytest

import segwidgets as sw

PAGE = 100


class Recorder(httpx.BaseTransport):
    """Passes requests to the sandbox and keeps (method, path, params, body) of each."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.seen.append(
            (request.method, request.url.path, dict(request.url.params), request.content)
        )
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()

    def customer_requests(self) -> list[tuple[str, str, dict[str, str], bytes]]:
        return [s for s in self.seen if "/customer/" in s[1] and "oauth" not in s[1]]

    def written_ids(self) -> set[str]:
        out: set[str] = set()
        for method, path, _, body in self.seen:
            if path.endswith("/members") and method in {"POST", "DELETE"} and body:
                out |= {m["id"] for m in json.loads(body)["members"]}
        return out


@pytest.fixture
def people(sandbox):
    model = sandbox.model
    frame = model.customers_frame()
    registered = frame.filter(~pl.col("isAnonymous") & (pl.col("status") != "deleted"))
    good = registered["id"].head(3).to_list()
    guest = model.add_customer(emailAddress="ids.guest@example.org", isAnonymous=True)["id"]
    gone = model.add_customer(emailAddress="ids.gone@example.org", status="deleted")["id"]
    model.seed_records(segments=[{"code": "ids", "name": "ids", "type": "fixed"}])
    return {"good": good, "guest": guest, "deleted": gone, "unknown": "no-such-customer-1"}


def desired_ids(people) -> list[str]:
    return [*people["good"], people["unknown"], people["guest"], people["deleted"]]


@pytest.mark.parametrize("filter_in", ["id", "all", "off"])
@pytest.mark.parametrize("carrier", ["list", "series", "frame", "member_list"])
def test_a_plan_offers_only_registered_customers(
    sandbox, people, tmp_path, filter_in: str, carrier: str
) -> None:
    sandbox.configure(filter_in=filter_in)
    ids = desired_ids(people)
    desired = {
        "list": ids,
        "series": pl.Series("customer_id", ids),
        "frame": pl.DataFrame({"customer_id": ids}),
        "member_list": sw.read_members(pl.Series("customer_id", ids), kind="customer_id"),
    }[carrier]
    wire = Recorder()
    with sw.SegmentSession(
        sandbox.credentials, journal=tmp_path / "j.sqlite3", transport=wire, page_size=PAGE
    ) as session:
        plan = session.plan("ids", desired)
        check = session.last_id_check
        assert check is not None
        assert set(plan.adds["customer_id"]) == set(people["good"])
        assert "left out: 1 unknown, 1 guests, 1 deleted" in plan.source
        outcomes = dict(zip(check.report["customer_id"], check.report["outcome"], strict=True))
        assert outcomes == {
            **dict.fromkeys(people["good"], "customer"),
            people["unknown"]: "unknown",
            people["guest"]: "guest",
            people["deleted"]: "deleted",
        }
        assert check.problems()["reason"].null_count() == 0
        # one $in request for these few ids, or one refused $in and one GET per id
        customer_requests = wire.customer_requests()
        if filter_in == "off":
            assert check.how == "one request per id"
            assert len(customer_requests) == check.n_requests == 1 + len(ids)
        else:
            assert check.how == "$in on id"
            assert len(customer_requests) == check.n_requests == 1
        result = session.apply(plan)
        assert result.status == "verified"
    assert wire.written_ids() == set(people["good"])
    assert sandbox.model.member_ids("ids") == set(people["good"])


def test_ids_are_checked_a_hundred_a_request(sandbox, tmp_path) -> None:
    frame = sandbox.model.customers_frame()
    ids = frame.filter(~pl.col("isAnonymous") & (pl.col("status") != "deleted"))["id"].to_list()
    assert len(ids) > 300
    wire = Recorder()
    with sw.SegmentSession(
        sandbox.credentials, journal=tmp_path / "j.sqlite3", transport=wire, page_size=PAGE
    ) as session:
        check = session.check_ids(ids)
    assert check.n_customers == len(ids)
    assert check.n_requests == len(wire.customer_requests()) == math.ceil(len(ids) / 100)
    assert all(int(params["limit"]) <= PAGE for _, _, params, _ in wire.customer_requests())


def test_the_check_can_be_turned_off(sandbox, people, tmp_path) -> None:
    """For tests of how Shopgate's refusals are handled: ids go to the plan unchecked."""
    wire = Recorder()
    with sw.SegmentSession(
        sandbox.credentials, journal=tmp_path / "j.sqlite3", transport=wire, page_size=PAGE
    ) as session:
        plan = session.plan("ids", desired_ids(people), check_ids=False)
    assert set(plan.adds["customer_id"]) == set(desired_ids(people))
    assert "not checked" in plan.source
    assert wire.customer_requests() == []


def test_a_list_without_one_customer_is_refused(sandbox, people, tmp_path) -> None:
    """Ids of another merchant, or a wrong column: nothing is planned (a mirror of an empty
    list would remove everyone)."""
    with sw.SegmentSession(
        sandbox.credentials, journal=tmp_path / "j.sqlite3", page_size=PAGE
    ) as session:
        with pytest.raises(sw.PlanError, match="None of the 3 ids"):
            session.plan("ids", [people["unknown"], people["guest"], people["deleted"]])
        assert session.last_id_check is not None
        assert session.last_id_check.n_left_out == 3
