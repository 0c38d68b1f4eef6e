"""Small HTML fragments the panels show: notes, counts, bars and table pages.

Every value is escaped here, and colours come from JupyterLab's ``--jp-*`` CSS variables
(with a fallback for other front ends), so panels read well in light and dark themes.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Literal, TypeAlias

import polars as pl

__all__ = [
    "Level",
    "bars",
    "counts",
    "esc",
    "note",
    "table_page",
    "title",
]

#: How a note is coloured.
Level: TypeAlias = Literal["info", "success", "warning", "error", "muted"]

_COLOURS: dict[Level, str] = {
    "info": "var(--jp-info-color1, #0369a1)",
    "success": "var(--jp-success-color1, #15803d)",
    "warning": "var(--jp-warn-color1, #b45309)",
    "error": "var(--jp-error-color1, #b91c1c)",
    "muted": "var(--jp-border-color1, #9ca3af)",
}
_TEXT = "color: var(--jp-ui-font-color1, inherit)"
_SMALL = "font-size: var(--jp-ui-font-size1, 13px)"
_MONO = "font-family: var(--jp-code-font-family, monospace)"


def esc(value: object) -> str:
    """HTML-escape ``str(value)`` (``None`` shows as an empty string)."""
    return "" if value is None else html.escape(str(value))


def title(text: str, *, subtitle: str = "") -> str:
    """A panel heading."""
    sub = f" <span style='opacity:.7;font-weight:400'>{esc(subtitle)}</span>" if subtitle else ""
    return (
        f"<div style='{_TEXT};font-size:var(--jp-ui-font-size2,15px);font-weight:600;"
        f"margin:2px 0 4px 0'>{esc(text)}{sub}</div>"
    )


def note(text: str, *, level: Level = "info", detail: str = "", raw_html: str = "") -> str:
    """A short message with a coloured edge; ``detail`` is plain text shown under it."""
    body = esc(text) + raw_html
    if detail:
        body += f"<div style='opacity:.8;margin-top:2px'>{esc(detail)}</div>"
    return (
        f"<div style='{_TEXT};{_SMALL};border-left:4px solid {_COLOURS[level]};"
        f"padding:4px 8px;margin:2px 0'>{body}</div>"
    )


def counts(
    items: Iterable[tuple[str, int | str] | tuple[str, int | str, Level]],
    *,
    level: Level = "info",
) -> str:
    """A row of labelled numbers (``12,345`` over ``to add``); an item's third value is its
    colour (adds ``success``, removes ``error``, totals ``muted``), else ``level``."""
    cells = []
    for item in items:
        label, value = item[0], item[1]
        colour = _COLOURS[item[2]] if len(item) == 3 else _COLOURS[level]
        if colour == _COLOURS["muted"]:
            colour = "var(--jp-ui-font-color1, #1f2937)"
        shown = f"{value:,}" if isinstance(value, int) else esc(value)
        cells.append(
            "<div style='display:inline-block;margin:0 18px 2px 0'>"
            f"<div style='font-size:var(--jp-ui-font-size3,18px);font-weight:600;"
            f"color:{colour}'>{shown}</div>"
            f"<div style='opacity:.75'>{esc(label)}</div></div>"
        )
    return f"<div style='{_TEXT};{_SMALL}'>{''.join(cells)}</div>"


def bars(rows: Sequence[tuple[str, int, Level]], *, total: int | None = None) -> str:
    """A horizontal bar chart of counts, scaled to ``total`` (or the largest count)."""
    scale = max([total or 0, *(count for _, count, _ in rows), 1])
    lines = []
    for label, count, level in rows:
        width = 100.0 * count / scale
        lines.append(
            "<div style='display:flex;align-items:center;margin:1px 0'>"
            f"<div style='width:11em;flex:none'>{esc(label)}</div>"
            "<div style='flex:1;background:var(--jp-layout-color2,#eee);height:12px;"
            "border-radius:2px;margin:0 8px'>"
            f"<div style='width:{width:.2f}%;height:12px;border-radius:2px;"
            f"background:{_COLOURS[level]}'></div></div>"
            f"<div style='width:6em;text-align:right;{_MONO}'>{count:,}</div></div>"
        )
    return f"<div style='{_TEXT};{_SMALL};max-width:640px'>{''.join(lines)}</div>"


def table_page(frame: pl.DataFrame, *, empty: str = "Nothing to show.") -> str:
    """An HTML table of ``frame`` (the caller passes one page of rows, never all).

    Long cells are cut with an ellipsis (the whole value shows on hover), so a table fits
    a 1024 px screen and scrolls sideways when it does not. A cell of several lines (a
    list, one item per line) shows each line."""
    if frame.height == 0:
        return note(empty, level="muted")
    head = "".join(
        f"<th style='text-align:left;padding:2px 10px 2px 0;"
        f"border-bottom:1px solid var(--jp-border-color1,#ccc)'>{esc(name)}</th>"
        for name in frame.columns
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td title='{esc(cell)}' style='text-align:left;padding:1px 12px 1px 0;"
            f"line-height:1.35;max-width:28em;overflow:hidden;text-overflow:ellipsis;"
            f"vertical-align:top;white-space:{_wrap(cell)};"
            f"{_MONO if _is_code(name) else ''}'>{esc(cell)}</td>"
            for name, cell in zip(frame.columns, row, strict=True)
        )
        + "</tr>"
        for row in frame.iter_rows()
    )
    return (
        f"<div style='overflow-x:auto;max-width:100%'>"
        f"<table style='{_TEXT};{_SMALL};border-collapse:collapse'>"
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def _wrap(cell: object) -> str:
    """``pre`` for a cell of several lines (each shown, none wrapped), else ``nowrap``."""
    return "pre" if isinstance(cell, str) and "\n" in cell else "nowrap"


def _is_code(column: str) -> bool:
    """Columns of ids and raw values are shown in a monospace font, names and words not."""
    return "id" in column.split() or column in {"customer_id", "run_id", "value", "email"}
