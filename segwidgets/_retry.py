"""When to send a request again, how long to wait first, and how many retries a client may spend.

The decision is one pure function, ``decide()``, of the method, the result of an attempt (an
HTTP status or the exception raised while sending) and the attempt number, so it is tested as
a full table. This table is the only place a status or a transport error is sorted:

===========================================  ==================  ========================  ========
result of the attempt                        GET (a read)        POST, DELETE (a write)    outcome
===========================================  ==================  ========================  ========
2xx                                          return              return                    -
1xx, 3xx (redirects are never followed)      raise               raise                     rejected
401                                          reauth once, raise  reauth once, raise        rejected
429                                          retry               retry                     refused
502, 503, 504                                retry               retry                     refused
500 and any other 5xx                        retry               raise: may have happened  lost
other 4xx (400, 403, 404, 409, 413, ...)     raise               raise                     rejected
ConnectError, ConnectTimeout, PoolTimeout    retry               retry: nothing was sent   refused
ReadTimeout, ReadError, WriteTimeout,        retry               raise: answer lost        lost
WriteError, CloseError, RemoteProtocolError
anything else                                raise               raise                     lost
===========================================  ==================  ========================  ========

The *outcome* (``classify()``) is what a failed attempt means for the request, and the client
puts it on the ``APIError`` it raises (``APIError.outcome``): **refused** — Shopgate certainly
did not act on it (no connection was made, or it answered that it did not process the
request), so sending it again is safe; **lost** — the answer never came or the server failed
while handling it, so a write may have been applied (``APIError.may_have_applied``);
**rejected** — Shopgate answered and decided against it, and the same request gets the same
answer. "Anything else" counts as lost: an error nobody sorted is read the safe way.

A write whose outcome is lost is never sent again blindly: the caller re-reads the segment and
sends only what is missing. Retries stop after ``RetryPolicy.max_attempts`` attempts, and every
retry but a server-paced one (429 with ``Retry-After``) spends a token from the client's
``RetryBudget``, so an outage ends in a typed error instead of a storm of requests.
"""

from __future__ import annotations

import email.utils
import math
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal, TypeAlias

import httpx

from ._errors import ConfigurationError
from ._types import CallOutcome

if TYPE_CHECKING:
    import random

__all__ = [
    "Action",
    "Decision",
    "Jitter",
    "RetryBudget",
    "RetryPolicy",
    "backoff",
    "classify",
    "decide",
    "is_idempotent",
    "parse_retry_after",
]

#: What to do after an attempt: hand the answer back, send again after a wait, sign in again
#: and send again at once, or raise a typed error.
Action: TypeAlias = Literal["return", "retry", "reauth", "raise"]

#: How the wait before a retry is drawn below its exponential ceiling: ``full`` from
#: ``[0, ceiling]``, ``bounded`` from ``[ceiling / 2, ceiling]``.
Jitter: TypeAlias = Literal["full", "bounded"]

_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Refused before the server did anything: safe to send again, whatever the method.
_REFUSED_STATUSES = frozenset({429, 502, 503, 504})

# Nothing reached the server: safe to send again, whatever the method.
_NOT_SENT_ERRORS: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
)

# The request (or part of it) went out and the answer was lost: safe only for reads.
_ANSWER_LOST_ERRORS: tuple[type[Exception], ...] = (
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.CloseError,
    httpx.RemoteProtocolError,
)

_MAX_EXPONENT = 64


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a client retries.

    ``max_attempts`` bounds the attempts of one request (a re-authentication after a 401 adds
    one replay on top). Waits grow from ``backoff_initial`` by doubling up to ``backoff_max``,
    with ``jitter``. A ``Retry-After`` from the server is honoured up to ``retry_after_max``.
    The retry budget holds ``budget_capacity`` retries for the whole client; each successful
    answer puts ``budget_refill_per_success`` back.
    """

    max_attempts: int = 6
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 60.0
    jitter: Jitter = "full"
    budget_capacity: float = 50.0
    budget_refill_per_success: float = 0.2

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            msg = f"max_attempts must be at least 1, not {self.max_attempts}."
            raise ConfigurationError(msg)
        for name in ("backoff_initial", "backoff_max", "retry_after_max", "budget_capacity"):
            if getattr(self, name) < 0:
                msg = f"{name} must not be negative."
                raise ConfigurationError(msg)
        if self.budget_refill_per_success < 0:
            msg = "budget_refill_per_success must not be negative."
            raise ConfigurationError(msg)
        if self.jitter not in ("full", "bounded"):
            msg = f"jitter must be 'full' or 'bounded', not {self.jitter!r}."
            raise ConfigurationError(msg)


@dataclass(frozen=True)
class Decision:
    """The verdict on one attempt. ``reason`` is a short phrase for messages and logs."""

    action: Action
    reason: str
    #: What the attempt means for the request if it ends here (None after a success).
    outcome: CallOutcome | None = None
    #: Whether a retry takes a token from the retry budget.
    spends_budget: bool = False
    #: A raise after a write whose outcome is lost: it may have been applied
    #: (``APIError.may_have_applied`` of the error raised).
    may_have_applied: bool = False
    #: A raise because the attempts ran out (the result itself was retryable).
    exhausted: bool = False


def is_idempotent(method: str) -> bool:
    """True for reads (GET, HEAD, OPTIONS), which may be sent again whatever happened."""
    return method.upper() in _IDEMPOTENT_METHODS


def classify(result: int | BaseException) -> CallOutcome | None:
    """The outcome column of the table: what an attempt answered with HTTP status ``result``
    (or failed with exception ``result``) means for its request; None for a 2xx."""
    if isinstance(result, BaseException):
        return "refused" if isinstance(result, _NOT_SENT_ERRORS) else "lost"
    if 200 <= result < 300:
        return None
    if result in _REFUSED_STATUSES:
        return "refused"
    if result >= 500:
        return "lost"
    return "rejected"


def decide(
    method: str,
    outcome: int | BaseException,
    attempt: int,
    *,
    policy: RetryPolicy,
    reauthenticated: bool = False,
    idempotent: bool | None = None,
    retry_after: float | None = None,
) -> Decision:
    """Decide what follows attempt number ``attempt`` (1 for the first) of one request.

    ``outcome`` is the HTTP status of the answer or the exception raised while sending.
    ``reauthenticated`` says whether this request already signed in again after a 401.
    ``idempotent`` overrides what the method implies (a token request is safe to repeat).
    ``retry_after`` is the parsed ``Retry-After`` of the answer, if any.
    """
    safe = is_idempotent(method) if idempotent is None else idempotent
    kind = classify(outcome)
    if isinstance(outcome, BaseException):
        if isinstance(outcome, _NOT_SENT_ERRORS):
            return _retry_or_raise("connection not established", kind, attempt, policy)
        if isinstance(outcome, _ANSWER_LOST_ERRORS):
            if safe:
                return _retry_or_raise("answer lost", kind, attempt, policy)
            return Decision(
                "raise",
                "answer to a write lost; re-read instead of re-sending",
                kind,
                may_have_applied=True,
            )
        return Decision("raise", "error not worth retrying", kind, may_have_applied=not safe)
    status = outcome
    if kind is None:
        return Decision("return", "success")
    if status < 200 or 300 <= status < 400:
        return Decision("raise", "unexpected status", kind)
    if status == 401:
        if reauthenticated:
            return Decision("raise", "token refused again after a fresh sign-in", kind)
        return Decision("reauth", "token refused; signing in again once", kind)
    if status == 429:
        return _retry_or_raise(
            "rate limited", kind, attempt, policy, spends_budget=retry_after is None
        )
    if status in _REFUSED_STATUSES:
        return _retry_or_raise("service unavailable", kind, attempt, policy)
    if status >= 500:
        if safe:
            return _retry_or_raise("server error", kind, attempt, policy)
        return Decision(
            "raise",
            "server error during a write; re-read instead of re-sending",
            kind,
            may_have_applied=True,
        )
    return Decision("raise", "client error, not retried", kind)


def _retry_or_raise(
    reason: str,
    outcome: CallOutcome | None,
    attempt: int,
    policy: RetryPolicy,
    *,
    spends_budget: bool = True,
) -> Decision:
    if attempt >= policy.max_attempts:
        return Decision(
            "raise", f"{reason}; gave up after {attempt} attempts", outcome, exhausted=True
        )
    return Decision("retry", reason, outcome, spends_budget=spends_budget)


def backoff(
    attempt: int,
    *,
    retry_after: float | None,
    policy: RetryPolicy,
    rng: random.Random,
) -> float:
    """Seconds to wait after attempt number ``attempt`` failed.

    Without ``Retry-After``: a capped exponential, ``min(backoff_max, backoff_initial *
    2 ** (attempt - 1))``, with the policy's jitter below it. With ``Retry-After``: that many
    seconds plus up to ``backoff_initial`` of jitter (so waiting clients do not come back in
    lockstep), never more than ``retry_after_max``. The wait is therefore always at least
    ``min(retry_after, retry_after_max)`` and at most ``retry_after_max``.
    """
    if retry_after is not None:
        floor = min(max(retry_after, 0.0), policy.retry_after_max)
        return min(floor + rng.uniform(0.0, policy.backoff_initial), policy.retry_after_max)
    exponent = min(max(attempt - 1, 0), _MAX_EXPONENT)
    ceiling = min(policy.backoff_max, policy.backoff_initial * 2.0**exponent)
    low = 0.0 if policy.jitter == "full" else ceiling / 2
    return rng.uniform(low, ceiling)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header: delay-seconds or an HTTP date; None if unusable.

    A date in the past gives 0. ``now`` (aware, UTC) is for tests; it defaults to the wall clock.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds):
            return None
        return max(seconds, 0.0)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    reference = datetime.now(UTC) if now is None else now
    return max((when - reference).total_seconds(), 0.0)


class RetryBudget:
    """A bucket of retries shared by every request of one client (thread-safe).

    Each retry takes one token; each successful answer puts ``refill_per_success`` back, up
    to ``capacity``. When the bucket is empty, failing requests raise at once: during an
    outage a client sends at most ``capacity`` retries in total, however many threads send.
    """

    def __init__(self, *, capacity: float, refill_per_success: float) -> None:
        self._capacity = capacity
        self._refill = refill_per_success
        self._tokens = capacity
        self._lock = threading.Lock()

    @classmethod
    def from_policy(cls, policy: RetryPolicy) -> RetryBudget:
        """A full budget sized by ``policy``."""
        return cls(
            capacity=policy.budget_capacity, refill_per_success=policy.budget_refill_per_success
        )

    @property
    def remaining(self) -> float:
        """Retries left in the bucket."""
        with self._lock:
            return self._tokens

    def try_spend(self) -> bool:
        """Take one retry from the bucket; False (and nothing taken) if fewer than one is left."""
        with self._lock:
            if self._tokens < 1.0:
                return False
            self._tokens -= 1.0
            return True

    def record_success(self) -> None:
        """A request succeeded: put a fraction of a retry back."""
        with self._lock:
            self._tokens = min(self._capacity, self._tokens + self._refill)

    def __repr__(self) -> str:
        return f"RetryBudget(remaining={self.remaining:.1f}, capacity={self._capacity:g})"
