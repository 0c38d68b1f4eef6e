"""``HistoryPanel``: past runs of a segment, and undoing one (its plan is shown first)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import polars as pl
import traitlets

from .._plan import SegmentPlan
from ._base import Panel
from ._planview import PlanView, for_review
from ._push import PushPanel
from ._table import PagedTable

if TYPE_CHECKING:
    from .._session import SegmentSession

__all__ = ["HistoryPanel"]

_COLUMNS = ("started_at", "run_id", "kind", "mode", "status", "n_add", "n_remove", "message")


def _label(row: dict[str, Any]) -> str:
    return (
        f"{str(row['started_at'])[:19].replace('T', ' ')} · {row['segment_code']} · "
        f"{row['kind']} · {row['status']} · +{row['n_add'] or 0:,} -{row['n_remove'] or 0:,}"
    )


class HistoryPanel(Panel):
    """The runs recorded for the segment (newest first), with their outcome.

    Undo a run: its reversing plan (remove what it added, add back what it removed, as far
    as the segment still shows them) is shown first; the embedded push panel applies it.

    Python twins: ``history.segment = "newsletter"``, ``history.refresh()``,
    ``history.undo(run_id)``, then ``history.pusher.push(wait=True)``.
    """

    #: The segment whose runs are listed (None: every segment).
    segment = traitlets.Unicode(None, allow_none=True)
    #: The run chosen in the list.
    run_id = traitlets.Unicode(None, allow_none=True)
    #: The plan that undoes the chosen run (None until asked for).
    undo_plan = traitlets.Instance(SegmentPlan, allow_none=True)

    def __init__(self, session: SegmentSession | None = None, **kwargs: Any) -> None:
        self.runs = pl.DataFrame()
        self._filling = False
        self.refresh_button = widgets.Button(
            icon="refresh", tooltip="Read the history again", layout=widgets.Layout(width="40px")
        )
        self.refresh_button.on_click(lambda _: self.refresh())
        self.table = PagedTable(page_size=8, empty="No runs recorded yet.")
        self.run_dropdown = widgets.Dropdown(
            options=[], description="Run", style={"description_width": "40px"},
            layout=widgets.Layout(width="560px"),
        )  # fmt: skip
        self.undo_button = widgets.Button(description="Plan undo", icon="undo")
        self.undo_button.on_click(lambda _: self.undo())
        self.view = PlanView(page_size=10)
        self.pusher = PushPanel(session, heading="Apply the undo")
        self.undo_box = widgets.VBox([self.view, self.pusher])
        super().__init__(session, heading="History", **kwargs)
        self.run_dropdown.observe(self._on_run_dropdown_change, names="value")
        self.observe(self._on_segment_change, names="segment")
        self.observe(self._on_run_id_change, names="run_id")
        self.observe(self._on_undo_plan_change, names="undo_plan")
        self.pusher.observe(self._on_pusher_result_change, names="result")
        self._set_body(
            widgets.HBox([self.run_dropdown, self.undo_button, self.refresh_button]),
            self.table,
            self.undo_box,
        )
        self._show_undo()
        self._update_controls()

    # -- actions ----------------------------------------------------------------------------------

    def refresh(self) -> pl.DataFrame:
        """Read the runs again; returns them."""
        with self.action("reading the history"):
            if self.session is None:
                self.runs = pl.DataFrame()
            else:
                self.runs = self.session.history(self.segment)
            self._fill()
        return self.runs

    def undo(self, run_id: str | None = None) -> SegmentPlan | None:
        """Plan the reversal of ``run_id`` (default: the chosen run) and show it."""
        run = run_id or self.run_id
        self.undo_plan = None
        with self.action("planning the undo"):
            if self.session is None or run is None:
                self.show("Choose a run first.", level="muted")
                return None
            plan = self.session.undo(run, allow_mass_removal=True)
            self.undo_plan = for_review(plan)
            if self.undo_plan.is_empty():
                self.show("Nothing to undo: the segment no longer shows that run's changes.")
            else:
                self.clear_status()
        return self.undo_plan

    # -- drawing ----------------------------------------------------------------------------------

    def _fill(self) -> None:
        rows = self.runs.to_dicts()
        options = [(_label(row), str(row["run_id"])) for row in rows]
        keep = self.run_id if self.run_id in {v for _, v in options} else None
        if keep is None and options:
            keep = options[0][1]
        self._filling = True
        try:
            self.run_dropdown.options = options
            self.run_dropdown.value = keep
        finally:
            self._filling = False
        self.run_id = keep
        shown = [c for c in _COLUMNS if c in self.runs.columns]
        self.table.frame = self.runs.select(shown) if shown else None
        self._update_controls()

    def _show_undo(self) -> None:
        self.undo_box.layout.display = "none" if self.undo_plan is None else "flex"

    def _update_controls(self) -> None:
        self.refresh_button.disabled = self.busy or self.session is None
        self.undo_button.disabled = self.busy or self.session is None or self.run_id is None

    # -- observers --------------------------------------------------------------------------------

    def _on_run_dropdown_change(self, change: dict[str, Any]) -> None:
        if not self._filling:
            self.run_id = change["new"]

    def _on_run_id_change(self, change: dict[str, Any]) -> None:
        if self.run_dropdown.value != change["new"]:
            known = {value for _, value in self.run_dropdown.options}
            self._filling = True
            try:
                self.run_dropdown.value = change["new"] if change["new"] in known else None
            finally:
                self._filling = False
        self.undo_plan = None
        self._update_controls()

    def _on_segment_change(self, change: dict[str, Any]) -> None:
        self.undo_plan = None
        self.refresh()

    def _on_undo_plan_change(self, change: dict[str, Any]) -> None:
        self.view.plan = change["new"]
        self.pusher.plan = change["new"]
        self._show_undo()

    def _on_pusher_result_change(self, change: dict[str, Any]) -> None:
        if change["new"] is not None and change["new"].run_id is not None:
            self.refresh()

    def _on_session_change(self, change: dict[str, Any]) -> None:
        super()._on_session_change(change)
        self.pusher.session = change["new"]
        self.undo_plan = None
        self.refresh()
