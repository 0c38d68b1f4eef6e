"""R11: the example notebooks, run with random canary credentials, leak none of them.

Every notebook in ``notebooks/`` is executed by nbclient (``store_widget_state=True``) in a
copy of the folder, with:

* random canary credentials: ``SHOPGATE_*`` point at a sandbox of this test started with
  them, and every sandbox a notebook starts itself gets them too (a hidden first cell sets
  the defaults of ``sandbox.start``; it reads the canaries from the environment, so no cell
  source holds one);
* faults on (429 and 503 on a share of all calls, token endpoint included);
* DEBUG logging of everything to a file, and verbose tracebacks (``%xmode Verbose``);
* at the end, a probe that writes the repr, str and HTML repr of every object the notebook
  made (plain strings and numbers aside) to a file, a failed sign-in with a wrong
  password, and errors inside ``SegmentSession.connect`` (insecure URL) and ``from_env``
  (unknown environment), whose verbose tracebacks (every frame's locals) stay in the
  notebook.

The notebook is saved with outputs and widget state. Must hold: 0 occurrences of any canary
(raw, URL-encoded, base64 at any alignment, JSON-escaped) and of any sandbox token in the
saved notebooks, the logs, the reprs, exception texts, and every file written (journals,
plan files, exports).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import shutil
import urllib.parse
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from reliability_kit import capture_logs

from segwidgets import sandbox as sandbox_package

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
FAULTS = {"error_429_rate": 0.05, "retry_after": ["0"], "error_5xx_rate": 0.03}
TOKEN_RE = re.compile(rb"sb[xr]_[A-Za-z0-9_-]{16,}")

SETUP = """\
import json as _json
import logging as _logging
import os as _os

import segwidgets.sandbox as _sbx
from segwidgets import SegmentSession as _Session

_env = _os.environ
_logging.basicConfig(
    level=_logging.DEBUG, filename=_env["CANARY_LOG"], force=True,
    format="%(levelname)s %(name)s: %(message)s",
)
get_ipython().run_line_magic("xmode", "Verbose")
_original_start = _sbx.start
_original_sandbox = _Session.sandbox.__func__


_started = []


def _canary_start(**kwargs):
    kwargs.setdefault("client_id", _env["CANARY_CLIENT_ID"])
    kwargs.setdefault("client_secret", _env["CANARY_SECRET"])
    kwargs.setdefault("username", _env["CANARY_USERNAME"])
    kwargs.setdefault("password", _env["CANARY_PASSWORD"])
    for _name, _value in _json.loads(_env["CANARY_FAULTS"]).items():
        kwargs.setdefault(_name, _value)
    _started.append(_original_start(**kwargs))
    return _started[-1]


def _canary_sandbox(cls, **kwargs):
    _canary_sandbox.n += 1
    kwargs.setdefault("journal", _os.path.join(_env["CANARY_WORKDIR"], f"journal-{_canary_sandbox.n}.sqlite3"))
    return _original_sandbox(cls, **kwargs)


_canary_sandbox.n = 0
_sbx.start = _canary_start
_Session.sandbox = classmethod(_canary_sandbox)
"""

PROBE_REPRS = """\
import os as _os

with open(_os.path.join(_os.environ["CANARY_WORKDIR"], "tokens.txt"), "w") as _out:
    _out.write(str(sum(_h.state()["tokens"]["issued"] for _h in _started)))

with open(_os.path.join(_os.environ["CANARY_WORKDIR"], "reprs.txt"), "w") as _out:
    for _name, _value in list(globals().items()):
        if _name.startswith("_") or _name in {"In", "Out", "get_ipython", "exit", "quit"}:
            continue
        if type(_value).__name__ in {"module", "function", "type", "builtin_function_or_method"}:
            continue
        if isinstance(_value, (str, bytes, int, float, bool)):
            continue  # a notebook's own strings (one reads a secret on purpose to test a repr)
        for _show in (repr, str, lambda v: v._repr_html_() if hasattr(v, "_repr_html_") else ""):
            try:
                _out.write(f"{_name}: {_show(_value)}\\n")
            except Exception as _exc:  # a repr that fails is written as its error
                _out.write(f"{_name}: {type(_exc).__name__}: {_exc}\\n")
"""

PROBE_ERROR = """\
import os as _os

import segwidgets as _sw

_bad = _sw.SegmentSession.connect(
    merchant_code=_os.environ["SHOPGATE_MERCHANT_CODE"],
    client_id=_os.environ["SHOPGATE_CLIENT_ID"],
    client_secret=_os.environ["SHOPGATE_CLIENT_SECRET"],
    username=_os.environ["SHOPGATE_USERNAME"],
    password=_os.environ["CANARY_WRONG"],
    base_url=_os.environ["SHOPGATE_BASE_URL"],
)
_bad.segments()  # refused: the verbose traceback is saved in the notebook
"""

# Errors inside the entry points, under %xmode Verbose: the frames of the saved tracebacks
# show their local variables, and no canary may be among them. The credentials come through
# a function call, which the traceback does not evaluate, so only segwidgets' frames count.
PROBE_CONNECT_ERROR = """\
import os as _os

import segwidgets as _sw


def _cred(name):
    return _os.environ[name]


_sw.SegmentSession.connect(
    merchant_code=_cred("SHOPGATE_MERCHANT_CODE"),
    client_id=_cred("SHOPGATE_CLIENT_ID"),
    client_secret=_cred("SHOPGATE_CLIENT_SECRET"),
    username=_cred("SHOPGATE_USERNAME"),
    password=_cred("SHOPGATE_PASSWORD"),
    base_url="http://shopgate.example/{service}",
)
"""

PROBE_FROM_ENV_ERROR = """\
import os as _os

import segwidgets as _sw

_os.environ["SHOPGATE_ENV"] = "nowhere"
_os.environ.pop("SHOPGATE_BASE_URL", None)
_sw.SegmentSession.from_env()
"""


def canary(kind: str) -> str:
    """A random value with characters that URL and JSON encode differently."""
    return f"{kind}/{secrets.token_hex(10)}+ä{secrets.token_hex(4)}"


def b64_forms(value: bytes) -> list[bytes]:
    """Base64 (standard and URL-safe) of ``value`` inside any longer text, at each alignment."""
    forms = []
    for offset in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(b"\0" * offset + value)
            start = 4 if offset else 0  # the first block mixes in the bytes before
            forms.append(encoded[start:-4])  # the last block mixes in the bytes after
    return forms


def forms_of(value: str) -> list[bytes]:
    raw = value.encode()
    return [
        raw,
        urllib.parse.quote(value, safe="").encode(),
        urllib.parse.quote_plus(value).encode(),
        json.dumps(value)[1:-1].encode(),
        json.dumps(json.dumps(value))[3:-3].encode(),  # a JSON string inside a JSON string
        *b64_forms(raw),
    ]


def scan(blob: bytes, canaries: dict[str, str], basic: str) -> list[str]:
    found = [
        f"{name} as {form[:24]!r}"
        for name, value in canaries.items()
        for form in forms_of(value)
        if form and form in blob
    ]
    found += ["the HTTP Basic credentials" for form in b64_forms(basic.encode()) if form in blob]
    token = TOKEN_RE.search(blob)
    if token is not None:
        found.append(f"a sandbox token {token.group(0)[:8]!r}")
    return found


def test_r11_there_are_example_notebooks_to_check() -> None:
    assert NOTEBOOKS, "notebooks/ holds no example notebook: R11 has nothing to run"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[f"R11-{p.stem}" for p in NOTEBOOKS])
def test_r11_notebook_leaks_no_canary(notebook: Path, tmp_path, monkeypatch) -> None:
    workdir = tmp_path / "notebooks"
    shutil.copytree(notebook.parent, workdir, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    canaries = {
        "CANARY_SECRET": canary("sec"),
        "CANARY_PASSWORD": canary("pwd"),
        "CANARY_WRONG": canary("wrong"),
    }
    client_id = f"cid-{secrets.token_hex(6)}"
    basic = f"{client_id}:{canaries['CANARY_SECRET']}"
    with (
        capture_logs() as logs,
        sandbox_package.start(
            customers=5000,
            seed=1,
            client_id=client_id,
            client_secret=canaries["CANARY_SECRET"],
            password=canaries["CANARY_PASSWORD"],
            **FAULTS,
        ) as server,
    ):
        creds = server.credentials
        env = {
            **canaries,
            "CANARY_CLIENT_ID": client_id,
            "CANARY_USERNAME": creds.username,
            "CANARY_FAULTS": json.dumps(FAULTS),
            "CANARY_WORKDIR": str(workdir),
            "CANARY_LOG": str(workdir / "kernel.log"),
            "SHOPGATE_MERCHANT_CODE": creds.merchant_code,
            "SHOPGATE_CLIENT_ID": client_id,
            "SHOPGATE_CLIENT_SECRET": canaries["CANARY_SECRET"],
            "SHOPGATE_USERNAME": creds.username,
            "SHOPGATE_PASSWORD": canaries["CANARY_PASSWORD"],
            "SHOPGATE_BASE_URL": creds.base_url,
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        nb = nbformat.read(workdir / notebook.name, as_version=4)
        nb.cells.insert(0, nbformat.v4.new_code_cell(SETUP))
        nb.cells.append(nbformat.v4.new_code_cell(PROBE_REPRS))
        for probe in (PROBE_ERROR, PROBE_CONNECT_ERROR, PROBE_FROM_ENV_ERROR):
            error_cell = nbformat.v4.new_code_cell(probe)
            error_cell.metadata["tags"] = ["raises-exception"]
            nb.cells.append(error_cell)
        client = NotebookClient(
            nb,
            timeout=300,
            kernel_name="python3",
            store_widget_state=True,
            resources={"metadata": {"path": str(workdir)}},
        )
        client.execute()
        nbformat.write(nb, workdir / notebook.name)
        texts = [repr(server), repr(creds), str(creds), logs.text()]
        state = server.state()

    # the run was real: the notebook signed in, the faults fired, the refusal was shown
    saved = (workdir / notebook.name).read_text(encoding="utf-8")
    assert "AuthenticationError" in saved
    assert "InsecureURLError" in saved
    assert "Unknown environment" in saved
    assert "Secret('**********')" in saved  # the verbose frames were saved, secrets masked
    assert "application/vnd.jupyter.widget-state+json" in nb.metadata.get("widgets", {})
    log = (workdir / "kernel.log").read_text(encoding="utf-8")
    assert "DEBUG segwidgets" in log
    assert (workdir / "reprs.txt").stat().st_size > 0
    # the notebook signed in with the canaries: to this test's sandbox, or to its own
    in_kernel = int((workdir / "tokens.txt").read_text())
    assert state["tokens"]["issued"] + in_kernel >= 1

    written = [p for p in workdir.rglob("*") if p.is_file()]
    leaks = {}
    for path in written:
        found = scan(path.read_bytes(), canaries, basic)
        if found:
            leaks[str(path.relative_to(workdir))] = found
    for number, text in enumerate(texts):
        found = scan(text.encode(), canaries, basic)
        if found:
            leaks[f"test-process text {number}"] = found
    assert leaks == {}


def test_r11_the_scan_finds_every_form_of_a_canary() -> None:
    """The scan itself can fail: each encoding of a canary, anywhere in a text, is found."""
    value = canary("sec")
    canaries = {"CANARY_SECRET": value}
    basic = f"cid-1:{value}"
    encodings = [
        value,
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote_plus(value),
        json.dumps(value),
        json.dumps({"outputs": json.dumps(value)}),
        base64.b64encode(value.encode()).decode(),
        base64.urlsafe_b64encode(f"xy{value}z".encode()).decode(),
        "Basic " + base64.b64encode(basic.encode()).decode(),
    ]
    for encoded in encodings:
        for prefix in ("", "a", "ab", "abc"):
            blob = f"<p>{prefix}{encoded} tail</p>".encode()
            assert scan(blob, canaries, basic), encoded
    assert scan(b"Bearer sbx_" + b"A" * 32, canaries, basic)
    assert scan(b"nothing to see here", canaries, basic) == []
