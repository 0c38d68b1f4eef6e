"""``PlanView``: a plan's counts, cost, mass-removal warning and paged member tables.

Shared by the diff preview and the undo preview in the history panel. Only the first
page of each side is rendered, whatever the size of the plan; each row shows the person
(masked email, name, the row of the list it came from), looked up for that page alone.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Any, Literal

import ipywidgets as widgets
import polars as pl
import traitlets

from .._plan import SegmentPlan
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
from ._table import PagedTable, offer_download, tool_button

__all__ = ["PlanView", "Side", "for_review", "plan_frame"]

#: A side of the plan: its tables in tab order.
Side = Literal["adds", "removes", "kept"]
_SIDES: tuple[Side, ...] = ("adds", "removes", "kept")
_WHO = {"adds": "to add", "removes": "to remove", "kept": "kept"}


def for_review(plan: SegmentPlan) -> SegmentPlan:
    """The plan as the user reviews it: over the mass-removal guard it carries no consent.

    Panels ask the session for a plan with ``allow_mass_removal=True`` so that they can
    show it at all; the consent is given again only when the user confirms the push, so
    ``session.apply(plan)`` on a reviewed plan still refuses a mass removal.
    """
    if plan.needs_mass_removal_consent and plan.allow_mass_removal:
        return dataclasses.replace(plan, allow_mass_removal=False)
    return plan


def _with_inputs(side: pl.DataFrame, inputs: pl.DataFrame | None) -> pl.DataFrame:
    if inputs is None or side.height == 0:
        return side
    return side.join(inputs, on="customer_id", how="left", maintain_order="left")


def plan_frame(plan: SegmentPlan, inputs: pl.DataFrame | None = None) -> pl.DataFrame:
    """The whole plan as one table for a download: ``customer_id``, ``action`` (add /
    remove / keep) and, when the list is known, its ``row`` and ``value``."""
    return _with_inputs(plan.to_polars(), inputs)


class PlanView(widgets.VBox):  # type: ignore[misc]
    """Shows ``view.plan``: what is added, removed and kept, and what it costs.

    ``view.lookup`` (set by the panel from its session) tells who a customer id is;
    ``view.inputs`` (``customer_id``, ``row``, ``value``) where each id came from in the
    list. Python twins: ``view.reveal = True``, ``view.removes_table.search = "anna"``,
    ``view.download("csv")``, ``view.look_up_all("removes", wait=True)`` (who every
    customer of a side is, so that search and sort by email or name cover all its rows),
    ``view.stop_look_up()``.
    """

    #: The plan shown (None: nothing to show).
    plan = traitlets.Instance(SegmentPlan, allow_none=True)
    #: Show email addresses in full.
    reveal = traitlets.Bool(False)

    def __init__(self, *, page_size: int = 15, **kwargs: Any) -> None:
        self.lookup: Lookup | None = None
        #: the customer ids of a whole email address (the search box asks Shopgate)
        self.find_email: Callable[[str], list[str]] | None = None
        self._inputs: pl.DataFrame | None = None
        #: the sides whose people were all read (for the plan shown)
        self._complete: set[Side] = set()
        self._look_up_worker: threading.Thread | None = None
        self._looking_up = False
        self._look_up_stop = threading.Event()
        self.summary = widgets.HTML()
        self.warning = widgets.HTML()
        self.people_note = widgets.HTML()
        enrich = people_enricher(lambda: self.lookup, self._lookup_failed)
        search = people_searcher(lambda: self.lookup, lambda: self.find_email)
        common: dict[str, Any] = {
            "page_size": page_size,
            "formatter": self._mask,
            "enrich": enrich,
            "searcher": search,
            "headers": HEADERS,
            "downloads": True,
        }
        self.adds_table = PagedTable(empty="Nobody to add.", name="to-add", **common)
        self.removes_table = PagedTable(empty="Nobody to remove.", name="to-remove", **common)
        self.unchanged_table = PagedTable(empty="Nobody kept.", name="kept", **common)
        self.tables = (self.adds_table, self.removes_table, self.unchanged_table)
        self.tabs = widgets.Tab(
            children=list(self.tables),
            titles=("To add", "To remove", "Kept"),
        )
        self.reveal_box = widgets.Checkbox(
            value=False, description="show emails", indent=False,
            layout=widgets.Layout(width="auto"),
        )  # fmt: skip
        self.csv_button = tool_button("Plan as CSV", "download", "Download the whole plan as CSV")
        self.parquet_button = tool_button(
            "Plan as parquet", "download", "Download the whole plan as parquet"
        )
        self.download_link = widgets.HTML()
        self.csv_button.on_click(lambda _: self.download("csv"))
        self.parquet_button.on_click(lambda _: self.download("parquet"))
        self.reveal_box.observe(self._on_reveal_box_change, names="value")
        self.tools = widgets.HBox(
            [self.reveal_box, self.csv_button, self.parquet_button],
            layout=widgets.Layout(align_items="center", flex_flow="row wrap"),
        )
        self.look_up_button = tool_button(
            "Look up all", "search", "Read the email and name of every customer of this tab"
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
        self.tabs.observe(self._on_tabs_selected_index_change, names="selected_index")
        super().__init__(
            [self.summary, self.warning, self.tools, self.download_link, self.people_note,
             self.look_up_box, self.tabs],
            **kwargs,
        )  # fmt: skip
        self.observe(self._on_plan_change, names="plan")
        self.observe(self._on_reveal_change, names="reveal")
        self.render()

    # -- data -------------------------------------------------------------------------------------

    @property
    def inputs(self) -> pl.DataFrame | None:
        """Where each customer id came from in the list: ``customer_id``, ``row``, ``value``."""
        return self._inputs

    @inputs.setter
    def inputs(self, frame: pl.DataFrame | None) -> None:
        self._inputs = frame
        self.render()

    def set_lookup(
        self, lookup: Lookup | None, find_email: Callable[[str], list[str]] | None = None
    ) -> None:
        """Who a customer id is (``session.people``-like) and which ids an email has; None
        shows ids only."""
        self.lookup = lookup
        self.find_email = find_email
        for table in self.tables:
            table.render()
        self._show_look_up()

    @property
    def side(self) -> Side:
        """The side of the plan whose tab is open."""
        return _SIDES[self.tabs.selected_index or 0]

    @property
    def looking_up(self) -> bool:
        """True while ``look_up_all`` reads people in the background."""
        return self._looking_up

    def table_of(self, side: Side) -> PagedTable:
        """The table of one side of the plan."""
        return self.tables[_SIDES.index(side)]

    def ids_of(self, side: Side) -> pl.Series:
        """The customer ids of one side of the plan shown (empty without a plan)."""
        plan = self.plan
        if plan is None:
            return pl.Series("customer_id", [], dtype=pl.String)
        frame = {"adds": plan.adds, "removes": plan.removes, "kept": plan.unchanged}[side]
        return frame.get_column("customer_id").cast(pl.String)

    def look_up_all(
        self, side: Side | None = None, *, wait: bool = False
    ) -> threading.Thread | None:
        """Read the email and name of every customer of ``side`` (default: the open tab),
        a hundred per request, in a worker thread with progress and Stop; then search and
        sort by email or name cover all its rows. Returns the thread (None when nothing is
        to read, or over ``LOOK_UP_ALL_LIMIT``: the reason is shown)."""
        which = side or self.side
        plan, lookup = self.plan, self.lookup
        if plan is None or lookup is None or self.looking_up:
            return None
        ids = self.ids_of(which).to_list()
        if len(ids) > LOOK_UP_ALL_LIMIT:
            self._show_look_up()
            return None
        self._look_up_stop.clear()
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
                finished = look_up_all(
                    lookup, ids, progress=progress, stopped=self._look_up_stop.is_set
                )
            except Exception as exc:  # noqa: BLE001 - shown next to the button, never lost
                self._lookup_failed(f"Could not read who these customers are: {exc}")
                finished = False
            on_kernel_thread(lambda: self._looked_up(plan, which, finished=finished))

        worker = threading.Thread(target=work, name="segwidgets look-up", daemon=True)
        self._look_up_worker = worker
        self._looking_up = True
        self._show_look_up()
        worker.start()
        if wait:
            worker.join()
            drain()
        return worker

    def _looked_up(self, plan: SegmentPlan, side: Side, *, finished: bool) -> None:
        """Show the sides read by ``look_up_all`` (on the kernel's thread)."""
        self._looking_up = False
        if self.plan is not plan:
            self._show_look_up()  # a new plan came meanwhile: drawn from scratch
            return
        if finished:
            self._complete.add(side)
            self._fill(side)
        self._show_look_up(stopped=not finished)

    def stop_look_up(self) -> None:
        """Stop ``look_up_all`` after the requests in flight (what was read stays known)."""
        self._look_up_stop.set()

    def download(self, fmt: str = "csv") -> str:
        """Offer the whole plan as a file; returns the file name."""
        if self.plan is None:
            self.download_link.value = ""
            return ""
        suffix = "parquet" if fmt == "parquet" else "csv"
        name = f"plan-{self.plan.segment_code}.{suffix}"
        self.download_link.value = offer_download(plan_frame(self.plan, self._inputs), name)
        return name

    # -- drawing ----------------------------------------------------------------------------------

    def _mask(self, frame: pl.DataFrame) -> pl.DataFrame:
        return frame if self.reveal else masked(frame)

    def _lookup_failed(self, text: str) -> None:
        self.people_note.value = _html.note(text, level="warning")

    def _side_frame(self, side: Side) -> pl.DataFrame | None:
        plan = self.plan
        if plan is None:
            return None
        frame = {"adds": plan.adds, "removes": plan.removes, "kept": plan.unchanged}[side]
        frame = with_list_emails(_with_inputs(frame, self._inputs))
        lookup = self.lookup
        if lookup is not None and frame.height and frame.height <= LOOK_UP_ALL_LIMIT:
            ids = frame.get_column("customer_id").cast(pl.String).to_list()
            known = lookup(ids, True)
            if side in self._complete or known.height == len(set(ids)):
                self._complete.add(side)
                frame = with_people(frame, known)
        return frame

    def _fill(self, side: Side) -> None:
        self.table_of(side).frame = self._side_frame(side)

    def _show_look_up(self, *, stopped: bool = False) -> None:
        """The "Look up all" row for the open tab: the button, or why it is not offered."""
        busy = self.looking_up
        side = self.side
        n = self.ids_of(side).len()
        self.stop_button.layout.display = None if busy else "none"
        self.look_up_progress.layout.display = "flex" if busy or stopped else "none"
        self.look_up_button.disabled = busy
        show = self.plan is not None and self.lookup is not None and n > 0
        if not show or busy:
            self.look_up_button.layout.display = None if busy else "none"
            self.look_up_box.layout.display = "flex" if busy else "none"
            return
        self.look_up_box.layout.display = "flex"
        if side in self._complete:
            self.look_up_button.layout.display = "none"
            self.look_up_progress.layout.display = "none"
            self.look_up_note.value = _html.note(
                f"Email and name of all {n:,} {_WHO[side]} are known: search and sort by "
                "email or name cover every row.",
                level="success",
            )
            return
        if n > LOOK_UP_ALL_LIMIT:
            self.look_up_button.layout.display = "none"
            self.look_up_note.value = _html.note(
                f"Search by name or part of an email covers the rows shown so far: {n:,} "
                f"{_WHO[side]} are too many to read one by one (at most "
                f"{LOOK_UP_ALL_LIMIT:,}). Search by a whole email address instead, or "
                "download the plan.",
                level="muted",
            )
            return
        self.look_up_button.layout.display = None
        self.look_up_button.description = f"Look up all {n:,}"
        self.look_up_button.tooltip = (
            f"Read the email and name of all {n:,} {_WHO[side]} ({-(-n // 100):,} "
            "requests), so that search and sort by email or name cover every row"
        )
        frame = self.table_of(side).frame
        if stopped:
            text = "Stopped: what was read stays known."
        elif frame is not None and "email" in frame.columns:
            text = (
                "Search and sort by email cover every row (the list has the emails); search "
                "by name covers the rows shown so far."
            )
        else:
            text = "Search by name or part of an email covers the rows shown so far."
        self.look_up_note.value = _html.note(text, level="muted")

    def render(self) -> None:
        """Draw the current plan."""
        plan = self.plan
        self.download_link.value = ""
        self.people_note.value = ""
        if plan is None:
            self.summary.value = ""
            self.warning.value = ""
            for table in self.tables:
                table.frame = None
            self.tabs.layout.display = "none"
            self.tools.layout.display = "none"
            self._show_look_up()
            return
        counts = _html.counts(
            [
                ("to add", plan.n_add, "success"),
                ("to remove", plan.n_remove, "error"),
                ("kept", plan.n_unchanged, "muted"),
                ("members now", plan.n_live, "muted"),
                ("members after", plan.n_after, "muted"),
            ]
        )
        what = "Undo of run " + str(plan.undo_of) if plan.kind == "undo" else f"mode {plan.mode}"
        line = f"Segment {plan.segment_code}, {what}. "
        line += "Nothing to change." if plan.is_empty() else f"Cost: {plan.estimate()}."
        self.summary.value = counts + _html.note(line, level="muted")
        if plan.needs_mass_removal_consent:
            share = plan.n_remove / max(plan.n_live, 1)
            self.warning.value = _html.note(
                f"This removes {plan.n_remove:,} of {plan.n_live:,} members ({share:.0%}).",
                level="warning",
                detail=(
                    "That is more than the safety limit. Check the list and the mode; to go "
                    f"ahead, type the segment code {plan.segment_code} when you push."
                ),
            )
        else:
            self.warning.value = ""
        for side in _SIDES:
            self._fill(side)
        self.tabs.set_title(0, f"To add ({plan.n_add:,})")
        self.tabs.set_title(1, f"To remove ({plan.n_remove:,})")
        self.tabs.set_title(2, f"Kept ({plan.n_unchanged:,})")
        if plan.n_add == 0 and plan.n_remove > 0:
            self.tabs.selected_index = 1
        elif plan.n_add > 0:
            self.tabs.selected_index = 0
        self.tabs.layout.display = "flex"
        self.tools.layout.display = "flex"
        self._show_look_up()

    # -- observers --------------------------------------------------------------------------------

    def _on_plan_change(self, change: dict[str, Any]) -> None:
        self.stop_look_up()
        self._complete = set()
        self.render()

    def _on_tabs_selected_index_change(self, change: dict[str, Any]) -> None:
        if not self.looking_up:
            self._show_look_up()

    def _on_reveal_box_change(self, change: dict[str, Any]) -> None:
        self.reveal = bool(change["new"])

    def _on_reveal_change(self, change: dict[str, Any]) -> None:
        self.reveal_box.value = change["new"]
        for table in self.tables:
            table.render()
