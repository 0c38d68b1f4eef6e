"""``HistoryPanel``: past runs of a segment, and undoing one (its plan is shown first)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import polars as pl
import traitlets

from .._plan import SegmentPlan
from . import _html
from ._base import Panel
from ._charts import local_time, size_chart_svg
from ._people_columns import session_email_finder, session_lookup
from ._people_table import PeopleTable
from ._planview import PlanView, for_review
from ._push import PushPanel
from ._table import PagedTable

if TYPE_CHECKING:
    from .._session import SegmentSession

__all__ = ["HistoryPanel", "runs_table"]

#: The history table's columns: plain headers over the journal's fields.
_RUN_HEADERS = {
    "when": "started",
    "segment_code": "segment",
    "what": "what",
    "status": "status",
    "n_add": "added",
    "n_remove": "removed",
    "run_id": "run",
    "message": "note",
}
_MODES = {"mirror": "mirror", "add": "add only", "remove": "remove only"}


def _what(row: dict[str, Any], when_of: dict[str, str]) -> str:
    if row.get("kind") == "undo":
        parent = row.get("parent_run_id")
        if not parent:
            return "undo"
        when = when_of.get(parent)
        return f"undo of run …{parent[-8:]}" + (f" ({when})" if when else "")
    return f"push, {_MODES.get(str(row.get('mode')), row.get('mode'))}"


def runs_table(runs: pl.DataFrame) -> pl.DataFrame:
    """The runs as the History panel lists them: local start time, what the run was (an
    undo names the run it undid), status, counts, run id and note."""
    if runs.height == 0:
        return pl.DataFrame()
    rows = runs.to_dicts()
    when_of = {str(r["run_id"]): local_time(r.get("started_at")) for r in rows}
    return pl.DataFrame(
        {
            "when": [when_of[str(r["run_id"])] for r in rows],
            "segment_code": [r.get("segment_code") for r in rows],
            "what": [_what(r, when_of) for r in rows],
            "status": [r.get("status") for r in rows],
            "n_add": [r.get("n_add") for r in rows],
            "n_remove": [r.get("n_remove") for r in rows],
            "run_id": [r.get("run_id") for r in rows],
            "message": [r.get("message") or "" for r in rows],
        },
        schema={
            "when": pl.String,
            "segment_code": pl.String,
            "what": pl.String,
            "status": pl.String,
            "n_add": pl.Int64,
            "n_remove": pl.Int64,
            "run_id": pl.String,
            "message": pl.String,
        },
    )


def _label(row: dict[str, Any], *, segment: bool = True) -> str:
    where = f" · {row['segment_code']}" if segment else ""
    # The undone run's time is left out here (the list shows it): the label fits its box.
    what = re.sub(r" \([^)]*\)$", "", str(row["what"]))
    return (
        f"{row['when']}{where} · {what} · {row['status']} · "
        f"+{row['n_add'] or 0:,} -{row['n_remove'] or 0:,} · …{str(row['run_id'])[-8:]}"
    )


def _for_display(shown: pl.DataFrame, *, one_segment: bool) -> pl.DataFrame | None:
    """The runs as the table shows them: without the segment column when they are all of
    one segment, nor the note column when no run has a note (the table fits at 1024 px)."""
    if shown.height == 0:
        return None
    drop = ["segment_code"] if one_segment else []
    if bool((shown.get_column("message") == "").all()):
        drop.append("message")
    return shown.drop(drop)


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
        self._keep_undo = False
        self._seen: set[str] = set()
        self.refresh_button = widgets.Button(
            icon="refresh", tooltip="Read the history again", layout=widgets.Layout(width="40px")
        )
        self.refresh_button.on_click(lambda _: self.refresh())
        self.chart = widgets.HTML()
        self.table = PagedTable(
            page_size=8, empty="No runs recorded yet.", name="runs", headers=_RUN_HEADERS
        )
        self.run_dropdown = widgets.Dropdown(
            options=[], description="Run", style={"description_width": "40px"},
            layout=widgets.Layout(width="auto", flex="1 1 auto", max_width="620px"),
        )  # fmt: skip
        self.undo_button = widgets.Button(
            description="Plan undo", icon="undo", tooltip="Show the plan that reverses this run",
            layout=widgets.Layout(width="auto", min_width="max-content"),
        )  # fmt: skip
        self.undo_button.on_click(lambda _: self.undo())
        self.details_button = widgets.Button(
            description="Who it changed", icon="list",
            tooltip="Every member change of this run, with its outcome",
            layout=widgets.Layout(width="auto", min_width="max-content"),
        )  # fmt: skip
        self.details_button.on_click(lambda _: self.show_details())
        #: who the chosen run changed: masked email and name, search, sort, "Look up all"
        self.details = PeopleTable(
            lookup=lambda: session_lookup(self.session),
            find_email=lambda: session_email_finder(self.session),
            who="customers this run changed",
            page_size=10,
            empty="This run changed nobody.",
            name="run-outcomes",
        )
        self.details_table = self.details.table
        self.details_reveal = self.details.reveal_box
        self.details_title = widgets.HTML()
        self.details_box = widgets.VBox([self.details_title, self.details])
        self.details_box.layout.display = "none"
        self.view = PlanView(page_size=10)
        self.pusher = PushPanel(session, heading="Apply the undo")
        #: what the undo is of, over its plan (the run's label, as in the list)
        self.undo_title = widgets.HTML()
        self.undo_box = widgets.VBox([self.undo_title, self.view, self.pusher])
        super().__init__(session, heading="History", **kwargs)
        self.view.set_lookup(session_lookup(self.session), session_email_finder(self.session))
        self.run_dropdown.observe(self._on_run_dropdown_change, names="value")
        self.observe(self._on_segment_change, names="segment")
        self.observe(self._on_run_id_change, names="run_id")
        self.observe(self._on_undo_plan_change, names="undo_plan")
        self.pusher.observe(self._on_pusher_result_change, names="result")
        self._set_body(
            self.chart,
            widgets.HBox(
                [self.run_dropdown, self.details_button, self.undo_button, self.refresh_button],
                layout=widgets.Layout(align_items="center", flex_flow="row wrap"),
            ),
            self.table,
            self.details_box,
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
            # One thing about the run at a time: its undo replaces the list of its changes.
            self.details_box.layout.display = "none"
            self.undo_title.value = _html.note(
                f"Undo of the run {self._label_of(run)}: what it changes, then push it.",
                level="info",
            )
            self.undo_plan = for_review(plan)
            if self.undo_plan.is_empty():
                self.show("Nothing to undo: the segment no longer shows that run's changes.")
            else:
                self.clear_status()
        return self.undo_plan

    def show_details(self, run_id: str | None = None) -> pl.DataFrame:
        """Show every member change of ``run_id`` (default: the chosen run) with its outcome
        and who the customer is; returns the changes (``customer_id``, ``action``,
        ``status``, ``batch``, ``error``)."""
        run = run_id or self.run_id
        if self.session is None or run is None:
            self.details_box.layout.display = "none"
            return pl.DataFrame()
        frame: pl.DataFrame = self.session.run_details(run)
        count = f"{frame.height:,} member{'' if frame.height == 1 else 's'}"
        self.details_title.value = _html.note(
            f"Changes of the run {self._label_of(run)}: {count}.", level="info"
        )
        # One thing about the run at a time: its changes replace an undo not pushed.
        if self.undo_plan is not None and self.pusher.result is None:
            self.undo_plan = None
        self.details_table.name = f"run-{run}"
        self.details.frame = frame.select("customer_id", "action", "status", "error")
        self.details_box.layout.display = "flex"
        return frame

    # -- drawing ----------------------------------------------------------------------------------

    def _label_of(self, run: str) -> str:
        """The run as the list names it (time, what, status, counts, short id)."""
        return next((lbl for lbl, value in self.run_dropdown.options if value == run), run)

    def _draw_chart(self) -> None:
        if self.session is None or self.segment is None:
            self.chart.value = ""
            return
        creds = self.session.client.credentials
        sizes = self.session.journal.sizes(creds.merchant_code, creds.url_template, self.segment)
        self.chart.value = size_chart_svg(sizes)

    def _fill(self) -> None:
        shown = runs_table(self.runs)
        rows = shown.to_dicts()
        options = [(_label(row, segment=self.segment is None), str(row["run_id"])) for row in rows]
        newest = options[0][1] if options else None
        known = {v for _, v in options}
        # A run that appeared since the last reading (a push just made) is selected.
        keep = self.run_id if self.run_id in known and newest in self._seen else newest
        self._seen = known
        self._filling = True
        try:
            self.run_dropdown.options = options
            self.run_dropdown.value = keep
        finally:
            self._filling = False
        self.run_id = keep
        self.table.frame = _for_display(shown, one_segment=self.segment is not None)
        self._draw_chart()
        self._update_controls()

    def _show_undo(self) -> None:
        self.undo_box.layout.display = "none" if self.undo_plan is None else "flex"

    def _update_controls(self) -> None:
        self.refresh_button.disabled = self.busy or self.session is None
        self.undo_button.disabled = self.busy or self.session is None or self.run_id is None
        self.details_button.disabled = self.undo_button.disabled

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
        if not self._keep_undo:
            self.undo_plan = None
        self.details_box.layout.display = "none"
        self._update_controls()

    def _on_segment_change(self, change: dict[str, Any]) -> None:
        self.undo_plan = None
        self.refresh()

    def _on_undo_plan_change(self, change: dict[str, Any]) -> None:
        self.view.plan = change["new"]
        self.pusher.plan = change["new"]
        self._show_undo()

    def _on_pusher_result_change(self, change: dict[str, Any]) -> None:
        result = change["new"]
        plan = self.undo_plan
        if result is not None and plan is not None and plan.undo_of is not None:
            # Pushed: the heading stops asking for a push that has happened.
            self.undo_title.value = _html.note(
                f"Undo of the run {self._label_of(plan.undo_of)}: pushed ({result.status}). "
                "The counts are what it planned; its result is below.",
                level="info",
            )
        if result is not None and result.run_id is not None:
            # The undo just pushed becomes the newest run and is selected; its pane stays
            # with the result, so the confirmation is not cleared away.
            self._keep_undo = True
            try:
                self.refresh()
            finally:
                self._keep_undo = False

    def _on_session_change(self, change: dict[str, Any]) -> None:
        super()._on_session_change(change)
        self.view.set_lookup(session_lookup(change["new"]), session_email_finder(change["new"]))
        self.pusher.session = change["new"]
        self.undo_plan = None
        self.refresh()
