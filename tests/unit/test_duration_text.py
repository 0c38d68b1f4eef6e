"""``duration_text``: the one wording of a duration (plan estimates, progress ETAs, the push
panel), never "about under a second"."""

from __future__ import annotations

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
def test_a_progress_label_says_the_eta_in_the_same_words(eta: float, left: str) -> None:
    event = ProgressEvent(
        phase="push",
        batches_done=1,
        batches_total=4,
        members_done=10,
        members_total=40,
        n_failed=0,
        elapsed=2.0,
        rate=5.0,
        eta=eta,
        phase_done=1,
        phase_total=4,
        unit="batches",
    )
    assert event.label == f"push: 1/4 batches, {left} left"
