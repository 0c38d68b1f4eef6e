"""Credentials for fake Shopgates, and a client on a fake transport.

The secret and the password are canaries: tests that check no secret leaks look for them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from segwidgets._client import ShopgateClient
from segwidgets._config import Credentials

__all__ = [
    "BASE_URL",
    "CLIENT_SECRET",
    "PASSWORD",
    "TOKEN_PATH",
    "USERNAME",
    "credentials_like",
    "fake_client",
    "fake_credentials",
    "grant_tokens",
]

Handler = Callable[[httpx.Request], httpx.Response]

BASE_URL = "https://{service}.shopgate.test"
CLIENT_SECRET = "cs-canary"
PASSWORD = "pw-canary"
USERNAME = "api.user@example.com"
TOKEN_PATH = "/oauth/token"

_DEFAULTS: dict[str, Any] = {
    "merchant_code": "M42",
    "client_id": "client-1",
    "client_secret": CLIENT_SECRET,
    "username": USERNAME,
    "password": PASSWORD,
    "base_url": BASE_URL,
}


def fake_credentials(**overrides: Any) -> Credentials:
    """Credentials of merchant ``M42`` on a fake server (``base_url`` on the ``.test``
    domain); any field of ``Credentials`` can be given (``base_url=None``: the host that
    ``env`` names), valid or not, to test the checks."""
    return Credentials(**(_DEFAULTS | overrides))


def credentials_like(credentials: Credentials, **changes: Any) -> Credentials:
    """``credentials`` with some fields changed: another merchant on the same server, a
    wrong password."""
    names = ("merchant_code", "client_id", "client_secret", "username", "password")
    values = {name: getattr(credentials, name) for name in (*names, "env", "base_url")}
    return Credentials(**(values | changes))


def grant_tokens(api: Handler) -> Handler:
    """A handler that grants every token request and hands every other request to ``api``."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == TOKEN_PATH:
            return httpx.Response(200, json={"access_token": "tok", "expires_in": 3600})
        return api(request)

    return handler


def fake_client(
    handler: Handler, *, credentials: Credentials | None = None, **kwargs: Any
) -> ShopgateClient:
    """A client whose requests go to ``handler`` (it answers the token requests too; wrap
    it in ``grant_tokens`` if it should not), never sleeping unless ``sleep`` is given."""
    kwargs.setdefault("sleep", lambda _seconds: None)
    return ShopgateClient(
        credentials or fake_credentials(), transport=httpx.MockTransport(handler), **kwargs
    )
