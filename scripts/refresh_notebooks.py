"""Run the example notebooks and save them with their outputs and widget state.

The notebooks are committed executed, so they read as tutorials on GitHub (outputs and
panels included). After changing a notebook or what it shows, run
``python scripts/refresh_notebooks.py [NAME.ipynb ...]`` (all of ``notebooks/`` by default):
each notebook runs top to bottom in a fresh kernel against its own sandbox, in its own
folder, and is saved in place. The sandbox's random port is written as ``PORT`` (as the
nbval sanitizer in ``tests/notebooks`` does); a notebook whose run fails, or whose saved
outputs would name this machine (a home or temporary folder), is not saved. Widget state is
saved without the values every widget of its kind has (as ``ipywidgets.embed`` does), which
keeps the files small.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"

#: a local server's address, with the port it happened to get
LOCAL_PORT = re.compile(r"(127\.0\.0\.1|localhost):\d+")
#: what a saved output must not hold: where it ran
MACHINE_SPECIFIC = re.compile(
    # The checkout first, so a checkout under /tmp/ is named as itself.
    re.escape(str(ROOT)) + r"|/home/|/Users/|/tmp/|/private/var/|\\\\Users\\\\"
)


def machine_specific(notebook: nbformat.NotebookNode) -> list[str]:
    """Each saved text (outputs and widget state) that names this machine, shortened."""
    found = []
    texts = [nbformat.writes(cell) for cell in notebook.cells if cell.cell_type == "code"]
    texts.append(nbformat.writes(notebook).split('"widgets"', 1)[-1])
    for text in texts:
        found += [match.group(0) for match in MACHINE_SPECIFIC.finditer(text)]
    return sorted(set(found))


def _default_states() -> dict[tuple[str, str], dict[str, Any]]:
    """The state a new widget of each ipywidgets model has, by (module, model name)."""
    import ipywidgets
    import traitlets

    classes: list[type[ipywidgets.Widget]] = []
    todo = [ipywidgets.Widget]
    while todo:
        cls = todo.pop()
        classes.append(cls)
        todo += cls.__subclasses__()
    defaults: dict[tuple[str, str], dict[str, Any]] = {}
    for cls in classes:
        traits = cls.class_traits()
        if "_model_name" not in traits or not cls.__module__.startswith("ipywidgets"):
            continue
        key = (traits["_model_module"].default_value, traits["_model_name"].default_value)
        if key in defaults and cls.__name__ + "Model" != key[1]:
            continue  # the class the model is named after decides
        try:
            widget = cls()
        except (TypeError, traitlets.TraitError):  # needs arguments: its state is kept whole
            continue
        defaults[key] = widget.get_state()
        widget.close()
    return defaults


def drop_default_state(notebook: nbformat.NotebookNode) -> None:
    """Leave out of the saved widget state each value the widget's kind has by default."""
    saved = notebook.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json")
    if not saved:
        return
    defaults = _default_states()
    for model in saved["state"].values():
        default = defaults.get((model["model_module"], model["model_name"]))
        if default is None:
            continue
        model["state"] = {
            key: value
            for key, value in model["state"].items()
            if key in {"layout", "style"} or key not in default or default[key] != value
        }


def refresh(path: Path) -> nbformat.NotebookNode:
    """Run ``path`` and return it with outputs and widget state (``path`` is not written)."""
    notebook = nbformat.read(path, as_version=4)
    notebook.metadata.pop("widgets", None)
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        store_widget_state=True,
        record_timing=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
    drop_default_state(notebook)
    text = LOCAL_PORT.sub("127.0.0.1:PORT", nbformat.writes(notebook))
    return nbformat.reads(text, as_version=4)


def main(argv: list[str]) -> int:
    """Refresh the notebooks named in ``argv`` (all by default); 1 if one was not saved."""
    paths = [NOTEBOOKS / name for name in argv] or sorted(NOTEBOOKS.glob("*.ipynb"))
    failed = 0
    for path in paths:
        notebook = refresh(path)
        leaks = machine_specific(notebook)
        if leaks:
            print(f"not saved: {path.name} names this machine: {', '.join(leaks)}")
            failed = 1
            continue
        nbformat.write(notebook, path)
        print(f"saved {path.relative_to(ROOT)} ({path.stat().st_size // 1024} KiB)")
    return failed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
