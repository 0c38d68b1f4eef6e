"""``Destination``: where a session's writes go — the merchant and the environment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._config import Credentials

__all__ = ["Destination", "destination_of"]

_LABELS = {"sandbox": "SANDBOX", "pg": "STAGING", "dev": "DEVELOPMENT", "production": "PRODUCTION"}


@dataclass(frozen=True)
class Destination:
    """The merchant and environment a push reaches (``environment`` is an upper-case label)."""

    merchant_code: str
    environment: str

    @property
    def is_production(self) -> bool:
        """True for a real shop: every push there needs the segment code typed."""
        return self.environment == "PRODUCTION"

    def __str__(self) -> str:
        return f"{self.environment} · merchant {self.merchant_code}"


def destination_of(credentials: Credentials) -> Destination:
    """Where these credentials write. Loopback hosts are the sandbox whatever ``env`` says;
    a custom ``base_url`` elsewhere keeps the environment the credentials name."""
    env = "sandbox" if credentials.is_sandbox else credentials.env
    return Destination(credentials.merchant_code, _LABELS.get(env, env.upper()))
