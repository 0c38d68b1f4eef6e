"""Fixtures of the reliability tier: the shared sandbox, larger, with default knobs."""

from __future__ import annotations

import pytest

from segwidgets import sandbox as sandbox_package

#: Enough registered customers for R1 (2,500 distinct members) and the property tests.
CUSTOMERS = 4000
SEED = 1


@pytest.fixture
def big_sandbox(sandbox_server: sandbox_package.Sandbox) -> sandbox_package.Sandbox:
    """The session's sandbox, reset to 4,000 customers of seed 1 and default knobs."""
    sandbox_server.configure(**sandbox_package.Settings().to_dict())
    sandbox_server.reset(customers=CUSTOMERS, seed=SEED)
    return sandbox_server
