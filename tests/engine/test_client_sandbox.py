"""ShopgateClient against a real sandbox over loopback HTTP (one sandbox for the module)."""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from _kit.credentials import credentials_like

from segwidgets import sandbox
from segwidgets._client import ShopgateClient
from segwidgets._errors import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitError,
    ServerError,
)
from segwidgets._secrets import Secret

SECRET = "cs-canary-sbx-6d02"
PASSWORD = "pw-canary-sbx-19fa"


@pytest.fixture(scope="module")
def sbx() -> Iterator[sandbox.Sandbox]:
    with sandbox.start(
        customers=300, seed=3, delete_delay=0, client_secret=SECRET, password=PASSWORD
    ) as running:
        yield running


@pytest.fixture
def box(sbx: sandbox.Sandbox) -> sandbox.Sandbox:
    """The module's sandbox, fresh data and default knobs for each test."""
    sbx.configure(**{**sandbox.Settings().to_dict(), "delete_delay": 0})
    sbx.reset()
    return sbx


@pytest.fixture
def client(box: sandbox.Sandbox) -> Iterator[ShopgateClient]:
    with ShopgateClient(box.credentials, sleep=lambda _s: None) as c:
        yield c


def registered_ids(client: ShopgateClient, n: int) -> list[str]:
    ids: list[str] = []
    offset = 0
    while len(ids) < n:
        page = client.customer_page(filters={"isAnonymous": False}, limit=100, offset=offset)
        assert page.customers, "the sandbox has too few registered customers"
        ids += [c["id"] for c in page.customers if c.get("status") == "active"]
        offset += len(page.customers)
    return ids[:n]


def all_member_ids(client: ShopgateClient, code: str, *, page_size: int = 1000) -> list[str]:
    return [
        m["id"] for page in client.member_pages(code, page_size=page_size) for m in page.members
    ]


def test_segment_round_trip(client: ShopgateClient, box: sandbox.Sandbox) -> None:
    before = {s["code"] for s in client.list_segments(page_size=2)}
    client.create_segment("rt", "Round trip", description="made by a test")
    assert client.get_segment("rt")["name"] == "Round trip"
    assert {s["code"] for s in client.list_segments(page_size=2)} == before | {"rt"}
    with pytest.raises(ConflictError):
        client.create_segment("rt", "again")
    client.update_segment("rt", name="Renamed")
    assert client.get_segment("rt")["name"] == "Renamed"

    ids = registered_ids(client, 120)
    client.add_members("rt", ids)
    read = all_member_ids(client, "rt", page_size=25)
    assert sorted(read) == sorted(ids)
    pages = list(client.member_pages("rt", page_size=25))
    assert len(pages) == 5
    assert all(p.total == 120 for p in pages)
    assert pages[-1].next_cursor is None
    assert box.member_ids("rt") == set(ids)

    client.remove_members("rt", ids[:20])
    assert sorted(all_member_ids(client, "rt")) == sorted(ids[20:])
    assert {s["code"] for s in client.customer_segments(ids[30])} >= {"rt"}
    assert "rt" not in {s["code"] for s in client.customer_segments(ids[0])}

    client.clone_segment("rt", "rt-copy")
    assert sorted(all_member_ids(client, "rt-copy")) == sorted(ids[20:])
    client.delete_segment("rt-copy")
    with pytest.raises(NotFoundError) as info:
        client.get_segment("rt-copy")
    assert info.value.path.endswith("/segments/rt-copy")


def test_customers_by_email_filter(client: ShopgateClient) -> None:
    first = client.customer_page(filters={"isAnonymous": False}, limit=1).customers[0]
    email = first["emailAddress"]
    page = client.customer_page(filters={"emailAddress": email, "isAnonymous": False})
    assert first["id"] in [c["id"] for c in page.customers]
    assert all(not c["isAnonymous"] for c in page.customers)
    assert client.get_customer(first["id"])["id"] == first["id"]
    everyone = client.customer_page(limit=1)
    assert everyone.total >= page.total


def test_refused_members_in_a_2xx_body(client: ShopgateClient, box: sandbox.Sandbox) -> None:
    client.create_segment("rej", "Rejections")
    good = registered_ids(client, 3)
    refused = client.add_members("rej", [*good, "no-such-customer"])
    assert [(e.id, e.index, e.code) for e in refused] == [
        ("no-such-customer", 3, "unknownCustomer")
    ]
    assert box.member_ids("rej") == set(good)
    assert client.add_members("rej", good) == []
    assert client.remove_members("rej", [good[0], "no-such-customer"])[0].id == "no-such-customer"


def test_rejected_member_batch_carries_item_errors(
    client: ShopgateClient, box: sandbox.Sandbox
) -> None:
    box.configure(refused_items="400")
    client.create_segment("rej", "Rejections")
    good = registered_ids(client, 3)
    with pytest.raises(BadRequestError) as info:
        client.add_members("rej", [*good, "no-such-customer"])
    assert [e.id for e in info.value.item_errors] == ["no-such-customer"]
    assert info.value.item_errors[0].reason
    assert "item_errors" in str(info.value)
    assert box.member_ids("rej") == set()


@pytest.mark.parametrize("status", [400, 413])
def test_too_large_batch_is_payload_too_large_whether_400_or_413(
    client: ShopgateClient, box: sandbox.Sandbox, status: int
) -> None:
    box.configure(max_members_per_request=5, oversize_status=status)
    client.create_segment("big", "Big")
    with pytest.raises(PayloadTooLargeError) as info:
        client.add_members("big", registered_ids(client, 6))
    assert info.value.status_code == status
    with pytest.raises(PayloadTooLargeError):
        client.remove_members("big", registered_ids(client, 6))
    assert client.stats.by_route[("POST", "members.add")] == 1
    assert client.stats.by_route[("DELETE", "members.remove")] == 1


@pytest.mark.parametrize("refused_items", ["2xx-body", "400"])
def test_removing_a_non_member_is_done_when_the_server_names_it(
    client: ShopgateClient, box: sandbox.Sandbox, refused_items: str
) -> None:
    box.configure(delete_non_member="item-error", refused_items=refused_items, delete_delay=0)
    client.create_segment("nm", "Non-members")
    member, outsider = registered_ids(client, 2)
    client.add_members("nm", [member])
    assert client.remove_members("nm", [outsider, member]) == []
    assert box.member_ids("nm") == set()
    sent = client.stats.by_route[("DELETE", "members.remove")]
    assert sent == (1 if refused_items == "2xx-body" else 2)  # 400: the member alone again
    # An unknown id is still refused (with the not-member left out, or the whole batch).
    if refused_items == "2xx-body":
        refused = client.remove_members("nm", [outsider, "no-such-customer"])
        assert [(e.id, e.code) for e in refused] == [("no-such-customer", "unknownCustomer")]
    else:
        with pytest.raises(BadRequestError) as info:
            client.remove_members("nm", [outsider, "no-such-customer"])
        assert {e.code for e in info.value.item_errors} == {"notMember", "unknownCustomer"}


@pytest.mark.parametrize("signin_error", ["oauth", "platform"])
def test_wrong_credentials_are_refused_without_secrets(
    box: sandbox.Sandbox, signin_error: str
) -> None:
    box.configure(signin_error=signin_error)
    good = box.credentials
    wrong = credentials_like(good, password=Secret(PASSWORD + "-wrong"))
    with ShopgateClient(wrong) as client, pytest.raises(AuthenticationError) as info:
        client.list_segments()
    text = f"{info.value} {info.value!r}"
    assert PASSWORD not in text
    assert ("invalid_grant" in text) is (signin_error == "oauth")
    assert info.value.status_code == (400 if signin_error == "oauth" else 401)
    assert client.stats.n_requests == 0


def test_faults_are_retried_within_bounds(box: sandbox.Sandbox) -> None:
    box.configure(
        error_429_rate=0.3, error_5xx_rate=0.1, retry_after=["0", "1", "date+2"], fault_seed=9
    )
    waits: list[float] = []
    with ShopgateClient(box.credentials, sleep=waits.append) as client:
        client.create_segment("flaky", "Flaky")  # may raise only if unlucky 6 times in a row
        ids = registered_ids(client, 40)
        for k in range(0, 40, 5):
            client.add_members("flaky", ids[k : k + 5])
        assert sorted(all_member_ids(client, "flaky", page_size=7)) == sorted(ids)
        stats = client.stats.snapshot()
    assert stats["n_retries"] > 0
    # Every retry waited first: API retries, and retries of the (faulted too) sign-in.
    assert len(waits) == stats["n_retries"] + stats["n_token_requests"] - 1
    assert all(0.0 <= w <= 60.0 for w in waits)


def test_outage_ends_in_a_typed_error(box: sandbox.Sandbox) -> None:
    with ShopgateClient(box.credentials, sleep=lambda _s: None) as client:
        client.list_segments()  # signed in before the outage
        box.configure(error_5xx_rate=1.0, fault_scope="reads")
        try:
            with pytest.raises(ServerError):
                client.get_segment("newsletter")
            assert client.stats.by_route[("GET", "segments.get")] == 6
        finally:
            box.configure(error_5xx_rate=0.0, fault_scope="all")


def test_lost_answer_to_a_write_is_not_resent(box: sandbox.Sandbox) -> None:
    with ShopgateClient(box.credentials, sleep=lambda _s: None) as client:
        client.create_segment("lost", "Lost answers")
        ids = registered_ids(client, 4)
        box.configure(lost_response_rate=1.0)
        with pytest.raises(APIConnectionError) as info:
            client.add_members("lost", ids)
        box.configure(lost_response_rate=0.0)
        assert "may or may not have applied" in str(info.value)
        assert client.stats.by_route[("POST", "members.add")] == 1
        # The server did apply it: the caller re-reads instead of re-sending.
        assert sorted(all_member_ids(client, "lost")) == sorted(ids)


def test_expired_token_is_replaced_proactively(box: sandbox.Sandbox) -> None:
    box.configure(token_ttl=0.3)
    with ShopgateClient(box.credentials) as client:
        client.list_segments()
        time.sleep(0.4)
        client.list_segments()
        assert client.stats.n_token_requests == 2
        assert client.stats.n_reauths == 0


def test_expired_token_found_by_a_401_costs_one_sign_in(box: sandbox.Sandbox) -> None:
    box.configure(token_ttl=0.3)
    # A frozen client clock never sees the token age, so only the server's 401 tells.
    with ShopgateClient(box.credentials, clock=lambda: 0.0) as client:
        client.list_segments()
        time.sleep(0.4)
        client.list_segments()
        assert client.stats.n_token_requests == 2
        assert client.stats.n_reauths == 1


def test_concurrent_writes_through_one_client(client: ShopgateClient) -> None:
    client.create_segment("conc", "Concurrent")
    ids = registered_ids(client, 160)
    batches = [ids[k : k + 20] for k in range(0, 160, 20)]
    errors: list[Exception] = []

    def worker(batch: list[str]) -> None:
        try:
            client.add_members("conc", batch)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(b,)) for b in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(all_member_ids(client, "conc")) == sorted(ids)
    assert client.stats.n_token_requests == 1


def test_rate_limit_exhaustion_is_a_rate_limit_error(box: sandbox.Sandbox) -> None:
    box.configure(error_429_rate=1.0, retry_after=["0"], fault_scope="reads")
    try:
        with ShopgateClient(box.credentials, sleep=lambda _s: None) as client:
            with pytest.raises(RateLimitError) as info:
                client.get_segment("newsletter")
            assert info.value.retry_after == 0.0
    finally:
        box.configure(error_429_rate=0.0, fault_scope="all")


def test_no_secret_in_logs_or_errors_over_real_http(
    box: sandbox.Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    texts: list[str] = []
    with (
        caplog.at_level(logging.DEBUG),
        ShopgateClient(box.credentials, sleep=lambda _s: None) as client,
    ):
        email = client.customer_page(filters={"isAnonymous": False}, limit=1).customers[0][
            "emailAddress"
        ]
        client.customer_page(filters={"emailAddress": email})
        texts.append(repr(client))
        for call in (lambda: client.get_segment("missing"), lambda: client.get_customer(email)):
            with pytest.raises(NotFoundError) as info:
                call()
            texts += [str(info.value), repr(info.value)]
        token = client._tokens.peek()
        assert token is not None
        token_value = token.value.get_secret_value()
    texts += [r.getMessage() for r in caplog.records]
    haystack = "\n".join(texts)
    for canary in (SECRET, PASSWORD, token_value):
        for form in (canary, quote(canary, safe=""), base64.b64encode(canary.encode()).decode()):
            assert form not in haystack
    client_side = "\n".join(
        r.getMessage() for r in caplog.records if r.name.startswith(("segwidgets.http", "httpx"))
    )
    assert email not in client_side
    assert quote(email, safe="") not in client_side
