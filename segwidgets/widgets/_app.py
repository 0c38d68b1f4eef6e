"""``SegmentApp``: every panel, wired together into one sync workflow."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import traitlets

from . import _html
from ._base import check_keywords
from ._builder import MemberListBuilder
from ._connect import ConnectPanel
from ._diff import DiffPreview
from ._history import HistoryPanel
from ._match import MatchReport
from ._picker import SegmentPicker
from ._push import PushPanel
from ._state import AppState

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .._session import SegmentSession

__all__ = ["SegmentApp"]


def _in_kernel() -> bool:
    """True inside a Jupyter kernel (where a frozen cell freezes the notebook)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


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
    #: Everything the app knows (connection → segment → list → resolution → plan → run);
    #: each panel shows what it says. Changing one item clears what was made from it.
    state = traitlets.Instance(AppState)

    def __init__(
        self,
        session: SegmentSession | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        background: bool | None = None,
        **kwargs: Any,
    ) -> None:
        check_keywords(type(self), kwargs)
        self._rendering = False
        self._dirty = False
        self.connect = ConnectPanel(session, environ=environ)
        self.picker = SegmentPicker(session)
        self.builder = MemberListBuilder()
        self.match = MatchReport(session)
        self.diff = DiffPreview(session)
        self.pusher = PushPanel(session, replan=self.diff.refresh)
        self.history = HistoryPanel(session)
        #: What to do next, from the state (``app.state.next_hint()``), above the panels.
        self.hint = widgets.HTML(layout=widgets.Layout(margin="0 0 4px 0"))
        self._panels: tuple[widgets.Widget, ...] = (
            self.connect,
            self.picker,
            self.builder,
            self.match,
            self.diff,
            self.pusher,
            self.history,
        )
        super().__init__([self.hint, *self._panels], **kwargs)
        #: Matching and planning run in worker threads (default: when inside a kernel).
        self.background = _in_kernel() if background is None else background
        for panel in (self.match, self.diff):
            panel.background = self.background
        self.add_class("segwidgets-app")
        self.layout.max_width = "980px"
        self.state = AppState()
        self.session = session
        self.connect.observe(self._on_connect_session_change, names="session")
        self.observe(self._on_session_change, names="session")
        self.observe(self._on_state_change, names="state")
        self.picker.observe(self._on_picker_value_change, names="value")
        self.builder.observe(self._on_builder_members_change, names="members")
        self.match.observe(self._on_match_resolution_change, names="resolution")
        self.match.observe(self._on_match_cancelled_change, names="cancelled")
        self.diff.observe(self._on_diff_plan_change, names="plan")
        self.diff.observe(self._on_diff_cancelled_change, names="cancelled")
        self.pusher.observe(self._on_pusher_result_change, names="result")
        self.history.pusher.observe(self._on_undo_result_change, names="result")
        for panel in (self.connect, self.match, self.diff, self.pusher, self.history.pusher):
            panel.observe(self._on_busy_change, names="busy")
        self.update(session=session)
        self._on_picker_value_change({"new": self.picker.value})

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until no panel works in the background; True when all are idle."""
        panels = (self.match, self.diff, self.pusher, self.history.pusher)
        return all(panel.wait(timeout) for panel in panels)

    @property
    def panels(self) -> tuple[widgets.Widget, ...]:
        """Every panel, in workflow order."""
        return self._panels

    def close(self) -> None:
        """Close the widgets and a session the app opened itself (not one passed in)."""
        connect = getattr(self, "connect", None)  # None when the constructor refused its keywords
        if connect is not None:
            connect.close()
        super().close()

    # -- state ------------------------------------------------------------------------------------

    def update(self, **changes: Any) -> AppState:
        """Change the app's state (what depends on a changed item is cleared); returns it."""
        self.state = self.state.set(**changes)
        return self.state

    def _on_state_change(self, change: dict[str, Any]) -> None:
        # A panel told of a change may change the state again (a new list plans at once):
        # draw until the state stops moving, always from the newest state.
        if self._rendering:
            self._dirty = True
            return
        self._rendering = True
        try:
            self._dirty = True
            while self._dirty:
                self._dirty = False
                self._render(self.state)
                if self._dirty:
                    continue
        finally:
            self._rendering = False

    def _render(self, state: AppState) -> None:
        """Give every panel what the state says it should show.

        A panel told of a change may move the state on (a new list plans at once); the rest
        is then drawn from the newer state in the next round, never from this one.
        """
        steps = (
            self._render_sessions,
            self._render_inputs,
            self._render_plan,
            self._render_hint,
        )
        for step in steps:
            step(state)
            if self._dirty:
                return

    def _render_sessions(self, state: AppState) -> None:
        for panel in (self.connect, self.picker, self.match, self.diff, self.pusher, self.history):
            if panel.session is not state.session:
                panel.session = state.session
        self.history.segment = state.segment

    def _render_inputs(self, state: AppState) -> None:
        if self.match.members is not state.members:
            self.match.members = state.members
        if state.resolution is None and self.match.resolution is not None:
            self.match.resolution = None
        self.diff.segment = state.segment if state.segment_fixed else None
        if self.diff.desired is not state.desired:
            self.diff.desired = state.desired

    def _render_plan(self, state: AppState) -> None:
        if self.pusher.plan is not state.plan:
            self.pusher.plan = state.plan
        if self.pusher.result is not state.run and not self.pusher.busy:
            self.pusher.result = state.run
        self.pusher.offer_resume(state.resume_run_id)

    def _render_hint(self, state: AppState) -> None:
        stopped = not state.busy and (
            (state.step == "match" and state.match_stopped)
            or (state.step == "plan" and state.plan_stopped)
        )
        level: _html.Level = "warning" if stopped else "info"
        text = state.next_hint() if state.busy else f"Next step: {state.next_hint()}"
        self.hint.value = _html.note(text, level=level)

    # -- wiring -------------------------------------------------------------------------------------

    def _on_connect_session_change(self, change: dict[str, Any]) -> None:
        self.session = change["new"]

    def _on_session_change(self, change: dict[str, Any]) -> None:
        self.update(session=change["new"])

    def _on_picker_value_change(self, change: dict[str, Any]) -> None:
        code = self.picker.value
        self.update(
            segment=code,
            segment_fixed=self.picker.editable,
            resumable=self._interrupted_run(code),
        )

    def _interrupted_run(self, code: str | None) -> str | None:
        """The newest interrupted run of segment ``code`` in the journal, if any."""
        session = self.state.session
        if session is None or code is None:
            return None
        try:
            runs = session.history(code)
        except Exception:  # noqa: BLE001 - the history panel shows a journal problem
            return None
        stopped = runs.filter(runs["status"] == "interrupted")
        return None if stopped.is_empty() else str(stopped["run_id"][0])

    def _on_busy_change(self, change: dict[str, Any]) -> None:
        # What runs, in the order a user would see it; "idle" when nothing does.
        for panel, activity in (
            (self.pusher, "pushing"),
            (self.history.pusher, "pushing"),
            (self.diff, "planning"),
            (self.match, "resolving"),
            (self.connect, "connecting"),
        ):
            if panel.busy:
                self.update(activity=activity)
                return
        self.update(activity="idle")

    def _on_builder_members_change(self, change: dict[str, Any]) -> None:
        self.update(members=change["new"])

    def _on_match_resolution_change(self, change: dict[str, Any]) -> None:
        if change["new"] is not None or self.state.resolution is not None:
            self.update(resolution=change["new"])

    def _on_match_cancelled_change(self, change: dict[str, Any]) -> None:
        self.update(match_stopped=bool(change["new"]))

    def _on_diff_cancelled_change(self, change: dict[str, Any]) -> None:
        self.update(plan_stopped=bool(change["new"]))

    def _on_diff_plan_change(self, change: dict[str, Any]) -> None:
        if change["new"] is not None or self.state.plan is not None:
            self.update(plan=change["new"])

    def _on_pusher_result_change(self, change: dict[str, Any]) -> None:
        result = change["new"]
        if result is None:
            return
        # The result belongs to the plan under review: it stays until the plan changes.
        self.update(run=result, resumable=None)
        if result.run_id is not None:  # a dry run changes nothing
            self.picker.refresh()
            self.history.refresh()

    def _on_undo_result_change(self, change: dict[str, Any]) -> None:
        if change["new"] is None or change["new"].run_id is None:
            return  # the history panel refreshes its own list
        self.picker.refresh()
        # The segment changed under the plan under review: plan it again.
        self.diff.refresh()
