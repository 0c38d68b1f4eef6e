"""Secrets never show; credentials refuse unsafe URLs; emails are masked."""

from __future__ import annotations

import pickle

import pytest
from _kit.credentials import CLIENT_SECRET, PASSWORD, USERNAME, fake_credentials

from segwidgets import ConfigurationError, Credentials, InsecureURLError, Secret
from segwidgets._privacy import mask_email, mask_emails_in


def test_secret_never_shows() -> None:
    s = Secret("hunter2-canary")
    for text in (repr(s), str(s), f"{s}", f"{s!r}", "%s" % s):  # noqa: UP031
        assert "hunter2" not in text
    assert s.get_secret_value() == "hunter2-canary"
    with pytest.raises(TypeError):
        pickle.dumps(s)


def creds(**kw: object) -> Credentials:
    return fake_credentials(**({"merchant_code": "M", "base_url": None} | kw))


def test_credentials_repr_masks_secrets_and_username() -> None:
    text = repr(creds())
    assert CLIENT_SECRET not in text
    assert PASSWORD not in text
    assert USERNAME not in text


@pytest.mark.parametrize(
    ("env", "url"),
    [
        ("production", "https://segmentation.shopgate.io/v1/merchants/M"),
        ("pg", "https://segmentation.shopgatepg.io/v1/merchants/M"),
        ("dev", "https://segmentation.shopgatedev.io/v1/merchants/M"),
    ],
)
def test_service_urls(env: str, url: str) -> None:
    c = creds(env=env)
    assert c.service_url("segmentation") == url
    assert (
        c.token_url
        == url.split("/v1", maxsplit=1)[0].replace("segmentation", "auth") + "/oauth/token"
    )


@pytest.mark.parametrize(
    "url",
    ["http://example.com/{service}", "http://10.0.0.5/{service}", "ftp://127.0.0.1/{service}"],
)
def test_insecure_urls_refused(url: str) -> None:
    with pytest.raises(InsecureURLError):
        creds(base_url=url)


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8765/{service}", "http://localhost/{service}", "http://[::1]:9/{service}"],
)
def test_loopback_http_allowed(url: str) -> None:
    assert creds(base_url=url).is_sandbox


def test_missing_values_named() -> None:
    with pytest.raises(ConfigurationError, match="client_secret"):
        creds(client_secret="")
    with pytest.raises(ConfigurationError, match="SHOPGATE_PASSWORD"):
        Credentials.from_env(
            {
                "SHOPGATE_MERCHANT_CODE": "M",
                "SHOPGATE_CLIENT_ID": "c",
                "SHOPGATE_CLIENT_SECRET": "s",
                "SHOPGATE_USERNAME": "u",
            }
        )
    with pytest.raises(ConfigurationError, match="Unknown environment"):
        creds(env="staging")


def test_mask_email() -> None:
    assert mask_email("jane.doe@example.com") == "j***@e***.com"
    assert "jane" not in mask_emails_in(
        "GET /customers?filters=jane.doe%40x.com jane.doe@example.com"
    )
