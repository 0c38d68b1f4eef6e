"""Fixtures of the sandbox model tests: a fake clock and a small model that uses it."""

from __future__ import annotations

import pytest
from sandbox_helpers import FakeClock, basic, password_form

from segwidgets.sandbox import SandboxModel, Settings


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def model(clock: FakeClock) -> SandboxModel:
    """300 customers of seed 1, default knobs, on the fake clock."""
    return SandboxModel(customers=300, seed=1, clock=clock, settings=Settings())


@pytest.fixture
def token(model: SandboxModel) -> str:
    """A valid bearer token of the model's merchant."""
    return str(model.issue_token(authorization=basic(), form=password_form())["access_token"])
