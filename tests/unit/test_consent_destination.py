"""Where a push goes, and when the segment code must be typed (one home for the rule)."""

from __future__ import annotations

import polars as pl
import pytest
from _kit.credentials import fake_credentials

from segwidgets._config import Credentials
from segwidgets._consent import push_consent
from segwidgets._destination import Destination, destination_of
from segwidgets._errors import ConfigurationError
from segwidgets._plan import SegmentPlan


def _creds(**kw: object) -> Credentials:
    return fake_credentials(**({"merchant_code": "ACME", "base_url": None} | kw))


@pytest.mark.parametrize(
    ("kw", "label"),
    [
        ({}, "PRODUCTION"),
        ({"env": "pg"}, "STAGING"),
        ({"env": "dev"}, "DEVELOPMENT"),
        ({"env": "sandbox", "base_url": "http://127.0.0.1:9/{service}"}, "SANDBOX"),
        ({"base_url": "http://127.0.0.1:9/{service}"}, "SANDBOX"),
    ],
)
def test_destination_names_the_environment(kw, label):
    dest = destination_of(_creds(**kw))
    assert dest.environment == label
    assert dest.is_production is (label == "PRODUCTION")
    assert "ACME" in str(dest)


def test_sandbox_credentials_say_sandbox(sandbox):
    assert sandbox.credentials.env == "sandbox"
    assert "env='sandbox'" in repr(sandbox.credentials)


def test_sandbox_env_needs_a_base_url():
    with pytest.raises(ConfigurationError, match="base_url"):
        _creds(env="sandbox")


def _plan(n_live: int, n_remove: int) -> SegmentPlan:
    ids = [f"id{i}" for i in range(n_live)]
    live = pl.Series("customer_id", ids, dtype=pl.String)
    removes = pl.DataFrame({"customer_id": ids[:n_remove]}, schema={"customer_id": pl.String})
    unchanged = pl.DataFrame({"customer_id": ids[n_remove:]}, schema={"customer_id": pl.String})
    adds = pl.DataFrame({"customer_id": []}, schema={"customer_id": pl.String})
    return SegmentPlan(
        merchant_code="ACME",
        segment_code="news",
        target="t",
        mode="mirror",
        scope="all",
        adds=adds,
        removes=removes,
        unchanged=unchanged,
        live_fingerprint="f",
        n_live=n_live,
        n_desired=n_live - n_remove,
        allow_mass_removal=True,
        source="test",
        live=live,
    )


def test_small_plan_in_the_sandbox_needs_no_code():
    consent = push_consent(_plan(10, 1), Destination("ACME", "SANDBOX"))
    assert not consent.required
    assert consent.accepts("")


def test_production_needs_the_code_for_every_push():
    consent = push_consent(_plan(10, 1), Destination("ACME", "PRODUCTION"))
    assert consent.required
    assert "PRODUCTION" in consent.reason
    assert not consent.accepts("")
    assert not consent.accepts("News")
    assert consent.accepts(" news ")


def test_mass_removal_needs_the_code_anywhere():
    consent = push_consent(_plan(10, 9), Destination("ACME", "SANDBOX"))
    assert consent.required
    assert "9 of 10" in consent.reason
    assert consent.accepts("news")
