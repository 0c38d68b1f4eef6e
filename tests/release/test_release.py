"""The release check: build the sdist and wheel, install the wheel with its ``lab`` extra in a
fresh venv, and use it as an analyst would (``segwidgets demo`` and the quickstart notebook).

The wheel holds the package, the example notebooks and data, ``py.typed`` and the LICENSE,
and nothing else. Packages come from PyPI through pip's (or uv's) cache.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import urllib.request
import zipfile
from pathlib import Path

import pytest

import segwidgets

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
VERSION = segwidgets.__version__
URL_RE = re.compile(r"http://127\.0\.0\.1:(\d+)/lab/tree/quickstart\.ipynb\?token=([\w-]+)")
# A fresh venv with JupyterLab is the slow part; every step is bounded.
INSTALL_S = 420
DEMO_START_S = 120
NOTEBOOK_S = 300


def _uv() -> str | None:
    """uv beside this interpreter (the dev extra installs it), else on PATH."""
    beside = Path(sys.executable).with_name("uv")
    return str(beside) if beside.exists() else shutil.which("uv")


def _run(
    command: list[str],
    *,
    timeout: float,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> str:
    completed = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, f"{command[:4]} failed:\n{output[-4000:]}"
    return completed.stdout


def _venv(path: Path) -> Path:
    """A fresh venv at ``path``; returns its python."""
    uv = _uv()
    if uv:
        _run([uv, "venv", "--quiet", "--python", sys.executable, str(path)], timeout=120)
    else:
        _run([sys.executable, "-m", "venv", str(path)], timeout=120)
    return path / "bin" / "python"


def _install(python: Path, *requirements: str) -> None:
    uv = _uv()
    if uv:
        command = [uv, "pip", "install", "--quiet", "--python", str(python), *requirements]
    else:
        command = [str(python), "-m", "pip", "install", "--quiet", *requirements]
    _run(command, timeout=INSTALL_S)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(sdist, wheel) built by ``python -m build`` (the wheel from the sdist, as PyPI does)."""
    work = tmp_path_factory.mktemp("build")
    python = _venv(work / "venv")
    _install(python, "build>=1.2")
    dist = work / "dist"
    _run([str(python), "-m", "build", "--outdir", str(dist), str(ROOT)], timeout=INSTALL_S)
    (sdist,) = dist.glob("segwidgets-*.tar.gz")
    (wheel,) = dist.glob("segwidgets-*.whl")
    return sdist, wheel


def test_wheel_holds_the_package_examples_typing_and_license_only(built):
    _, wheel = built
    assert wheel.name == f"segwidgets-{VERSION}-py3-none-any.whl"
    names = zipfile.ZipFile(wheel).namelist()
    info = f"segwidgets-{VERSION}.dist-info/"
    package = {n for n in names if not n.startswith(info)}
    examples = {n for n in package if n.startswith("segwidgets/_examples/")}
    code = package - examples
    tracked = subprocess.run(
        ["git", "ls-files", "notebooks"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    expected_examples = {"segwidgets/_examples/" + n.removeprefix("notebooks/") for n in tracked}
    assert examples == expected_examples
    assert "segwidgets/_examples/quickstart.ipynb" in examples
    assert "segwidgets/_examples/data/newsletter_signups.csv" in examples
    assert "segwidgets/py.typed" in code
    # The package is exactly its files in git: modules, py.typed, the sandbox's spec and notes.
    package_files = subprocess.run(
        ["git", "ls-files", "segwidgets"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert code == set(package_files), sorted(code ^ set(package_files))
    assert all(n.startswith("segwidgets/") for n in package)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if re.search(r"(^|/)(tests|bench|docs|scripts)/", n)]
    assert f"{info}licenses/LICENSE" in names

    metadata = zipfile.ZipFile(wheel).read(f"{info}METADATA").decode()
    assert f"Version: {VERSION}" in metadata
    assert "License-Expression: MIT" in metadata
    assert "Project-URL: Source, https://github.com/OWNER/segwidgets" in metadata
    assert "python-multipart" not in metadata
    assert "charset-normalizer" not in metadata
    assert "Requires-Dist: traitlets" in metadata
    assert "Requires-Dist: anyio" in metadata


def test_sdist_holds_what_a_rebuild_needs_only(built):
    sdist, _ = built
    top = f"segwidgets-{VERSION}/"
    with tarfile.open(sdist) as archive:
        names = {n.removeprefix(top) for n in archive.getnames()}
    for needed in ("pyproject.toml", "LICENSE", "README.md", "CHANGELOG.md",
                   "segwidgets/__init__.py", "segwidgets/py.typed",
                   "notebooks/quickstart.ipynb", "notebooks/data/newsletter_signups.csv"):  # fmt: skip
        assert needed in names
    assert not [n for n in names if re.match(r"(tests|bench|docs|scripts|binder)(/|$)", n)]
    assert not [n for n in names if "__pycache__" in n or ".ipynb_checkpoints" in n]


def _lines(stream, sink: queue.Queue) -> None:
    for line in iter(stream.readline, ""):
        sink.put(line)
    sink.put(None)


def test_pip_install_lab_then_demo_runs_the_quickstart(built, tmp_path):
    _, wheel = built
    python = _venv(tmp_path / "venv")
    # nbclient runs the notebook below; it comes with JupyterLab's server anyway.
    _install(python, f"{wheel}[lab]", "nbclient>=0.10")
    bindir = python.parent
    # The installed command, run outside the checkout, with no path back to it.
    env = {
        k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("SHOPGATE_")
    }
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    env["JUPYTER_CONFIG_DIR"] = str(tmp_path / "jupyter-config")
    env["JUPYTER_DATA_DIR"] = str(tmp_path / "jupyter-data")
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path / "jupyter-runtime")
    home = tmp_path / "analyst"
    home.mkdir()

    version = subprocess.run(
        [str(bindir / "segwidgets"), "--version"], cwd=home, env=env,
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert version.stdout.strip() == f"segwidgets {VERSION}"

    # A user's mypy sees segwidgets' types in the installed wheel (py.typed): a wrong
    # annotation is reported with segwidgets' own type, not as an untyped module.
    script = home / "uses_segwidgets.py"
    script.write_text(
        "import segwidgets as sw\n\nmembers: int = sw.read_members(['a@example.org'])\n"
    )
    typed = subprocess.run(
        [sys.executable, "-m", "mypy", "--python-executable", str(python), "--no-incremental",
         "--cache-dir", os.devnull, "--strict", str(script)],
        check=False, cwd=home, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert 'expression has type "MemberList"' in typed.stdout, typed.stdout + typed.stderr
    script.unlink()

    process = subprocess.Popen(
        [str(bindir / "segwidgets"), "demo", "--no-browser"],
        cwd=home, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_lines, args=(process.stdout, lines), daemon=True).start()
    seen: list[str] = []
    try:
        match = None
        while match is None:
            line = lines.get(timeout=DEMO_START_S)
            assert line is not None, "segwidgets demo ended early:\n" + "".join(seen)
            seen.append(line)
            match = URL_RE.search(line)
        port, token = match.groups()
        examples = home / "segwidgets-examples"
        assert (examples / "quickstart.ipynb").is_file(), "".join(seen)
        assert (examples / "data" / "newsletter_signups.csv").is_file()
        # JupyterLab answers, and its root is the copied examples folder.
        api = f"http://127.0.0.1:{port}/api"
        with urllib.request.urlopen(f"{api}/status?token={token}", timeout=10) as answer:  # noqa: S310
            assert answer.status == 200
        with urllib.request.urlopen(f"{api}/contents?token={token}", timeout=10) as answer:  # noqa: S310
            listed = {item["name"] for item in json.load(answer)["content"]}
        assert {"quickstart.ipynb", "data"} <= listed

        # The quickstart notebook runs top to bottom against its sandbox, in that venv.
        run = (
            "import nbformat, nbclient, sys\n"
            "nb = nbformat.read('quickstart.ipynb', as_version=4)\n"
            "nbclient.NotebookClient(nb, timeout=240, kernel_name='python3',\n"
            "    resources={'metadata': {'path': '.'}}).execute()\n"
            "errors = [o for c in nb.cells for o in c.get('outputs', []) if o.get('output_type') == 'error']\n"
            "import segwidgets, pathlib\n"
            "assert 'site-packages' in pathlib.Path(segwidgets.__file__).parts, segwidgets.__file__\n"
            "print('cells run:', sum(1 for c in nb.cells if c.cell_type == 'code'), 'errors:', len(errors))\n"
        )
        executed = _run([str(python), "-c", run], cwd=examples, env=env, timeout=NOTEBOOK_S)
        assert re.search(r"cells run: [1-9]\d* errors: 0", executed), executed
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # what Ctrl-C sends
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    assert process.returncode == 0, "".join(seen)
