"""The example notebooks read as tutorials and are committed executed.

Each one is prose, code and output: its checks live in one collapsed cell near the end (tag
``checks``, input hidden in JupyterLab), no other cell asserts, and no cell reaches into the
sandbox's internals. Each is saved with its outputs and widget state (refreshed by
``scripts/refresh_notebooks.py``) that name nothing of the machine that ran it.
"""

from __future__ import annotations

import ast
import json
import re
import runpy
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
ORDERS = ROOT / "notebooks" / "data" / "orders.csv"
REFRESH = runpy.run_path(str(ROOT / "scripts" / "refresh_notebooks.py"))
IDS = [path.stem for path in NOTEBOOKS]


def _code_cells(path: Path) -> list[nbformat.NotebookNode]:
    notebook = nbformat.read(path, as_version=4)
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def _asserts(source: str) -> int:
    return sum(isinstance(node, ast.Assert) for node in ast.walk(ast.parse(source)))


def test_the_tutorials_are_the_ones_the_readme_lists():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"`notebooks/([\w]+\.ipynb)`", readme.partition("## Tutorials")[2]))
    assert listed == {path.name for path in NOTEBOOKS}
    assert "polars_query_to_segment.ipynb" in listed


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_checks_are_in_one_collapsed_cell(path):
    cells = _code_cells(path)
    checks = [cell for cell in cells if "checks" in cell.metadata.get("tags", [])]
    assert len(checks) == 1, "one cell tagged 'checks' per notebook"
    check = checks[0]
    assert check.metadata["jupyter"]["source_hidden"] is True
    assert "hide-input" in check.metadata["tags"]
    assert _asserts(check.source) >= 3
    assert cells.index(check) >= len(cells) - 2, "the checks come at the end"
    for cell in cells:
        if cell is not check:
            assert _asserts(cell.source) == 0, cell.source
            assert "NBVAL" not in cell.source, cell.source
            assert ".server." not in cell.source, cell.source  # the sandbox stays a black box
            assert "raise AssertionError" not in cell.source, cell.source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_saved_with_outputs_and_widget_state(path):
    notebook = nbformat.read(path, as_version=4)
    cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in cells), "run top to bottom before saving"
    assert [cell.execution_count for cell in cells] == list(range(1, len(cells) + 1))
    assert not [
        output
        for cell in cells
        for output in cell.outputs
        if output.output_type == "error" or output.get("name") == "stderr"
    ]
    check = next(cell for cell in cells if "checks" in cell.metadata.get("tags", []))
    assert "All checks passed." in "".join(output.get("text", "") for output in check.outputs)
    shows_widgets = any(
        "application/vnd.jupyter.widget-view+json" in output.get("data", {})
        for cell in cells
        for output in cell.outputs
    )
    if shows_widgets:
        state = notebook.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
        shown = {
            output["data"]["application/vnd.jupyter.widget-view+json"]["model_id"]
            for cell in cells
            for output in cell.outputs
            if "application/vnd.jupyter.widget-view+json" in output.get("data", {})
        }
        assert shown <= state.keys(), "every widget shown has its state saved"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_saved_outputs_name_nothing_of_the_machine(path):
    notebook = nbformat.read(path, as_version=4)
    assert REFRESH["machine_specific"](notebook) == []
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"(127\.0\.0\.1|localhost):\d", text), "ports are saved as PORT"
    assert not re.search(r"\bsb[xr]_[A-Za-z0-9_-]{16,}", text), "no sandbox token"


def test_the_machine_scan_can_fail():
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"{ROOT}/x /tmp/y")]
    notebook.cells = [cell]
    notebook.metadata["widgets"] = {"state": json.dumps({"value": "/home/someone/z"})}
    found = REFRESH["machine_specific"](notebook)
    assert str(ROOT) in found
    assert "/tmp/" in found
    assert "/home/" in found


def test_default_widget_values_are_left_out_of_the_saved_state():
    import ipywidgets

    button = ipywidgets.Button(description="Push")
    layout = ipywidgets.Layout(width="34px")
    state = {
        widget.model_id: {
            "model_module": widget._model_module,
            "model_name": widget._model_name,
            "model_module_version": widget._model_module_version,
            "state": widget.get_state(),
        }
        for widget in (button, layout)
    }
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["widgets"] = {
        "application/vnd.jupyter.widget-state+json": {"state": state, "version_major": 2}
    }
    REFRESH["drop_default_state"](notebook)
    state = notebook.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    kept_button = state[button.model_id]["state"]
    kept_layout = state[layout.model_id]["state"]
    assert kept_button["description"] == "Push"
    assert "disabled" not in kept_button
    assert kept_button["layout"] == button.get_state()["layout"]
    assert "_model_name" not in kept_button  # the model says which it is
    assert "_view_count" not in kept_button
    assert kept_layout["width"] == "34px"
    assert "height" not in kept_layout
    button.close()
    layout.close()


def test_orders_file_is_reproducible_and_small(tmp_path):
    script = runpy.run_path(str(ROOT / "scripts" / "make_orders_data.py"))
    fresh = tmp_path / "orders.csv"
    assert script["main"]([str(fresh)]) == 0
    assert fresh.read_bytes() == ORDERS.read_bytes(), (
        "notebooks/data/orders.csv is out of date: run .venv/bin/python scripts/make_orders_data.py"
    )
    assert ORDERS.stat().st_size < 200_000  # it ships inside the wheel
