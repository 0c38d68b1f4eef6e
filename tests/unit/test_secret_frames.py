"""No secret in any frame: errors inside the entry points, formatted with every local shown.

Each entry point that takes credentials (``SegmentSession.connect``, ``.from_env``,
``.sandbox``, ``Credentials.from_env``, the Connect panel) is made to fail (insecure URL,
unknown environment, unusable journal, unknown sandbox knob) with random canary secrets.
The exception is formatted twice, as a locals-capturing traceback
(``traceback.TracebackException(..., capture_locals=True)``) and by IPython's
``VerboseTB`` (what ``%xmode Verbose`` prints into a notebook): neither may hold a canary.

The canaries reach the entry points through a function call (``_canary("secret")``) in
the failing frame's own line, never through a local or an attribute that the formatters
would print themselves. A control case proves the formatters do print a raw local.
"""

from __future__ import annotations

import secrets
import traceback
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from IPython.core.ultratb import VerboseTB

from segwidgets import (
    APIConnectionError,
    ConfigurationError,
    Credentials,
    InsecureURLError,
    JournalError,
    SegmentSession,
)
from segwidgets.widgets import ConnectPanel

_CANARIES: dict[str, str] = {}


def _canary(name: str) -> str:
    return _CANARIES[name]


@pytest.fixture(autouse=True)
def canaries() -> dict[str, str]:
    _CANARIES.clear()
    _CANARIES.update(
        secret=f"csecret-{secrets.token_hex(12)}",
        password=f"cpassword-{secrets.token_hex(12)}",
    )
    return dict(_CANARIES)


def _fail(action: Callable[[], object]) -> BaseException:
    try:
        action()
    except Exception as exc:  # noqa: BLE001 - the exception is what the test inspects
        return exc
    pytest.fail("the entry point did not raise")


def _formatted(exc: BaseException) -> str:
    with_locals = "".join(
        traceback.TracebackException(
            type(exc), exc, exc.__traceback__, capture_locals=True
        ).format()
    )
    verbose = VerboseTB(theme_name="nocolor").text(type(exc), exc, exc.__traceback__)
    return f"{with_locals}\n{verbose}"


def _assert_no_canary(exc: BaseException) -> str:
    text = _formatted(exc)
    for name, value in _CANARIES.items():
        assert value not in text, f"the {name} canary shows in the traceback"
    return text


def test_control_a_raw_local_is_printed_by_both_formatters() -> None:
    def leaky() -> None:
        raw = _canary("secret")
        raise ValueError(len(raw))

    exc = _fail(leaky)
    with_locals = "".join(
        traceback.TracebackException(
            type(exc), exc, exc.__traceback__, capture_locals=True
        ).format()
    )
    verbose = VerboseTB(theme_name="nocolor").text(type(exc), exc, exc.__traceback__)
    assert _canary("secret") in with_locals
    assert _canary("secret") in verbose


def _connect(**overrides: object) -> SegmentSession:
    options: dict[str, object] = {
        "merchant_code": "M",
        "client_id": "cid",
        "username": "u@example.com",
        "base_url": "http://127.0.0.1:9/{service}",
    } | overrides
    return SegmentSession.connect(
        client_secret=_canary("secret"), password=_canary("password"), **options
    )  # type: ignore[arg-type]


def test_connect_insecure_url() -> None:
    exc = _fail(lambda: _connect(base_url="http://example.com/{service}"))
    assert isinstance(exc, InsecureURLError)
    text = _assert_no_canary(exc)
    assert "Secret('**********')" in text  # the frames do show the wrapped secrets


def test_connect_unknown_environment() -> None:
    exc = _fail(lambda: _connect(env="staging", base_url=None))
    assert isinstance(exc, ConfigurationError)
    _assert_no_canary(exc)


def test_connect_unusable_journal(tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite3"
    journal.write_bytes(b"this is not a database " * 100)
    exc = _fail(lambda: _connect(journal=journal))
    assert isinstance(exc, JournalError)
    _assert_no_canary(exc)


def test_credentials_direct_with_raw_strings() -> None:
    exc = _fail(
        lambda: Credentials(
            merchant_code="M",
            client_id="c",
            client_secret=_canary("secret"),
            username="u",
            password=_canary("password"),
            base_url="http://10.1.2.3/{service}",
        )
    )
    assert isinstance(exc, InsecureURLError)
    _assert_no_canary(exc)


@pytest.fixture
def canary_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "SHOPGATE_MERCHANT_CODE": "M",
        "SHOPGATE_CLIENT_ID": "cid",
        "SHOPGATE_CLIENT_SECRET": _canary("secret"),
        "SHOPGATE_USERNAME": "u@example.com",
        "SHOPGATE_PASSWORD": _canary("password"),
        "SHOPGATE_BASE_URL": "http://127.0.0.1:9/{service}",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SHOPGATE_ENV", raising=False)


@pytest.mark.usefixtures("canary_env")
def test_from_env_insecure_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPGATE_BASE_URL", "http://example.com/{service}")
    exc = _fail(SegmentSession.from_env)
    assert isinstance(exc, InsecureURLError)
    _assert_no_canary(exc)


@pytest.mark.usefixtures("canary_env")
def test_from_env_unknown_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPGATE_ENV", "staging")
    monkeypatch.delenv("SHOPGATE_BASE_URL")
    exc = _fail(SegmentSession.from_env)
    assert isinstance(exc, ConfigurationError)
    _assert_no_canary(exc)


@pytest.mark.usefixtures("canary_env")
def test_from_env_unusable_journal(tmp_path: Path) -> None:
    exc = _fail(lambda: SegmentSession.from_env(journal=tmp_path))  # a directory
    assert isinstance(exc, JournalError)
    _assert_no_canary(exc)


def test_credentials_from_an_explicit_mapping() -> None:
    exc = _fail(
        lambda: Credentials.from_env(
            {
                "SHOPGATE_MERCHANT_CODE": "M",
                "SHOPGATE_CLIENT_ID": "c",
                "SHOPGATE_CLIENT_SECRET": _canary("secret"),
                "SHOPGATE_USERNAME": "u",
                "SHOPGATE_PASSWORD": _canary("password"),
                "SHOPGATE_ENV": "nowhere",
            }
        )
    )
    assert isinstance(exc, ConfigurationError)
    _assert_no_canary(exc)


def test_sandbox_with_custom_secrets_and_a_bad_knob() -> None:
    exc = _fail(
        lambda: SegmentSession.sandbox(
            customers=5,
            client_secret=_canary("secret"),
            password=_canary("password"),
            no_such_knob=1,
        )
    )
    assert isinstance(exc, ConfigurationError)
    _assert_no_canary(exc)


def test_connect_panel_typed_secrets() -> None:
    panel = ConnectPanel(environ={})
    panel.target = "shopgate"
    panel.merchant_code.value = "M"
    panel.client_id.value = "cid"
    panel.username.value = "u@example.com"
    panel.base_url.value = "http://example.com/{service}"
    panel.client_secret.value = _canary("secret")
    panel.password.value = _canary("password")
    assert panel.connect() is None
    assert isinstance(panel.last_error, InsecureURLError)
    _assert_no_canary(panel.last_error)
    assert panel.client_secret.value == panel.password.value == ""
    panel.close()


def test_connect_panel_secrets_from_the_environment() -> None:
    panel = ConnectPanel(
        environ={
            "SHOPGATE_MERCHANT_CODE": "M",
            "SHOPGATE_CLIENT_ID": "cid",
            "SHOPGATE_CLIENT_SECRET": _canary("secret"),
            "SHOPGATE_USERNAME": "u@example.com",
            "SHOPGATE_PASSWORD": _canary("password"),
            "SHOPGATE_BASE_URL": "http://example.com/{service}",
        }
    )
    panel.target = "shopgate"
    assert panel.connect() is None
    assert isinstance(panel.last_error, InsecureURLError)
    _assert_no_canary(panel.last_error)
    assert _canary("secret") not in repr(vars(panel))
    panel.close()


def test_connect_panel_missing_fields() -> None:
    panel = ConnectPanel(environ={"SHOPGATE_PASSWORD": _canary("password")})
    panel.target = "shopgate"
    panel.client_secret.value = _canary("secret")
    assert panel.connect() is None
    assert isinstance(panel.last_error, ConfigurationError)
    _assert_no_canary(panel.last_error)
    panel.close()


def test_sign_in_that_cannot_connect() -> None:
    # The transport refuses every connection: the sign-in fails below httpx, with the token
    # request (form body, Basic header) on the stack.
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    session = _connect(transport=httpx.MockTransport(refuse), sleep=lambda _: None)
    try:
        exc = _fail(session.segments)
    finally:
        session.close()
    assert isinstance(exc, APIConnectionError)
    _assert_no_canary(exc)
