"""The client under each plausible Shopgate behaviour: offset or cursor member pages, a page
limit that rejects or clamps, validation details in messages, item errors in 2xx answers."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from _kit.credentials import fake_client, grant_tokens

from segwidgets._client import ShopgateClient
from segwidgets._errors import BadRequestError, PagingError
from segwidgets._item_errors import ItemError
from segwidgets._traits import ServerTraits

EMAIL = "jane.canary@example.org"
Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """Keeps every request but the token requests (granted), each answered by ``api``."""

    def __init__(self, api: Handler) -> None:
        self.api = api
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.api(request)


def make_client(api: Handler, **kwargs: Any) -> tuple[ShopgateClient, Recorder, None]:
    fake = Recorder(api)
    return fake_client(grant_tokens(fake), **kwargs), fake, None


LIMIT_BODY = {
    "statusCode": 400,
    "code": "ValidationError",
    "message": "Request validation failed: Parameter (limit) failed schema validation",
    "error": {
        "code": "SCHEMA_VALIDATION_FAILED",
        "message": "Request validation failed: Parameter (limit) failed schema validation",
        "paramName": "limit",
        "results": {
            "errors": [
                {
                    "code": "MAXIMUM",
                    "message": "Value {n} is greater than maximum {max}",
                    "path": [],
                }
            ]
        },
    },
}


def limit_error(sent: int, maximum: int) -> httpx.Response:
    body = json.loads(
        json.dumps(LIMIT_BODY).replace("{n}", str(sent)).replace("{max}", str(maximum))
    )
    return httpx.Response(400, json=body)


class MemberServer:
    """Members in id order, paged like a Shopgate might: ``paging`` offset or cursor,
    ``limit_mode`` reject/clamp/silent over ``max_page``, ``total_delta`` added to the total."""

    def __init__(
        self,
        members: list[dict[str, Any]],
        *,
        paging: str = "offset",
        max_page: int = 100,
        limit_mode: str = "reject",
        total_delta: int = 0,
        ignore_offset: bool = False,
    ) -> None:
        self.members = members
        self.paging = paging
        self.max_page = max_page
        self.limit_mode = limit_mode
        self.total_delta = total_delta
        self.ignore_offset = ignore_offset

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        limit = int(params["limit"])
        if limit > self.max_page:
            if self.limit_mode == "reject":
                return limit_error(limit, self.max_page)
            limit = self.max_page
        meta: dict[str, Any] = {
            "limit": limit if self.limit_mode != "silent" else int(params["limit"]),
            "totalItemCount": len(self.members) + self.total_delta,
        }
        if self.paging == "cursor":
            if "offset" in params:
                return httpx.Response(
                    400,
                    json={
                        "code": "ValidationError",
                        "message": "Request validation failed",
                        "error": {"paramName": "offset", "results": {"errors": []}},
                    },
                )
            start = int(params.get("cursor", "0"))
            end = min(start + limit, len(self.members))
            meta["cursors"] = {"next": str(end) if end < len(self.members) else None}
        else:
            start = 0 if self.ignore_offset else int(params.get("offset", "0"))
            end = start + limit
            meta["offset"] = start
        return httpx.Response(200, json={"members": self.members[start:end], "meta": meta})


def customers(n: int, *, prefix: str = "c") -> list[dict[str, Any]]:
    return [{"id": f"{prefix}{i:05d}", "type": "customer"} for i in range(n)]


def ids_of(pages: list[Any]) -> list[str]:
    return [m["id"] for p in pages for m in p.members]


# -- member paging ----------------------------------------------------------------------------


def test_members_page_by_offset_at_100_by_default() -> None:
    members = customers(2_550)
    client, fake, _ = make_client(MemberServer(members))
    pages = list(client.member_pages("vip"))
    assert ids_of(pages) == [m["id"] for m in members]
    assert len(fake.requests) == 26
    assert all(r.url.params["limit"] == "100" for r in fake.requests)
    assert "offset" not in fake.requests[0].url.params
    assert [r.url.params.get("offset") for r in fake.requests[1:3]] == ["100", "200"]
    assert "cursor" not in str(fake.requests[-1].url)
    assert [p.offset for p in pages[:3]] == [0, 100, 200]
    assert client.traits.member_paging == "offset"


def test_members_follow_a_cursor_when_the_answer_carries_one() -> None:
    members = customers(2_550)
    client, fake, _ = make_client(MemberServer(members, paging="cursor"))
    pages = list(client.member_pages("vip"))
    assert ids_of(pages) == [m["id"] for m in members]
    assert len(fake.requests) == 26
    assert all("offset" not in r.url.params for r in fake.requests)
    assert [r.url.params.get("cursor") for r in fake.requests[:3]] == [None, "100", "200"]
    assert client.traits.member_paging == "cursor"


def test_a_cursor_under_after_is_followed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        first = "cursor" not in request.url.params
        chunk = customers(3) if first else customers(2, prefix="d")
        cursors = {"after": "k2"} if first else {"after": None}
        return httpx.Response(
            200, json={"members": chunk, "meta": {"cursors": cursors, "totalItemCount": 5}}
        )

    client, fake, _ = make_client(handler)
    assert len(ids_of(list(client.member_pages("vip")))) == 5
    assert [r.url.params.get("cursor") for r in fake.requests] == [None, "k2"]


def test_offset_ignored_and_no_cursor_is_a_paging_error() -> None:
    client, fake, _ = make_client(MemberServer(customers(250), ignore_offset=True))
    with pytest.raises(PagingError) as info:
        list(client.member_pages("vip"))
    assert "paging was not understood" in str(info.value)
    assert "kept changing" not in str(info.value)
    assert len(fake.requests) == 2


def test_offset_refused_and_no_cursor_is_a_paging_error() -> None:
    server = MemberServer(customers(250), paging="cursor")

    def no_cursor(request: httpx.Request) -> httpx.Response:
        answer = server(request)
        body = json.loads(answer.content)
        if answer.status_code == 200:
            body["meta"].pop("cursors")
        return httpx.Response(answer.status_code, json=body)

    client, fake, _ = make_client(no_cursor)
    with pytest.raises(PagingError, match="not understood"):
        list(client.member_pages("vip"))
    assert len(fake.requests) == 2


def test_a_total_below_what_was_listed_does_not_cut_the_read() -> None:
    # 205 listed, a total that leaves 10 pending deletes out: the full page at offset 100
    # ends past the total, so the walk goes on to the short page.
    members = customers(205)
    client, fake, _ = make_client(MemberServer(members, total_delta=-10))
    assert ids_of(list(client.member_pages("vip"))) == [m["id"] for m in members]
    assert len(fake.requests) == 3


def test_a_total_that_leaves_out_listed_members_does_not_end_the_walk() -> None:
    """Pending deletes still listed but not counted: the offset reaches the total at a page
    boundary while members are left; the walk goes on to the short page."""
    members = customers(212)
    client, fake, _ = make_client(MemberServer(members, total_delta=-12))
    assert ids_of(list(client.member_pages("vip"))) == [m["id"] for m in members]
    assert len(fake.requests) == 3


def test_device_members_are_listed_as_the_server_sends_them() -> None:
    members = [*customers(150), {"id": "dev-1", "type": "device"}]
    client, _, _ = make_client(MemberServer(members))
    pages = list(client.member_pages("vip"))
    assert [m["type"] for p in pages for m in p.members].count("device") == 1


# -- page limit --------------------------------------------------------------------------------


def test_a_rejected_limit_shrinks_to_the_named_maximum_and_is_learned() -> None:
    members = customers(250)
    client, fake, _ = make_client(MemberServer(members, max_page=50))
    pages = list(client.member_pages("vip", page_size=1000))
    assert ids_of(pages) == [m["id"] for m in members]
    sent = [r.url.params["limit"] for r in fake.requests]
    # five full pages, then the empty one that ends the walk (a full page is never the last)
    assert sent == ["1000", "50", "50", "50", "50", "50", "50"]
    assert client.traits.page_limit == 50
    assert client.traits.page_size == 50


def test_a_clamped_page_is_followed_at_the_server_size() -> None:
    members = customers(250)
    client, fake, _ = make_client(MemberServer(members, limit_mode="clamp"))
    assert ids_of(list(client.member_pages("vip", page_size=1000))) == [m["id"] for m in members]
    assert len(fake.requests) == 3
    assert client.traits.page_limit == 100


def test_a_silently_clamped_page_is_followed_while_the_total_says_more() -> None:
    members = customers(250)
    client, fake, _ = make_client(MemberServer(members, limit_mode="silent"))
    assert ids_of(list(client.member_pages("vip", page_size=1000))) == [m["id"] for m in members]
    assert [r.url.params.get("offset") for r in fake.requests] == [None, "100", "200"]


def test_larger_pages_only_when_the_traits_say_so() -> None:
    members = customers(450)
    traits = ServerTraits(page_limit=500)
    client, fake, _ = make_client(MemberServer(members, max_page=500), traits=traits)
    assert client.traits is traits
    assert len(ids_of(list(client.member_pages("vip")))) == 450
    assert [r.url.params["limit"] for r in fake.requests] == ["500"]


@pytest.mark.parametrize("call", ["segments", "customers"])
def test_every_list_call_shrinks_on_a_limit_400(call: str) -> None:
    items = [{"id": str(i), "code": str(i)} for i in range(30)]

    def handler(request: httpx.Request) -> httpx.Response:
        limit = int(request.url.params["limit"])
        if limit > 20:
            return limit_error(limit, 20)
        offset = int(request.url.params.get("offset", "0"))
        meta = {"limit": limit, "offset": offset, "totalItemCount": len(items)}
        return httpx.Response(200, json={call: items[offset : offset + limit], "meta": meta})

    client, fake, _ = make_client(handler)
    if call == "segments":
        assert client.list_segments() == items
    else:
        page = client.customer_page(limit=1000)
        assert page.customers == items[:20]
        assert page.limit == 20
    assert [r.url.params["limit"] for r in fake.requests][:2] == [
        "100" if call == "segments" else "1000",
        "20",
    ]
    assert client.traits.page_limit == 20


def test_a_limit_400_naming_no_maximum_shrinks_to_100_once() -> None:
    body = {"code": "ValidationError", "message": "limit is out of range", "error": {}}
    client, fake, _ = make_client(lambda _r: httpx.Response(400, json=body))
    with pytest.raises(BadRequestError):
        client.customer_page(limit=1000)
    assert [r.url.params["limit"] for r in fake.requests] == ["1000", "100"]


def test_a_400_about_another_parameter_is_not_resent() -> None:
    body = {"message": "Request validation failed", "error": {"paramName": "filters"}}
    client, fake, _ = make_client(lambda _r: httpx.Response(400, json=body))
    with pytest.raises(BadRequestError) as info:
        client.customer_page(filters={"x": 1})
    assert len(fake.requests) == 1
    assert info.value.param_name == "filters"
    assert client.traits.page_limit is None


# -- error detail ------------------------------------------------------------------------------


def test_nested_validation_detail_is_in_the_message() -> None:
    client, _, _ = make_client(lambda _r: limit_error(100, 50))
    client.traits.learn(page_limit=None)
    with pytest.raises(BadRequestError) as info:
        client.customer_page(limit=40)  # below the named maximum: nothing to shrink to
    error = info.value
    assert "Value 100 is greater than maximum 50" in str(error)
    assert error.param_name == "limit"
    assert error.details == ["Value 100 is greater than maximum 50"]


def test_additional_info_validation_errors_are_shown_scrubbed() -> None:
    body = {
        "message": "Invalid request",
        "additionalInfo": {
            "validationErrors": [{"field": "emailAddress", "message": f"{EMAIL} is not valid"}]
        },
    }
    client, _, _ = make_client(lambda _r: httpx.Response(422, json=body))
    with pytest.raises(Exception) as info:  # noqa: PT011 - the message is what is checked
        client.get_customer("c1")
    text = str(info.value)
    assert "emailAddress:" in text
    assert "is not valid" in text
    assert EMAIL not in text


# -- 2xx item errors ----------------------------------------------------------------------------


def test_writes_return_the_refused_items_of_a_2xx_body() -> None:
    body = {
        "errors": [
            {
                "code": "unknownCustomer",
                "entity": "member",
                "entityId": "c2",
                "entityIndex": 1,
                "reason": "There is no customer with this id.",
                "subentityPath": "",
            },
            {"code": "unknownCustomer", "entityIndex": 2, "reason": "gone"},
        ]
    }
    client, _, _ = make_client(lambda _r: httpx.Response(201, json=body))
    assert client.add_members("vip", ["c1", "c2", "c3"]) == [
        ItemError(
            id="c2", index=1, code="unknownCustomer", reason="There is no customer with this id."
        ),
        ItemError(id="c3", index=2, code="unknownCustomer", reason="gone"),
    ]
    client, _, _ = make_client(lambda _r: httpx.Response(202, json=body))
    assert [e.id for e in client.remove_members("vip", ["c1", "c2", "c3"])] == ["c2", "c3"]


@pytest.mark.parametrize("content", [b"", b"  ", b"{}", b"not json"])
def test_a_2xx_without_errors_refuses_nothing(content: bytes) -> None:
    client, _, _ = make_client(lambda _r: httpx.Response(201, content=content))
    assert client.add_members("vip", ["c1"]) == []
    assert client.remove_members("vip", []) == []


def test_a_400_refusal_maps_indexes_to_ids() -> None:
    body = {
        "code": "invalidMembers",
        "message": "Some members are invalid.",
        "errors": [{"code": "unknownCustomer", "entityIndex": 0, "reason": "no such customer"}],
    }
    client, _, _ = make_client(lambda _r: httpx.Response(400, json=body))
    with pytest.raises(BadRequestError) as info:
        client.add_members("vip", ["c9", "c1"])
    assert info.value.item_errors == [
        ItemError(id="c9", index=0, code="unknownCustomer", reason="no such customer")
    ]


# -- customer segments -----------------------------------------------------------------------


def test_customer_segments_follow_cursor_pages() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        n = int(request.url.params.get("cursor", "0"))
        cursors = {"next": str(n + 1) if n < 2 else None}
        return httpx.Response(
            200, json={"segments": [{"code": f"s{n}"}], "meta": {"cursors": cursors}}
        )

    client, fake, _ = make_client(handler)
    assert client.customer_segments("c1") == [{"code": "s0"}, {"code": "s1"}, {"code": "s2"}]
    assert len(fake.requests) == 3


def test_customer_segments_are_bounded() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        n = int(request.url.params.get("cursor", "0"))
        return httpx.Response(
            200, json={"segments": [{"code": "x"}], "meta": {"cursors": {"next": str(n + 1)}}}
        )

    client, fake, _ = make_client(handler)
    with pytest.raises(PagingError):
        client.customer_segments("c1")
    assert len(fake.requests) == 100


@pytest.mark.parametrize(
    ("detail", "expected"),
    [
        ("Value 1000 is greater than maximum 250", "250"),
        ("limit must be <= 50", "50"),
        ("limit: at most 20 items", "20"),
        ("limit is too large", "100"),
    ],
)
def test_the_maximum_a_limit_400_names_is_read(detail: str, expected: str) -> None:
    body = {
        "message": "Request validation failed: Parameter (limit) failed schema validation",
        "error": {"results": {"errors": [{"message": detail}]}},
    }

    def handler(request: httpx.Request) -> httpx.Response:
        if int(request.url.params["limit"]) > int(expected):
            return httpx.Response(400, json=body)
        return httpx.Response(200, json={"customers": [], "meta": {"totalItemCount": 0}})

    client, fake, _ = make_client(handler)
    assert client.customer_page(limit=1000).limit == int(expected)
    assert [r.url.params["limit"] for r in fake.requests] == ["1000", expected]


def test_a_short_last_page_teaches_no_page_limit() -> None:
    members = customers(130)

    def handler(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params.get("offset", "0"))
        chunk = members[offset : offset + 100]
        meta = {"limit": len(chunk), "offset": offset, "totalItemCount": len(members)}
        return httpx.Response(200, json={"members": chunk, "meta": meta})

    client, fake, _ = make_client(handler)
    assert len(ids_of(list(client.member_pages("vip")))) == 130
    assert len(fake.requests) == 2
    assert client.traits.page_limit is None


def test_a_400_that_never_names_limit_is_not_resent() -> None:
    body = {"message": "Bad request", "error": {"results": {"errors": [{"message": "Too big"}]}}}
    client, fake, _ = make_client(lambda _r: httpx.Response(400, json=body))
    with pytest.raises(BadRequestError, match="Too big"):
        client.customer_page(limit=1000)
    assert len(fake.requests) == 1
