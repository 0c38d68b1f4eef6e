"""``PagedTable``: one page of a polars DataFrame at a time, with search, sort, jump and download.

Only the rows of the current page are ever turned into HTML (a slice of the frame, which
polars takes without copying), so a table over a million rows shows its first page as fast
as one over ten. ``enrich`` adds columns to the visible page only (the people behind the
customer ids, asked of Shopgate for those rows alone); ``formatter`` then turns the page into
what is shown (masking email addresses).
"""

from __future__ import annotations

import base64
import io
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import ipywidgets as widgets
import polars as pl
import traitlets

from .._export import defuse_formulas, write_private_csv
from . import _html

__all__ = [
    "DOWNLOAD_LINK_LIMIT",
    "Format",
    "PagedTable",
    "offer_download",
    "search_frame",
    "table_bytes",
    "tool_button",
]

#: Files up to this size are offered as a link in the page; larger ones are written next to
#: the notebook (a widget message over the websocket limit would never arrive).
DOWNLOAD_LINK_LIMIT = 8 * 1024 * 1024

_ORDER = ""  # the sort choice "as listed"

Format = Literal["csv", "parquet"]


def search_frame(frame: pl.DataFrame, query: str) -> pl.DataFrame:
    """Rows of ``frame`` where any text column contains ``query`` (any letter case)."""
    text = query.strip().lower()
    if not text or frame.height == 0:
        return frame
    columns = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    if not columns:
        return frame.head(0)
    hit = pl.any_horizontal(
        pl.col(name).str.to_lowercase().str.contains(text, literal=True).fill_null(False)
        for name in columns
    )
    return frame.filter(hit)


def table_bytes(frame: pl.DataFrame, fmt: Format) -> bytes:
    """``frame`` as a CSV (formula-like cells defused) or parquet file, in memory."""
    buffer = io.BytesIO()
    if fmt == "csv":
        defuse_formulas(frame).write_csv(buffer)
    else:
        frame.write_parquet(buffer)
    return buffer.getvalue()


def offer_download(frame: pl.DataFrame, file_name: str) -> str:
    """HTML offering ``frame`` as ``file_name`` (``.csv`` or ``.parquet``): a link holding the
    file, or, over ``DOWNLOAD_LINK_LIMIT``, a note naming the private file written next to
    the notebook."""
    fmt: Format = "parquet" if file_name.endswith(".parquet") else "csv"
    data = table_bytes(frame, fmt)
    if len(data) > DOWNLOAD_LINK_LIMIT:
        path = Path.cwd() / file_name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return _html.note(
            f"{frame.height:,} rows written to {path} (too large to send to the browser).",
            level="success",
        )
    mime = "text/csv" if fmt == "csv" else "application/vnd.apache.parquet"
    href = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    link = (
        f" <a download='{_html.esc(file_name)}' href='{href}' "
        "style='font-weight:600;text-decoration:underline'>"
        f"save {_html.esc(file_name)}</a>"
    )
    return _html.note(f"{frame.height:,} rows ready:", level="success", raw_html=link)


def _button(label: str, tooltip: str) -> widgets.Button:
    return widgets.Button(
        description=label,
        tooltip=tooltip,
        layout=widgets.Layout(width="auto", min_width="max-content", padding="0 10px"),
    )


def tool_button(label: str, icon: str, tooltip: str) -> widgets.Button:
    return widgets.Button(
        description=label,
        icon=icon,
        tooltip=tooltip,
        layout=widgets.Layout(
            width="auto", min_width="max-content", padding="0 10px", margin="2px 8px 2px 0"
        ),
    )


class PagedTable(widgets.VBox):  # type: ignore[misc]
    """A browsable table: ``table.frame = df`` shows its first page.

    Python twins: ``next()``/``previous()``, ``page = 41``, ``search = "anna"``,
    ``sort_by = "row"``, ``descending = True``, ``download("csv")``, ``export(path)``.

    ``searcher(frame, query)`` picks the rows that match the search box (default: any text
    column contains it); ``enrich(page)`` adds columns to the visible page only;
    ``formatter(page)`` turns it into what is shown. Search and sort show once the frame
    is longer than a page (or a search is on); ``downloads=True`` adds CSV and parquet
    buttons. ``name`` is the file name of a download (without extension); ``export_frame()``
    what a download holds (default: the rows that match the search, in the order shown,
    without the enrichment).
    """

    #: The page shown, counted from 0.
    page = traitlets.Int(0)
    #: Rows per page.
    page_size = traitlets.Int(15)
    #: The search box's text.
    search = traitlets.Unicode("")
    #: The column the rows are sorted by ("" = as listed).
    sort_by = traitlets.Unicode(_ORDER)
    #: Sort from the largest value down.
    descending = traitlets.Bool(False)

    def __init__(
        self,
        frame: pl.DataFrame | None = None,
        *,
        page_size: int = 15,
        empty: str = "Nothing to show.",
        formatter: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
        enrich: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
        searcher: Callable[[pl.DataFrame, str], pl.DataFrame] | None = None,
        export_frame: Callable[[], pl.DataFrame] | None = None,
        name: str = "table",
        headers: dict[str, str] | None = None,
        downloads: bool = False,
        **kwargs: Any,
    ) -> None:
        self._frame = frame
        self._view: pl.DataFrame | None = None
        self._empty = empty
        self._formatter = formatter
        self.enrich = enrich
        self._searcher = searcher or search_frame
        self._export_frame = export_frame
        self.name = name
        self.headers = dict(headers or {})
        self.html = widgets.HTML()
        self.previous_button = _button(
            "\N{SINGLE LEFT-POINTING ANGLE QUOTATION MARK} previous", "Previous page"
        )
        self.next_button = _button(
            "next \N{SINGLE RIGHT-POINTING ANGLE QUOTATION MARK}", "Next page"
        )
        self.label = widgets.HTML()
        self.page_box = widgets.BoundedIntText(
            value=1,
            min=1,
            max=1,
            description="page",
            style={"description_width": "36px"},
            layout=widgets.Layout(width="130px"),
        )
        self.search_box = widgets.Text(
            placeholder="search email, name or id",
            continuous_update=False,
            layout=widgets.Layout(width="240px"),
        )
        self.sort_dropdown = widgets.Dropdown(
            options=[("as listed", _ORDER)],
            value=_ORDER,
            description="sort",
            style={"description_width": "32px"},
            layout=widgets.Layout(width="190px"),
        )
        self.descending_box = widgets.Checkbox(
            value=False, description="largest first", indent=False,
            layout=widgets.Layout(width="auto"),
        )  # fmt: skip
        self.csv_button = tool_button("CSV", "download", "Download these rows as CSV")
        self.parquet_button = tool_button("Parquet", "download", "Download these rows as parquet")
        self.download_link = widgets.HTML()
        self.previous_button.on_click(lambda _: self.previous())
        self.next_button.on_click(lambda _: self.next())
        self.csv_button.on_click(lambda _: self.download("csv"))
        self.parquet_button.on_click(lambda _: self.download("parquet"))
        self.page_box.observe(self._on_page_box_change, names="value")
        self.search_box.observe(self._on_search_box_change, names="value")
        self.sort_dropdown.observe(self._on_sort_dropdown_change, names="value")
        self.descending_box.observe(self._on_descending_box_change, names="value")
        self.toolbar = widgets.HBox(
            [
                self.search_box,
                self.sort_dropdown,
                self.descending_box,
                self.csv_button,
                self.parquet_button,
            ],
            layout=widgets.Layout(align_items="center", flex_flow="row wrap", margin="2px 0"),
        )
        self._downloads = downloads
        # None (not "flex") shows a widget as its own CSS lays it out: a button forced to
        # flex puts its icon beside the label at the wrong height.
        self.csv_button.layout.display = None if downloads else "none"
        self.parquet_button.layout.display = None if downloads else "none"
        pager = widgets.HBox(
            [self.previous_button, self.label, self.next_button, self.page_box],
            layout=widgets.Layout(align_items="center"),
        )
        self.pager = pager
        super().__init__(
            [self.toolbar, self.download_link, self.html, pager],
            **kwargs,
        )
        self.page_size = page_size
        self.observe(self._on_page_change, names="page")
        self.observe(self._on_page_size_change, names="page_size")
        self.observe(self._on_query_change, names=["search", "sort_by", "descending"])
        self._fill_sort_options()
        self.render()

    # -- data -------------------------------------------------------------------------------------

    @property
    def frame(self) -> pl.DataFrame | None:
        """The whole frame behind the table (only one page of it is rendered)."""
        return self._frame

    @frame.setter
    def frame(self, frame: pl.DataFrame | None) -> None:
        self._frame = frame
        self._view = None
        self.download_link.value = ""
        self._fill_sort_options()
        if self.page != 0:
            self.page = 0  # renders through the observer
        else:
            self.render()

    @property
    def view(self) -> pl.DataFrame:
        """The rows that match the search, in the order shown."""
        if self._view is None:
            frame = self._frame if self._frame is not None else pl.DataFrame()
            if self.search.strip():
                frame = self._searcher(frame, self.search)
            if self.sort_by and self.sort_by in frame.columns:
                frame = frame.sort(
                    self.sort_by, descending=self.descending, nulls_last=True, maintain_order=True
                )
            self._view = frame
        return self._view

    @property
    def n_rows(self) -> int:
        """Rows shown across all pages (those that match the search)."""
        return self.view.height

    @property
    def n_pages(self) -> int:
        """Pages in the whole frame (at least 1)."""
        return max(1, math.ceil(self.n_rows / max(self.page_size, 1)))

    def page_rows(self) -> pl.DataFrame:
        """The rows of the current page, enriched, before the formatter."""
        rows = self.view.slice(self.page * self.page_size, self.page_size)
        if self.enrich is not None and rows.height:
            rows = self.enrich(rows)
        return rows

    def current_page(self) -> pl.DataFrame:
        """The rows shown now (after the formatter)."""
        if self._frame is None:
            return pl.DataFrame()
        rows = self.page_rows()
        return self._formatter(rows) if self._formatter is not None else rows

    def export_frame(self) -> pl.DataFrame:
        """What a download holds."""
        if self._export_frame is not None:
            return self._export_frame()
        return self.view

    # -- actions ----------------------------------------------------------------------------------

    def next(self) -> None:
        """Show the next page (stays on the last one)."""
        self.page = min(self.page + 1, self.n_pages - 1)

    def previous(self) -> None:
        """Show the previous page (stays on the first one)."""
        self.page = max(self.page - 1, 0)

    def export(self, path: str | os.PathLike[str], fmt: Format | None = None) -> Path:
        """Write what a download holds to ``path`` (format from the suffix unless given);
        the file is readable by you only (it may hold email addresses)."""
        target = Path(path)
        kind: Format = fmt or ("parquet" if target.suffix.lower() == ".parquet" else "csv")
        frame = self.export_frame()
        if kind == "csv":
            return write_private_csv(frame, target)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            frame.write_parquet(fh)
        return target

    def download(self, fmt: Format = "csv") -> str:
        """Offer the rows as a file: a link in the panel (or, when large, a file next to the
        notebook). Returns the file name."""
        file_name = f"{self.name}.{fmt}"
        self.download_link.value = offer_download(self.export_frame(), file_name)
        return file_name

    def render(self) -> None:
        """Draw the current page and the pager."""
        empty = self._empty
        if self.search.strip() and self._frame is not None and self._frame.height:
            empty = f"No row matches {self.search.strip()!r}."
        page = self.current_page()
        if self.headers and page.width:
            page = page.rename({k: v for k, v in self.headers.items() if k in page.columns})
        self.html.value = _html.table_page(page, empty=empty)
        total = 0 if self._frame is None else self._frame.height
        if self.n_rows == 0:
            self.label.value = ""
        else:
            first = self.page * self.page_size + 1
            last = min(first + self.page_size - 1, self.n_rows)
            found = f" (search: {self.n_rows:,} of {total:,})" if self.n_rows != total else ""
            self.label.value = (
                f"<span style='padding:0 8px;opacity:.8'>rows {first:,} to {last:,} of "
                f"{self.n_rows:,}{_html.esc(found)}</span>"
            )
        self.previous_button.disabled = self.page <= 0
        self.next_button.disabled = self.page >= self.n_pages - 1
        visible = None if self.n_pages > 1 else "none"
        self.previous_button.layout.display = visible
        self.next_button.layout.display = visible
        self.page_box.layout.display = visible
        self.page_box.max = self.n_pages
        self.page_box.value = self.page + 1
        self.page_box.description = "page"
        self.page_box.tooltip = f"Go to page (1 to {self.n_pages:,})"
        long = total > self.page_size or bool(self.search.strip())
        self.search_box.layout.display = None if long else "none"
        self.sort_dropdown.layout.display = None if long else "none"
        self.descending_box.layout.display = None if long else "none"
        self.toolbar.layout.display = "flex" if long or (self._downloads and total) else "none"
        can_download = self._frame is not None and total > 0
        self.csv_button.disabled = not can_download
        self.parquet_button.disabled = not can_download

    # -- observers --------------------------------------------------------------------------------

    def _fill_sort_options(self) -> None:
        columns = [] if self._frame is None else list(self._frame.columns)
        options = [("as listed", _ORDER)] + [(self.headers.get(c, c), c) for c in columns]
        keep = self.sort_by if self.sort_by in columns else _ORDER
        self.sort_dropdown.options = options
        self.sort_dropdown.value = keep
        if self.sort_by != keep:
            self.sort_by = keep

    @traitlets.validate("page")
    def _validate_page(self, proposal: dict[str, Any]) -> int:
        return int(min(max(proposal["value"], 0), self.n_pages - 1))

    @traitlets.validate("page_size")
    def _validate_page_size(self, proposal: dict[str, Any]) -> int:
        return int(max(proposal["value"], 1))

    def _on_page_change(self, change: dict[str, Any]) -> None:
        self.render()

    def _on_page_size_change(self, change: dict[str, Any]) -> None:
        if self.page != 0:
            self.page = 0
        else:
            self.render()

    def _on_query_change(self, change: dict[str, Any]) -> None:
        self._view = None
        self.download_link.value = ""
        if self.search_box.value != self.search:
            self.search_box.value = self.search
        if self.sort_dropdown.value != self.sort_by and self.sort_by in {
            v for _, v in self.sort_dropdown.options
        }:
            self.sort_dropdown.value = self.sort_by
        self.descending_box.value = self.descending
        if self.page != 0:
            self.page = 0
        else:
            self.render()

    def _on_page_box_change(self, change: dict[str, Any]) -> None:
        self.page = int(change["new"]) - 1

    def _on_search_box_change(self, change: dict[str, Any]) -> None:
        self.search = change["new"]

    def _on_sort_dropdown_change(self, change: dict[str, Any]) -> None:
        self.sort_by = change["new"] or _ORDER

    def _on_descending_box_change(self, change: dict[str, Any]) -> None:
        self.descending = bool(change["new"])
