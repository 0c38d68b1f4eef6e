"""A saved notebook keeps no secret: run panels in a real kernel, save outputs and widget state.

nbclient executes the notebook and stores the widget state as a saved notebook would (it
emulates the front end, including Output widgets). Canary secrets reach the kernel only
through environment variables, never through the cells, so any occurrence in the saved
file came from a panel.
"""

from __future__ import annotations

import base64
import json
import secrets
import urllib.parse
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]

CELLS = [
    """import os
from segwidgets import sandbox
from segwidgets.widgets import ConnectPanel, SegmentApp

env = os.environ
server = sandbox.start(
    customers=60, seed=1, client_secret=env["CANARY_SECRET"], password=env["CANARY_PASSWORD"]
)
creds = server.credentials
common = {
    "SHOPGATE_MERCHANT_CODE": creds.merchant_code,
    "SHOPGATE_CLIENT_ID": creds.client_id,
    "SHOPGATE_USERNAME": creds.username,
    "SHOPGATE_BASE_URL": server.base_url,
}""",
    # the client secret from the environment, the password typed into the masked field
    """panel = ConnectPanel(environ={**common, "SHOPGATE_CLIENT_SECRET": env["CANARY_SECRET"]})
panel.target = "shopgate"
panel.password.value = env["CANARY_PASSWORD"]
session = panel.connect()
assert session is not None, panel.status_text
panel""",
    # a failed sign-in with a typed wrong secret: the error is shown, the secret is not
    """bad = ConnectPanel(environ=common)
bad.target = "shopgate"
bad.client_secret.value = env["CANARY_WRONG"]
bad.password.value = env["CANARY_PASSWORD"]
assert bad.connect() is None and bad.last_error is not None
bad""",
    """app = SegmentApp(session)
app.picker.value = "newsletter"
app""",
    "print(repr(session), repr(creds), session.client.credentials)",
]


def _forms(value: str) -> list[str]:
    encoded = value.encode()
    return [
        value,
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote_plus(value),
        base64.b64encode(encoded).decode().rstrip("="),
        base64.urlsafe_b64encode(encoded).decode().rstrip("="),
        json.dumps(value)[1:-1],
    ]


def test_saved_notebook_with_widget_state_holds_no_secret(tmp_path, monkeypatch):
    canaries = {
        "CANARY_SECRET": "cs-" + secrets.token_hex(12),
        "CANARY_PASSWORD": "pw-" + secrets.token_hex(12),
        "CANARY_WRONG": "wr-" + secrets.token_hex(12),
    }
    for name, value in canaries.items():
        monkeypatch.setenv(name, value)
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    client = NotebookClient(
        notebook, timeout=120, kernel_name="python3", store_widget_state=True,
        resources={"metadata": {"path": str(tmp_path)}},
    )  # fmt: skip
    client.execute()
    saved = tmp_path / "saved.ipynb"
    nbformat.write(notebook, saved)
    text = saved.read_text()

    state = notebook.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert len(state) > 50  # the panels' widgets really were saved
    assert "Could not finish connecting" in text  # and the failed sign-in was shown
    # A base64 form is also looked for inside the whole file, so check the canaries' own
    # characters cannot occur by chance: they are long random hex strings.
    for name, value in canaries.items():
        for form in _forms(value):
            assert form not in text, f"{name} leaked into the saved notebook as {form!r}"
