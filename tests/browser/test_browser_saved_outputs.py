"""The example notebooks as saved: opened in JupyterLab without running a cell.

Their outputs are committed with widget state (``scripts/refresh_notebooks.py``), so a
reader sees the panels drawn (JupyterLab draws saved widgets once the notebook is trusted,
as one is after its reader ran it), and the checks cell's input is collapsed.
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.mark.parametrize(
    ("notebook", "shown"),
    [
        ("quickstart.ipynb", ".segwidgets-app"),
        ("polars_query_to_segment.ipynb", ".segwidgets-panel"),
    ],
)
def test_saved_notebook_shows_its_panels_before_running(lab, notebook, shown):
    lab.open(notebook)
    # Waits while JupyterLab draws the saved cells (a large notebook takes a while).
    checks = lab.page.locator(".jp-OutputArea-output").filter(has_text="All checks passed.")
    checks.first.wait_for(state="attached", timeout=60_000)
    lab.page.evaluate("() => { window.jupyterapp.commands.execute('notebook:trust'); }")
    lab.page.locator(".jp-Dialog .jp-mod-accept").click()
    panel = lab.page.locator(f".jp-OutputArea-output {shown}").first
    panel.wait_for()
    panel.scroll_into_view_if_needed()
    lab.screenshot("saved-panel")
    executed = lab.page.locator(".jp-CodeCell .jp-InputPrompt").filter(has_text="[1]")
    assert executed.count() == 1  # the saved run, not a new one
    assert lab.page.locator(".jp-Cell .jp-InputPlaceholder").count() == 1  # the checks, collapsed
    assert lab.cell_errors() == []
    # every saved widget drew, the member list's upload (an anywidget) too
    lab.page.locator(".jp-OutputArea-output .widget-box").first.wait_for()
    assert lab.page.get_by_text("Click to show javascript error").count() == 0
    if notebook == "quickstart.ipynb":
        upload = lab.page.locator(".jp-OutputArea-output .segwidgets-upload-button").first
        upload.wait_for()
        assert upload.inner_text().strip() == "Upload a file"
