"""``PlanView``: a plan's counts, cost, mass-removal warning and paged member tables.

Shared by the diff preview and the undo preview in the history panel. Only the first
page of each side is rendered, whatever the size of the plan.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import ipywidgets as widgets
import traitlets

from .._plan import SegmentPlan
from . import _html
from ._table import PagedTable

__all__ = ["PlanView", "for_review"]


def for_review(plan: SegmentPlan) -> SegmentPlan:
    """The plan as the user reviews it: over the mass-removal guard it carries no consent.

    Panels ask the session for a plan with ``allow_mass_removal=True`` so that they can
    show it at all; the consent is given again only when the user confirms the push, so
    ``session.apply(plan)`` on a reviewed plan still refuses a mass removal.
    """
    if plan.needs_mass_removal_consent and plan.allow_mass_removal:
        return dataclasses.replace(plan, allow_mass_removal=False)
    return plan


class PlanView(widgets.VBox):  # type: ignore[misc]
    """Shows ``view.plan``: what is added, removed and kept, and what it costs."""

    #: The plan shown (None: nothing to show).
    plan = traitlets.Instance(SegmentPlan, allow_none=True)

    def __init__(self, *, page_size: int = 15, **kwargs: Any) -> None:
        self.summary = widgets.HTML()
        self.warning = widgets.HTML()
        self.adds_table = PagedTable(page_size=page_size, empty="Nobody to add.")
        self.removes_table = PagedTable(page_size=page_size, empty="Nobody to remove.")
        self.unchanged_table = PagedTable(page_size=page_size, empty="Nobody kept.")
        self.tabs = widgets.Tab(
            children=[self.adds_table, self.removes_table, self.unchanged_table],
            titles=("To add", "To remove", "Kept"),
        )
        super().__init__([self.summary, self.warning, self.tabs], **kwargs)
        self.observe(self._on_plan_change, names="plan")
        self.render()

    def render(self) -> None:
        """Draw the current plan."""
        plan = self.plan
        if plan is None:
            self.summary.value = ""
            self.warning.value = ""
            for table in (self.adds_table, self.removes_table, self.unchanged_table):
                table.frame = None
            self.tabs.layout.display = "none"
            return
        counts = _html.counts(
            [
                ("to add", plan.n_add),
                ("to remove", plan.n_remove),
                ("kept", plan.n_unchanged),
                ("members now", plan.n_live),
                ("members after", plan.n_after),
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
        self.adds_table.frame = plan.adds
        self.removes_table.frame = plan.removes
        self.unchanged_table.frame = plan.unchanged
        self.tabs.set_title(0, f"To add ({plan.n_add:,})")
        self.tabs.set_title(1, f"To remove ({plan.n_remove:,})")
        self.tabs.set_title(2, f"Kept ({plan.n_unchanged:,})")
        self.tabs.layout.display = "flex"

    def _on_plan_change(self, change: dict[str, Any]) -> None:
        self.render()
