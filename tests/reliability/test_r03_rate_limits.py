"""R3, client part: rate limits and errors at random, every wait within its bounds.

A seeded transport answers 30 % of calls 429 with a Retry-After of 0, 1, 3 s, an HTTP date
or 120 s, 10 % 503 without one, and the rest 2xx. A fake sleep records each wait next to the
answer that caused it; nothing sleeps for real.
"""

from __future__ import annotations

import email.utils
import random
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from _kit.credentials import fake_client, fake_credentials, grant_tokens

from segwidgets._client import ShopgateClient
from segwidgets._errors import RateLimitError, ServerError
from segwidgets._retry import RetryPolicy

POLICY = RetryPolicy()
DATE_SECONDS = 10.0


@dataclass
class Fault:
    status: int
    retry_after: str | None  # the header as sent
    floor: float | None  # the least the client must wait (None: no Retry-After)
    asked: float | None  # what the header asked for at most
    attempt: int  # which attempt of its call got this answer


class FlakyServer:
    """Seeded faults; remembers the answer each wait follows (single-threaded use)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.last: Fault | None = None
        self.attempt = 0
        self.calls_attempts: list[int] = []
        self.kinds: set[str] = set()

    def new_call(self) -> None:
        if self.attempt:
            self.calls_attempts.append(self.attempt)
        self.attempt = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
        self.attempt += 1
        roll = self.rng.random()
        if roll < 0.30:
            kind = self.rng.choice(["0", "1", "3", "date", "120"])
            self.kinds.add(kind)
            if kind == "date":
                when = datetime.now(UTC) + timedelta(seconds=DATE_SECONDS)
                header = email.utils.format_datetime(when, usegmt=True)
                # Whole seconds on the wire and a little time passing: allow 2 s of slack.
                floor, asked = DATE_SECONDS - 2.0, DATE_SECONDS
            else:
                header = kind
                floor = asked = float(kind)
            self.last = Fault(429, header, floor, asked, self.attempt)
            return httpx.Response(429, headers={"Retry-After": header})
        if roll < 0.40:
            self.kinds.add("503")
            self.last = Fault(503, None, None, None, self.attempt)
            return httpx.Response(503)
        self.last = None
        if request.method == "GET":
            return httpx.Response(200, json={"segment": {"code": "vip"}})
        return httpx.Response(201)


class RecordingSleep:
    def __init__(self, server: FlakyServer) -> None:
        self.server = server
        self.checked = 0
        self.problems: list[tuple[Fault, float]] = []

    def __call__(self, seconds: float) -> None:
        fault = self.server.last
        assert fault is not None, "slept without a failed answer before"
        self.checked += 1
        cap = POLICY.retry_after_max
        if fault.floor is not None and fault.asked is not None:
            # At least min(Retry-After, cap), at most the cap; jitter adds at most backoff_initial.
            ceiling = min(min(fault.asked, cap) + POLICY.backoff_initial, cap)
            ok = min(fault.floor, cap) <= seconds <= ceiling
        else:
            ceiling = min(POLICY.backoff_max, POLICY.backoff_initial * 2 ** (fault.attempt - 1))
            ok = 0.0 <= seconds <= ceiling
        if not ok:
            self.problems.append((fault, seconds))


@pytest.mark.parametrize("seed", [1, 2, 3], ids=lambda s: f"R3-seed{s}")
def test_r3_every_wait_within_bounds_and_attempts_bounded(seed: int) -> None:
    server = FlakyServer(seed)
    sleep = RecordingSleep(server)
    client = ShopgateClient(
        fake_credentials(merchant_code="M1"),
        transport=httpx.MockTransport(server),
        sleep=sleep,
        rng=random.Random(seed),
    )
    succeeded = 0
    failures: list[tuple[int, int]] = []
    for n in range(300):
        server.new_call()
        try:
            if n % 3 == 0:
                client.get_segment("vip")
            elif n % 3 == 1:
                client.add_members("vip", [str(n)])
            else:
                client.remove_members("vip", [str(n)])
        except (RateLimitError, ServerError) as exc:
            failures.append((exc.status_code, server.attempt))
        else:
            succeeded += 1
    server.new_call()
    assert sleep.problems == []
    assert sleep.checked > 50
    assert server.kinds == {"0", "1", "3", "date", "120", "503"}
    assert max(server.calls_attempts) <= POLICY.max_attempts
    assert all(status in (429, 503) for status, _ in failures)
    assert all(attempts == POLICY.max_attempts for _, attempts in failures)
    assert succeeded + len(failures) == 300
    assert succeeded >= 290  # six failures in a row at 40 % are rare
    assert client.stats.n_requests == sum(server.calls_attempts)


def test_r3_retry_after_above_the_cap_waits_the_cap() -> None:
    sleeps: list[float] = []
    answers = iter([httpx.Response(429, headers={"Retry-After": "120"}), httpx.Response(201)])

    def handler(request: httpx.Request) -> httpx.Response:
        return next(answers)

    client = fake_client(grant_tokens(handler), sleep=sleeps.append)
    client.add_members("vip", ["1"])
    assert sleeps == [POLICY.retry_after_max]


def test_r3_server_paced_rate_limits_do_not_drain_the_budget() -> None:
    """429 with Retry-After is paced by the server: bounded per request, not by the budget."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "1"})

    policy = RetryPolicy(budget_capacity=3)
    client = fake_client(grant_tokens(handler), retry=policy)
    for _ in range(4):
        with pytest.raises(RateLimitError):
            client.get_segment("vip")
    assert client.stats.n_requests == 4 * policy.max_attempts
    assert client.retry_budget.remaining == 3


def test_r3_rate_limits_without_retry_after_spend_the_budget() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429)

    policy = RetryPolicy(budget_capacity=3)
    client = fake_client(grant_tokens(handler), retry=policy)
    for _ in range(4):
        with pytest.raises(RateLimitError):
            client.get_segment("vip")
    assert client.stats.n_requests == 4 + 3


def test_r3_concurrent_threads_attempts_bounded() -> None:
    lock = threading.Lock()
    rng = random.Random(11)
    waits: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "t"})
        with lock:
            roll = rng.random()
        if roll < 0.3:
            return httpx.Response(429, headers={"Retry-After": "3"})
        if roll < 0.4:
            return httpx.Response(503)
        return httpx.Response(201)

    def sleep(seconds: float) -> None:
        with lock:
            waits.append(seconds)

    client = ShopgateClient(
        fake_credentials(merchant_code="M1"),
        transport=httpx.MockTransport(handler),
        sleep=sleep,
        rng=random.Random(12),
    )
    failures: list[Exception] = []

    def worker(n: int) -> None:
        for k in range(40):
            try:
                client.add_members("vip", [f"{n}-{k}"])
            except (RateLimitError, ServerError) as exc:
                with lock:
                    failures.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert client.stats.n_requests <= 320 * POLICY.max_attempts
    assert client.stats.n_requests == 320 + client.stats.n_retries
    # each wait is a retry's, or another thread's wait for the pause a 429 started
    assert len(waits) == client.stats.n_retries + client.stats.n_paused
    assert all(0.0 <= w <= POLICY.retry_after_max for w in waits)
    assert len(failures) <= 3


# -- end to end: a whole sync against the sandbox ---------------------------------------------------


@pytest.mark.parametrize("seed", [5, 6], ids=lambda s: f"R3-sync-seed{s}")
def test_r3_sync_converges_under_429_and_503(big_sandbox, tmp_path, seed: int) -> None:
    """30 % 429 (Retry-After 0, 1, 3 s, an HTTP date, 120 s) and 10 % 503 on every call."""
    from reliability_kit import FakeTime, Wire, make_segment, registered_ids, session_for

    from segwidgets._retry import parse_retry_after

    pool = registered_ids(big_sandbox.model, 500)
    make_segment(big_sandbox.model, "r3", pool[:200])
    desired = pool[100:]
    wire = Wire()
    fake = FakeTime()
    problems: list[tuple[int | None, str | None, int, float]] = []
    longest = [0]

    def note(last) -> int:
        """Which attempt of its request ``last`` was: the failed sends of the same call just
        before it on the same thread, plus one."""
        key = (last.method, last.path, tuple(last.ids))
        mine = [e for e in wire.snapshot() if e.thread == last.thread and e.number <= last.number]
        n = 0
        for exchange in reversed(mine):
            if (exchange.method, exchange.path, tuple(exchange.ids)) != key or exchange.ok:
                break
            n += 1
        longest[0] = max(longest[0], n)
        return n

    def check_wait() -> None:
        seconds = fake.slept[-1]
        last = wire.last_here()
        assert last is not None
        attempt = note(last)
        cap = POLICY.retry_after_max
        if last.status == 429 and last.retry_after is not None:
            asked = parse_retry_after(last.retry_after)
            assert asked is not None
            slack = 2.0 if not last.retry_after.isdigit() else 0.0  # a date has whole seconds
            ok = (
                min(asked, cap) - slack
                <= seconds
                <= min(asked + slack + POLICY.backoff_initial, cap)
            )
        elif last.status == 503:
            ok = (
                0.0
                <= seconds
                <= min(POLICY.backoff_max, POLICY.backoff_initial * 2 ** (attempt - 1))
            )
        else:
            ok = False
        if not ok:
            problems.append((last.status, last.retry_after, attempt, seconds))

    fake.on_sleep = check_wait
    big_sandbox.configure(
        delete_delay=0.0,
        error_429_rate=0.3,
        error_5xx_rate=0.1,
        error_5xx_status=503,
        retry_after=["0", "1", "3", "date+5", "120"],
        fault_seed=seed,
    )
    with session_for(
        big_sandbox.credentials,
        tmp_path / "j.sqlite3",
        wire=wire,
        time=fake,
        seed=seed,
        batch_size=25,
        concurrency=1,  # one request at a time: the seeded faults fall the same way every run
        page_size=100,
    ) as session:
        result = session.apply(session.plan("r3", desired, allow_mass_removal=True))
        assert result.status == "verified", result.message
        big_sandbox.configure(error_429_rate=0.0, error_5xx_rate=0.0)
        assert session.plan("r3", desired).is_empty()
    assert big_sandbox.member_ids("r3") == set(desired)
    assert problems == []
    faults = big_sandbox.state()["faults"]
    assert faults.get("429", 0) >= 10
    assert faults.get("5xx", 0) >= 3
    assert len(fake.slept) >= faults["429"] + faults["5xx"] - 1
    # every wait answered a 429 or a 503, and no request was tried more than the policy allows
    assert 1 < longest[0] <= POLICY.max_attempts


def test_r3_a_429_during_a_concurrent_read_pauses_every_thread() -> None:
    """Pages read 8 at a time; the page at offset 100 is refused once with Retry-After: 2.
    While the refused request waits (a fake sleep that returns once another thread has
    come to wait too, or after 3 s), the other threads wait for the same pause instead of
    sending; the read still takes one request per page plus the one refused. Nothing
    sleeps for real: the clock stands still and the waits are recorded."""
    from segwidgets._live import read_live

    n_members = 3_000
    ids = [f"m{i:06d}" for i in range(n_members)]
    lock = threading.Lock()
    sends: list[tuple[int, bool]] = []  # (offset, sent while the refused request waited)
    sleeps: list[tuple[int, float]] = []  # (thread, seconds)
    window = {"open": False}
    refused = threading.Event()
    other_waits = threading.Event()
    pause_over = threading.Event()

    def api(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
        offset = int(request.url.params.get("offset", "0"))
        with lock:
            sends.append((offset, window["open"]))
            first_refusal = offset == 100 and not refused.is_set()
            if first_refusal:
                refused.set()
        if first_refusal:
            return httpx.Response(429, headers={"Retry-After": "2"})
        page = [{"id": i, "type": "customer"} for i in ids[offset : offset + 100]]
        meta = {"limit": 100, "offset": offset, "totalItemCount": n_members}
        return httpx.Response(200, json={"members": page, "meta": meta})

    def sleep(seconds: float) -> None:
        with lock:
            owner = not sleeps
            sleeps.append((threading.get_ident(), seconds))
            if owner:
                window["open"] = True
        if owner:
            other_waits.wait(timeout=3)
            with lock:
                window["open"] = False
            pause_over.set()
        else:
            other_waits.set()
            pause_over.wait(timeout=3)

    client = ShopgateClient(
        fake_credentials(merchant_code="M1"),
        transport=httpx.MockTransport(api),
        sleep=sleep,
        clock=lambda: 1_000.0,
        rng=random.Random(0),
    )
    snapshot = read_live(client, "vip", concurrency=8)
    assert snapshot.n == n_members
    assert len(sends) == n_members // 100 + 1 + 1  # every page once, the refused one again
    # back off together: other threads waited for the same pause, as long as it had left
    owner_thread, owner_wait = sleeps[0]
    others = [(t, s) for t, s in sleeps[1:] if t != owner_thread]
    assert others, "no other thread waited for the pause"
    assert 2.0 <= owner_wait <= 2.0 + POLICY.backoff_initial
    assert all(s == pytest.approx(owner_wait) for _, s in others)
    # only requests already past the pause check when the 429 came (at most one per other
    # thread) went out while the refused one waited
    assert sum(during for _, during in sends) <= 7
    assert client.paused_for == 0.0
