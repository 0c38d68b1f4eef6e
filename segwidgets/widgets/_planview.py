"""``PlanView``: a plan's counts, cost, mass-removal warning and paged member tables.

Shared by the diff preview and the undo preview in the history panel. Only the first
page of each side is rendered, whatever the size of the plan; each row shows the person
(masked email, name, the row of the list it came from), looked up for that page alone.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any, Literal

import ipywidgets as widgets
import polars as pl
import traitlets

from .._plan import SegmentPlan
from . import _html
from ._people_columns import Lookup
from ._people_table import EmailFinder, PeopleTable
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
        self.find_email: EmailFinder | None = None
        self._inputs: pl.DataFrame | None = None
        self.summary = widgets.HTML()
        self.warning = widgets.HTML()
        empty = {"adds": "Nobody to add.", "removes": "Nobody to remove.", "kept": "Nobody kept."}
        name = {"adds": "to-add", "removes": "to-remove", "kept": "kept"}
        #: each side's table of people, in tab order
        self.people: dict[Side, PeopleTable] = {
            side: PeopleTable(
                lookup=lambda: self.lookup,
                find_email=lambda: self.find_email,
                reveal=lambda: self.reveal,
                who=_WHO[side],
                page_size=page_size,
                empty=empty[side],
                name=name[side],
            )
            for side in _SIDES
        }
        self.adds_table = self.people["adds"].table
        self.removes_table = self.people["removes"].table
        self.unchanged_table = self.people["kept"].table
        self.tables = (self.adds_table, self.removes_table, self.unchanged_table)
        self.tabs = widgets.Tab(
            children=[self.people[side] for side in _SIDES],
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
        super().__init__(
            [self.summary, self.warning, self.tools, self.download_link, self.tabs], **kwargs
        )
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

    def set_lookup(self, lookup: Lookup | None, find_email: EmailFinder | None = None) -> None:
        """Who a customer id is (``session.people``-like) and which ids an email has; None
        shows ids only."""
        self.lookup = lookup
        self.find_email = find_email
        for people in self.people.values():
            people.refresh()

    @property
    def side(self) -> Side:
        """The side of the plan whose tab is open."""
        return _SIDES[self.tabs.selected_index or 0]

    @property
    def looking_up(self) -> bool:
        """True while ``look_up_all`` reads people in the background."""
        return any(people.looking_up for people in self.people.values())

    @property
    def complete(self) -> set[Side]:
        """The sides whose people are all known (search and sort cover every row)."""
        return {side for side, people in self.people.items() if people.complete}

    # The "Look up all" row of the open tab (each side has its own).
    @property
    def look_up_button(self) -> widgets.Button:
        return self.people[self.side].look_up_button

    @property
    def look_up_progress(self) -> widgets.IntProgress:
        return self.people[self.side].look_up_progress

    @property
    def look_up_note(self) -> widgets.HTML:
        return self.people[self.side].look_up_note

    def table_of(self, side: Side) -> PagedTable:
        """The table of one side of the plan."""
        return self.people[side].table

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
        """Read the email and name of every customer of ``side`` (default: the open tab)
        (``PeopleTable.look_up_all``); returns the thread, None when nothing is read."""
        return self.people[side or self.side].look_up_all(wait=wait)

    def stop_look_up(self) -> None:
        """Stop every ``look_up_all`` after the requests in flight (what was read stays)."""
        for people in self.people.values():
            people.stop_look_up()

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

    def _side_frame(self, side: Side) -> pl.DataFrame | None:
        plan = self.plan
        if plan is None:
            return None
        frame = {"adds": plan.adds, "removes": plan.removes, "kept": plan.unchanged}[side]
        return _with_inputs(frame, self._inputs)

    def render(self) -> None:
        """Draw the current plan."""
        plan = self.plan
        self.download_link.value = ""
        if plan is None:
            self.summary.value = ""
            self.warning.value = ""
            for people in self.people.values():
                people.frame = None
            self.tabs.layout.display = "none"
            self.tools.layout.display = "none"
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
        what = (
            f"undo of run …{str(plan.undo_of)[-8:]}" if plan.kind == "undo" else f"mode {plan.mode}"
        )
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
            self.people[side].frame = self._side_frame(side)
        self.tabs.set_title(0, f"To add ({plan.n_add:,})")
        self.tabs.set_title(1, f"To remove ({plan.n_remove:,})")
        self.tabs.set_title(2, f"Kept ({plan.n_unchanged:,})")
        if plan.n_add == 0 and plan.n_remove > 0:
            self.tabs.selected_index = 1
        elif plan.n_add > 0:
            self.tabs.selected_index = 0
        self.tabs.layout.display = "flex"
        self.tools.layout.display = "flex"

    # -- observers --------------------------------------------------------------------------------

    def _on_plan_change(self, change: dict[str, Any]) -> None:
        self.render()

    def _on_reveal_box_change(self, change: dict[str, Any]) -> None:
        self.reveal = bool(change["new"])

    def _on_reveal_change(self, change: dict[str, Any]) -> None:
        self.reveal_box.value = change["new"]
        for table in self.tables:
            table.render()
