"""Fast checks of what the packaging promises: a light CLI, one version, packaged examples."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import segwidgets
from segwidgets import _demo

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("polars", "httpx", "ipywidgets", "anywidget", "traitlets", "starlette", "uvicorn")


def _run(code: str) -> str:
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return completed.stdout.strip()


def test_cli_imports_nothing_heavy() -> None:
    loaded = _run(
        "import sys, segwidgets.cli; "
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))"
    )
    assert loaded == "[]"


def test_public_names_still_import_on_use() -> None:
    assert _run("import segwidgets as sw; print(sw.SegmentSession.__name__)") == "SegmentSession"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        segwidgets.nope  # noqa: B018


def test_every_public_name_has_its_module() -> None:
    # A new public name goes in three places of __init__.py: the TYPE_CHECKING imports,
    # _PUBLIC_MODULES and __all__.
    assert set(segwidgets._PUBLIC_MODULES) == set(segwidgets.__all__) - {"__version__"}
    assert set(dir(segwidgets)) >= set(segwidgets.__all__)


def test_python_dash_m_and_version_flag() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "segwidgets", "--version"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert completed.stdout.strip() == f"segwidgets {segwidgets.__version__}"
    helped = subprocess.run(
        [sys.executable, "-m", "segwidgets", "--help"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert "demo" in helped.stdout


def test_version_is_written_once() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["hatch"]["version"]["path"] == "segwidgets/__init__.py"


def test_every_notebook_and_data_file_is_shipped() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    shipped = project["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    tracked = subprocess.run(
        ["git", "ls-files", "notebooks"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert sorted(shipped) == sorted(tracked)
    for source, target in shipped.items():
        assert target == "segwidgets/_examples/" + source.removeprefix("notebooks/")


def test_py_typed_and_license_exist() -> None:
    assert (ROOT / "segwidgets" / "py.typed").is_file()
    assert "MIT License" in (ROOT / "LICENSE").read_text()


def test_copy_examples_keeps_what_is_there(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "data").mkdir(parents=True)
    (source / "quickstart.ipynb").write_text("new")
    (source / "data" / "list.csv").write_text("email\n")
    (source / ".ipynb_checkpoints").mkdir()
    (source / ".ipynb_checkpoints" / "x.ipynb").write_text("junk")
    target = tmp_path / "out"
    target.mkdir()
    (target / "quickstart.ipynb").write_text("edited by the analyst")

    copied = _demo.copy_examples(source, target)

    assert copied == [target / "data" / "list.csv"]
    assert (target / "quickstart.ipynb").read_text() == "edited by the analyst"
    assert not (target / ".ipynb_checkpoints").exists()
    assert _demo.copy_examples(source, target) == []


def test_demo_folder_choice_from_a_checkout(tmp_path: Path) -> None:
    # From this checkout: notebooks/ in place; --dir gets a copy of them.
    assert _demo.find_notebook_dir() == ROOT / "notebooks"
    copied_to = _demo.find_notebook_dir(copy_to=tmp_path / "examples")
    assert copied_to == tmp_path / "examples"
    assert (copied_to / "quickstart.ipynb").is_file()
    assert (copied_to / "data" / "newsletter_signups.csv").is_file()
    with pytest.raises(FileNotFoundError, match="--notebook-dir"):
        _demo.find_notebook_dir(tmp_path / "empty")
