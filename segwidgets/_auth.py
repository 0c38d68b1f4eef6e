"""Signing in to Shopgate: the OAuth2 password grant and a token cache with single-flight refresh.

``token_request()`` builds the request and ``read_token_grant()`` reads the answer; the client
sends it with its retry rules. ``TokenCache`` hands out the current token, fetches a new one
shortly before the old one expires, and after a 401 fetches one new token however many threads
saw the 401 at the same time: a thread whose token was already replaced takes the new one.
"""

from __future__ import annotations

import base64
import json
import math
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from ._errors import AuthenticationError
from ._secrets import Secret

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._config import Credentials

__all__ = [
    "REFRESH_MARGIN",
    "Token",
    "TokenCache",
    "TokenGrant",
    "oauth_error_code",
    "read_token_grant",
    "token_request",
]

#: Seconds before expiry at which a token is replaced (at most a fifth of its lifetime).
REFRESH_MARGIN = 60.0

_OAUTH_ERROR_RE = re.compile(r"[a-z_]{1,40}")


@dataclass(frozen=True, repr=False)
class TokenGrant:
    """What the token endpoint answered: the token and its lifetime in seconds, if given."""

    access_token: Secret
    expires_in: float | None

    def __repr__(self) -> str:
        return f"TokenGrant(access_token={self.access_token!r}, expires_in={self.expires_in!r})"


@dataclass(frozen=True, repr=False)
class Token:
    """A bearer token as the cache holds it.

    ``serial`` counts the tokens of one cache (1 for the first); ``refresh_at`` is the clock
    time from which the cache fetches a new one (None: only after a 401).
    """

    value: Secret
    serial: int
    refresh_at: float | None

    def is_due(self, now: float) -> bool:
        """True once the token should be replaced before use."""
        return self.refresh_at is not None and now >= self.refresh_at

    def __repr__(self) -> str:
        return f"Token(serial={self.serial}, refresh_at={self.refresh_at!r}, value={self.value!r})"


def token_request(credentials: Credentials) -> httpx.Request:
    """The password-grant request: form-encoded, HTTP Basic with the client id and secret."""
    basic = base64.b64encode(
        f"{credentials.client_id}:{credentials.client_secret.get_secret_value()}".encode()
    ).decode("ascii")
    return httpx.Request(
        "POST",
        credentials.token_url,
        headers={"Authorization": f"Basic {basic}", "Accept": "application/json"},
        data={
            "grant_type": "password",
            "username": credentials.username,
            "password": credentials.password.get_secret_value(),
            "tenantType": "merchant",
            "tenantId": credentials.merchant_code,
        },
    )


def read_token_grant(response: httpx.Response) -> TokenGrant:
    """Read ``access_token`` and ``expires_in`` from a successful token answer.

    A non-positive or unreadable ``expires_in`` counts as unknown: the token is then replaced
    only after a 401. Raises ``AuthenticationError`` when no token came back.
    """
    grant = _grant_from_body(response.content)
    if grant is None:
        msg = (
            f"The sign-in at POST {response.request.url.path} answered HTTP "
            f"{response.status_code} without an access token. Check that base_url points at "
            "Shopgate's auth service (or a segwidgets sandbox)."
        )
        raise AuthenticationError(
            msg,
            status_code=response.status_code,
            method="POST",
            path=response.request.url.path,
            outcome="rejected",
        )
    return grant


def _grant_from_body(content: bytes) -> TokenGrant | None:
    # Kept apart so no local variable holding the token outlives this frame in a traceback.
    try:
        body = json.loads(content)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    raw = body.pop("access_token", None)
    expires = body.get("expires_in")
    body.clear()
    if not isinstance(raw, str) or not raw:
        return None
    grant = TokenGrant(access_token=Secret(raw), expires_in=_lifetime(expires))
    del raw
    return grant


def _lifetime(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    if not math.isfinite(seconds) or seconds <= 0:
        return None
    return seconds


def oauth_error_code(response: httpx.Response) -> str | None:
    """The OAuth2 ``error`` code of a refused sign-in (``invalid_grant``...), if it is one.

    Only a short lowercase code is returned; free text from the auth server is never shown,
    as it could repeat a credential.
    """
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    code = body.get("error") if isinstance(body, dict) else None
    if isinstance(code, str) and _OAUTH_ERROR_RE.fullmatch(code):
        return code
    return None


class TokenCache:
    """The current bearer token of one client, shared by all its threads.

    ``fetch`` performs one sign-in (with the client's retry rules) and returns a grant;
    ``clock`` is a monotonic clock in seconds. Fetches are serialised: while one thread signs
    in, the others wait for its token instead of signing in themselves.
    """

    def __init__(
        self,
        fetch: Callable[[], TokenGrant],
        *,
        clock: Callable[[], float],
        refresh_margin: float = REFRESH_MARGIN,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._margin = refresh_margin
        self._lock = threading.Lock()
        self._token: Token | None = None
        self._serial = 0

    @property
    def n_fetched(self) -> int:
        """How many tokens this cache has fetched."""
        return self._serial

    def current(self) -> Token:
        """A token to send now: the cached one, or a new one if there is none or it is due.

        A token fetched by this call is returned even if it is already due (a server that
        grants very short lifetimes costs one sign-in per request, never a loop).
        """
        token = self._token
        if token is not None and not token.is_due(self._clock()):
            return token
        seen = None if token is None else token.serial
        with self._lock:
            token = self._token
            if token is not None and (token.serial != seen or not token.is_due(self._clock())):
                return token
            return self._renew()

    def peek(self) -> Token | None:
        """The cached token, without fetching one."""
        return self._token

    def refresh(self, *, stale: Token) -> tuple[Token, bool]:
        """After a 401 for ``stale``: the token another thread fetched since, or a new one.

        Returns the token and whether this call signed in for it.
        """
        with self._lock:
            token = self._token
            if token is not None and token.serial != stale.serial:
                return token, False
            return self._renew(), True

    def clear(self) -> None:
        """Forget the cached token (the next request signs in)."""
        with self._lock:
            self._token = None

    def _renew(self) -> Token:
        started = self._clock()
        grant = self._fetch()
        self._serial += 1
        refresh_at = None
        if grant.expires_in is not None:
            margin = min(self._margin, grant.expires_in / 5)
            refresh_at = started + grant.expires_in - margin
        token = Token(value=grant.access_token, serial=self._serial, refresh_at=refresh_at)
        self._token = token
        return token

    def __repr__(self) -> str:
        return f"TokenCache(n_fetched={self._serial}, token={self._token!r})"
