"""The notebooks' sample file is what scripts/make_sample_data.py makes from sandbox seed 1.

The notebooks assert exact counts on it (995 valid, 980 matched, 120 to add, ...); if the
sandbox's seed data changes, this test says which file to regenerate.
"""

from __future__ import annotations

import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "notebooks" / "data" / "newsletter_signups.csv"


def test_sample_file_is_reproducible(tmp_path):
    script = runpy.run_path(str(ROOT / "scripts" / "make_sample_data.py"))
    fresh = tmp_path / "newsletter_signups.csv"
    assert script["main"]([str(fresh)]) == 0
    assert fresh.read_bytes() == SAMPLE.read_bytes(), (
        "notebooks/data/newsletter_signups.csv is out of date: "
        "run .venv/bin/python scripts/make_sample_data.py"
    )
