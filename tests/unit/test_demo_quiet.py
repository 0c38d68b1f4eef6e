"""The demo's JupyterLab shows no "Jupyter news" toast: its settings answer the question."""

from __future__ import annotations

import json
from pathlib import Path

from segwidgets._demo import QUIET_LAB_SETTINGS, write_quiet_settings


def test_quiet_settings_turn_the_news_off(tmp_path: Path) -> None:
    folder = write_quiet_settings(tmp_path / "settings")
    written = folder / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    settings = json.loads(written.read_text())
    assert settings["fetchNews"] == "false"
    assert settings["checkForUpdates"] is False
    assert settings == QUIET_LAB_SETTINGS
