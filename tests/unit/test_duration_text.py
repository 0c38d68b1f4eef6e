"""``duration_text``: the one wording of a duration (plan estimates, progress ETAs, the push
panel), never "about under a second" (the progress label's use: test_progress_phases)."""

from __future__ import annotations

import dataclasses

import pytest

from segwidgets._cost import duration_text
from segwidgets._progress import ProgressEvent


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


@pytest.mark.parametrize(("eta", "left"), [(0.4, "under a second"), (7.0, "about 7 s")])
def test_a_progress_label_says_the_time_left_in_the_same_words(eta: float, left: str) -> None:
    # phase, batches done/total, members done/total, failed, elapsed, rate, eta
    event = ProgressEvent("verify", 0, 0, 0, 0, 0, 1.0, 0.0, eta)
    event = dataclasses.replace(event, phase_done=3, phase_total=20, unit="ids")
    assert event.phase_label == "verify: 3/20 ids"
    assert event.label == f"verify: 3/20 ids, {left} left"
