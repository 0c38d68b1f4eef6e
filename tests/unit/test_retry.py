"""The retry policy, backoff, Retry-After parsing and the retry budget (no sockets)."""

from __future__ import annotations

import email.utils
import random
import threading
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from segwidgets._errors import ConfigurationError
from segwidgets._retry import (
    RetryBudget,
    RetryPolicy,
    backoff,
    classify,
    decide,
    is_idempotent,
    parse_retry_after,
)

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


# -- policy ---------------------------------------------------------------------------------------


def test_policy_defaults() -> None:
    policy = RetryPolicy()
    assert policy.max_attempts == 6
    assert policy.backoff_initial == 0.5
    assert policy.backoff_max == 30.0
    assert policy.retry_after_max == 60.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"backoff_initial": -1.0},
        {"backoff_max": -0.1},
        {"retry_after_max": -5.0},
        {"budget_capacity": -1.0},
        {"budget_refill_per_success": -0.1},
        {"jitter": "none"},
    ],
)
def test_policy_rejects_nonsense(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_policy_is_frozen() -> None:
    policy = RetryPolicy()
    with pytest.raises(AttributeError):
        policy.max_attempts = 3  # type: ignore[misc]


# -- backoff --------------------------------------------------------------------------------------


@pytest.mark.parametrize("jitter", ["full", "bounded"])
def test_backoff_without_retry_after_is_capped_exponential_with_jitter(jitter: str) -> None:
    policy = RetryPolicy(backoff_initial=0.5, backoff_max=30.0, jitter=jitter)  # type: ignore[arg-type]
    rng = random.Random(7)
    for attempt in range(1, 40):
        ceiling = min(30.0, 0.5 * 2 ** (attempt - 1))
        low = 0.0 if jitter == "full" else ceiling / 2
        waits = [backoff(attempt, retry_after=None, policy=policy, rng=rng) for _ in range(200)]
        assert all(low <= w <= ceiling for w in waits), (attempt, min(waits), max(waits))
        # The jitter really spreads the waits over the allowed range.
        assert max(waits) - min(waits) > (ceiling - low) * 0.5


def test_backoff_survives_huge_attempt_numbers() -> None:
    policy = RetryPolicy()
    wait = backoff(10_000, retry_after=None, policy=policy, rng=random.Random(1))
    assert 0.0 <= wait <= policy.backoff_max


@pytest.mark.parametrize("retry_after", [0.0, 1.0, 3.0, 59.5, 60.0, 120.0, 1e9])
def test_backoff_honours_retry_after_up_to_the_cap(retry_after: float) -> None:
    policy = RetryPolicy(retry_after_max=60.0, backoff_initial=0.5)
    rng = random.Random(3)
    floor = min(retry_after, 60.0)
    for attempt in (1, 2, 5, 6):
        for _ in range(100):
            wait = backoff(attempt, retry_after=retry_after, policy=policy, rng=rng)
            assert floor <= wait <= 60.0
            assert wait <= floor + 0.5


def test_backoff_negative_retry_after_counts_as_zero() -> None:
    wait = backoff(1, retry_after=-4.0, policy=RetryPolicy(), rng=random.Random(0))
    assert 0.0 <= wait <= 0.5


def test_backoff_is_reproducible_with_a_seeded_rng() -> None:
    policy = RetryPolicy()
    first = [backoff(a, retry_after=None, policy=policy, rng=random.Random(42)) for a in (1, 2, 3)]
    again = [backoff(a, retry_after=None, policy=policy, rng=random.Random(42)) for a in (1, 2, 3)]
    assert first == again


# -- Retry-After ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("0", 0.0),
        ("1", 1.0),
        (" 3 ", 3.0),
        ("120", 120.0),
        ("2.5", 2.5),
        ("-3", 0.0),
        ("", None),
        ("soon", None),
        ("nan", None),
        ("inf", None),
        (None, None),
    ],
)
def test_parse_retry_after_seconds(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == expected


def test_parse_retry_after_http_date() -> None:
    header = email.utils.format_datetime(NOW + timedelta(seconds=42), usegmt=True)
    assert parse_retry_after(header, now=NOW) == pytest.approx(42.0)


def test_parse_retry_after_date_in_the_past_is_zero() -> None:
    header = email.utils.format_datetime(NOW - timedelta(hours=1), usegmt=True)
    assert parse_retry_after(header, now=NOW) == 0.0


def test_parse_retry_after_date_defaults_to_the_wall_clock() -> None:
    header = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    seconds = parse_retry_after(header)
    assert seconds is not None
    assert 25.0 <= seconds <= 30.0


# -- budget ---------------------------------------------------------------------------------------


def test_budget_spends_and_refuses_when_empty() -> None:
    budget = RetryBudget(capacity=3, refill_per_success=0.5)
    assert [budget.try_spend() for _ in range(5)] == [True, True, True, False, False]
    assert budget.remaining == 0


def test_budget_refills_on_success_up_to_capacity() -> None:
    budget = RetryBudget(capacity=2, refill_per_success=0.5)
    assert budget.try_spend()
    assert budget.try_spend()
    budget.record_success()
    assert not budget.try_spend()  # half a retry is not a retry
    budget.record_success()
    assert budget.try_spend()
    for _ in range(100):
        budget.record_success()
    assert budget.remaining == 2


def test_budget_from_policy() -> None:
    budget = RetryBudget.from_policy(RetryPolicy(budget_capacity=7, budget_refill_per_success=0))
    assert sum(budget.try_spend() for _ in range(20)) == 7
    assert "capacity=7" in repr(budget)


def test_budget_is_thread_safe() -> None:
    budget = RetryBudget(capacity=1000, refill_per_success=0)
    granted: list[int] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        granted.append(sum(budget.try_spend() for _ in range(500)))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(granted) == 1000


# -- decision basics (the full table is in tests/reliability/test_r04_retry_table.py) -------------


def test_is_idempotent() -> None:
    assert is_idempotent("GET")
    assert is_idempotent("get")
    assert not is_idempotent("POST")
    assert not is_idempotent("DELETE")


def test_decide_attempt_limit_is_the_policy() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert decide("GET", 503, 1, policy=policy).action == "retry"
    assert decide("GET", 503, 2, policy=policy).action == "retry"
    final = decide("GET", 503, 3, policy=policy)
    assert final.action == "raise"
    assert final.exhausted


def test_decide_idempotent_override_for_token_requests() -> None:
    policy = RetryPolicy()
    assert decide("POST", 500, 1, policy=policy).action == "raise"
    assert decide("POST", 500, 1, policy=policy, idempotent=True).action == "retry"
    lost = httpx.ReadTimeout("lost")
    assert decide("POST", lost, 1, policy=policy).may_have_applied
    assert decide("POST", lost, 1, policy=policy, idempotent=True).action == "retry"


def test_decide_rate_limit_with_retry_after_does_not_spend_the_budget() -> None:
    policy = RetryPolicy()
    assert not decide("GET", 429, 1, policy=policy, retry_after=2.0).spends_budget
    assert decide("GET", 429, 1, policy=policy).spends_budget
    assert decide("GET", 503, 1, policy=policy, retry_after=2.0).spends_budget


def test_decide_401_reauth_only_once() -> None:
    policy = RetryPolicy()
    assert decide("GET", 401, 1, policy=policy).action == "reauth"
    assert decide("GET", 401, 6, policy=policy).action == "reauth"
    assert decide("GET", 401, 2, policy=policy, reauthenticated=True).action == "raise"


# -- the table of the module docstring, row by row ------------------------------------------------

# (result of a first attempt, GET action, POST/DELETE action, outcome), one line per row.
TABLE = [
    (200, "return", "return", None),
    (204, "return", "return", None),
    (101, "raise", "raise", "rejected"),
    (302, "raise", "raise", "rejected"),
    (401, "reauth", "reauth", "rejected"),
    (429, "retry", "retry", "refused"),
    (502, "retry", "retry", "refused"),
    (503, "retry", "retry", "refused"),
    (504, "retry", "retry", "refused"),
    (500, "retry", "raise", "lost"),
    (501, "retry", "raise", "lost"),
    (599, "retry", "raise", "lost"),
    (400, "raise", "raise", "rejected"),
    (403, "raise", "raise", "rejected"),
    (404, "raise", "raise", "rejected"),
    (409, "raise", "raise", "rejected"),
    (413, "raise", "raise", "rejected"),
    (httpx.ConnectError("x"), "retry", "retry", "refused"),
    (httpx.ConnectTimeout("x"), "retry", "retry", "refused"),
    (httpx.PoolTimeout("x"), "retry", "retry", "refused"),
    (httpx.ReadTimeout("x"), "retry", "raise", "lost"),
    (httpx.ReadError("x"), "retry", "raise", "lost"),
    (httpx.WriteTimeout("x"), "retry", "raise", "lost"),
    (httpx.WriteError("x"), "retry", "raise", "lost"),
    (httpx.CloseError("x"), "retry", "raise", "lost"),
    (httpx.RemoteProtocolError("x"), "retry", "raise", "lost"),
    (httpx.DecodingError("x"), "raise", "raise", "lost"),
    (ValueError("x"), "raise", "raise", "lost"),
]


@pytest.mark.parametrize(("result", "read", "write", "outcome"), TABLE, ids=repr)
def test_decide_follows_the_table(
    result: int | Exception, read: str, write: str, outcome: str | None
) -> None:
    policy = RetryPolicy()
    assert decide("GET", result, 1, policy=policy).action == read
    for method in ("POST", "DELETE"):
        decision = decide(method, result, 1, policy=policy)
        assert decision.action == write
        assert decision.outcome == outcome
        # A write raised while its outcome is lost may have been applied; nothing else.
        assert decision.may_have_applied == (write == "raise" and outcome == "lost")
    assert classify(result) == outcome
    # What an attempt means does not change when the attempts run out.
    assert decide("GET", result, policy.max_attempts, policy=policy).outcome == outcome
