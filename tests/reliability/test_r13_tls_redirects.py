"""R13: plain http to a non-loopback host is refused before connecting; redirects to another
origin never receive the Authorization header and raise InsecureURLError."""

from __future__ import annotations

import httpx
import pytest
from _kit.credentials import fake_credentials

from segwidgets._client import ShopgateClient
from segwidgets._errors import APIStatusError, InsecureURLError


class Recorder:
    def __init__(self, api_answer: httpx.Response | None = None) -> None:
        self.seen: list[httpx.Request] = []
        self.api_answer = api_answer

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        if request.url.path.endswith("/oauth/token"):
            return httpx.Response(200, json={"access_token": "tok-r13", "expires_in": 3600})
        if self.api_answer is not None:
            return self.api_answer
        return httpx.Response(200, json={"segment": {}})


@pytest.mark.parametrize(
    "base_url",
    [
        "http://shopgate.example.com/{service}",
        "http://{service}.shopgate.io",
        "http://10.0.0.5:8080/{service}",
        "ftp://127.0.0.1/{service}",
    ],
    ids=["R13-host", "R13-service-host", "R13-private-ip", "R13-scheme"],
)
def test_r13_plain_http_to_a_remote_host_is_refused_before_connecting(base_url: str) -> None:
    # Credentials refuse it already ...
    with pytest.raises(InsecureURLError):
        fake_credentials(merchant_code="M1", base_url=base_url)
    # ... and the client checks again, should a Credentials object carry it anyway.
    credentials = fake_credentials(merchant_code="M1")
    object.__setattr__(credentials, "base_url", base_url)
    recorder = Recorder()
    with pytest.raises(InsecureURLError):
        ShopgateClient(credentials, transport=httpx.MockTransport(recorder))
    assert recorder.seen == []


@pytest.mark.parametrize(
    "base_url",
    ["http://127.0.0.1:8765/{service}", "http://localhost:9/{service}", "http://[::1]:9/{service}"],
    ids=["R13-ipv4-loopback", "R13-localhost", "R13-ipv6-loopback"],
)
def test_r13_plain_http_to_loopback_is_allowed(base_url: str) -> None:
    recorder = Recorder()
    client = ShopgateClient(
        fake_credentials(merchant_code="M1", base_url=base_url),
        transport=httpx.MockTransport(recorder),
    )
    client.get_segment("vip")
    assert len(recorder.seen) == 2


@pytest.mark.parametrize(
    "location",
    [
        "https://evil.example.com/v1/merchants/M1/segments/vip",
        "http://segmentation.shopgate.test/v1/merchants/M1/segments/vip",  # scheme downgrade
        "https://segmentation.shopgate.test:8443/v1/merchants/M1/segments/vip",  # other port
        "//evil.example.com/steal",  # scheme-relative
        "https://customer.shopgate.test/v1/merchants/M1/segments/vip",  # another service host
    ],
    ids=["R13-other-host", "R13-downgrade", "R13-other-port", "R13-scheme-relative", "R13-sibling"],
)
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_r13_redirect_to_another_origin_is_refused(location: str, status: int) -> None:
    recorder = Recorder(httpx.Response(status, headers={"Location": location}))
    client = ShopgateClient(
        fake_credentials(merchant_code="M1"), transport=httpx.MockTransport(recorder)
    )
    with pytest.raises(InsecureURLError) as info:
        client.get_segment("vip")
    assert "redirected to another host" in str(info.value)
    # The token went only to the configured segmentation host, once; nothing followed.
    api = [r for r in recorder.seen if not r.url.path.endswith("/oauth/token")]
    assert [str(r.url) for r in api] == [
        "https://segmentation.shopgate.test/v1/merchants/M1/segments/vip"
    ]
    assert all(r.url.host.endswith("shopgate.test") for r in recorder.seen)
    assert "tok-r13" not in str(info.value)


def test_r13_redirect_on_the_token_endpoint_is_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(307, headers={"Location": "https://evil.example.com/oauth/token"})

    seen: list[httpx.Request] = []
    client = ShopgateClient(
        fake_credentials(merchant_code="M1"), transport=httpx.MockTransport(handler)
    )
    with pytest.raises(InsecureURLError):
        client.get_segment("vip")
    assert [r.url.host for r in seen] == ["auth.shopgate.test"]


def test_r13_same_origin_redirect_is_not_followed_either() -> None:
    recorder = Recorder(
        httpx.Response(302, headers={"Location": "/v1/merchants/M1/segments/elsewhere"})
    )
    client = ShopgateClient(
        fake_credentials(merchant_code="M1"), transport=httpx.MockTransport(recorder)
    )
    with pytest.raises(APIStatusError) as info:
        client.get_segment("vip")
    assert not isinstance(info.value, InsecureURLError)
    assert info.value.status_code == 302
    assert len([r for r in recorder.seen if not r.url.path.endswith("/oauth/token")]) == 1
