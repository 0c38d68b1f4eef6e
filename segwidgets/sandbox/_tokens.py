"""OAuth2 password grant and bearer-token checks, as Shopgate's auth service does them.

``POST /auth/oauth/token``: form-encoded, HTTP Basic ``client_id:client_secret``, body
``grant_type=password``, ``username``, ``password``, ``tenantType=merchant``,
``tenantId={merchantCode}``. A ``refresh_token`` grant is accepted too.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .._secrets import Secret
from ._service_error import ServiceError

__all__ = [
    "SANDBOX_CLIENT_ID",
    "SANDBOX_CLIENT_SECRET",
    "SANDBOX_PASSWORD",
    "SANDBOX_USERNAME",
    "Account",
    "TokenStore",
]

# The default sandbox credentials: published on purpose, valid only against the sandbox.
SANDBOX_CLIENT_ID = "sandbox-client"
SANDBOX_CLIENT_SECRET = "sandbox-secret"  # noqa: S105 (a documented sandbox value)
SANDBOX_USERNAME = "api@sandbox.example"
SANDBOX_PASSWORD = "sandbox-password"  # noqa: S105 (a documented sandbox value)


@dataclass(frozen=True, repr=False)
class Account:
    """The one API user of the emulated merchant (sandbox credentials, not real ones)."""

    merchant: str
    client_id: str
    client_secret: Secret
    username: str
    password: Secret

    def __repr__(self) -> str:
        return f"Account(merchant={self.merchant!r}, client_id={self.client_id!r})"


def _same(given: str, expected: Secret | str) -> bool:
    value = expected.get_secret_value() if isinstance(expected, Secret) else expected
    return hmac.compare_digest(given.encode(), value.encode())


def _oauth(status: int, error: str, message: str, **headers: str) -> ServiceError:
    return ServiceError(status, error, message, oauth_error=error, headers=headers)


class TokenStore:
    """Issues and checks bearer tokens; expiry follows the injected clock."""

    def __init__(self, account: Account, *, clock: Callable[[], float]) -> None:
        self.account = account
        self._clock = clock
        self._access: dict[str, tuple[str, float]] = {}
        self._refresh: dict[str, str] = {}
        #: Tokens issued since start (a statistic for tests and benchmarks).
        self.issued = 0

    def clear(self) -> None:
        """Forget every token."""
        self._access.clear()
        self._refresh.clear()

    def issue(
        self, *, authorization: str | None, form: Mapping[str, str], ttl: float
    ) -> dict[str, Any]:
        """Answer a token request, or raise the OAuth2 error Shopgate would send."""
        self._check_client(authorization)
        grant = form.get("grant_type")
        if grant == "password":
            self._check_password_grant(form)
        elif grant == "refresh_token":
            token = form.get("refresh_token", "")
            if self._refresh.get(token) != self.account.merchant:
                raise _oauth(400, "invalid_grant", "The refresh token is unknown or revoked.")
        elif not grant:
            raise _oauth(400, "invalid_request", "grant_type is missing.")
        else:
            raise _oauth(400, "unsupported_grant_type", "Use grant_type=password.")
        now = self._clock()
        for token, (_, expires) in list(self._access.items()):
            if expires <= now:
                del self._access[token]
        access = "sbx_" + secrets.token_urlsafe(24)
        refresh = "sbr_" + secrets.token_urlsafe(24)
        self._access[access] = (self.account.merchant, now + ttl)
        self._refresh[refresh] = self.account.merchant
        self.issued += 1
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": int(ttl) if float(ttl).is_integer() else ttl,
            "refresh_token": refresh,
        }

    def _check_client(self, authorization: str | None) -> None:
        challenge = {"WWW-Authenticate": 'Basic realm="auth"'}
        scheme, _, encoded = (authorization or "").partition(" ")
        if scheme.lower() != "basic" or not encoded:
            raise _oauth(
                401,
                "invalid_client",
                "Client authentication failed: send client_id:client_secret with HTTP Basic.",
                **challenge,
            )
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        client_id, sep, client_secret = decoded.partition(":")
        if not (
            sep
            and _same(client_id, self.account.client_id)
            and _same(client_secret, self.account.client_secret)
        ):
            raise _oauth(401, "invalid_client", "Client authentication failed.", **challenge)

    def _check_password_grant(self, form: Mapping[str, str]) -> None:
        missing = [
            name
            for name in ("username", "password", "tenantType", "tenantId")
            if not form.get(name)
        ]
        if missing:
            raise _oauth(400, "invalid_request", f"Missing form field(s): {', '.join(missing)}.")
        if form["tenantType"] != "merchant":
            raise _oauth(400, "invalid_request", "tenantType must be 'merchant'.")
        user_ok = _same(form["username"].lower(), self.account.username.lower())
        password_ok = _same(form["password"], self.account.password)
        if not (user_ok and password_ok):
            raise _oauth(400, "invalid_grant", "Invalid username or password.")
        if form["tenantId"] != self.account.merchant:
            raise _oauth(400, "invalid_grant", "This user has no access to that merchant.")

    def check(self, authorization: str | None, merchant: str) -> None:
        """Accept a bearer token for ``merchant`` or raise 401/403."""
        challenge = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        scheme, _, token = (authorization or "").partition(" ")
        if not authorization:
            raise ServiceError(
                401,
                "missingToken",
                "Authentication required: send 'Authorization: Bearer <access token>'.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        entry = self._access.get(token.strip()) if scheme.lower() == "bearer" else None
        if entry is None:
            raise ServiceError(
                401, "invalidToken", "The access token is invalid.", headers=challenge
            )
        owner, expires = entry
        if self._clock() >= expires:
            raise ServiceError(
                401, "tokenExpired", "The access token has expired.", headers=challenge
            )
        if owner != merchant:
            raise ServiceError(
                403, "forbidden", "This access token is not valid for that merchant."
            )

    @property
    def live(self) -> int:
        """How many access tokens have not expired."""
        now = self._clock()
        return sum(1 for _, expires in self._access.values() if expires > now)
