"""Connection settings: which Shopgate merchant, which environment, which credentials."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import get_args
from urllib.parse import urlsplit

from ._errors import ConfigurationError, InsecureURLError
from ._privacy import mask_email
from ._secrets import Secret
from ._types import Env

__all__ = [
    "ENV_VARS",
    "SECRET_KEYS",
    "Credentials",
    "check_url_is_safe",
    "is_loopback_host",
    "read_env_values",
]

#: Environment variables read by ``Credentials.from_env()``.
ENV_VARS: dict[str, str] = {
    "merchant_code": "SHOPGATE_MERCHANT_CODE",
    "client_id": "SHOPGATE_CLIENT_ID",
    "client_secret": "SHOPGATE_CLIENT_SECRET",
    "username": "SHOPGATE_USERNAME",
    "password": "SHOPGATE_PASSWORD",
    "env": "SHOPGATE_ENV",
    "base_url": "SHOPGATE_BASE_URL",
}

_ENV_SUFFIX: dict[str, str] = {"production": "", "pg": "pg", "dev": "dev", "sandbox": ""}

#: The keys of ``ENV_VARS`` whose values are secrets.
SECRET_KEYS = frozenset({"client_secret", "password"})


def read_env_values(environ: Mapping[str, str] | None = None) -> dict[str, str | Secret]:
    """The ``SHOPGATE_*`` values by ``ENV_VARS`` key ("" when unset), secrets as ``Secret``.

    ``environ`` defaults to ``os.environ``; it is read here and not kept, so the caller's
    frames never hold the whole environment.
    """
    return {
        key: _env_value(os.environ if environ is None else environ, var, secret=key in SECRET_KEYS)
        for key, var in ENV_VARS.items()
    }


def _env_value(environ: Mapping[str, str], variable: str, *, secret: bool) -> str | Secret:
    value = environ.get(variable) or ""
    return Secret(str(value)) if secret else str(value)


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url_is_safe(url: str) -> None:
    """Refuse plain ``http://`` to anything but loopback, and any scheme but http(s)."""
    parts = urlsplit(url.replace("{service}", "service"))
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        msg = "The base URL must start with https:// (or http:// for a local sandbox)."
        raise InsecureURLError(msg)
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        msg = (
            "Refusing a plain http:// URL to a non-local host: credentials would travel "
            "unencrypted. Use https://, or http://127.0.0.1 for a local sandbox."
        )
        raise InsecureURLError(msg)


@dataclass(frozen=True, repr=False, init=False)
class Credentials:
    """The five values Shopgate's API credentials consist of, plus where to send them.

    ``base_url`` is a template with ``{service}`` (``auth``, ``customer``,
    ``segmentation``); without it the host follows ``env``:
    ``https://{service}.shopgate{suffix}.io``.

    The client secret and the password are wrapped in :class:`Secret` on the first line
    of the constructor, so no frame of a traceback (not even one that shows its local
    variables) holds them in the clear.
    """

    merchant_code: str
    client_id: str
    client_secret: Secret = field(compare=False)
    username: str
    password: Secret = field(compare=False)
    env: Env = "production"
    base_url: str | None = None

    def __init__(
        self,
        *,
        merchant_code: str,
        client_id: str,
        client_secret: str | Secret,
        username: str,
        password: str | Secret,
        env: Env = "production",
        base_url: str | None = None,
    ) -> None:
        client_secret, password = Secret(client_secret), Secret(password)
        object.__setattr__(self, "client_secret", client_secret)
        object.__setattr__(self, "password", password)
        object.__setattr__(self, "merchant_code", merchant_code)
        object.__setattr__(self, "client_id", client_id)
        object.__setattr__(self, "username", username)
        object.__setattr__(self, "env", env)
        object.__setattr__(self, "base_url", base_url)
        self._check()

    def _check(self) -> None:
        missing = [
            name
            for name in ("merchant_code", "client_id", "username")
            if not str(getattr(self, name)).strip()
        ]
        missing += [name for name in ("client_secret", "password") if not getattr(self, name)]
        if missing:
            msg = f"Missing credentials: {', '.join(missing)}."
            raise ConfigurationError(msg)
        if self.env not in get_args(Env):
            msg = f"Unknown environment {self.env!r}; use one of {', '.join(get_args(Env))}."
            raise ConfigurationError(msg)
        if self.base_url is not None:
            if "{service}" not in self.base_url:
                msg = "base_url must contain '{service}', e.g. http://127.0.0.1:8765/{service}."
                raise ConfigurationError(msg)
            check_url_is_safe(self.base_url)
        elif self.env == "sandbox":
            msg = "A sandbox has no public host: sandbox credentials need the sandbox's base_url."
            raise ConfigurationError(msg)

    @property
    def url_template(self) -> str:
        """The base URL template with ``{service}`` in it."""
        if self.base_url is not None:
            return self.base_url.rstrip("/")
        return f"https://{{service}}.shopgate{_ENV_SUFFIX[self.env]}.io"

    def service_url(self, service: str) -> str:
        """``…/v1/merchants/{merchantCode}`` for one service."""
        root = self.url_template.format(service=service)
        return f"{root}/v1/merchants/{self.merchant_code}"

    @property
    def token_url(self) -> str:
        """The OAuth2 token endpoint."""
        return f"{self.url_template.format(service='auth')}/oauth/token"

    @property
    def is_sandbox(self) -> bool:
        """True when the services are on this machine (a local sandbox)."""
        host = urlsplit(self.url_template.replace("{service}", "service")).hostname or ""
        return is_loopback_host(host)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Credentials:
        """Read ``SHOPGATE_*`` variables (see ``ENV_VARS``).

        The secrets are wrapped in :class:`Secret` as they are read, and no frame keeps the
        environment itself: a traceback of an error here shows neither.
        """
        values = read_env_values(environ)
        del environ  # a mapping passed in may hold the secrets in the clear
        missing = [
            ENV_VARS[k]
            for k in ("merchant_code", "client_id", "client_secret", "username", "password")
            if not values[k]
        ]
        if missing:
            msg = f"Set these environment variables first: {', '.join(missing)}."
            raise ConfigurationError(msg)
        return cls(
            merchant_code=str(values["merchant_code"]),
            client_id=str(values["client_id"]),
            client_secret=values["client_secret"],
            username=str(values["username"]),
            password=values["password"],
            env=(str(values["env"]) or "production"),  # type: ignore[arg-type]
            base_url=str(values["base_url"]) or None,
        )

    def __repr__(self) -> str:
        return (
            f"Credentials(merchant_code={self.merchant_code!r}, client_id={self.client_id!r}, "
            f"client_secret={self.client_secret!r}, username={mask_email(self.username)!r}, "
            f"password={self.password!r}, env={self.env!r}, base_url={self.base_url!r})"
        )
