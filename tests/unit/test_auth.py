"""The password grant and the token cache (no sockets)."""

from __future__ import annotations

import base64
import threading
import time
from urllib.parse import parse_qs

import httpx
import pytest
from _kit.credentials import fake_credentials

from segwidgets._auth import (
    Token,
    TokenCache,
    TokenGrant,
    oauth_error_code,
    read_token_grant,
    token_request,
)
from segwidgets._config import Credentials
from segwidgets._errors import AuthenticationError
from segwidgets._secrets import Secret

SECRET = "cs-canary-7f3a"
PASSWORD = "pw-canary-91bd"
TOKEN = "tok-canary-55e1"


def make_credentials() -> Credentials:
    return fake_credentials(
        client_secret=SECRET, password=PASSWORD, base_url="http://127.0.0.1:8765/{service}"
    )


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


def answered(content: bytes | str, status: int = 200) -> httpx.Response:
    request = httpx.Request("POST", "http://127.0.0.1:8765/auth/oauth/token")
    body = content.encode() if isinstance(content, str) else content
    return httpx.Response(status, content=body, request=request)


# -- the request ----------------------------------------------------------------------------------


def test_token_request_is_a_form_encoded_password_grant_with_basic_auth() -> None:
    request = token_request(make_credentials())
    assert request.method == "POST"
    assert str(request.url) == "http://127.0.0.1:8765/auth/oauth/token"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    scheme, _, encoded = request.headers["authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded).decode() == f"client-1:{SECRET}"
    form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
    assert form == {
        "grant_type": "password",
        "username": "api.user@example.com",
        "password": PASSWORD,
        "tenantType": "merchant",
        "tenantId": "M42",
    }


def test_token_request_repr_shows_no_secret() -> None:
    request = token_request(make_credentials())
    assert SECRET not in repr(request)
    assert SECRET not in repr(request.headers)
    assert base64.b64encode(f"client-1:{SECRET}".encode()).decode() not in repr(request.headers)


# -- the answer -----------------------------------------------------------------------------------


def test_read_token_grant() -> None:
    grant = read_token_grant(
        answered(f'{{"access_token": "{TOKEN}", "expires_in": 3600, "refresh_token": "r"}}')
    )
    assert grant.access_token.get_secret_value() == TOKEN
    assert grant.expires_in == 3600.0
    assert TOKEN not in repr(grant)


@pytest.mark.parametrize(
    ("expires_in", "expected"),
    [
        ("120", 120.0),
        ("2", 2.0),
        ("0", None),
        ("-5", None),
        ('"90"', 90.0),
        ('"soon"', None),
        ("null", None),
        ("true", None),
    ],
)
def test_read_token_grant_lifetime(expires_in: str, expected: float | None) -> None:
    grant = read_token_grant(answered(f'{{"access_token": "t", "expires_in": {expires_in}}}'))
    assert grant.expires_in == expected


def test_read_token_grant_without_lifetime() -> None:
    assert read_token_grant(answered('{"access_token": "t"}')).expires_in is None


@pytest.mark.parametrize(
    "content",
    ["", "not json", "[]", '{"token": "x"}', '{"access_token": ""}', '{"access_token": 5}'],
)
def test_read_token_grant_without_token_raises(content: str) -> None:
    with pytest.raises(AuthenticationError) as info:
        read_token_grant(answered(content))
    assert "/auth/oauth/token" in str(info.value)
    assert info.value.path == "/auth/oauth/token"


def test_oauth_error_code_only_returns_short_codes() -> None:
    assert oauth_error_code(answered('{"error": "invalid_grant"}', 400)) == "invalid_grant"
    assert oauth_error_code(answered(f'{{"error": "bad password {PASSWORD}"}}', 400)) is None
    assert oauth_error_code(answered("<html>nope</html>", 400)) is None
    assert oauth_error_code(answered('["invalid_grant"]', 400)) is None


# -- the cache ------------------------------------------------------------------------------------


class CountingFetch:
    def __init__(self, expires_in: float | None = 100.0, delay: float = 0.0) -> None:
        self.expires_in = expires_in
        self.delay = delay
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self) -> TokenGrant:
        with self._lock:
            self.calls += 1
            n = self.calls
        if self.delay:
            time.sleep(self.delay)
        return TokenGrant(access_token=Secret(f"token-{n}"), expires_in=self.expires_in)


def test_cache_fetches_once_and_reuses() -> None:
    fetch = CountingFetch()
    cache = TokenCache(fetch, clock=FakeClock())
    first = cache.current()
    assert first.serial == 1
    assert cache.current() is first
    assert fetch.calls == 1
    assert cache.peek() is first


def test_cache_refreshes_proactively_before_expiry() -> None:
    clock = FakeClock()
    fetch = CountingFetch(expires_in=100.0)
    cache = TokenCache(fetch, clock=clock, refresh_margin=60.0)
    cache.current()
    # Margin is at most a fifth of the lifetime: 20 s of 100 s, so refresh at 80 s.
    clock.advance(79.9)
    assert cache.current().serial == 1
    clock.advance(0.2)
    assert cache.current().serial == 2
    assert fetch.calls == 2


def test_cache_long_lifetime_uses_the_full_margin() -> None:
    clock = FakeClock()
    cache = TokenCache(CountingFetch(expires_in=3600.0), clock=clock, refresh_margin=60.0)
    token = cache.current()
    assert token.refresh_at == pytest.approx(clock() + 3540.0)


def test_cache_unknown_lifetime_refreshes_only_on_401() -> None:
    clock = FakeClock()
    fetch = CountingFetch(expires_in=None)
    cache = TokenCache(fetch, clock=clock)
    token = cache.current()
    clock.advance(1e9)
    assert cache.current() is token
    new, fetched = cache.refresh(stale=token)
    assert (new.serial, fetched) == (2, True)


def test_cache_refresh_reuses_a_token_another_thread_fetched() -> None:
    fetch = CountingFetch()
    cache = TokenCache(fetch, clock=FakeClock())
    old = cache.current()
    new, fetched = cache.refresh(stale=old)
    assert (new.serial, fetched) == (2, True)
    # A second request that also failed with the old token gets the new one, no fetch.
    assert cache.refresh(stale=old) == (new, False)
    assert fetch.calls == 2


def test_cache_hands_out_a_fresh_token_even_if_already_due() -> None:
    clock = FakeClock()
    fetch = CountingFetch(expires_in=0.001)
    cache = TokenCache(fetch, clock=clock)
    token = cache.current()
    assert token.serial == 1  # returned although due at once: one fetch per use, never a loop
    assert fetch.calls == 1


def test_cache_single_flight_across_threads() -> None:
    fetch = CountingFetch(delay=0.05)
    cache = TokenCache(fetch, clock=FakeClock())
    barrier = threading.Barrier(8)
    seen: list[Token] = []

    def worker() -> None:
        barrier.wait()
        seen.append(cache.current())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert fetch.calls == 1
    assert {t.serial for t in seen} == {1}


def test_cache_single_flight_refresh_after_401_across_threads() -> None:
    fetch = CountingFetch(delay=0.05)
    cache = TokenCache(fetch, clock=FakeClock())
    old = cache.current()
    barrier = threading.Barrier(8)
    seen: list[Token] = []
    fetches: list[bool] = []

    def worker() -> None:
        barrier.wait()
        token, fetched = cache.refresh(stale=old)
        seen.append(token)
        fetches.append(fetched)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert fetch.calls == 2
    assert {t.serial for t in seen} == {2}
    assert sorted(fetches) == [False] * 7 + [True]


def test_cache_fetch_failure_propagates_and_keeps_no_token() -> None:
    def failing() -> TokenGrant:
        raise AuthenticationError("refused", status_code=401)

    cache = TokenCache(failing, clock=FakeClock())
    with pytest.raises(AuthenticationError):
        cache.current()
    assert cache.peek() is None


def test_cache_clear_and_repr() -> None:
    cache = TokenCache(CountingFetch(), clock=FakeClock())
    token = cache.current()
    assert "token-1" not in repr(cache)
    assert "token-1" not in repr(token)
    cache.clear()
    assert cache.peek() is None
    assert cache.current().serial == 2
    assert cache.n_fetched == 2
