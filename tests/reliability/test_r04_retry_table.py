"""R4: the retry decision table, asserted in full; R5 (client part): an outage ends in the budget.

The expected table is written out here from the rules, independently of ``segwidgets._retry``,
and checked twice: against ``decide()`` and end to end through ``ShopgateClient`` with an
injected transport (attempts counted on the wire, nothing sleeps for real).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from _kit.credentials import fake_credentials

from segwidgets._client import ShopgateClient
from segwidgets._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    UnprocessableEntityError,
)
from segwidgets._retry import RetryPolicy, decide

MAX_ATTEMPTS = RetryPolicy().max_attempts
METHODS = ["GET", "POST", "DELETE"]
STATUSES = range(100, 600)

# Written from the rules, not from the code under test.
NAMED_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}

NOT_SENT = [httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout]
ANSWER_LOST = [
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.CloseError,
    httpx.RemoteProtocolError,
]
NEVER_RETRIED = [
    httpx.LocalProtocolError,
    httpx.UnsupportedProtocol,
    httpx.ProxyError,
    httpx.DecodingError,
    httpx.TooManyRedirects,
]


def expected_first_action(method: str, status: int) -> str:
    """What follows a first attempt answered with ``status``."""
    if 200 <= status <= 299:
        return "return"
    if status == 401:
        return "reauth"
    if status in (429, 502, 503, 504):
        return "retry"
    if 500 <= status <= 599:
        return "retry" if method == "GET" else "raise"
    return "raise"


def expected_outcome(status: int) -> str | None:
    """What a call that ends with ``status`` means: refused (not acted on), lost (it may
    have been), rejected (Shopgate decided against it)."""
    if 200 <= status <= 299:
        return None
    if status in (429, 502, 503, 504):
        return "refused"
    if 500 <= status <= 599:
        return "lost"
    return "rejected"


def expected_transport_outcome(error: type[Exception]) -> str:
    return "refused" if error in NOT_SENT else "lost"


def expected_attempts(method: str, status: int) -> int:
    """Requests on the wire for one call that always gets ``status``."""
    action = expected_first_action(method, status)
    if action == "retry":
        return MAX_ATTEMPTS
    if action == "reauth":
        return 2  # the request, one fresh sign-in, one replay
    return 1


def expected_error(status: int) -> type[Exception] | None:
    if 200 <= status <= 299:
        return None
    if status >= 500:
        return ServerError
    return NAMED_CLASSES.get(status, APIStatusError)


def expected_transport_attempts(method: str, error: type[Exception]) -> int:
    if error in NOT_SENT:
        return MAX_ATTEMPTS
    if error in ANSWER_LOST:
        return MAX_ATTEMPTS if method == "GET" else 1
    return 1


# -- the pure decision ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS, ids=[f"R4-{m}" for m in METHODS])
def test_r4_decide_every_status(method: str) -> None:
    policy = RetryPolicy()
    wrong = []
    for status in STATUSES:
        first = decide(method, status, 1, policy=policy).action
        if first != expected_first_action(method, status):
            wrong.append((status, "first", first))
        last = decide(method, status, MAX_ATTEMPTS, policy=policy).action
        expected_last = {"retry": "raise"}.get(expected_first_action(method, status))
        expected_last = expected_last or expected_first_action(method, status)
        if last != expected_last:
            wrong.append((status, "last", last))
        after_reauth = decide(method, status, 2, policy=policy, reauthenticated=True).action
        if status == 401 and after_reauth != "raise":
            wrong.append((status, "after reauth", after_reauth))
        outcome = decide(method, status, MAX_ATTEMPTS, policy=policy).outcome
        if outcome != expected_outcome(status):
            wrong.append((status, "outcome", outcome))
    assert wrong == []


@pytest.mark.parametrize("method", METHODS, ids=[f"R4-{m}" for m in METHODS])
def test_r4_decide_every_transport_error(method: str) -> None:
    policy = RetryPolicy()
    wrong = []
    for error in NOT_SENT + ANSWER_LOST + NEVER_RETRIED:
        exc = error("boom")
        retried = expected_transport_attempts(method, error) > 1
        first = decide(method, exc, 1, policy=policy)
        if first.action != ("retry" if retried else "raise"):
            wrong.append((error.__name__, first.action))
        if decide(method, exc, MAX_ATTEMPTS, policy=policy).action != "raise":
            wrong.append((error.__name__, "not bounded"))
        # A write whose outcome is lost (the answer lost, or an error nobody sorted) may
        # have been applied.
        if (error not in NOT_SENT and method != "GET") != first.may_have_applied:
            wrong.append((error.__name__, "may_have_applied", first.may_have_applied))
        if first.outcome != expected_transport_outcome(error):
            wrong.append((error.__name__, "outcome", first.outcome))
    # Anything that is not an httpx error is never retried.
    if decide(method, ValueError("bug"), 1, policy=policy).action != "raise":
        wrong.append(("ValueError", "retried"))
    assert wrong == []


# -- end to end through the client ------------------------------------------------------------------


class Wire:
    """Counts what reaches the server; the token endpoint always grants."""

    def __init__(self, answer: Callable[[httpx.Request], httpx.Response]) -> None:
        self.answer = answer
        self.api = 0
        self.tokens = 0
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            with self.lock:
                self.tokens += 1
            return httpx.Response(200, json={"access_token": f"t{self.tokens}", "expires_in": 3600})
        with self.lock:
            self.api += 1
        return self.answer(request)


def run(method: str, client: ShopgateClient) -> None:
    if method == "GET":
        client.get_segment("vip")
    elif method == "POST":
        client.add_members("vip", ["1"])
    else:
        client.remove_members("vip", ["1"])


def client_for(wire: Wire, sleeps: list[float], **kwargs: Any) -> ShopgateClient:
    return ShopgateClient(
        fake_credentials(merchant_code="M1"),
        transport=httpx.MockTransport(wire),
        sleep=sleeps.append,
        rng=random.Random(4),
        **kwargs,
    )


@pytest.mark.parametrize("method", METHODS, ids=[f"R4-{m}" for m in METHODS])
def test_r4_client_every_status(method: str) -> None:
    wrong = []
    for status in STATUSES:
        wire = Wire(lambda _r, s=status: httpx.Response(s, json={"segment": {}}))
        sleeps: list[float] = []
        raised: Exception | None = None
        with client_for(wire, sleeps) as client:
            try:
                run(method, client)
            except APIStatusError as exc:
                raised = exc
        attempts = expected_attempts(method, status)
        got = (wire.api, wire.tokens, type(raised) if raised else None, len(sleeps))
        want = (
            attempts,
            2 if status == 401 else 1,
            expected_error(status),
            attempts - 1,
        )
        if got != want:
            wrong.append((status, got, want))
        if raised is not None and not (
            isinstance(raised, APIStatusError) and raised.status_code == status
        ):
            wrong.append((status, "status_code", getattr(raised, "status_code", None)))
        if raised is not None:
            outcome = getattr(raised, "outcome", None)
            lost_write = outcome == "lost" and method != "GET"
            if (outcome, getattr(raised, "may_have_applied", None)) != (
                expected_outcome(status),
                lost_write,
            ):
                wrong.append((status, "outcome", outcome))
    assert wrong == []


@pytest.mark.parametrize("method", METHODS, ids=[f"R4-{m}" for m in METHODS])
@pytest.mark.parametrize(
    "error",
    NOT_SENT + ANSWER_LOST + NEVER_RETRIED,
    ids=[e.__name__ for e in NOT_SENT + ANSWER_LOST + NEVER_RETRIED],
)
def test_r4_client_every_transport_error(method: str, error: type[httpx.HTTPError]) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if issubclass(error, httpx.RequestError):
            raise error("boom", request=request)
        raise error("boom")

    wire = Wire(answer)
    sleeps: list[float] = []
    client = client_for(wire, sleeps)
    expected_cls = (
        APITimeoutError if issubclass(error, httpx.TimeoutException) else APIConnectionError
    )
    with pytest.raises(expected_cls) as info:
        run(method, client)
    assert type(info.value) is expected_cls
    assert isinstance(info.value.__cause__, error)
    assert wire.api == expected_transport_attempts(method, error)
    assert len(sleeps) == wire.api - 1
    if error not in NOT_SENT and method != "GET":
        assert "may or may not have applied" in str(info.value)
    assert info.value.outcome == expected_transport_outcome(error)
    assert info.value.may_have_applied == (
        expected_transport_outcome(error) == "lost" and method != "GET"
    )


@pytest.mark.parametrize("method", METHODS, ids=[f"R4-{m}" for m in METHODS])
def test_r4_401_one_reauth_one_replay_then_success(method: str) -> None:
    answers = iter([httpx.Response(401), httpx.Response(200, json={"segment": {}})])
    wire = Wire(lambda _r: next(answers))
    client = client_for(wire, [])
    run(method, client)
    assert (wire.api, wire.tokens) == (2, 2)
    assert client.stats.n_reauths == 1


@pytest.mark.parametrize("method", METHODS, ids=[f"R4-{m}" for m in METHODS])
def test_r4_401_reauth_only_once_per_request_even_across_retries(method: str) -> None:
    answers = iter([httpx.Response(401), httpx.Response(503), httpx.Response(401)])
    wire = Wire(lambda _r: next(answers))
    client = client_for(wire, [])
    with pytest.raises(AuthenticationError):
        run(method, client)
    assert (wire.api, wire.tokens) == (3, 2)


@pytest.mark.parametrize("method", METHODS, ids=[f"R4-{m}" for m in METHODS])
def test_r4_each_request_gets_its_own_reauth(method: str) -> None:
    answers = iter([httpx.Response(401), httpx.Response(200, json={"segment": {}})] * 3)
    wire = Wire(lambda _r: next(answers))
    client = client_for(wire, [])
    for _ in range(3):
        run(method, client)
    assert (wire.api, wire.tokens) == (6, 4)


@pytest.mark.parametrize("status", [400, 403, 404, 409, 413, 422], ids=lambda s: f"R4-{s}")
def test_r4_4xx_never_retried_on_any_method(status: int) -> None:
    for method in METHODS:
        wire = Wire(lambda _r, s=status: httpx.Response(s, json={"message": "no"}))
        with pytest.raises(NAMED_CLASSES[status]):
            run(method, client_for(wire, []))
        assert wire.api == 1


def test_r4_attempts_follow_the_policy() -> None:
    wire = Wire(lambda _r: httpx.Response(503))
    sleeps: list[float] = []
    client = client_for(wire, sleeps, retry=RetryPolicy(max_attempts=3))
    with pytest.raises(ServerError):
        client.get_segment("vip")
    assert wire.api == 3
    assert len(sleeps) == 2


# -- R5, client part: an outage ---------------------------------------------------------------------


class FakeTime:
    """A clock that only moves when the client sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []
        self.lock = threading.Lock()

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.slept.append(seconds)
            self.now += seconds


def test_r5_outage_stops_within_the_budget() -> None:
    policy = RetryPolicy(budget_capacity=20)
    wire = Wire(lambda _r: httpx.Response(503, json={"message": "down"}))
    fake = FakeTime()
    client = ShopgateClient(
        fake_credentials(merchant_code="M1"),
        transport=httpx.MockTransport(wire),
        retry=policy,
        sleep=fake.sleep,
        clock=fake.clock,
        rng=random.Random(5),
    )
    errors = []
    for _ in range(30):
        with pytest.raises(ServerError) as info:
            client.get_segment("vip")
        errors.append(info.value)
    # 20 retries in the whole client, then every call fails after its first attempt.
    assert wire.api == 30 + 20
    assert client.stats.n_retries == 20
    assert len(fake.slept) == 20
    assert all(0 <= s <= policy.backoff_max for s in fake.slept)
    assert "retry budget" in str(errors[-1])
    assert all(e.status_code == 503 for e in errors)


def test_r5_outage_with_threads_is_bounded_by_the_budget() -> None:
    policy = RetryPolicy(budget_capacity=25)
    wire = Wire(lambda _r: httpx.Response(503))
    fake = FakeTime()
    client = ShopgateClient(
        fake_credentials(merchant_code="M1"),
        transport=httpx.MockTransport(wire),
        retry=policy,
        sleep=fake.sleep,
        clock=fake.clock,
        rng=random.Random(6),
    )
    outcomes: list[type[Exception]] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            try:
                client.add_members("vip", ["1"])
            except Exception as exc:  # noqa: BLE001 - the type is what is asserted
                with lock:
                    outcomes.append(type(exc))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == [ServerError] * 80
    assert wire.api == 80 + 25
    assert wire.tokens == 1


def test_r5_budget_refills_after_the_outage() -> None:
    policy = RetryPolicy(budget_capacity=5, budget_refill_per_success=0.5)
    down = [True]
    wire = Wire(
        lambda _r: httpx.Response(503) if down[0] else httpx.Response(200, json={"segment": {}})
    )
    client = client_for(wire, [], retry=policy)
    for _ in range(3):
        with pytest.raises(ServerError):
            client.get_segment("vip")
    assert client.retry_budget.remaining == 0
    down[0] = False
    for _ in range(4):
        client.get_segment("vip")
    assert client.retry_budget.remaining == 2
