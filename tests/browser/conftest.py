"""JupyterLab in headless Chromium (a system one, e.g. Debian's), driven by Python Playwright.

Without a Chromium (or Playwright) the tests here are skipped with a one-line reason, except
in CI (``CI=true``), where that is a failure. ``SEGWIDGETS_CHROMIUM`` names the browser.

One fresh JupyterLab server per test session (127.0.0.1, random token, its own settings
and workspaces folders, root = a temporary copy of ``notebooks/``), one Chromium, and a
``lab`` fixture per test with the waits that keep these tests from flaking (see
/work/shared/jupyter-testing.md): the kernel is connected and idle before anything runs,
and every cell has finished before a screenshot or an assertion.

Screenshots of each step go to ``artifacts/browser/`` (git-ignored).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
ARTIFACTS = ROOT / "artifacts" / "browser"
_CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_CHROMIUM_PATHS = (
    "/usr/bin/chromium",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
)


def _find_chromium() -> Path | None:
    """``SEGWIDGETS_CHROMIUM``, else a usual install path, else a Chromium on PATH."""
    explicit = os.environ.get("SEGWIDGETS_CHROMIUM")
    if explicit:
        return Path(explicit) if Path(explicit).exists() else None
    for path in _CHROMIUM_PATHS:
        if Path(path).exists():
            return Path(path)
    for name in _CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


def _missing() -> str | None:
    """Why the browser tests cannot run here, or ``None`` when they can."""
    if importlib.util.find_spec("playwright") is None:
        return "Playwright is not installed (pip install -e '.[dev]')"
    if CHROMIUM is None:
        return (
            "no Chromium found (set SEGWIDGETS_CHROMIUM, or run scripts/ensure-chromium.sh "
            "for where to get one)"
        )
    return None


CHROMIUM = _find_chromium()
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Generous bounds: two shared cores, a cold kernel and a sandbox start in the first cell.
SERVER_START_S = 90.0
KERNEL_READY_MS = 90_000
RUN_CELLS_MS = 180_000
STEP_MS = 30_000

_QUIET_SETTINGS = {"fetchNews": "false", "checkForUpdates": False, "doNotDisturbMode": True}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder is a browser test; skipped when no browser (outside CI)."""
    here = Path(__file__).parent
    missing = None if IN_CI else _missing()
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)
            if missing is not None:
                item.add_marker(pytest.mark.skip(reason=f"browser tests: {missing}"))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LabServer:
    """A running JupyterLab: ``url`` (no trailing slash), ``token``, ``root`` (its folder)."""

    def __init__(self, *, url: str, token: str, root: Path, process: subprocess.Popen[bytes]):
        self.url = url
        self.token = token
        self.root = root
        self.process = process

    def api(self, path: str) -> object:
        """GET a JSON endpoint of the server's REST API."""
        request = urllib.request.Request(  # noqa: S310 - loopback URL built here
            f"{self.url}/api/{path}", headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            return json.load(answer)


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """A fresh JupyterLab on 127.0.0.1 whose root is a temporary copy of ``notebooks/``."""
    base = tmp_path_factory.mktemp("lab")
    root = base / "root"
    shutil.copytree(NOTEBOOKS, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    settings = base / "settings"
    notification = settings / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text(json.dumps(_QUIET_SETTINGS))
    # Every cell attached to the page, in view or not: a locator finds the output it names
    # and cell_errors() sees every cell.
    tracker = settings / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    port = _free_port()
    token = secrets.token_hex(16)
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        f"--LabServerApp.workspaces_dir={base / 'workspaces'}",
        "--LabApp.news_url=None",
        "--LabApp.extension_manager=readonly",
        "--LabApp.expose_app_in_browser=True",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(settings)}
    log = (base / "jupyterlab.log").open("wb")
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
    )
    url = f"http://127.0.0.1:{port}"
    server = LabServer(url=url, token=token, root=root, process=process)
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"JupyterLab exited early; log: {base / 'jupyterlab.log'}")
            try:
                server.api("status")
                break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start; log: {base / 'jupyterlab.log'}")
                time.sleep(0.25)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    """A system Chromium (never a Playwright-downloaded browser), headless.

    Reached only when a browser was found, or in CI, where a missing one is a failure.
    """
    missing = _missing()
    if missing is not None:
        pytest.fail(f"browser tests cannot run in CI: {missing}")
    assert CHROMIUM is not None
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Lab:
    """One browser page on the JupyterLab server, with the waits and steps tests need."""

    def __init__(self, page, server: LabServer | None, name: str) -> None:
        self.page = page
        self.server = server
        self.name = name
        self.notebook: str | None = None
        self._step = 0
        #: what the page logged as errors (a widget view that failed to render, say)
        self.console_errors: list[str] = []
        page.on(
            "console",
            lambda message: (
                self.console_errors.append(message.text) if message.type == "error" else None
            ),
        )
        page.on("pageerror", lambda error: self.console_errors.append(str(error)))

    # -- navigation ---------------------------------------------------------------------------

    def open(self, notebook: str) -> None:
        """Open ``notebook`` (a path under the server root) and wait for an idle kernel.

        ``reset`` starts from an empty workspace, so notebooks an earlier test opened on
        this server are not restored next to it.
        """
        self.notebook = notebook
        self.page.goto(f"{self.server.url}/lab/tree/{notebook}?reset&token={self.server.token}")
        self.page.wait_for_selector(".jp-Notebook", timeout=KERNEL_READY_MS)
        self.wait_kernel_idle()

    def wait_kernel_idle(self) -> None:
        """The notebook's kernel is ready, connected and idle (no dialog can race)."""
        self.page.wait_for_function(
            """async (path) => {
                const app = window.jupyterapp;
                const panel = app && app.shell.currentWidget;
                const ctx = panel && panel.sessionContext;
                if (!ctx || (path && panel.context.path !== path)) { return false; }
                await ctx.ready;
                const kernel = ctx.session && ctx.session.kernel;
                if (!kernel) { return false; }
                await kernel.info;
                return kernel.connectionStatus === 'connected' && kernel.status === 'idle';
            }""",
            arg=self.notebook,
            timeout=KERNEL_READY_MS,
            polling=250,
        )
        self.page.wait_for_function(
            """() => {
                const bar = document.querySelector('#jp-main-statusbar');
                if (!bar) { return false; }
                const text = bar.textContent;
                return text.includes('Idle') &&
                    !['Connecting', 'Initializing', 'Starting'].some((w) => text.includes(w));
            }""",
            timeout=KERNEL_READY_MS,
            polling=250,
        )

    def run_all(self) -> None:
        """Run every cell and wait until none is queued or running and the kernel is idle."""
        self.page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        self.wait_cells_done()
        executed = self.page.locator(".jp-CodeCell .jp-InputPrompt").filter(
            has_text=re.compile(r"\[\d+\]")
        )
        assert executed.count() > 0, "Run All ran no cell"

    def wait_cells_done(self, timeout: float = RUN_CELLS_MS) -> None:
        """No input prompt reads ``[*]`` and the kernel is idle."""
        self.page.wait_for_function(
            """() => {
                const prompts = [...document.querySelectorAll('.jp-InputPrompt')];
                if (prompts.some((p) => p.textContent.includes('*'))) { return false; }
                const panel = window.jupyterapp.shell.currentWidget;
                const kernel = panel && panel.sessionContext.session &&
                    panel.sessionContext.session.kernel;
                return !!kernel && kernel.status === 'idle';
            }""",
            timeout=timeout,
            polling=250,
        )

    def cell_errors(self) -> list[str]:
        """The text of every error output shown in the notebook."""
        return self.page.locator(".jp-OutputArea-output[data-mime-type*='error']").all_inner_texts()

    # -- widgets ------------------------------------------------------------------------------

    def widget_button(self, label: str | re.Pattern[str]):
        """The widget button with this label, inside a cell output."""
        return self.page.locator(".jp-OutputArea-output .widget-button").filter(has_text=label)

    def wait_text(self, text: str, *, within: str = ".jp-Notebook", timeout: float = STEP_MS):
        """Wait until ``text`` shows inside ``within``."""
        self.page.locator(within).filter(has_text=text).first.wait_for(timeout=timeout)

    # -- evidence -----------------------------------------------------------------------------

    def screenshot(self, step: str, *, locator=None) -> Path:
        """Save a numbered screenshot of the page (or of ``locator``) to artifacts/browser/."""
        self._step += 1
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.name}-{self._step:02d}-{step}.png"
        (locator or self.page).screenshot(path=str(path))
        return path


@pytest.fixture
def new_lab(chromium) -> Iterator[Callable[..., Lab]]:
    """``new_lab(name, server=None)``: a ``Lab`` on a fresh browser page (closed after the test)."""
    contexts = []

    def make(name: str, server: LabServer | None = None) -> Lab:
        context = chromium.new_context(viewport={"width": 1400, "height": 1000})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(STEP_MS)
        return Lab(page, server, name)

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def lab(new_lab, lab_server: LabServer, request: pytest.FixtureRequest) -> Iterator[Lab]:
    """A fresh browser page on the session's JupyterLab; a failure leaves a screenshot."""
    name = re.sub(r"[^A-Za-z0-9_]+", "-", request.node.name).strip("-")
    lab = new_lab(name, lab_server)
    yield lab
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        lab.screenshot("failure")
        # The browser's own errors, for a failure that shows only "javascript error".
        print("browser console errors:", *lab.console_errors[-20:], sep="\n  ")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """Keep each phase's report on the item so fixtures can tell a failed test."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
