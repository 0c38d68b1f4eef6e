"""``PlanView``: a plan's counts, cost, mass-removal warning and paged member tables.

Shared by the diff preview and the undo preview in the history panel. Only the first
page of each side is rendered, whatever the size of the plan; each row shows the person
(masked email, name, the row of the list it came from), looked up for that page alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets
import polars as pl
import traitlets

from .._plan import SegmentPlan
from . import _html
from ._people_columns import HEADERS, Lookup, masked, people_enricher, people_searcher
from ._table import PagedTable, offer_download, tool_button

__all__ = ["PlanView", "for_review", "plan_frame"]


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
    ``view.download("csv")``.
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
        super().__init__(
            [self.summary, self.warning, self.tools, self.download_link, self.people_note,
             self.tabs],
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
        sides: Sequence[pl.DataFrame] = (plan.adds, plan.removes, plan.unchanged)
        for table, side in zip(self.tables, sides, strict=True):
            table.frame = _with_inputs(side, self._inputs)
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
