"""The member-list panel speaks plain language: no Python in its labels, hints or messages,
and the upload button's label never shows ipywidgets' file count."""

from __future__ import annotations

import datetime as dt
import re

import ipywidgets as widgets
import polars as pl

from segwidgets import widgets as sww
from segwidgets.widgets import _builder

_PYTHON = re.compile(r"builder\.|load\(|\bframe\)|DataFrame|\bNone\b|\w+\(\)")


def _texts(widget: widgets.Widget) -> list[str]:
    """Every text a user can read on ``widget`` and its children."""
    found: list[str] = []
    for name in ("value", "description", "placeholder", "tooltip"):
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


def test_upload_label_is_a_sentence_without_the_file_count():
    builder = sww.MemberListBuilder()
    assert builder.upload.description == _builder.UPLOAD_LABEL == "Upload a file"
    assert "segwidgets-upload" in builder.upload._dom_classes
    # ipywidgets writes "<description> (<n>)" on the button: the CSS hides it and draws
    # the label, so the "(0)" left after a file is read never shows.
    style = builder.upload_hint.value
    assert ".segwidgets-upload{font-size:0" in style
    assert "content:'Upload a file'" in style
    assert f"up to {_builder.UPLOAD_LIMIT_MIB} MiB" in style
    assert "path" in style
    assert "https://" in style


def test_an_upload_is_read_and_emptied_from_the_widget():
    builder = sww.MemberListBuilder()
    data = pl.DataFrame({"email": ["a@example.org", "b@example.org"]}).write_csv().encode()
    builder.upload.value = (
        {"name": "list.csv", "type": "text/csv", "size": len(data), "content": memoryview(data),
         "last_modified": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)},
    )  # fmt: skip
    assert builder.members is not None
    assert builder.members.n_valid == 2
    assert builder.upload.value == ()
