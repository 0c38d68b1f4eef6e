"""ShopgateClient against an injected transport: routes, bodies, pagination, errors, privacy."""

from __future__ import annotations

import base64
import json
import logging
import random
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from _kit.credentials import fake_credentials

from segwidgets._client import ClientStats, CustomerPage, MemberPage, ShopgateClient
from segwidgets._config import Credentials
from segwidgets._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    ConflictError,
    InsecureURLError,
    NotFoundError,
    PagingError,
    RateLimitError,
    ServerError,
    UnprocessableEntityError,
)
from segwidgets._item_errors import ItemError
from segwidgets._retry import RetryPolicy

SECRET = "cs-canary-3c9e1d"
PASSWORD = "pw-canary-8b2f70"
TOKEN = "tok-canary-a41c55"
EMAIL = "jane.canary@example.org"
BASE = "https://{service}.shopgate.test"
SEG = "https://segmentation.shopgate.test/v1/merchants/M42"
CUS = "https://customer.shopgate.test/v1/merchants/M42"

Handler = Callable[[httpx.Request], httpx.Response]


def make_credentials(base_url: str = BASE) -> Credentials:
    return fake_credentials(client_secret=SECRET, password=PASSWORD, base_url=base_url)


class Fake:
    """A transport handler: the token endpoint answers tokens, every other call goes to ``api``."""

    def __init__(self, api: Handler, *, token: Handler | None = None) -> None:
        self.api = api
        self.token = token
        self.requests: list[httpx.Request] = []
        self.token_requests: list[httpx.Request] = []
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            with self._lock:
                self.token_requests.append(request)
                n = len(self.token_requests)
            if self.token is not None:
                return self.token(request)
            return httpx.Response(200, json={"access_token": f"{TOKEN}-{n}", "expires_in": 3600})
        with self._lock:
            self.requests.append(request)
        return self.api(request)


def make_client(
    api: Handler, *, token: Handler | None = None, **kwargs: Any
) -> tuple[ShopgateClient, Fake, list[float]]:
    fake = Fake(api, token=token)
    sleeps: list[float] = []
    kwargs.setdefault("sleep", sleeps.append)
    client = ShopgateClient(make_credentials(), transport=httpx.MockTransport(fake), **kwargs)
    return client, fake, sleeps


def ok(body: Any = None, status: int = 200) -> Handler:
    return lambda _request: httpx.Response(status, json=body if body is not None else {})


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content)


# -- segmentation routes --------------------------------------------------------------------------


def test_get_segment_sends_bearer_token_to_the_segment_url() -> None:
    client, fake, _ = make_client(ok({"segment": {"code": "vip", "memberCount": 3}}))
    assert client.get_segment("vip") == {"code": "vip", "memberCount": 3}
    (request,) = fake.requests
    assert request.method == "GET"
    assert str(request.url) == f"{SEG}/segments/vip"
    assert request.headers["authorization"] == f"Bearer {TOKEN}-1"
    assert len(fake.token_requests) == 1
    assert str(fake.token_requests[0].url) == "https://auth.shopgate.test/oauth/token"


def test_path_parts_are_quoted() -> None:
    client, fake, _ = make_client(ok({"segment": {}}))
    client.get_segment("a/b c")
    assert fake.requests[0].url.raw_path == b"/v1/merchants/M42/segments/a%2Fb%20c"


def test_create_update_delete_clone_segment() -> None:
    client, fake, _ = make_client(ok(status=201))
    client.create_segment("vip", "VIP", description="best")
    client.update_segment("vip", name="V.I.P.", status="inactive")
    client.delete_segment("vip")
    client.clone_segment("vip", "vip2")
    create, update, delete, clone = fake.requests
    assert (create.method, str(create.url)) == ("POST", f"{SEG}/segments")
    assert body_of(create) == {
        "segments": [
            {
                "code": "vip",
                "name": "VIP",
                "description": "best",
                "type": "fixed",
                "status": "active",
            }
        ]
    }
    assert (update.method, str(update.url)) == ("POST", f"{SEG}/segments/vip")
    assert body_of(update) == {"name": "V.I.P.", "status": "inactive"}
    assert (delete.method, str(delete.url)) == ("DELETE", f"{SEG}/segments/vip")
    assert (clone.method, str(clone.url)) == ("POST", f"{SEG}/segments/vip/clone")
    assert body_of(clone) == {"newSegmentCode": "vip2"}


def test_add_and_remove_members_bodies() -> None:
    client, fake, _ = make_client(ok(status=202))
    client.add_members("vip", ["1", "2"])
    client.remove_members("vip", ("3",), member_type="device")
    add, remove = fake.requests
    assert (add.method, str(add.url)) == ("POST", f"{SEG}/segments/vip/members")
    assert body_of(add) == {
        "members": [{"id": "1", "type": "customer"}, {"id": "2", "type": "customer"}]
    }
    assert (remove.method, str(remove.url)) == ("DELETE", f"{SEG}/segments/vip/members")
    assert remove.headers["content-type"] == "application/json"
    assert body_of(remove) == {"members": [{"id": "3", "type": "device"}]}


def test_no_ids_sends_nothing_and_a_string_is_refused() -> None:
    client, fake, _ = make_client(ok(status=201))
    client.add_members("vip", [])
    client.remove_members("vip", [])
    assert fake.requests == []
    with pytest.raises(TypeError):
        client.add_members("vip", "12345")


def test_customer_segments() -> None:
    client, fake, _ = make_client(ok({"segments": [{"code": "vip"}]}))
    assert client.customer_segments("c-1") == [{"code": "vip"}]
    assert str(fake.requests[0].url) == f"{SEG}/customers/c-1/segments"


# -- pagination -----------------------------------------------------------------------------------


def offset_server(
    items: list[dict[str, Any]], key: str, *, max_limit: int = 10_000, with_total: bool = True
) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        limit = min(int(request.url.params["limit"]), max_limit)
        offset = int(request.url.params["offset"])
        meta: dict[str, Any] = {"limit": limit, "offset": offset}
        if with_total:
            meta["totalItemCount"] = len(items)
        return httpx.Response(200, json={key: items[offset : offset + limit], "meta": meta})

    return handler


def test_list_segments_walks_offset_pages() -> None:
    segments = [{"code": f"s{i}"} for i in range(250)]
    client, fake, _ = make_client(offset_server(segments, "segments"))
    assert client.list_segments(page_size=100) == segments
    offsets = [(r.url.params["limit"], r.url.params["offset"]) for r in fake.requests]
    assert offsets == [("100", "0"), ("100", "100"), ("100", "200")]


def test_list_segments_copes_with_a_server_smaller_page_limit() -> None:
    segments = [{"code": f"s{i}"} for i in range(120)]
    client, fake, _ = make_client(offset_server(segments, "segments", max_limit=50))
    assert client.list_segments(page_size=100) == segments
    assert len(fake.requests) == 3


def test_list_segments_without_total_stops_at_a_short_page() -> None:
    segments = [{"code": f"s{i}"} for i in range(30)]
    client, fake, _ = make_client(offset_server(segments, "segments", with_total=False))
    assert client.list_segments(page_size=10) == segments
    assert len(fake.requests) == 4  # 10, 10, 10, then an empty page


def test_list_segments_refuses_to_loop_on_a_server_ignoring_offsets() -> None:
    page = {"segments": [{"code": "a"}, {"code": "b"}]}
    client, fake, _ = make_client(ok(page))
    with pytest.raises(PagingError, match="paging of this Shopgate was not understood"):
        client.list_segments(page_size=2)
    assert len(fake.requests) == 2


def cursor_server(ids: list[str], *, page_cap: int | None = None) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        limit = int(request.url.params["limit"])
        if page_cap is not None:
            limit = min(limit, page_cap)
        start = int(request.url.params.get("cursor", "0"))
        chunk = ids[start : start + limit]
        end = start + len(chunk)
        cursors = {"next": str(end) if end < len(ids) else None}
        return httpx.Response(
            200,
            json={
                "members": [{"id": i, "type": "customer"} for i in chunk],
                "meta": {"limit": limit, "cursors": cursors, "totalItemCount": len(ids)},
            },
        )

    return handler


def test_member_pages_follow_cursors() -> None:
    ids = [str(i) for i in range(2500)]
    client, fake, _ = make_client(cursor_server(ids))
    pages = list(client.member_pages("vip", page_size=1000))
    assert [len(p.members) for p in pages] == [1000, 1000, 500]
    assert [p.next_cursor for p in pages] == ["1000", "2000", None]
    assert all(p.total == 2500 for p in pages)
    assert [m["id"] for p in pages for m in p.members] == ids
    assert "cursor" not in fake.requests[0].url.params
    assert [r.url.params.get("cursor") for r in fake.requests] == [None, "1000", "2000"]
    assert all(r.url.path == "/v1/merchants/M42/segments/vip/members" for r in fake.requests)
    assert isinstance(pages[0], MemberPage)


def test_member_pages_stop_on_an_empty_page_even_with_a_cursor() -> None:
    client, fake, _ = make_client(ok({"members": [], "meta": {"cursors": {"next": "x"}}}))
    pages = list(client.member_pages("vip"))
    assert len(pages) == 1
    assert pages[0] == MemberPage(members=[], total=None, next_cursor="x")
    assert len(fake.requests) == 1


def test_member_pages_without_meta_end_after_one_page() -> None:
    client, _, _ = make_client(ok({"members": [{"id": "1", "type": "customer"}]}))
    assert list(client.member_pages("vip")) == [
        MemberPage(members=[{"id": "1", "type": "customer"}], total=None, next_cursor=None)
    ]


def test_member_pages_refuse_a_repeated_cursor() -> None:
    body = {"members": [{"id": "1", "type": "customer"}], "meta": {"cursors": {"next": "same"}}}
    client, fake, _ = make_client(ok(body))
    with pytest.raises(PagingError, match="paging of this Shopgate was not understood"):
        list(client.member_pages("vip"))
    assert len(fake.requests) == 2


def test_member_pages_are_lazy() -> None:
    client, fake, _ = make_client(cursor_server([str(i) for i in range(30)]))
    pages = client.member_pages("vip", page_size=10)
    assert fake.requests == []
    next(pages)
    assert len(fake.requests) == 1


# -- customer service -----------------------------------------------------------------------------


def test_customer_page_sends_filters_as_json() -> None:
    customers = [{"id": str(i)} for i in range(5)]
    client, fake, _ = make_client(offset_server(customers, "customers"))
    page = client.customer_page(
        filters={"emailAddress": EMAIL, "isAnonymous": False}, limit=2, offset=2
    )
    assert page == CustomerPage(customers=customers[2:4], total=5, limit=2)
    (request,) = fake.requests
    assert request.url.host == "customer.shopgate.test"
    assert request.url.path == "/v1/merchants/M42/customers"
    assert json.loads(request.url.params["filters"]) == {
        "emailAddress": EMAIL,
        "isAnonymous": False,
    }
    assert request.url.params["limit"] == "2"
    assert request.url.params["offset"] == "2"


def test_customer_page_without_filters_or_total() -> None:
    client, fake, _ = make_client(ok({"customers": [{"id": "1"}]}))
    assert client.customer_page(offset=7) == CustomerPage(customers=[{"id": "1"}], total=8)
    assert "filters" not in fake.requests[0].url.params


@pytest.mark.parametrize("body", [{"customer": {"id": "c1"}}, {"id": "c1"}])
def test_get_customer_either_shape(body: dict[str, Any]) -> None:
    client, fake, _ = make_client(ok(body))
    assert client.get_customer("c1") == {"id": "c1"}
    assert str(fake.requests[0].url) == f"{CUS}/customers/c1"


@pytest.mark.parametrize("content", [b"<html>", b"[]", b'{"segments": {"a": 1}}'])
def test_unexpected_body_is_an_api_error(content: bytes) -> None:
    client, _, _ = make_client(lambda _r: httpx.Response(200, content=content))
    with pytest.raises(APIError, match="GET /v1/merchants/M42/segments"):
        client.list_segments()


# -- errors ---------------------------------------------------------------------------------------


def test_404_is_not_found_with_the_server_message() -> None:
    client, fake, _ = make_client(ok({"message": "Segment vip not found"}, status=404))
    with pytest.raises(NotFoundError) as info:
        client.get_segment("vip")
    error = info.value
    assert error.status_code == 404
    assert error.method == "GET"
    assert error.path == "/v1/merchants/M42/segments/vip"
    assert "GET /v1/merchants/M42/segments/vip failed with HTTP 404" in str(error)
    assert "Segment vip not found" in str(error)
    assert len(fake.requests) == 1


def test_409_and_422_carry_item_errors() -> None:
    errors = [{"id": "7", "message": "unknown customer"}]
    client, fake, _ = make_client(ok({"message": "bad members", "errors": errors}, status=422))
    with pytest.raises(UnprocessableEntityError) as info:
        client.add_members("vip", ["7", "8"])
    assert info.value.item_errors == [
        ItemError(id="7", index=None, code="", reason="unknown customer")
    ]
    assert len(fake.requests) == 1
    client, fake, _ = make_client(ok({"message": "exists"}, status=409))
    with pytest.raises(ConflictError):
        client.create_segment("vip", "VIP")
    assert len(fake.requests) == 1


def test_error_message_masks_emails_and_never_shows_the_query() -> None:
    client, _, _ = make_client(ok({"message": f"no customer {EMAIL}"}, status=400))
    with pytest.raises(APIStatusError) as info:
        client.customer_page(filters={"emailAddress": EMAIL})
    text = str(info.value)
    assert EMAIL not in text
    assert "j***@e***.org" in text
    assert "filters" not in text
    assert "?" not in text


def test_rate_limit_after_all_attempts_keeps_retry_after() -> None:
    client, fake, sleeps = make_client(
        lambda _r: httpx.Response(429, headers={"Retry-After": "7"}, json={"message": "slow down"})
    )
    with pytest.raises(RateLimitError) as info:
        client.get_segment("vip")
    assert info.value.retry_after == 7.0
    assert len(fake.requests) == 6
    assert len(sleeps) == 5
    assert all(7.0 <= s <= 7.5 for s in sleeps)
    assert "6 attempt" in str(info.value)


def test_server_error_on_a_write_is_not_resent() -> None:
    client, fake, _ = make_client(ok({"message": "boom"}, status=500))
    with pytest.raises(ServerError) as info:
        client.add_members("vip", ["1"])
    assert len(fake.requests) == 1
    assert "may or may not have been applied" in str(info.value)


def test_lost_answer_to_a_write_is_not_resent() -> None:
    def api(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    client, fake, _ = make_client(api)
    with pytest.raises(APITimeoutError) as info:
        client.remove_members("vip", ["1"])
    assert len(fake.requests) == 1
    assert "may or may not have applied" in str(info.value)
    assert info.value.path == "/v1/merchants/M42/segments/vip/members"


def test_connection_refused_is_retried_then_raised() -> None:
    def api(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    client, fake, sleeps = make_client(api)
    with pytest.raises(APIConnectionError) as info:
        client.add_members("vip", ["1"])
    assert not isinstance(info.value, APITimeoutError)
    assert len(fake.requests) == 6
    assert len(sleeps) == 5
    assert "Gave up after 6 attempt(s)" in str(info.value)


def test_transient_failure_then_success() -> None:
    answers = iter(
        [
            httpx.Response(503),
            httpx.Response(502),
            httpx.Response(200, json={"segment": {"code": "a"}}),
        ]
    )
    client, fake, sleeps = make_client(lambda _r: next(answers), rng=random.Random(1))
    assert client.get_segment("a") == {"code": "a"}
    assert len(fake.requests) == 3
    assert len(sleeps) == 2
    assert 0 <= sleeps[0] <= 0.5
    assert 0 <= sleeps[1] <= 1.0
    assert client.stats.n_retries == 2


# -- sign-in --------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401])
def test_refused_sign_in_is_an_authentication_error_without_secrets(status: int) -> None:
    def token(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            status,
            json={
                "error": "invalid_grant",
                "error_description": f"bad password {PASSWORD} {SECRET}",
            },
        )

    client, fake, _ = make_client(ok({}), token=token)
    with pytest.raises(AuthenticationError) as info:
        client.get_segment("vip")
    text = f"{info.value} {info.value!r} {info.value.args}"
    assert PASSWORD not in text
    assert SECRET not in text
    assert "invalid_grant" in text
    assert "client secret" in text
    assert fake.requests == []
    assert len(fake.token_requests) == 1


def test_sign_in_is_retried_on_503() -> None:
    answers = iter(
        [
            httpx.Response(503),
            httpx.Response(429, headers={"Retry-After": "1"}),
            httpx.Response(200, json={"access_token": TOKEN, "expires_in": 60}),
        ]
    )
    client, fake, sleeps = make_client(ok({"segment": {}}), token=lambda _r: next(answers))
    client.get_segment("vip")
    assert len(fake.token_requests) == 3
    assert len(sleeps) == 2
    assert client.stats.n_token_requests == 3
    assert client.stats.n_requests == 1


def test_sign_in_without_a_token_in_the_answer() -> None:
    client, _, _ = make_client(ok({}), token=lambda _r: httpx.Response(200, json={"nope": 1}))
    with pytest.raises(AuthenticationError, match="without an access token"):
        client.get_segment("vip")


def test_401_signs_in_again_once_and_replays() -> None:
    answers = iter([httpx.Response(401), httpx.Response(200, json={"segment": {"code": "v"}})])
    client, fake, _ = make_client(lambda _r: next(answers))
    assert client.get_segment("v") == {"code": "v"}
    assert [r.headers["authorization"] for r in fake.requests] == [
        f"Bearer {TOKEN}-1",
        f"Bearer {TOKEN}-2",
    ]
    assert client.stats.n_reauths == 1


def test_second_401_is_an_authentication_error() -> None:
    client, fake, _ = make_client(ok({"message": "expired"}, status=401))
    with pytest.raises(AuthenticationError, match="fresh sign-in"):
        client.get_segment("v")
    assert len(fake.requests) == 2
    assert len(fake.token_requests) == 2


# -- redirects ------------------------------------------------------------------------------------


def test_same_origin_redirect_is_not_followed() -> None:
    client, fake, _ = make_client(
        lambda _r: httpx.Response(301, headers={"Location": "/v1/merchants/M42/other"})
    )
    with pytest.raises(APIStatusError) as info:
        client.get_segment("vip")
    assert not isinstance(info.value, InsecureURLError)
    assert info.value.status_code == 301
    assert len(fake.requests) == 1


# -- logging and secrets --------------------------------------------------------------------------


def test_debug_log_names_calls_by_method_and_path_only(caplog: pytest.LogCaptureFixture) -> None:
    listing = offset_server([{"id": "1"}], "customers")

    def api(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/customers"):
            return listing(request)
        return httpx.Response(404, json={"message": f"no customer {EMAIL}"})

    client, _, _ = make_client(api)
    with caplog.at_level(logging.DEBUG):
        client.customer_page(filters={"emailAddress": EMAIL})
        with pytest.raises(APIError):
            client.get_customer(EMAIL)  # an email-like id: masked in the path too
    lines = [r.getMessage() for r in caplog.records if r.name == "segwidgets.http"]
    assert any(
        line.startswith("GET /v1/merchants/M42/customers attempt 1: HTTP 200") for line in lines
    )
    assert all(r.levelno == logging.DEBUG for r in caplog.records if r.name == "segwidgets.http")
    everything = "\n".join(r.getMessage() for r in caplog.records)
    assert EMAIL not in everything
    assert quote(EMAIL) not in everything
    assert "emailAddress" not in everything


def test_httpx_info_lines_lose_their_query(caplog: pytest.LogCaptureFixture) -> None:
    client, _, _ = make_client(ok({"customer": {}}))
    with caplog.at_level(logging.INFO, logger="httpx"):
        client.get_customer(EMAIL)
        client.customer_page(filters={"emailAddress": EMAIL})
    httpx_lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert len(httpx_lines) >= 2
    joined = "\n".join(httpx_lines)
    assert EMAIL not in joined
    assert quote(EMAIL, safe="") not in joined
    assert "[query hidden]" in joined


def canary_forms(value: str) -> list[str]:
    return [
        value,
        quote(value, safe=""),
        base64.b64encode(value.encode()).decode(),
        json.dumps(value)[1:-1],
    ]


def test_secrets_canary_never_leaks(caplog: pytest.LogCaptureFixture) -> None:
    """Faults everywhere: no canary in any exception text, repr or log record (DEBUG)."""
    token_answers = iter(
        [
            httpx.Response(503, json={"message": f"echo {SECRET}"}),
            httpx.Response(200, json={"access_token": TOKEN, "expires_in": 3600}),
            httpx.Response(401, json={"error": "invalid_grant", "message": f"{PASSWORD}"}),
        ]
    )

    def api(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/boom"):
            return httpx.Response(
                500, json={"message": f"token {TOKEN} and {PASSWORD} and {EMAIL}"}
            )
        if path.endswith("/away"):
            return httpx.Response(302, headers={"Location": f"https://evil.test/?t={TOKEN}"})
        if path.endswith("/drop"):
            raise httpx.ReadError(f"dropped {TOKEN}", request=request)
        return httpx.Response(401, json={"message": f"expired {TOKEN}"})

    client, _, _ = make_client(api, token=lambda _r: next(token_answers))
    texts: list[str] = [repr(client), repr(client.credentials), repr(client.stats)]
    calls = [
        lambda: client.get_segment("boom"),
        lambda: client.add_members("drop", ["1"]),
        lambda: client.get_segment("away"),
        lambda: client.get_segment("expired"),
    ]
    with caplog.at_level(logging.DEBUG):
        for call in calls:
            with pytest.raises(Exception) as info:  # noqa: PT011 - every kind is inspected below
                call()
            error = info.value
            texts += [str(error), repr(error), repr(error.args), repr(vars(error))]
            cause = error.__cause__
            while cause is not None:
                texts += [str(cause), repr(cause)]
                cause = cause.__cause__
    texts += [r.getMessage() for r in caplog.records]
    texts += [repr(client.stats.snapshot())]
    haystack = "\n".join(texts)
    for canary in (SECRET, PASSWORD, TOKEN):
        for form in canary_forms(canary):
            assert form not in haystack, canary
    assert base64.b64encode(f"client-1:{SECRET}".encode()).decode() not in haystack
    assert EMAIL not in haystack


# -- stats, lifecycle -----------------------------------------------------------------------------


def test_stats_count_requests_retries_and_routes() -> None:
    answers = iter(
        [httpx.Response(503), httpx.Response(200, json={"segment": {}}), httpx.Response(201)]
    )
    client, _, _ = make_client(lambda _r: next(answers))
    client.get_segment("a")
    client.add_members("a", ["1"])
    stats = client.stats
    assert isinstance(stats, ClientStats)
    assert stats.n_requests == 3
    assert stats.n_retries == 1
    assert stats.n_token_requests == 1
    assert stats.by_route == {("GET", "segments.get"): 2, ("POST", "members.add"): 1}
    snap = stats.snapshot()
    assert snap["n_requests"] == 3
    assert snap["by_route"] == {("GET", "segments.get"): 2, ("POST", "members.add"): 1}
    assert stats.mean_latency() is not None
    stats.reset()
    assert stats.snapshot()["n_requests"] == 0
    assert stats.by_route == {}
    assert stats.mean_latency() is None


def test_mean_latency_uses_the_injected_clock() -> None:
    now = [100.0]

    def api(_request: httpx.Request) -> httpx.Response:
        now[0] += 0.5  # each API request "takes" half a second of the fake clock
        return httpx.Response(200, json={"segment": {}})

    client, _, _ = make_client(api, clock=lambda: now[0])
    client.get_segment("a")
    client.get_segment("b")
    assert client.stats.mean_latency() == pytest.approx(0.5)


def test_concurrent_use_from_threads() -> None:
    client, fake, _ = make_client(ok(status=201))
    barrier = threading.Barrier(8)

    def worker(n: int) -> None:
        barrier.wait()
        for k in range(25):
            client.add_members("vip", [f"{n}-{k}"])

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent = sorted(body_of(r)["members"][0]["id"] for r in fake.requests)
    assert sent == sorted(f"{n}-{k}" for n in range(8) for k in range(25))
    assert client.stats.n_requests == 200
    assert client.stats.by_route == {("POST", "members.add"): 200}
    assert len(fake.token_requests) == 1


def test_context_manager_closes() -> None:
    client, _, _ = make_client(ok({}))
    with client as entered:
        assert entered is client
        assert not client.is_closed
    assert client.is_closed
    with pytest.raises(RuntimeError):
        client.get_segment("a")


def test_retry_policy_and_budget_are_exposed() -> None:
    policy = RetryPolicy(max_attempts=2, budget_capacity=3)
    client, _, _ = make_client(ok({}), retry=policy)
    assert client.retry_policy is policy
    assert client.retry_budget.remaining == 3


def test_insecure_url_refused_before_connecting() -> None:
    credentials = make_credentials()
    object.__setattr__(credentials, "base_url", "http://shopgate.example.com/{service}")
    fake = Fake(ok({}))
    with pytest.raises(InsecureURLError):
        ShopgateClient(credentials, transport=httpx.MockTransport(fake))
    assert fake.requests == []
    assert fake.token_requests == []
