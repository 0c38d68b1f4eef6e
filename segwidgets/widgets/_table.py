"""``PagedTable``: one page of a polars DataFrame at a time, with previous/next.

Only the rows of the current page are ever turned into HTML (a slice of the frame, which
polars takes without copying), so a table over a million rows shows its first page as fast
as one over ten.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import polars as pl
import traitlets

from . import _html

__all__ = ["PagedTable"]


def _button(icon: str, tooltip: str) -> widgets.Button:
    return widgets.Button(
        icon=icon, tooltip=tooltip, layout=widgets.Layout(width="34px", padding="0")
    )


class PagedTable(widgets.VBox):  # type: ignore[misc]
    """A browsable table: ``table.frame = df`` shows its first page; ``next()``/``previous()``.

    ``formatter`` turns the page about to be shown into what is shown (for example masking
    email addresses); it sees only that page.
    """

    #: The page shown, counted from 0.
    page = traitlets.Int(0)
    #: Rows per page.
    page_size = traitlets.Int(15)

    def __init__(
        self,
        frame: pl.DataFrame | None = None,
        *,
        page_size: int = 15,
        empty: str = "Nothing to show.",
        formatter: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
        **kwargs: Any,
    ) -> None:
        self._frame = frame
        self._empty = empty
        self._formatter = formatter
        self.html = widgets.HTML()
        self.previous_button = _button("chevron-left", "Previous page")
        self.next_button = _button("chevron-right", "Next page")
        self.label = widgets.HTML()
        self.previous_button.on_click(lambda _: self.previous())
        self.next_button.on_click(lambda _: self.next())
        pager = widgets.HBox(
            [self.previous_button, self.label, self.next_button],
            layout=widgets.Layout(align_items="center"),
        )
        super().__init__([self.html, pager], **kwargs)
        self.page_size = page_size
        self.observe(self._on_page_change, names="page")
        self.observe(self._on_page_size_change, names="page_size")
        self.render()

    # -- data -------------------------------------------------------------------------------------

    @property
    def frame(self) -> pl.DataFrame | None:
        """The whole frame behind the table (only one page of it is rendered)."""
        return self._frame

    @frame.setter
    def frame(self, frame: pl.DataFrame | None) -> None:
        self._frame = frame
        if self.page != 0:
            self.page = 0  # renders through the observer
        else:
            self.render()

    @property
    def n_rows(self) -> int:
        """Rows in the whole frame."""
        return 0 if self._frame is None else self._frame.height

    @property
    def n_pages(self) -> int:
        """Pages in the whole frame (at least 1)."""
        return max(1, math.ceil(self.n_rows / max(self.page_size, 1)))

    def current_page(self) -> pl.DataFrame:
        """The rows shown now (after the formatter)."""
        if self._frame is None:
            return pl.DataFrame()
        rows = self._frame.slice(self.page * self.page_size, self.page_size)
        return self._formatter(rows) if self._formatter is not None else rows

    # -- actions ----------------------------------------------------------------------------------

    def next(self) -> None:
        """Show the next page (stays on the last one)."""
        self.page = min(self.page + 1, self.n_pages - 1)

    def previous(self) -> None:
        """Show the previous page (stays on the first one)."""
        self.page = max(self.page - 1, 0)

    def render(self) -> None:
        """Draw the current page and the pager."""
        self.html.value = _html.table_page(self.current_page(), empty=self._empty)
        if self.n_rows == 0:
            self.label.value = ""
        else:
            first = self.page * self.page_size + 1
            last = min(first + self.page_size - 1, self.n_rows)
            self.label.value = (
                f"<span style='padding:0 8px;opacity:.8'>rows {first:,} to {last:,} of "
                f"{self.n_rows:,}</span>"
            )
        self.previous_button.disabled = self.page <= 0
        self.next_button.disabled = self.page >= self.n_pages - 1
        visible = "flex" if self.n_pages > 1 else "none"
        self.previous_button.layout.display = visible
        self.next_button.layout.display = visible

    # -- observers --------------------------------------------------------------------------------

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
