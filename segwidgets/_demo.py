"""``segwidgets demo``: JupyterLab on the quickstart notebook, ready to run against a sandbox.

An installed package copies its example notebooks (``segwidgets/_examples``) to a folder
the analyst can write to (``./segwidgets-examples`` or ``--dir``) and opens JupyterLab
there; a source checkout opens its ``notebooks/`` in place.

The server listens on 127.0.0.1 only and is protected by a random token that is part of
the printed URL, so a local user opens it without a login prompt and nobody else can.
The notebook starts its own sandbox in its first cell: no credentials are needed.
Ctrl-C stops JupyterLab (and its kernels) cleanly.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import webbrowser
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "DEFAULT_EXAMPLES_DIR",
    "QUICKSTART",
    "QUIET_LAB_SETTINGS",
    "copy_examples",
    "find_notebook_dir",
    "jupyter_command",
    "main",
    "packaged_examples",
    "write_quiet_settings",
]

QUICKSTART = "quickstart.ipynb"
DEFAULT_EXAMPLES_DIR = "segwidgets-examples"
_HOST = "127.0.0.1"
_DEFAULT_PORT = 8888
_START_TIMEOUT = 120.0
_STOP_TIMEOUT = 20.0


def packaged_examples() -> Path | None:
    """The example notebooks shipped inside the installed package, or ``None``.

    A wheel carries them under ``segwidgets/_examples/`` (built from ``notebooks/``); a
    source checkout has only ``notebooks/``.
    """
    folder = Path(__file__).resolve().parent / "_examples"
    return folder if (folder / QUICKSTART).is_file() else None


def _checkout_notebooks() -> Path | None:
    """``notebooks/`` of the source checkout this package is imported from, or ``None``."""
    folder = Path(__file__).resolve().parent.parent / "notebooks"
    return folder if (folder / QUICKSTART).is_file() else None


def copy_examples(source: Path, target: Path) -> list[Path]:
    """Copy the example notebooks and data from ``source`` into ``target``.

    Files already in ``target`` are kept as they are (they may hold the analyst's edits);
    returns the files copied.
    """
    copied = []
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if not path.is_file() or any(
            part.startswith(".") or part == "__pycache__" for part in relative.parts
        ):
            continue
        destination = target / relative
        if destination.exists():
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination)
        copied.append(destination)
    return copied


def find_notebook_dir(
    explicit: str | os.PathLike[str] | None = None,
    *,
    copy_to: str | os.PathLike[str] | None = None,
) -> Path:
    """The folder holding ``quickstart.ipynb`` that JupyterLab opens.

    ``explicit`` (``--notebook-dir``) is used in place. ``copy_to`` (``--dir``) receives a
    copy of the example notebooks. With neither, a source checkout uses its ``notebooks/``
    in place, and an installed package copies its examples to ``./segwidgets-examples``.
    Raises ``FileNotFoundError`` with what to do when no notebooks can be found.
    """
    if explicit is not None:
        folder = Path(explicit)
        if (folder / QUICKSTART).is_file():
            return folder.resolve()
        msg = (
            f"No {QUICKSTART} in {folder}. Pass --notebook-dir with the folder of the example "
            "notebooks, or --dir to get a fresh copy of them."
        )
        raise FileNotFoundError(msg)
    source = packaged_examples() or _checkout_notebooks()
    if copy_to is None:
        checkout = _checkout_notebooks()
        if checkout is not None:
            return checkout
        copy_to = DEFAULT_EXAMPLES_DIR
    if source is None:
        msg = (
            f"No example notebooks found: this installation of segwidgets has no {QUICKSTART} "
            "(segwidgets/_examples). Reinstall it from a wheel (pip install 'segwidgets[lab]') "
            "or pass --notebook-dir with the folder of the example notebooks."
        )
        raise FileNotFoundError(msg)
    target = Path(copy_to).resolve()
    copied = copy_examples(source, target)
    kept = "" if len(copied) else " (already there; your edits are kept)"
    _say(f"Example notebooks: {len(copied)} files copied to {target}{kept}")
    return target


def _free_port(start: int) -> int:
    """The first port from ``start`` on that 127.0.0.1 can bind (bounded search)."""
    for port in range(start, start + 50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((_HOST, port))
            except OSError:
                continue
            return port
    msg = f"No free port between {start} and {start + 49}; pass --port."
    raise OSError(msg)


def jupyter_command(
    notebook_dir: Path, *, port: int, token: str, python: str | None = None
) -> list[str]:
    """The command line that starts JupyterLab for the demo (the browser is opened by us)."""
    return [
        python or sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        f"--ServerApp.ip={_HOST}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={notebook_dir}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.default_url=/lab/tree/{QUICKSTART}",
        "--LabApp.news_url=None",
        *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
    ]


#: JupyterLab's notification settings for the demo: no "Jupyter news" toast, no update check.
QUIET_LAB_SETTINGS = {"fetchNews": "false", "checkForUpdates": False}


def write_quiet_settings(settings_dir: Path) -> Path:
    """Write the demo's JupyterLab settings (no news toast) into ``settings_dir``.

    ``--LabApp.news_url=None`` alone still lets JupyterLab ask, in a toast, whether to fetch
    news; the notification setting ``fetchNews: "false"`` answers that question up front.
    Returns the folder, to be passed as ``JUPYTERLAB_SETTINGS_DIR``.
    """
    folder = settings_dir / "@jupyterlab" / "apputils-extension"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "notification.jupyterlab-settings").write_text(json.dumps(QUIET_LAB_SETTINGS))
    return settings_dir


def _wait_until_up(url: str, process: subprocess.Popen[bytes], timeout: float) -> bool:
    """Poll ``/api/status`` until the server answers, the process dies, or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - loopback URL we built
                if answer.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Ask JupyterLab to shut down (SIGTERM: kernels are stopped too); kill it if it hangs."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _say(text: str, *, error: bool = False) -> None:
    """Write one message for the person at the terminal (the demo is a command line tool)."""
    stream = sys.stderr if error else sys.stdout
    stream.write(text + "\n")
    stream.flush()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="segwidgets demo",
        description=(
            "Open JupyterLab on the quickstart notebook. The notebook starts a local sandbox "
            "(a practice Shopgate), so no credentials are needed. Stop with Ctrl-C."
        ),
    )
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"port on 127.0.0.1 (default: the first free one from {_DEFAULT_PORT})",
    )
    parser.add_argument(
        "--no-browser", action="store_true", help="print the URL but do not open a browser"
    )
    folders = parser.add_mutually_exclusive_group()
    folders.add_argument(
        "--dir",
        default=None,
        metavar="DIR",
        help=(
            "copy the example notebooks and data into DIR (created if needed; files already "
            f"there are kept) and open JupyterLab there (default: ./{DEFAULT_EXAMPLES_DIR}, "
            "or notebooks/ in place when run from a source checkout)"
        ),
    )
    folders.add_argument(
        "--notebook-dir",
        default=None,
        metavar="DIR",
        help="open JupyterLab on DIR as it is (it must hold quickstart.ipynb); nothing is copied",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``segwidgets demo``; returns the exit code."""
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    if importlib.util.find_spec("jupyterlab") is None:
        _say("JupyterLab is not installed: pip install 'segwidgets[lab]'", error=True)
        return 1
    try:
        notebook_dir = find_notebook_dir(args.notebook_dir, copy_to=args.dir)
        port = args.port if args.port is not None else _free_port(_DEFAULT_PORT)
    except (FileNotFoundError, OSError) as exc:
        _say(f"segwidgets demo: {exc}", error=True)
        return 1

    token = secrets.token_urlsafe(24)
    base = f"http://{_HOST}:{port}"
    url = f"{base}/lab/tree/{QUICKSTART}?token={token}"
    # Ctrl-C (SIGINT) and SIGTERM both stop the demo, even when it was started from a
    # script that ignores SIGINT for its background jobs.
    previous = {
        sig: signal.signal(sig, _raise_interrupt) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    process: subprocess.Popen[bytes] | None = None
    settings = tempfile.TemporaryDirectory(prefix="segwidgets-demo-lab-")
    try:
        # A session of its own: Ctrl-C reaches only this process, which then stops
        # JupyterLab without its interactive "Shutdown this Jupyter server?" question.
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
            jupyter_command(notebook_dir, port=port, token=token),
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={
                **os.environ,
                "JUPYTERLAB_SETTINGS_DIR": str(write_quiet_settings(Path(settings.name))),
            },
        )
        _say(f"Starting JupyterLab on {base} (notebooks: {notebook_dir}) ...")
        if not _wait_until_up(f"{base}/api/status?token={token}", process, _START_TIMEOUT):
            _say("segwidgets demo: JupyterLab did not start; see its messages above.", error=True)
            return 1
        _say(f"\n  Open the quickstart notebook at:\n\n    {url}\n")
        _say("Press Ctrl-C to stop.")
        if not args.no_browser:
            webbrowser.open(url)
        return process.wait()
    except KeyboardInterrupt:
        _say("\nStopping JupyterLab ...")
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not orphan Lab
        try:
            if process is not None:
                _stop(process)
        finally:
            settings.cleanup()
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _raise_interrupt(signum: int, frame: object) -> None:
    """Stop the demo: the ``finally`` of ``main`` then stops JupyterLab and its kernels."""
    raise KeyboardInterrupt
