"""``PeopleTable``: a paged table of customer ids that shows, searches and sorts by who they are.

Every table of customer ids (a plan's sides, the changes of a past run, a push's refused
changes) is one of these: a ``PagedTable`` whose visible page is joined with the person
behind each id (masked email and name, ``_people_columns``), a search box that finds rows
by part of an email or name of anyone already known (and a whole email address by asking
Shopgate once), and a "Look up all N" row that reads everyone of the table, a hundred per
request, in a worker thread with progress and Stop, so that search and sort by email or
name cover every row.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import polars as pl

from .._errors import SegwidgetsError
from . import _html
from ._kernel_thread import drain, on_kernel_thread
from ._people_columns import (
    HEADERS,
    LOOK_UP_ALL_LIMIT,
    Lookup,
    look_up_all,
    masked,
    people_enricher,
    people_searcher,
    with_list_emails,
    with_people,
)
from ._table import PagedTable, tool_button

__all__ = ["EmailFinder", "PeopleTable"]

#: The customer ids of one whole email address (the search box asks Shopgate).
EmailFinder = Callable[[str], list[str]]


class PeopleTable(widgets.VBox):  # type: ignore[misc]
    """``people.frame = frame`` (with a ``customer_id`` column) shows it, one page at a time,
    with who each customer is.

    ``lookup()`` and ``find_email()`` give the current ``Lookup`` and email finder (None:
    not connected, ids only). ``reveal()`` says whether emails are shown in full; without
    it the table has its own "show emails" box. ``who`` names the rows in sentences
    ("to remove", "changed by this run").

    Python twins: ``people.table.search = "anna"``, ``people.table.sort_by = "name"``,
    ``people.look_up_all(wait=True)``, ``people.stop_look_up()``, ``people.reveal_box.value``.
    """

    def __init__(
        self,
        *,
        lookup: Callable[[], Lookup | None],
        find_email: Callable[[], EmailFinder | None] | None = None,
        reveal: Callable[[], bool] | None = None,
        who: str = "customers",
        page_size: int = 15,
        empty: str = "Nobody.",
        name: str = "people",
        downloads: bool = True,
        **kwargs: Any,
    ) -> None:
        self._lookup = lookup
        self._find_email = find_email
        self.who = who
        self._base: pl.DataFrame | None = None
        #: how many distinct ids the frame has (None: not counted yet)
        self._n_ids: int | None = None
        #: True when the email and name of every row are known (search and sort cover all)
        self.complete = False
        self._worker: threading.Thread | None = None
        self._looking_up = False
        self._stop = threading.Event()
        self.reveal_box = widgets.Checkbox(
            value=False, description="show emails", indent=False,
            layout=widgets.Layout(width="auto", display="none" if reveal else None),
        )  # fmt: skip
        self._reveal = reveal or (lambda: bool(self.reveal_box.value))
        self.people_note = widgets.HTML()
        self.table = PagedTable(
            page_size=page_size,
            empty=empty,
            name=name,
            formatter=self._mask,
            enrich=people_enricher(self._lookup, self._lookup_failed),
            searcher=people_searcher(self._lookup, self._find_email),
            headers=HEADERS,
            downloads=downloads,
        )
        self.look_up_button = tool_button(
            "Look up all", "search", "Read the email and name of every customer of this table"
        )
        self.look_up_button.on_click(lambda _: self.look_up_all())
        self.stop_button = tool_button("Stop", "stop", "Stop reading; what was read stays")
        self.stop_button.on_click(lambda _: self.stop_look_up())
        self.look_up_progress = widgets.IntProgress(
            value=0, min=0, max=1, layout=widgets.Layout(width="200px")
        )
        self.look_up_note = widgets.HTML()
        self.look_up_box = widgets.HBox(
            [self.look_up_button, self.stop_button, self.look_up_progress, self.look_up_note],
            layout=widgets.Layout(align_items="center", flex_flow="row wrap"),
        )
        self.reveal_box.observe(lambda _: self.table.render(), names="value")
        super().__init__(
            [self.reveal_box, self.people_note, self.look_up_box, self.table], **kwargs
        )
        self.add_class("segwidgets-people")
        self.show_look_up()

    # -- data -------------------------------------------------------------------------------------

    @property
    def frame(self) -> pl.DataFrame | None:
        """The rows behind the table, as given (without the people's columns)."""
        return self._base

    @frame.setter
    def frame(self, frame: pl.DataFrame | None) -> None:
        self.stop_look_up()
        self._base = frame
        self._n_ids = None
        self.complete = False
        self.people_note.value = ""
        self._fill()
        self.show_look_up()

    @property
    def ids(self) -> pl.Series:
        """The distinct customer ids of the table (empty without a frame)."""
        if self._base is None or "customer_id" not in self._base.columns:
            return pl.Series("customer_id", [], dtype=pl.String)
        return self._base.get_column("customer_id").cast(pl.String).unique(maintain_order=True)

    @property
    def n_ids(self) -> int:
        """How many distinct customer ids the table has (counted once per frame: a plan's
        side may hold a million)."""
        if self._base is None or "customer_id" not in self._base.columns:
            return 0
        if self._n_ids is None:
            self._n_ids = self._base.get_column("customer_id").cast(pl.String).n_unique()
        return self._n_ids

    @property
    def looking_up(self) -> bool:
        """True while ``look_up_all`` reads people in the background."""
        return self._looking_up

    def refresh(self) -> None:
        """Draw again with the current lookup (after connecting to another session)."""
        self._fill()
        self.show_look_up()

    def look_up_all(self, *, wait: bool = False) -> threading.Thread | None:
        """Read the email and name of every customer of the table, a hundred per request, in
        a worker thread with progress and Stop; then search and sort by email or name cover
        all its rows. Returns the thread (None when nothing is to read, or over
        ``LOOK_UP_ALL_LIMIT``: the reason is shown)."""
        base, lookup = self._base, self._lookup()
        if base is None or lookup is None or self.looking_up:
            return None
        ids = self.ids.to_list()
        if not ids or len(ids) > LOOK_UP_ALL_LIMIT:
            self.show_look_up()
            return None
        self._stop.clear()
        self.look_up_progress.max = max(len(ids), 1)
        self.look_up_progress.value = 0
        self.look_up_progress.bar_style = ""

        def progress(done: int, total: int) -> None:
            self.look_up_progress.value = done
            self.look_up_note.value = _html.note(
                f"Reading who they are: {done:,} of {total:,} …", level="info"
            )

        def work() -> None:
            try:
                finished = look_up_all(lookup, ids, progress=progress, stopped=self._stop.is_set)
            except Exception as exc:  # noqa: BLE001 - shown next to the button, never lost
                self._lookup_failed(f"Could not read who these customers are: {exc}")
                finished = False
            on_kernel_thread(lambda: self._looked_up(base, finished=finished))

        worker = threading.Thread(target=work, name="segwidgets look-up", daemon=True)
        self._worker = worker
        self._looking_up = True
        self.show_look_up()
        worker.start()
        if wait:
            worker.join()
            drain()
        return worker

    def stop_look_up(self) -> None:
        """Stop ``look_up_all`` after the requests in flight (what was read stays known)."""
        self._stop.set()

    # -- drawing ----------------------------------------------------------------------------------

    def _mask(self, frame: pl.DataFrame) -> pl.DataFrame:
        return frame if self._reveal() else masked(frame)

    def _lookup_failed(self, text: str) -> None:
        self.people_note.value = _html.note(text, level="warning")

    def _looked_up(self, base: pl.DataFrame, *, finished: bool) -> None:
        """Show what ``look_up_all`` read (on the kernel's thread)."""
        self._looking_up = False
        if self._base is not base:
            self.show_look_up()  # new rows came meanwhile: drawn from scratch
            return
        if finished:
            self.complete = True
            self._fill()
        self.show_look_up(stopped=not finished)

    def _fill(self) -> None:
        base = self._base
        if base is None:
            self.table.frame = None
            return
        frame = with_list_emails(base)
        lookup = self._lookup()
        if lookup is not None and frame.height and "customer_id" in frame.columns:
            ids = self.ids.to_list()
            if len(ids) <= LOOK_UP_ALL_LIMIT:
                try:
                    # A table of one page: its people are read for that page anyway.
                    known = lookup(ids, len(ids) > self.table.page_size)
                except SegwidgetsError as error:
                    self._lookup_failed(f"Could not read who these customers are: {error}")
                    known = None
                if known is not None and (self.complete or known.height == len(set(ids))):
                    self.complete = True
                    frame = with_people(frame, known)
        self.table.frame = frame

    def show_look_up(self, *, stopped: bool = False) -> None:
        """The "Look up all" row: the button, the progress, or why it is not offered."""
        busy = self.looking_up
        n = self.n_ids
        self.stop_button.layout.display = None if busy else "none"
        self.look_up_progress.layout.display = "flex" if busy or stopped else "none"
        self.look_up_button.disabled = busy
        # A table of one page shows everyone already: nothing to look up or search.
        show = self._lookup() is not None and n > self.table.page_size
        if not show or busy:
            self.look_up_button.layout.display = None if busy else "none"
            self.look_up_box.layout.display = "flex" if busy else "none"
            return
        self.look_up_box.layout.display = "flex"
        if self.complete:
            self.look_up_button.layout.display = "none"
            self.look_up_progress.layout.display = "none"
            self.look_up_note.value = _html.note(
                f"Email and name of all {n:,} {self.who} are known: search and sort by "
                "email or name cover every row.",
                level="success",
            )
            return
        if n > LOOK_UP_ALL_LIMIT:
            self.look_up_button.layout.display = "none"
            self.look_up_note.value = _html.note(
                f"Search by name or part of an email covers the rows shown so far: {n:,} "
                f"{self.who} are too many to read one by one (at most "
                f"{LOOK_UP_ALL_LIMIT:,}). Search by a whole email address instead, or "
                "download them.",
                level="muted",
            )
            return
        self.look_up_button.layout.display = None
        self.look_up_button.description = f"Look up all {n:,}"
        self.look_up_button.tooltip = (
            f"Read the email and name of all {n:,} {self.who} ({-(-n // 100):,} "
            "requests), so that search and sort by email or name cover every row"
        )
        frame = self.table.frame
        if stopped:
            text = "Stopped: what was read stays known."
        elif (
            frame is not None
            and "email" in frame.columns
            and frame.get_column("email").null_count() == 0
        ):
            text = (
                "Search and sort by email cover every row (the list has the emails); search "
                "by name covers the rows shown so far."
            )
        else:
            text = "Search by name or part of an email covers the rows shown so far."
        self.look_up_note.value = _html.note(text, level="muted")
