"""The harness itself: a trivial notebook runs, and a widget button talks to its kernel."""

from __future__ import annotations

import nbformat

# Without a kernelspec JupyterLab asks which kernel to start.
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
CELLS = [
    "answer = 6 * 7\nprint(f'the answer is {answer}')",
    (
        "import ipywidgets as widgets\n"
        "clicks = []\n"
        "button = widgets.Button(description='Press me')\n"
        "label = widgets.Label(value='not pressed')\n"
        "def on_click(_):\n"
        "    clicks.append(1)\n"
        "    label.value = f'pressed {len(clicks)} time(s)'\n"
        "button.on_click(on_click)\n"
        "widgets.VBox([button, label])"
    ),
]


def test_trivial_notebook_runs_and_widgets_round_trip(lab):
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = KERNELSPEC
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    nbformat.write(notebook, lab.server.root / "harness.ipynb")

    lab.open("harness.ipynb")
    lab.screenshot("opened")
    lab.run_all()
    lab.wait_text("the answer is 42", within=".jp-OutputArea-output")
    assert lab.cell_errors() == []

    button = lab.widget_button("Press me")
    button.wait_for()
    lab.screenshot("widget-shown")
    button.click()
    lab.wait_text("pressed 1 time(s)", within=".widget-label")
    button.click()
    lab.wait_text("pressed 2 time(s)", within=".widget-label")
    lab.screenshot("widget-clicked")
