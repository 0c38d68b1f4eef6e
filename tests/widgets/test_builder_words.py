"""The member-list panel speaks plain language: no Python in its labels, hints or messages,
and the upload button's label never shows ipywidgets' file count."""

from __future__ import annotations

import re

import ipywidgets as widgets
import polars as pl

from segwidgets import widgets as sww
from segwidgets.widgets import _builder

_PYTHON = re.compile(r"builder\.|load\(|\bframe\)|DataFrame|\bNone\b|\w+\(\)")


def _texts(widget: widgets.Widget) -> list[str]:
    """Every text a user can read on ``widget`` and its children."""
    found: list[str] = []
    for name in ("value", "description", "placeholder", "tooltip", "label", "hint", "message"):
        value = getattr(widget, name, None)
        if isinstance(value, str):
            found.append(value)
    for output in getattr(widget, "outputs", ()) or ():
        found.extend(str(v) for v in output.get("data", {}).values())
    for child in getattr(widget, "children", ()) or ():
        found.extend(_texts(child))
    return found


def _strip_style(text: str) -> str:
    return re.sub(r"<style>.*?</style>", "", text, flags=re.DOTALL)


def test_builder_has_no_python_in_what_it_shows():
    builder = sww.MemberListBuilder()
    builder.read()  # nothing loaded yet: the status says what to do
    texts = [_strip_style(t) for t in _texts(builder)]
    shown = "\n".join(texts)
    assert "type its path or link" in shown
    assert not _PYTHON.search(shown), _PYTHON.search(shown)


def test_upload_label_is_a_sentence_without_a_file_count_or_size_limit():
    builder = sww.MemberListBuilder()
    assert builder.upload.label == _builder.UPLOAD_LABEL == "Upload a file"
    assert "segwidgets-upload" in builder.upload._dom_classes
    # Uploads go in pieces: no size hint below the websocket limit, and the way in for a
    # file elsewhere is still said.
    hint = builder.upload_hint.value
    assert "MiB" not in hint
    assert "path" in hint
    assert "https://" in hint
    assert "512 MiB" in builder.upload.hint  # the reader's own limit


def test_an_upload_is_read_and_its_bytes_are_in_no_trait():
    builder = sww.MemberListBuilder()
    data = pl.DataFrame({"email": ["a@example.org", "b@example.org"]}).write_csv().encode()
    builder.upload.receive_file(data, name="list.csv")
    assert builder.members is not None
    assert builder.members.n_valid == 2
    assert builder.members.source == "list.csv"
    state = builder.upload.get_state()
    assert not any(isinstance(value, (bytes, memoryview)) for value in state.values())
    assert "a@example.org" not in repr(state)
