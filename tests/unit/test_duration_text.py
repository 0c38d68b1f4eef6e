"""``duration_text``: the one wording of a duration (plan estimates, progress ETAs, the push
panel), never "about under a second" (the progress label's use: test_progress_phases)."""

from __future__ import annotations

import pytest

from segwidgets._cost import duration_text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "under a second"),
        (0.99, "under a second"),
        (1.0, "about 1 s"),
        (14.4, "about 14 s"),
        (89.0, "about 89 s"),
        (90.0, "about 1.5 min"),
        (300.0, "about 5.0 min"),
    ],
)
def test_duration_text(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text
