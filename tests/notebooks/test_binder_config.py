"""The Binder configuration, checked by a local stand-in for a Binder build.

No docker engine here, so repo2docker cannot build the image; ``scripts/check-binder.sh``
does what it would: a fresh venv, ``pip install -r binder/requirements.txt`` from the
repository root, ``binder/postBuild``, the widget manager listed as a JupyterLab extension,
and every notebook run under nbval without credentials.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BINDER = ROOT / "binder"


def test_binder_files_follow_repo2docker_rules():
    requirements = [
        line.strip()
        for line in (BINDER / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    # With a binder/ folder only its files count: the package must be installed from ".".
    assert any(line == "." or line.startswith(".[") for line in requirements)
    # environment.yml would win over requirements.txt and make runtime.txt ignored.
    assert not (BINDER / "environment.yml").exists()
    assert (BINDER / "runtime.txt").read_text().strip() == "python-3.11"
    post_build = BINDER / "postBuild"
    assert post_build.stat().st_mode & 0o111, "postBuild must be executable"
    assert post_build.read_text().startswith("#!/usr/bin/env bash")
    assert (ROOT / "notebooks" / "quickstart.ipynb").is_file()


@pytest.mark.slow
def test_binder_environment_builds_and_runs_the_notebooks():
    completed = subprocess.run(
        ["bash", str(ROOT / "scripts" / "check-binder.sh")],
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-4000:]
    assert "== binder: OK" in completed.stdout
