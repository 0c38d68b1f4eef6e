"""Injected faults: reproducible draws, scopes, Retry-After values, the rate limit."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

import pytest
from sandbox_helpers import FakeClock

from segwidgets.sandbox import Settings
from segwidgets.sandbox._faults import Faults


def _statuses(faults: Faults, settings: Settings, n: int, kind: str = "read") -> list[int]:
    out = []
    for _ in range(n):
        problem = faults.before_call(settings, kind=kind, merchant="DEMO")  # type: ignore[arg-type]
        out.append(200 if problem is None else problem.status)
    return out


def test_same_seed_same_faults() -> None:
    knobs = Settings(error_429_rate=0.3, error_5xx_rate=0.2, error_5xx_status=502)
    a = _statuses(Faults(clock=FakeClock(), seed=5), knobs, 300)
    b = _statuses(Faults(clock=FakeClock(), seed=5), knobs, 300)
    c = _statuses(Faults(clock=FakeClock(), seed=6), knobs, 300)
    assert a == b
    assert a != c
    assert set(a) == {200, 429, 502}
    assert 40 < a.count(429) < 140
    assert 20 < a.count(502) < 100


def test_all_or_nothing_rates() -> None:
    faults = Faults(clock=FakeClock(), seed=1)
    assert set(_statuses(faults, Settings(error_429_rate=1.0), 20)) == {429}
    assert set(_statuses(faults, Settings(error_5xx_rate=1.0), 20)) == {503}
    assert set(_statuses(faults, Settings(), 20)) == {200}


@pytest.mark.parametrize(
    ("scope", "hit"),
    [
        ("all", {"token", "read", "write"}),
        ("reads", {"read"}),
        ("writes", {"write"}),
    ],
)
def test_fault_scope(scope: str, hit: set[str]) -> None:
    knobs = Settings(error_5xx_rate=1.0, fault_scope=scope)  # type: ignore[arg-type]
    faults = Faults(clock=FakeClock(), seed=1)
    for kind in ("token", "read", "write"):
        expected = 503 if kind in hit else 200
        assert _statuses(faults, knobs, 3, kind) == [expected] * 3


def test_retry_after_values_and_http_dates() -> None:
    clock = FakeClock(start=1_700_000_000.0)
    knobs = Settings(error_429_rate=1.0, retry_after=["0", "120", "date+3"])
    faults = Faults(clock=clock, seed=2)
    seen = set()
    for _ in range(60):
        problem = faults.before_call(knobs, kind="read", merchant="DEMO")
        assert problem is not None
        value = problem.headers["Retry-After"]
        if value.isdigit():
            seen.add(value)
        else:
            assert parsedate_to_datetime(value).timestamp() == clock.now + 3
            seen.add("date")
    assert seen == {"0", "120", "date"}


def test_rate_limit_is_a_token_bucket_per_merchant() -> None:
    clock = FakeClock()
    faults = Faults(clock=clock, seed=1)
    knobs = Settings(rate_limit=5)
    results = [faults.before_call(knobs, kind="read", merchant="DEMO") for _ in range(7)]
    assert [r is None for r in results] == [True] * 5 + [False] * 2
    assert results[-1] is not None
    assert results[-1].status == 429
    assert results[-1].headers["Retry-After"] == "1"
    assert faults.before_call(knobs, kind="read", merchant="OTHER") is None
    assert faults.before_call(knobs, kind="token", merchant=None) is None
    clock.advance(0.2)
    assert faults.before_call(knobs, kind="read", merchant="DEMO") is None
    assert faults.before_call(knobs, kind="read", merchant="DEMO") is not None
    assert faults.counts["rate_limit"] == 3


def test_lost_responses_follow_the_rate() -> None:
    faults = Faults(clock=FakeClock(), seed=3)
    assert not any(faults.lose_response(Settings()) for _ in range(50))
    assert all(faults.lose_response(Settings(lost_response_rate=1.0)) for _ in range(50))
    some = [faults.lose_response(Settings(lost_response_rate=0.5)) for _ in range(400)]
    assert 120 < sum(some) < 280
