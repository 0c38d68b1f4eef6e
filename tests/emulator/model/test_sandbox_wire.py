"""The wire layer (``_wire``): each switch both ways, without sockets."""

from __future__ import annotations

import pytest
from sandbox_helpers import FakeClock, list_members, members

from segwidgets.sandbox import SandboxModel, Settings
from segwidgets.sandbox._app import check_control_request
from segwidgets.sandbox._service_error import ServiceError
from segwidgets.sandbox._wire import (
    check_filters,
    error_answer,
    list_customers,
    page_limit,
    write_members,
)


def _problem(call: object, *args: object, **kwargs: object) -> ServiceError:
    with pytest.raises(ServiceError) as info:
        call(*args, **kwargs)  # type: ignore[operator]
    return info.value


# -- page_limit -------------------------------------------------------------------------------
def test_page_limit_under_the_maximum_is_served_as_asked() -> None:
    for mode in ("reject", "clamp"):
        settings = Settings(page_limit_mode=mode)
        assert page_limit(settings, 100) == 100
        assert page_limit(settings, 1) == 1
        assert page_limit(settings, None) == 100
    assert page_limit(Settings(max_page_size=7), None) == 7
    for mode in ("reject", "clamp"):
        problem = _problem(page_limit, Settings(page_limit_mode=mode), 0)
        assert problem.body()["error"]["results"]["errors"] == [
            {"code": "MINIMUM", "message": "Value 0 is less than minimum 1", "path": []}
        ]


def test_page_limit_reject_names_limit_and_the_maximum() -> None:
    problem = _problem(page_limit, Settings(max_page_size=30), 31)
    body = problem.body()
    assert problem.status == 400
    assert body["statusCode"] == 400
    assert body["code"] == "ValidationError"
    assert body["error"]["paramName"] == "limit"
    assert body["error"]["results"]["errors"] == [
        {"code": "MAXIMUM", "message": "Value 31 is greater than maximum 30", "path": []}
    ]


def test_page_limit_clamp_serves_the_maximum() -> None:
    assert page_limit(Settings(page_limit_mode="clamp", max_page_size=30), 5000) == 30


# -- filters --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("mode", "field", "allowed"),
    [
        ("id", "id", True),
        ("id", "emailAddress", False),
        ("all", "id", True),
        ("all", "emailAddress", True),
        ("off", "id", False),
        ("off", "emailAddress", False),
    ],
)
def test_check_filters_allows_in_where_configured(mode: str, field: str, allowed: bool) -> None:
    settings = Settings(filter_in=mode)
    filters = {field: {"$in": ["x"]}}
    fields = frozenset({"id", "emailAddress"})
    if allowed:
        check_filters(settings, filters, in_fields=fields)
    else:
        problem = _problem(check_filters, settings, filters, in_fields=fields)
        assert problem.body()["error"]["paramName"] == "filters"
    check_filters(settings, {field: "x"}, in_fields=fields)  # equality always works


def test_member_filters_never_take_email_in() -> None:
    problem = _problem(
        check_filters,
        Settings(filter_in="all"),
        {"emailAddress": {"$in": ["x"]}},
        in_fields=frozenset({"id"}),
    )
    assert problem.status == 400


@pytest.mark.parametrize(("mode", "hits"), [("exact", 0), ("insensitive", 1)])
def test_email_filter_reaches_the_model(mode: str, hits: int) -> None:
    model = SandboxModel(customers=50, seed=1, settings=Settings(email_filter=mode))
    added = model.add_customer(emailAddress="Mixed.Case@Example.com")
    answer = list_customers(
        model, limit=None, offset=None, filters={"emailAddress": "mixed.case@example.com"}
    )
    assert [c["id"] for c in answer["customers"]] == [added["id"]] * hits
    assert answer["meta"]["totalItemCount"] == hits


# -- member paging and totals ----------------------------------------------------------------------
def test_offset_pages_cover_every_member_and_refuse_a_cursor() -> None:
    model = SandboxModel(customers=300, seed=1)
    expected = sorted(model.member_ids("newsletter"))
    seen: list[str] = []
    for offset in range(0, len(expected), 9):
        page = list_members(model, "newsletter", limit=9, offset=offset)
        assert page["meta"] == {"limit": 9, "offset": offset, "totalItemCount": len(expected)}
        seen += [m["id"] for m in page["members"]]
    assert seen == expected
    assert list_members(model, "newsletter", offset=len(expected))["members"] == []
    assert _problem(list_members, model, "newsletter", cursor="x").status == 400


def test_cursor_pages_refuse_an_offset() -> None:
    model = SandboxModel(customers=300, seed=1, settings=Settings(member_paging="cursor"))
    page = list_members(model, "newsletter", limit=9)
    assert set(page["meta"]) == {"limit", "cursors", "totalItemCount"}
    assert _problem(list_members, model, "newsletter", offset=9).status == 400


@pytest.mark.parametrize("counts", [True, False])
def test_totals_with_pending_deletes(clock: FakeClock, counts: bool) -> None:
    settings = Settings(delete_delay=10, total_counts_pending=counts)
    model = SandboxModel(customers=300, seed=1, clock=clock, settings=settings)
    everyone = sorted(model.member_ids("vip"))
    model.remove_members("vip", everyone[:3])
    page = list_members(model, "vip")
    assert [m["id"] for m in page["members"]] == everyone
    assert page["meta"]["totalItemCount"] == len(everyone) - (0 if counts else 3)
    one = list_members(model, "vip", filters={"id": {"$in": everyone[:2]}})
    assert one["meta"]["totalItemCount"] == (2 if counts else 0)
    clock.advance(11)
    assert list_members(model, "vip")["meta"]["totalItemCount"] == len(everyone) - 3


def test_device_members_come_after_the_customers_and_count() -> None:
    model = SandboxModel(customers=300, seed=1)
    customers = sorted(model.member_ids("vip"))
    model.add_device_members("vip", ["d-2", "d-1"])
    page = list_members(model, "vip")
    assert page["members"][-2:] == [
        {"id": "d-1", "type": "device"},
        {"id": "d-2", "type": "device"},
    ]
    assert page["meta"]["totalItemCount"] == len(customers) + 2
    assert model.get_segment("vip")["segment"]["memberCount"] == len(customers) + 2
    assert model.state()["segments"]["vip"]["memberCount"] == len(customers) + 2
    only = list_members(model, "vip", filters={"type": "customer"})
    assert [m["id"] for m in only["members"]] == customers
    with pytest.raises(ServiceError):
        model.add_device_members("inactive-gmail", ["d-3"])  # dynamic segment


# -- refused items ---------------------------------------------------------------------------------
@pytest.mark.parametrize("add", [True, False])
def test_write_members_2xx_body_and_400(add: bool) -> None:
    model = SandboxModel(customers=300, seed=1, settings=Settings(delete_delay=0))
    member = sorted(model.member_ids("vip"))[0]
    outsider = next(
        c["id"]
        for c in model.customers()
        if c["status"] == "active" and c["id"] not in model.member_ids("vip")
    )
    target = outsider if add else member
    before = model.member_ids("vip")
    body = write_members(model, "vip", members(target, "nobody"), add=add)
    assert body is not None
    assert [(e["entityIndex"], e["entityId"], e["entity"]) for e in body["errors"]] == [
        (1, "nobody", "member")
    ]
    after = before | {target} if add else before - {target}
    assert model.member_ids("vip") == after
    assert write_members(model, "vip", members(target), add=add) is None
    model.configure(refused_items="400")
    problem = _problem(write_members, model, "vip", members(member, "nobody"), add=add)
    assert (problem.status, problem.code) == (400, "invalidMembers")
    assert model.member_ids("vip") == after


@pytest.mark.parametrize("refused_items", ["2xx-body", "400"])
def test_delete_of_a_non_member_is_a_noop_or_an_item_error(refused_items: str) -> None:
    settings = Settings(delete_delay=0, refused_items=refused_items)
    model = SandboxModel(customers=300, seed=1, settings=settings)
    member = sorted(model.member_ids("vip"))[0]
    outsider = next(
        c["id"]
        for c in model.customers()
        if c["status"] == "active" and c["id"] not in model.member_ids("vip")
    )
    assert write_members(model, "vip", members(outsider, member), add=False) is None
    assert member not in model.member_ids("vip")
    model.configure(delete_non_member="item-error")
    other = sorted(model.member_ids("vip"))[0]
    if refused_items == "2xx-body":
        body = write_members(model, "vip", members(other, outsider), add=False)
        assert body == {
            "errors": [
                {
                    "code": "notMember",
                    "entity": "member",
                    "entityId": outsider,
                    "entityIndex": 1,
                    "reason": "This customer is not a member of the segment.",
                    "subentityPath": "",
                }
            ]
        }
        assert other not in model.member_ids("vip")
    else:
        problem = _problem(write_members, model, "vip", members(other, outsider), add=False)
        assert (problem.status, problem.code) == (400, "invalidMembers")
        assert [e["code"] for e in problem.body()["errors"]] == ["notMember"]
        assert other in model.member_ids("vip")


@pytest.mark.parametrize("add", [True, False])
def test_oversize_batches_are_a_400_validation_error_or_a_413(add: bool) -> None:
    model = SandboxModel(customers=300, seed=1, settings=Settings(max_members_per_request=2))
    ids = sorted(model.member_ids("vip"))[:3]
    before = model.member_ids("vip")
    problem = _problem(write_members, model, "vip", members(*ids), add=add)
    message = "Request validation failed: Parameter (body) failed schema validation"
    assert problem.status == 400
    assert problem.body() == {
        "statusCode": 400,
        "code": "ValidationError",
        "message": message,
        "error": {
            "code": "SCHEMA_VALIDATION_FAILED",
            "message": message,
            "paramName": "body",
            "results": {
                "errors": [
                    {
                        "code": "ARRAY_LENGTH_LONG",
                        "message": "Array is too long (3), maximum 2",
                        "path": ["members"],
                    }
                ]
            },
        },
    }
    model.configure(oversize_status=413)
    problem = _problem(write_members, model, "vip", members(*ids), add=add)
    assert (problem.status, problem.code) == (413, "payloadTooLarge")
    assert "at most 2 members" in problem.message
    assert model.member_ids("vip") == before
    assert write_members(model, "vip", members(*ids[:2]), add=add) is None


def test_error_answer_leaves_out_item_lists_and_tells_sign_ins_per_switch() -> None:
    rejected = ServiceError(
        400, "invalidMembers", "1 of 1 members were rejected.", errors=[{"entityIndex": 0}]
    )
    assert error_answer(Settings(), rejected, sign_in=False) is rejected
    assert "errors" not in error_answer(Settings(item_errors=False), rejected, sign_in=False).body()
    refused = ServiceError(
        400, "invalid_grant", "Invalid username or password.", oauth_error="invalid_grant"
    )
    assert error_answer(Settings(), refused, sign_in=True) is refused
    assert refused.body()["error"] == "invalid_grant"
    platform = error_answer(Settings(signin_error="platform"), refused, sign_in=True)
    assert platform.status == 401
    assert platform.body() == {"statusCode": 401, "code": "Unauthorized", "message": "Unauthorized"}
    assert error_answer(Settings(signin_error="platform"), rejected, sign_in=False) is rejected


# -- control requests -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("client", "host", "origin", "ok"),
    [
        ("127.0.0.1", "127.0.0.1:8765", None, True),
        ("127.0.0.1", "localhost", "http://localhost:8888", True),
        ("::1", "[::1]:8765", "http://[::1]:9", True),
        ("10.0.0.2", "127.0.0.1", None, False),
        (None, "127.0.0.1", None, False),
        ("127.0.0.1", None, None, False),
        ("127.0.0.1", "attacker.example:8765", None, False),
        ("127.0.0.1", "127.0.0.1", "https://attacker.example", False),
        ("127.0.0.1", "127.0.0.1", "null", False),
        ("127.0.0.1", "127.0.0.1", "file://", False),
    ],
)
def test_check_control_request(
    client: str | None, host: str | None, origin: str | None, ok: bool
) -> None:
    if ok:
        check_control_request(client=client, host=host, origin=origin)
    else:
        problem = _problem(check_control_request, client=client, host=host, origin=origin)
        assert problem.status == 403
