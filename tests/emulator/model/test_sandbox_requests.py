"""The request layer (``_requests``): what a request carries becomes typed values or a 400."""

from __future__ import annotations

from typing import Any

import pytest

from segwidgets.sandbox._requests import (
    CustomerFilter,
    MemberFilter,
    Page,
    customer_filter,
    filter_rule,
    member_filter,
    member_items,
    new_segment_code,
    new_segments,
    page,
    parse_int,
    parse_json_param,
    search_rule,
    segment_filter,
    segment_update,
)
from segwidgets.sandbox._service_error import ServiceError


def _problem(call: Any, *args: Any) -> ServiceError:
    with pytest.raises(ServiceError) as info:
        call(*args)
    return info.value


def test_query_values() -> None:
    assert parse_int({"limit": " 20 "}, "limit") == 20
    assert parse_int({"limit": ""}, "limit") is None
    assert parse_int({}, "limit") is None
    for junk in ("x", "1.5", str(2**31), "9" * 13):
        assert _problem(parse_int, {"limit": junk}, "limit").code == "invalidParameter"
    assert parse_json_param({"filters": '{"a": 1}'}, "filters") == {"a": 1}
    assert parse_json_param({}, "filters") is None
    assert _problem(parse_json_param, {"filters": "{"}, "filters").status == 400


def test_pages() -> None:
    assert page(None, None) == Page(limit=100, offset=0)
    assert page(5, 10) == Page(limit=5, offset=10)
    assert _problem(page, 0, None).message == "Query parameter limit: must be >= 1."
    assert _problem(page, 5, -1).message == "Query parameter offset: must be >= 0."


def test_customer_filters_become_typed() -> None:
    assert customer_filter(None) == CustomerFilter()
    typed = customer_filter(
        {"id": {"$in": ["a", "b"]}, "emailAddress": "x@y.de", "isAnonymous": False}
    )
    assert typed == CustomerFilter(
        ids=frozenset({"a", "b"}), emails=frozenset({"x@y.de"}), is_anonymous=False
    )
    for bad in (
        [],
        {"colour": "red"},
        {"isAnonymous": "no"},
        {"status": "gone"},
        {"id": {"$in": "a"}},
        {"id": {"$in": [1]}},
        {"externalCustomerNumber": {"$in": ["1"]}},
    ):
        assert _problem(customer_filter, bad).code == "invalidParameter", bad


def test_segment_and_member_filters() -> None:
    assert segment_filter({"type": "fixed"}) == {"type": "fixed"}
    for bad in ({"type": "other"}, {"size": "1"}, {"code": 1}):
        assert _problem(segment_filter, bad).status == 400
    assert member_filter(None) is None
    assert member_filter({"id": "a", "type": "device"}) == MemberFilter(
        ids=frozenset({"a"}), type="device"
    )
    for bad in ({"type": "robot"}, {"id": 3}, {"email": "x"}):
        assert _problem(member_filter, bad).status == 400


def test_member_items_name_each_malformed_item() -> None:
    items = member_items(
        {
            "members": [
                {"id": "a", "type": "customer"},
                {"id": "b", "type": "device"},
                {"id": 3, "type": "customer"},
                "c",
                {"id": "d", "type": "customer", "x": 1},
            ]
        }
    )
    assert items.ids == ["a", None, None, None, None]
    assert [(e["entityIndex"], e["entityId"], e["code"]) for e in items.errors] == [
        (1, "b", "invalidMemberType"),
        (2, None, "invalidMember"),
        (3, None, "invalidMember"),
        (4, "d", "invalidMember"),
    ]
    clean = member_items({"members": [{"id": "a", "type": "customer"}]})
    assert (clean.customer_ids, clean.errors, len(clean)) == (["a"], [], 1)
    for bad in (None, [], {"members": []}, {"members": "a"}, {"members": [], "x": 1}):
        assert _problem(member_items, bad).code == "invalidBody", bad


def test_segment_bodies() -> None:
    (entry,) = new_segments(
        {"segments": [{"code": "s1", "name": "S", "members": [{"id": "a", "type": "customer"}]}]}
    )
    assert (entry.code, entry.type, entry.status, entry.description) == (
        "s1",
        "fixed",
        "active",
        "",
    )
    assert entry.members is not None
    assert entry.members.customer_ids == ["a"]
    for bad in (
        {},
        {"segments": []},
        {"segments": [{"code": "s", "name": "S"}] * 2},
        {"segments": [{"code": "-s", "name": "S"}]},
        {"segments": [{"code": "d", "name": "D", "type": "dynamic"}]},
    ):
        assert _problem(new_segments, bad).status == 400, bad
    assert segment_update({"description": None}).changes == {"description": ""}
    assert _problem(segment_update, {"type": "dynamic"}).code == "invalidField"
    assert new_segment_code({"newSegmentCode": "copy"}) == "copy"
    assert _problem(new_segment_code, {"code": "copy"}).code == "invalidBody"


def test_rules() -> None:
    assert filter_rule({"filter": {"customer.status": "active"}}).size == 1
    assert _problem(filter_rule, {"rules": {}}).code == "invalidBody"
    assert search_rule({"customer.status": "active"}).size == 1
    assert _problem(search_rule, None).message == "Query parameter rules is required."
    assert _problem(search_rule, {"customer.shoe": "42"}).code == "invalidRules"
