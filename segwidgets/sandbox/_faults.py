"""Injected faults: random 429/5xx answers, a per-merchant rate limit, lost responses.

Every draw comes from one ``random.Random(fault_seed)``, so a seeded run injects the same
faults in the same order. Faults are decided before a call touches any state.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from email.utils import formatdate
from typing import Literal, TypeAlias

from ._service_error import ServiceError
from ._settings import Settings

__all__ = ["CallKind", "Faults"]

#: ``token``: the token endpoint; ``read``: GET calls; ``write``: POST/DELETE API calls.
CallKind: TypeAlias = Literal["token", "read", "write"]


class Faults:
    """Decides which calls fail; the clock is injectable, the draws seedable."""

    def __init__(self, *, clock: Callable[[], float], seed: int | None = None) -> None:
        self._clock = clock
        self._rng = random.Random(seed)
        self._buckets: dict[str, tuple[float, float]] = {}  # merchant -> (tokens, at)
        #: Faults injected since the last reset, by kind (429, 5xx, rate_limit, lost).
        self.counts: dict[str, int] = {}

    def reseed(self, seed: int | None) -> None:
        """Restart the draws from ``seed``, empty the rate-limit buckets and the counts."""
        self._rng = random.Random(seed)
        self._buckets.clear()
        self.counts.clear()

    def _count(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1

    def before_call(
        self, settings: Settings, *, kind: CallKind, merchant: str | None
    ) -> ServiceError | None:
        """The injected error for this call, if any (``None``: serve it)."""
        in_scope = settings.fault_scope == "all" or (
            kind != "token" and settings.fault_scope == kind + "s"
        )
        if in_scope and (settings.error_429_rate or settings.error_5xx_rate):
            draw = self._rng.random()
            if draw < settings.error_429_rate:
                self._count("429")
                retry_after = self._retry_after(settings)
                return ServiceError(
                    429,
                    "tooManyRequests",
                    "Too many requests (injected by the sandbox); retry after the given time.",
                    headers={"Retry-After": retry_after},
                )
            if draw < settings.error_429_rate + settings.error_5xx_rate:
                self._count("5xx")
                return ServiceError(
                    settings.error_5xx_status,
                    "serverError",
                    "The service is temporarily unavailable (injected by the sandbox).",
                )
        if settings.rate_limit is not None and merchant is not None and kind != "token":
            return self._take(settings.rate_limit, merchant)
        return None

    def _retry_after(self, settings: Settings) -> str:
        choice = self._rng.choice(settings.retry_after)
        if choice.startswith("date+"):
            return formatdate(self._clock() + int(choice[5:]), usegmt=True)
        return choice

    def _take(self, rate: float, merchant: str) -> ServiceError | None:
        now = self._clock()
        capacity = max(1.0, rate)
        tokens, at = self._buckets.get(merchant, (capacity, now))
        tokens = min(capacity, tokens + (now - at) * rate)
        if tokens >= 1.0:
            self._buckets[merchant] = (tokens - 1.0, now)
            return None
        self._buckets[merchant] = (tokens, now)
        self._count("rate_limit")
        wait = max(1, math.ceil((1.0 - tokens) / rate))
        return ServiceError(
            429,
            "rateLimited",
            f"Rate limit of {rate:g} requests per second exceeded; retry after {wait} s.",
            headers={"Retry-After": str(wait)},
        )

    def lose_response(self, settings: Settings) -> bool:
        """Whether the answer to a member write that was just applied is dropped."""
        if settings.lost_response_rate and self._rng.random() < settings.lost_response_rate:
            self._count("lost_response")
            return True
        return False
