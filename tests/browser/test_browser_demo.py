"""``segwidgets demo``: prints a URL that opens the quickstart notebook; Ctrl-C stops it all."""

from __future__ import annotations

import json
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
URL_RE = re.compile(r"http://127\.0\.0\.1:(\d+)/lab/tree/quickstart\.ipynb\?token=[\w-]+")


def _lines(stream, sink: queue.Queue) -> None:
    for line in iter(stream.readline, ""):
        sink.put(line)
    sink.put(None)


def _wait_for_url(lines: queue.Queue, timeout: float) -> str:
    seen = []
    while True:
        line = lines.get(timeout=timeout)
        if line is None:
            raise AssertionError("segwidgets demo ended early:\n" + "".join(seen))
        seen.append(line)
        match = URL_RE.search(line)
        if match:
            return match.group(0)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_demo_opens_quickstart_and_stops_on_ctrl_c(new_lab, tmp_path):
    notebooks = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS, notebooks)
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "segwidgets.cli", "demo", "--no-browser", "--port", str(port),
         "--notebook-dir", str(notebooks)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_lines, args=(process.stdout, lines), daemon=True).start()
    try:
        url = _wait_for_url(lines, timeout=120)
        assert url.startswith(f"http://127.0.0.1:{port}/")
        lab = new_lab("demo")
        lab.page.goto(url)
        lab.page.locator(".lm-TabBar-tab", has_text="quickstart.ipynb").first.wait_for()
        lab.wait_kernel_idle()
        lab.screenshot("quickstart-opened")
        # No "Jupyter news" toast: the demo's settings answer the news question up front.
        token = url.rsplit("token=", 1)[1]
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/lab/api/settings/@jupyterlab/apputils-extension:notification",
            headers={"Authorization": f"token {token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            settings = json.load(answer)["settings"]
        assert settings["fetchNews"] == "false"
        assert lab.page.locator(".Toastify__toast", has_text="news").count() == 0
        # Without the token the server refuses: the URL is the key.
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents", timeout=10)
        assert refused.value.code == 403

        process.send_signal(signal.SIGINT)  # what Ctrl-C sends
        assert process.wait(timeout=60) == 0
        assert not _port_open(port)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_demo_without_notebooks_says_what_to_do(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "segwidgets.cli", "demo", "--no-browser",
         "--notebook-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert completed.returncode == 1
    assert "quickstart.ipynb" in completed.stderr
    assert "--notebook-dir" in completed.stderr
