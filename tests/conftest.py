"""Shared fixtures: one sandbox for the whole session, reset before each test that uses it."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

from segwidgets import sandbox as sandbox_package

# No test touches the journal of the user running the suite: a session given no journal
# writes here instead (notebook kernels and CLI subprocesses inherit the variable).
os.environ["SEGWIDGETS_JOURNAL"] = os.path.join(
    tempfile.mkdtemp(prefix="segwidgets-tests-"), "journal.sqlite3"
)

#: The data every test starts from: 500 customers of seed 1, default knobs.
SANDBOX_CUSTOMERS = 500
SANDBOX_SEED = 1


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[sandbox_package.Sandbox]:
    """A sandbox on a free loopback port, started once per test session."""
    with sandbox_package.start(customers=SANDBOX_CUSTOMERS, seed=SANDBOX_SEED) as handle:
        yield handle


@pytest.fixture
def sandbox(sandbox_server: sandbox_package.Sandbox) -> sandbox_package.Sandbox:
    """The session's sandbox, reset to 500 customers of seed 1 and default knobs.

    Issued tokens stay valid across tests; request counters start from zero.
    """
    sandbox_server.configure(**sandbox_package.Settings().to_dict())
    sandbox_server.reset(customers=SANDBOX_CUSTOMERS, seed=SANDBOX_SEED)
    return sandbox_server
