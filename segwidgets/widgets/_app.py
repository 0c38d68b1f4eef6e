"""``SegmentApp``: every panel, wired together into one sync workflow."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import traitlets

from ._builder import MemberListBuilder
from ._connect import ConnectPanel
from ._diff import DiffPreview
from ._history import HistoryPanel
from ._match import MatchReport
from ._picker import SegmentPicker
from ._push import PushPanel

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .._session import SegmentSession

__all__ = ["SegmentApp"]


class SegmentApp(widgets.VBox):  # type: ignore[misc]
    """Connect → pick a segment → load a list → match → review → push → history.

    Each step is a panel of its own (``app.connect``, ``app.picker``, ``app.builder``,
    ``app.match``, ``app.diff``, ``app.pusher``, ``app.history``); the app only passes
    each panel's result to the next. Drive it from Python through the panels' twins::

        app = session.panel()
        app.picker.value = "newsletter"
        app.builder.load(frame)
        app.match.run()
        app.pusher.push(wait=True)
    """

    #: The session every panel works with (set by connecting, or passed in).
    session = traitlets.Instance("segwidgets._session.SegmentSession", allow_none=True)

    def __init__(
        self,
        session: SegmentSession | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.connect = ConnectPanel(session, environ=environ)
        self.picker = SegmentPicker(session)
        self.builder = MemberListBuilder()
        self.match = MatchReport(session)
        self.diff = DiffPreview(session)
        self.pusher = PushPanel(session, replan=self.diff.refresh)
        self.history = HistoryPanel(session)
        super().__init__(
            [
                self.connect,
                self.picker,
                self.builder,
                self.match,
                self.diff,
                self.pusher,
                self.history,
            ],
            **kwargs,
        )
        self.add_class("segwidgets-app")
        self.layout.max_width = "980px"
        self.session = session
        self.connect.observe(self._on_connect_session_change, names="session")
        self.observe(self._on_session_change, names="session")
        self.picker.observe(self._on_picker_value_change, names="value")
        self.builder.observe(self._on_builder_members_change, names="members")
        self.match.observe(self._on_match_resolution_change, names="resolution")
        self.diff.observe(self._on_diff_plan_change, names="plan")
        self.pusher.observe(self._on_pusher_result_change, names="result")
        self.history.pusher.observe(self._on_undo_result_change, names="result")
        self._on_picker_value_change({"new": self.picker.value})

    @property
    def panels(self) -> tuple[widgets.Widget, ...]:
        """Every panel, in workflow order."""
        return tuple(self.children)

    def close(self) -> None:
        """Close the widgets and a session the app opened itself (not one passed in)."""
        self.connect.close()
        super().close()

    # -- wiring -------------------------------------------------------------------------------------

    def _on_connect_session_change(self, change: dict[str, Any]) -> None:
        self.session = change["new"]

    def _on_session_change(self, change: dict[str, Any]) -> None:
        session = change["new"]
        for panel in (self.connect, self.picker, self.match, self.diff, self.pusher, self.history):
            panel.session = session

    def _on_picker_value_change(self, change: dict[str, Any]) -> None:
        code = change["new"]
        self.history.segment = code
        self.diff.segment = code if self.picker.editable else None

    def _on_builder_members_change(self, change: dict[str, Any]) -> None:
        members = change["new"]
        self.match.members = members
        if members is not None and members.kind == "customer_id":
            self.diff.desired = members
        else:
            self.diff.desired = None

    def _on_match_resolution_change(self, change: dict[str, Any]) -> None:
        if change["new"] is not None:
            self.diff.desired = change["new"]
        elif self.builder.members is None or self.builder.members.kind == "email":
            self.diff.desired = None

    def _on_diff_plan_change(self, change: dict[str, Any]) -> None:
        self.pusher.plan = change["new"]

    def _on_pusher_result_change(self, change: dict[str, Any]) -> None:
        if change["new"] is None or change["new"].run_id is None:
            return  # a dry run changes nothing
        self.picker.refresh()
        self.history.refresh()
        self.diff.refresh()

    def _on_undo_result_change(self, change: dict[str, Any]) -> None:
        if change["new"] is None or change["new"].run_id is None:
            return  # the history panel refreshes its own list
        self.picker.refresh()
        self.diff.refresh()
