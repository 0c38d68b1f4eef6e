"""``run_doctor`` against scripted answers (no sockets), ``raw_get``, and the traits table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from _kit.credentials import fake_client

from segwidgets._client import ShopgateClient
from segwidgets._doctor import DoctorReport, Finding, run_doctor
from segwidgets._errors import APIConnectionError
from segwidgets._journal import Journal
from segwidgets._traits import ServerTraits

CUSTOMERS = [
    {"id": f"c{i}", "emailAddress": f"Person{i}@Example.com", "status": "active"} for i in range(30)
]
MEMBERS = [{"id": f"c{i}", "type": "customer"} for i in range(5)]


class FakeShopgate:
    """A scripted Shopgate: which answers it gives is set per instance."""

    def __init__(
        self,
        *,
        page: str = "reject",
        paging: str = "offset",
        email: str = "exact",
        in_id: str = "works",
        in_email: str = "refused",
    ) -> None:
        self.page, self.paging, self.email = page, paging, email
        self.in_id, self.in_email = in_id, in_email
        self.calls: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
        self.calls.append(request)
        path = request.url.path
        query = request.url.params
        if path.endswith("/segments"):
            return httpx.Response(
                200,
                json={
                    "segments": [{"code": "vip", "memberCount": len(MEMBERS)}],
                    "meta": {"limit": 100, "offset": 0, "totalItemCount": 1},
                },
            )
        if path.endswith("/members"):
            return self._members(query)
        if path.endswith("/customers"):
            return self._customers(query)
        return httpx.Response(404, json={"code": "NotFound", "message": "no"})

    def _members(self, query: httpx.QueryParams) -> httpx.Response:
        limit = int(query.get("limit", "100"))
        if self.paging == "offset":
            start = int(query.get("offset", "0"))
            meta: dict[str, Any] = {"limit": limit, "offset": start, "totalItemCount": 5}
        else:
            start = int(query.get("cursor", "0"))
            nxt = str(start + limit) if start + limit < len(MEMBERS) else None
            meta = {"limit": limit, "cursors": {"next": nxt}, "totalItemCount": 5}
        return httpx.Response(200, json={"members": MEMBERS[start : start + limit], "meta": meta})

    def _customers(self, query: httpx.QueryParams) -> httpx.Response:
        limit = int(query.get("limit", "100"))
        if limit > 100:
            if self.page == "reject":
                return httpx.Response(
                    400,
                    json={
                        "statusCode": 400,
                        "code": "ValidationError",
                        "message": "Request validation failed: Parameter (limit) failed",
                        "error": {
                            "paramName": "limit",
                            "results": {
                                "errors": [{"message": f"Value {limit} is greater than maximum 50"}]
                            },
                        },
                    },
                )
            if self.page == "silent":
                return httpx.Response(
                    200, json={"customers": CUSTOMERS[:20], "meta": {"totalItemCount": 30}}
                )
        filters = json.loads(query.get("filters", "{}"))
        found = CUSTOMERS
        for name, value in filters.items():
            if name == "isAnonymous":
                continue
            if isinstance(value, dict):
                mode = self.in_id if name == "id" else self.in_email
                if mode == "refused":
                    return httpx.Response(400, json={"code": "x", "message": "bad filter"})
                if mode == "ignored":
                    continue
                found = [c for c in found if c[name] in value["$in"]]
            elif name == "emailAddress" and self.email == "insensitive":
                found = [c for c in found if c[name].lower() == value.lower()]
            else:
                found = [c for c in found if c[name] == value]
        return httpx.Response(
            200,
            json={
                "customers": found[:limit],
                "meta": {"limit": limit, "offset": 0, "totalItemCount": len(found)},
            },
        )


def _client(fake: FakeShopgate) -> ShopgateClient:
    return fake_client(fake)


def _run(**script: str) -> tuple[DoctorReport, FakeShopgate]:
    fake = FakeShopgate(**script)
    with _client(fake) as client:
        return run_doctor(client), fake


def test_defaults_of_a_likely_shopgate() -> None:
    report, fake = _run()
    assert report.ok
    assert report.traits.to_dict() == {
        "page_limit": 50,
        "member_paging": "offset",
        "email_filter": "exact",
        "in_on_id": True,
        "in_on_email": False,
    }
    assert all(r.method == "GET" for r in fake.calls)
    assert "maximum 50" in report.finding("largest page").shopgate_did
    text = report.to_text()
    assert "@" not in text, "no email address in the report"
    assert "result: ok" in text


@pytest.mark.parametrize(
    ("script", "trait", "value"),
    [
        ({"page": "silent"}, "page_limit", 20),
        ({"paging": "cursor"}, "member_paging", "cursor"),
        ({"email": "insensitive"}, "email_filter", "insensitive"),
        ({"in_id": "ignored"}, "in_on_id", False),
        ({"in_id": "refused"}, "in_on_id", False),
        ({"in_email": "works"}, "in_on_email", True),
    ],
)
def test_each_behaviour_is_read_from_the_answers(
    script: dict[str, str], trait: str, value: object
) -> None:
    report, _ = _run(**script)
    assert report.traits.to_dict()[trait] == value


def test_findings_go_into_the_traits_given() -> None:
    traits = ServerTraits(page_limit=7)
    with _client(FakeShopgate(paging="cursor")) as client:
        report = run_doctor(client, traits=traits)
    assert report.traits is traits
    assert traits.page_limit == 50
    assert traits.member_paging == "cursor"


def test_a_refused_sign_in_skips_the_rest() -> None:
    fake = FakeShopgate()

    def refuse(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(401, json={"error": "invalid_client"})
        return fake(request)

    creds = _client(fake).credentials
    with ShopgateClient(creds, transport=httpx.MockTransport(refuse)) as client:
        report = run_doctor(client)
    assert not report.ok
    assert report.finding("sign-in").outcome == "failed"
    assert report.finding("member paging").outcome == "skipped"
    assert fake.calls == []
    assert "FAILED" in report.to_text()


def test_raw_get_returns_4xx_answers_and_wraps_no_answer() -> None:
    fake = FakeShopgate()
    with _client(fake) as client:
        answer = client.raw_get("customer", "customers", params={"limit": 500})
        assert answer.status_code == 400
        assert answer.json()["error"]["paramName"] == "limit"
        assert client.stats.by_route[("GET", "raw")] == 1

    def broken(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
        raise httpx.ConnectError("refused")

    with (
        ShopgateClient(_client(fake).credentials, transport=httpx.MockTransport(broken)) as client,
        pytest.raises(APIConnectionError),
    ):
        client.raw_get("segmentation", "segments")


def test_report_renders_as_table_text_and_html() -> None:
    report = DoctorReport(
        merchant_code="M42",
        target="https://{service}.shopgate.test",
        findings=[
            Finding("largest page", "learned", "400 <naming> limit", "reads pages of 100"),
            Finding("email filter", "unknown", "nothing", "treats it as exact"),
        ],
        traits=ServerTraits(page_limit=100),
        seconds=0.25,
    )
    frame = report.to_polars()
    assert frame.shape == (2, 4)
    assert frame.get_column("probe").to_list() == ["largest page", "email filter"]
    assert "&lt;naming&gt;" in report._repr_html_()
    assert "page_limit=100" in repr(report)
    assert report.ok


def test_journal_keeps_traits_per_merchant_and_target(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    try:
        assert journal.load_traits("M42") is None
        journal.save_traits("M42", {"page_limit": 100}, target="https://a")
        journal.save_traits("M42", {"page_limit": 250}, target="https://b")
        journal.save_traits("M42", {"page_limit": 50}, target="https://a")
        assert journal.load_traits("M42", target="https://a") == {"page_limit": 50}
        assert journal.load_traits("M42", target="https://b") == {"page_limit": 250}
        assert journal.load_traits("OTHER", target="https://a") is None
    finally:
        journal.close()
    reopened = Journal(tmp_path / "journal.sqlite3")
    try:
        assert reopened.load_traits("M42", target="https://b") == {"page_limit": 250}
    finally:
        reopened.close()
