"""The knobs: defaults, validation, partial changes."""

from __future__ import annotations

import pytest

from segwidgets import ConfigurationError
from segwidgets.sandbox import Settings
from segwidgets.sandbox._settings import KNOB_NAMES

EXPECTED_DEFAULTS = {
    "max_page_size": 100,
    "page_limit_mode": "reject",
    "member_paging": "offset",
    "refused_items": "2xx-body",
    "email_filter": "exact",
    "filter_in": "id",
    "member_filter": "applied",
    "total_counts_pending": True,
    "delete_non_member": "noop",
    "max_members_per_request": 1000,
    "oversize_status": 400,
    "signin_error": "oauth",
    "duplicate_add": "ignore",
    "delete_delay": 0.5,
    "token_ttl": 3600.0,
    "rate_limit": None,
    "error_429_rate": 0.0,
    "retry_after": ["1"],
    "error_5xx_rate": 0.0,
    "error_5xx_status": 503,
    "lost_response_rate": 0.0,
    "latency": 0.0,
    "item_errors": True,
    "fault_scope": "all",
    "fault_seed": None,
}


def test_defaults_and_names() -> None:
    assert Settings().to_dict() == EXPECTED_DEFAULTS
    assert set(KNOB_NAMES) == set(EXPECTED_DEFAULTS)


def test_updated_changes_only_what_is_given() -> None:
    base = Settings()
    changed = base.updated({"delete_delay": None, "retry_after": ["0", "date+3"]})
    assert changed.delete_delay is None
    assert changed.retry_after == ["0", "date+3"]
    assert base.delete_delay == 0.5
    assert Settings(**changed.to_dict()) == changed


@pytest.mark.parametrize(
    "change",
    [
        {"max_page_size": 0},
        {"max_page_size": 2.5},
        {"max_members_per_request": True},
        {"duplicate_add": "reject"},
        {"delete_delay": -1},
        {"delete_delay": float("inf")},
        {"token_ttl": 0},
        {"rate_limit": 0},
        {"error_429_rate": 1.5},
        {"error_5xx_rate": -0.1},
        {"error_429_rate": 0.6, "error_5xx_rate": 0.6},
        {"retry_after": []},
        {"retry_after": ["soon"]},
        {"retry_after": "1"},
        {"error_5xx_status": 404},
        {"lost_response_rate": 2},
        {"latency": -0.5},
        {"item_errors": "yes"},
        {"fault_scope": "some"},
        {"fault_seed": 1.5},
        {"page_limit_mode": "truncate"},
        {"member_paging": "page"},
        {"refused_items": "201"},
        {"email_filter": "loose"},
        {"filter_in": "email"},
        {"total_counts_pending": 0},
        {"delete_non_member": "error"},
        {"oversize_status": 422},
        {"oversize_status": "413"},
        {"signin_error": "rfc"},
        {"colour": "red"},
    ],
)
def test_bad_values_are_refused(change: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        Settings().updated(change)
