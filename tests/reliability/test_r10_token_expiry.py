"""R10: tokens expiring while 8 threads send requests; an auth loop is impossible.

Tokens live 2 s of a fake clock that advances 20 ms with every API request, so a run of 8 x 60
requests outlives several tokens. The server checks every bearer token against that clock.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from _kit.credentials import fake_credentials

from segwidgets._client import ShopgateClient
from segwidgets._errors import AuthenticationError

LIFETIME = 2.0
STEP = 0.02
THREADS = 8
CALLS_PER_THREAD = 60
MAX_LEAD = 3  # calls a thread may run ahead of the slowest unfinished one


class ExpiringServer:
    """Grants tokens that die ``LIFETIME`` seconds (fake clock) after they were issued.

    ``announce`` says whether ``expires_in`` is sent (proactive refresh possible) or not
    (the client learns of expiry only from a 401).
    """

    def __init__(self, *, announce: bool, always_401: bool = False) -> None:
        self.announce = announce
        self.always_401 = always_401
        self.now = 0.0
        self.lock = threading.Lock()
        self.issued: dict[str, float] = {}
        self.latest: str | None = None
        self.early_token_requests: list[float] = []  # token requests while the latest was fresh
        self.n_401 = 0
        self.n_api = 0

    def clock(self) -> float:
        with self.lock:
            return self.now

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            if request.url.path == "/oauth/token":
                if self.latest is not None:
                    age = self.now - self.issued[self.latest]
                    # A second sign-in for the same expiry would come while the latest is fresh.
                    if age < LIFETIME * 0.5:
                        self.early_token_requests.append(age)
                token = f"token-{len(self.issued) + 1}"
                self.issued[token] = self.now
                self.latest = token
                body: dict[str, Any] = {"access_token": token}
                body["expires_in"] = LIFETIME if self.announce else 3600
                return httpx.Response(200, json=body)
            self.n_api += 1
            self.now += STEP
            token = request.headers["authorization"].removeprefix("Bearer ")
            issued = self.issued.get(token)
            if self.always_401 or issued is None or self.now - issued > LIFETIME:
                self.n_401 += 1
                return httpx.Response(401, json={"message": "token expired"})
        if request.method == "GET":
            return httpx.Response(200, json={"segment": {"code": "vip"}})
        return httpx.Response(201)


def run_threads(
    client: ShopgateClient, calls_per_thread: int = CALLS_PER_THREAD
) -> list[BaseException | None]:
    """Run ``calls_per_thread`` calls on each of ``THREADS`` threads, in loose lockstep.

    The fake clock advances with every request of any thread, so a thread the OS leaves
    waiting while the others run would see even a token it just fetched expire. Real threads
    of one push progress at similar rates; the gate keeps that true here: a thread starts its
    k-th call only once every unfinished thread has finished ``k - MAX_LEAD`` calls. So at most
    ``(THREADS - 1) * (MAX_LEAD + 1)`` calls of other threads fall into one call of a thread,
    well under a token's lifetime.
    """
    progress = [0] * THREADS
    gate = threading.Condition()

    def laggard() -> int:
        unfinished = [done for done in progress if done < calls_per_thread]
        return min(unfinished, default=calls_per_thread)

    def worker(n: int) -> list[BaseException | None]:
        outcomes: list[BaseException | None] = []
        for k in range(calls_per_thread):
            with gate:
                if not gate.wait_for(lambda k=k: laggard() >= k - MAX_LEAD, timeout=30):
                    msg = f"thread {n} waited 30 s at call {k}: {progress}"
                    raise AssertionError(msg)
            try:
                if k % 2:
                    client.add_members("vip", [f"{n}-{k}"])
                else:
                    client.get_segment("vip")
            except Exception as exc:  # noqa: BLE001 - outcomes are asserted by the caller
                outcomes.append(exc)
            else:
                outcomes.append(None)
            with gate:
                progress[n] += 1
                gate.notify_all()
        return outcomes

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(worker, range(THREADS)))
    return [o for result in results for o in result]


def make_client(server: ExpiringServer) -> ShopgateClient:
    return ShopgateClient(
        fake_credentials(merchant_code="M1"),
        transport=httpx.MockTransport(server),
        clock=server.clock,
        sleep=lambda _s: None,
        max_connections=THREADS,
    )


@pytest.mark.parametrize("announce", [True, False], ids=["R10-proactive", "R10-on-401"])
def test_r10_each_expiry_costs_one_token_request(announce: bool) -> None:
    server = ExpiringServer(announce=announce)
    client = make_client(server)
    outcomes = run_threads(client)
    assert outcomes == [None] * (THREADS * CALLS_PER_THREAD)
    elapsed = server.now
    assert elapsed >= 4 * LIFETIME  # the run outlived several tokens
    # Never two sign-ins for one expiry (single flight across the 8 threads) ...
    assert server.early_token_requests == []
    # ... and so at most one token per (refresh interval) of the run, plus the first.
    interval = LIFETIME * 0.8 if announce else LIFETIME
    assert client.stats.n_token_requests <= math.ceil(elapsed / interval) + 1
    assert client.stats.n_token_requests == len(server.issued)
    if announce:
        # Refreshed before expiry: (almost) no request was refused.
        assert server.n_401 <= THREADS
    else:
        assert server.n_401 >= 1
        assert client.stats.n_reauths == server.n_401
    assert server.n_api == THREADS * CALLS_PER_THREAD + server.n_401


def test_r10_a_server_that_always_401s_cannot_cause_an_auth_loop() -> None:
    server = ExpiringServer(announce=True, always_401=True)
    client = make_client(server)
    outcomes = run_threads(client, calls_per_thread=15)
    n_calls = THREADS * 15
    assert len(outcomes) == n_calls
    assert all(isinstance(o, AuthenticationError) for o in outcomes)
    # Each request signs in at most once; before that it may take (once) a token another
    # thread just fetched. So two or three sends per request, never more.
    assert 2 * n_calls <= server.n_api <= 3 * n_calls
    assert server.n_api == n_calls + client.stats.n_reauths
    assert client.stats.n_token_requests <= 1 + n_calls


def test_r10_refused_credentials_stop_at_the_first_sign_in() -> None:
    calls = {"token": 0, "api": 0}
    lock = threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        with lock:
            key = "token" if request.url.path == "/oauth/token" else "api"
            calls[key] += 1
        return httpx.Response(401, json={"error": "invalid_client"})

    client = ShopgateClient(
        fake_credentials(merchant_code="M1"),
        transport=httpx.MockTransport(handler),
        sleep=lambda _s: None,
    )
    outcomes = run_threads(client, calls_per_thread=15)
    assert len(outcomes) == THREADS * 15
    assert all(isinstance(o, AuthenticationError) for o in outcomes)
    assert calls["api"] == 0
    assert calls["token"] == THREADS * 15  # one refused sign-in per call, no loop


def test_r10_eight_simultaneous_401s_cost_one_sign_in() -> None:
    """All 8 threads hold the same expired token and get their 401 at the same moment."""
    barrier = threading.Barrier(THREADS, timeout=10)
    lock = threading.Lock()
    counts = {"token": 0, "api": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        with lock:
            if request.url.path == "/oauth/token":
                counts["token"] += 1
                return httpx.Response(200, json={"access_token": f"token-{counts['token']}"})
            counts["api"] += 1
        if request.headers["authorization"] == "Bearer token-1":
            barrier.wait()  # every thread is in flight with the expired token
            return httpx.Response(401, json={"message": "token expired"})
        return httpx.Response(200, json={"segment": {"code": "vip"}})

    client = ShopgateClient(
        fake_credentials(merchant_code="M1"),
        transport=httpx.MockTransport(handler),
        max_connections=THREADS,
    )
    client._tokens.current()  # signed in before the threads start: token-1
    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(lambda _n: client.get_segment("vip"), range(THREADS)))
    assert results == [{"code": "vip"}] * THREADS
    assert counts == {"token": 2, "api": 2 * THREADS}
    assert client.stats.n_reauths == THREADS
    assert client.stats.n_token_requests == 2


# -- a whole sync against the sandbox, tokens living 2 s of a fake clock ----------------------------


def test_r10_sync_longer_than_a_token_lives_8_in_flight(tmp_path) -> None:
    """Each request takes 100 ms of the sandbox's (fake) clock; the sync takes several token
    lifetimes with 8 batches in flight. It completes, one sign-in per expiry at most."""
    from reliability_kit import (
        Exchange,
        FakeTime,
        Wire,
        clocked_sandbox,
        make_segment,
        registered_ids,
        session_for,
    )

    fake = FakeTime()
    in_flight = {"now": 0, "max": 0}
    lock = threading.Lock()

    def before(exchange: Exchange, request: httpx.Request) -> None:
        fake.advance(0.1)
        with lock:
            in_flight["now"] += 1
            in_flight["max"] = max(in_flight["max"], in_flight["now"])

    def after(exchange: Exchange, request: httpx.Request, response: httpx.Response) -> None:
        with lock:
            in_flight["now"] -= 1

    with clocked_sandbox(fake, customers=1200, token_ttl=LIFETIME, latency=0.01) as handle:
        pool = registered_ids(handle.model, 800)
        make_segment(handle.model, "r10", pool[:200])
        wire = Wire(before=before, after=after)
        with session_for(
            handle.credentials,
            tmp_path / "j.sqlite3",
            wire=wire,
            time=fake,
            batch_size=8,
            concurrency=THREADS,
        ) as session:
            start = fake.now()
            result = session.apply(session.plan("r10", pool[100:], allow_mass_removal=True))
            elapsed = fake.now() - start
            stats = session.client.stats.snapshot()
        assert result.status == "verified", result.message
        assert handle.member_ids("r10") == set(pool[100:])
        issued = handle.state()["tokens"]["issued"]
    assert elapsed >= 3 * LIFETIME  # the sync outlived several tokens
    assert in_flight["max"] == THREADS
    assert stats["n_token_requests"] == issued
    # one token per refresh interval (80 % of its life), plus the first; never a storm
    assert 3 <= issued <= math.ceil(elapsed / (LIFETIME * 0.8)) + 2
    n_401 = sum(1 for e in wire.snapshot() if e.status == 401)
    assert stats["n_reauths"] == n_401 <= 2 * THREADS * issued
