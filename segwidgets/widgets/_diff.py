"""``DiffPreview``: what a sync would change in the segment, before anything is sent."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, get_args

import ipywidgets as widgets
import polars as pl
import traitlets

from .._errors import OperationCancelledError
from .._members import MemberList
from .._plan import SegmentPlan
from .._progress import ProgressEvent
from .._resolve import Resolution
from .._types import Mode
from . import _html
from ._base import Panel, labelled
from ._people_columns import input_rows, session_email_finder, session_lookup
from ._phase_bar import PhaseBar, Resolving, progress_text
from ._planview import PlanView, for_review

if TYPE_CHECKING:
    from .._session import SegmentSession

__all__ = ["DiffPreview", "resolving_of"]

_MODE_HELP = {
    "mirror": "mirror: the segment becomes exactly the list (adds and removes)",
    "add": "add: only adds the list's members; nobody is removed",
    "remove": "remove: only removes the list's members from the segment",
}
_RUN_LABEL = "Refresh plan"
_RERUN_LABEL = "Plan again"
_CANCELLED = (
    "Planning cancelled: nothing was changed and no plan is shown. Press Plan again to "
    "read the segment and plan."
)

_FIRST_STEP: dict[Resolving | None, str] = {
    "ids": "Checking the ids …",
    "emails": "Matching the emails …",
    None: "Reading the segment …",
}


def resolving_of(desired: object) -> Resolving | None:
    """What planning ``desired`` does before it reads the segment: match emails, check
    customer ids, or nothing (a ``Resolution`` is matched already)."""
    if desired is None or isinstance(desired, Resolution):
        return None
    if isinstance(desired, MemberList):
        return "emails" if desired.kind == "email" else "ids"
    if isinstance(desired, (pl.DataFrame, pl.LazyFrame)):
        names = desired.collect_schema().names()
        return "emails" if "email" in names and "customer_id" not in names else "ids"
    return "ids"


class DiffPreview(Panel):
    """The plan: who would be added, removed and kept, the requests and time it takes.

    It plans as soon as it knows the segment and the desired members (and again when the
    mode changes). The tables are paged: only one page is ever rendered. A plan that
    removes more than the safety limit is shown with a warning, and pushing it needs the
    segment code typed as confirmation.

    While it plans, a labelled bar follows each step (the ids checked or the emails
    matched, then the pages of the segment read, with the time left) and Cancel stops it
    before the next request: nothing is changed, no plan is shown, and the panel says
    "Planning cancelled" and offers to plan again.

    Python twins: ``diff.segment = "newsletter"``, ``diff.desired = resolution``,
    ``diff.mode = "add"``, ``diff.refresh()``, ``diff.cancel()``.
    """

    #: The segment to plan for.
    segment = traitlets.Unicode(None, allow_none=True)
    #: Who should be in it: a ``Resolution``, a ``MemberList`` of ids, a frame or a list.
    desired = traitlets.Any(None, allow_none=True)
    #: ``"mirror"``, ``"add"`` or ``"remove"``.
    mode = traitlets.Unicode("mirror")
    #: The current plan (None until planned).
    plan = traitlets.Instance(SegmentPlan, allow_none=True)
    #: True when the last planning was cancelled (the panel offers to plan again).
    cancelled = traitlets.Bool(False)

    def __init__(self, session: SegmentSession | None = None, **kwargs: Any) -> None:
        self.mode_buttons = widgets.ToggleButtons(
            options=[("mirror", "mirror"), ("add only", "add"), ("remove only", "remove")],
            value="mirror",
            tooltips=[_MODE_HELP[m] for m in ("mirror", "add", "remove")],
            style={"button_width": "110px"},
        )
        self.refresh_button = widgets.Button(
            description=_RUN_LABEL, icon="refresh", tooltip="Read the segment and plan again",
            layout=widgets.Layout(width="auto", min_width="max-content", margin="0 0 0 16px"),
        )  # fmt: skip
        self.refresh_button.on_click(lambda _: self.refresh())
        self.cancel_button = widgets.Button(
            description="Cancel", icon="stop",
            tooltip="Stop planning before the next request (nothing is changed)",
            layout=widgets.Layout(width="auto", min_width="max-content", margin="0 0 0 8px"),
        )  # fmt: skip
        self.cancel_button.on_click(lambda _: self.cancel())
        #: the labelled bar shown while planning
        self.progress_box = PhaseBar()
        #: The cancel token of the planning that runs (None when none does).
        #: what the planning that runs does before it reads the segment
        self._resolving: Resolving | None = None
        self.intro = widgets.HTML()
        self.add_only_button = widgets.Button(
            description="Add only instead",
            icon="plus",
            tooltip="Plan the list as additions only: nobody is removed",
            layout=widgets.Layout(width="auto", display="none"),
        )
        self.add_only_button.on_click(lambda _: self.switch_to_add_only())
        self.view = PlanView()
        super().__init__(session, heading="Review changes", **kwargs)
        self.view.set_lookup(session_lookup(self.session), session_email_finder(self.session))
        self.mode_buttons.observe(self._on_mode_buttons_change, names="value")
        self.observe(self._on_mode_change, names="mode")
        self.observe(self._on_segment_change, names="segment")
        self.observe(self._on_desired_change, names="desired")
        self.observe(self._on_plan_change, names="plan")
        self._set_body(
            widgets.HBox(
                [
                    labelled("Mode", self.mode_buttons, width="50px"),
                    self.refresh_button,
                    self.cancel_button,
                ],
                layout=widgets.Layout(align_items="center", flex_flow="row wrap"),
            ),
            self.progress_box,
            self.intro,
            self.view,
            self.add_only_button,
        )
        self._show_intro()

    # -- actions ----------------------------------------------------------------------------------

    def refresh(self) -> SegmentPlan | None:
        """Read the segment's live members and plan (None if something is missing).

        With ``background`` set it plans in a worker thread and returns None at once; a
        plan whose inputs changed meanwhile is dropped."""
        self.plan = None
        if self.session is None or self.segment is None or self.desired is None:
            self._show_intro()
            return None
        session, segment, desired, mode = self.session, self.segment, self.desired, self.mode
        resolving = resolving_of(desired)

        def work() -> None:
            self._resolving = resolving
            self.progress_box.start(_FIRST_STEP[resolving])
            self.show(f"Reading segment {segment} and planning …")
            try:
                with self.cancellable() as token:
                    plan = session.plan(
                        segment,
                        desired,
                        mode=mode,
                        allow_mass_removal=True,
                        progress=self._on_progress,
                        cancel=token,
                    )
            except OperationCancelledError:
                self.hand_back(self._take_cancel)
                return
            except Exception:
                self.hand_back(self.progress_box.hide)  # the error is shown instead
                raise

            def take() -> None:
                self.progress_box.hide()
                same = self.session is session and self.desired is desired
                if same and (self.segment, self.mode) == (segment, mode):
                    self.plan = for_review(plan)
                self.clear_status()

            self.hand_back(take)

        self.cancelled = False
        self.perform(work, doing="planning")
        return self.plan

    def cancel(self) -> bool:
        """Stop the running planning before its next request (and drop a planning queued
        behind it); nothing is changed in Shopgate and no plan is shown. True when a
        planning was running."""
        return self.cancel_running()

    def _on_progress(self, event: ProgressEvent) -> None:
        """Draw a progress event (from the thread that sent the request)."""
        text = progress_text(event, resolving=self._resolving or "ids", done="Segment read")
        self.progress_box.draw(event, text)

    def _take_cancel(self) -> None:
        self.progress_box.hide()
        self.plan = None
        self.cancelled = True
        self.show(_CANCELLED, level="warning")

    def switch_to_add_only(self) -> None:
        """Plan the same list in add-only mode (nobody is removed)."""
        self.mode = "add"

    # -- drawing ----------------------------------------------------------------------------------

    def _show_intro(self) -> None:
        missing = [
            what
            for what, value in (
                ("connect", self.session),
                ("choose a fixed segment", self.segment),
                ("load and match a member list", self.desired),
            )
            if value is None
        ]
        if missing:
            self.intro.value = _html.note(
                "To see the changes: " + ", ".join(missing) + ".", level="muted"
            )
        elif self.cancelled and self.plan is None:
            self.intro.value = _html.note(
                f"Planning was cancelled: press {_RERUN_LABEL} to see the changes.", level="info"
            )
        else:
            self.intro.value = _html.note(_MODE_HELP[self.mode] + ".", level="muted")

    def _update_controls(self) -> None:
        self.refresh_button.disabled = self.busy or self.session is None
        self.refresh_button.description = _RERUN_LABEL if self.cancelled else _RUN_LABEL
        self.cancel_button.disabled = not self.busy
        # Shown only while a plan is being made: an idle panel has nothing to cancel.
        self.cancel_button.layout.display = None if self.busy else "none"
        self.mode_buttons.disabled = self.busy

    @traitlets.observe("cancelled")
    def _on_cancelled_change(self, change: dict[str, Any]) -> None:
        self._update_controls()
        self._show_intro()

    # -- observers --------------------------------------------------------------------------------

    @traitlets.validate("mode")
    def _validate_mode(self, proposal: dict[str, Any]) -> str:
        value = proposal["value"]
        if value not in get_args(Mode):
            msg = f"mode must be 'mirror', 'add' or 'remove', not {value!r}"
            raise traitlets.TraitError(msg)
        return str(value)

    def _on_mode_buttons_change(self, change: dict[str, Any]) -> None:
        self.mode = change["new"]

    def _replan(self) -> None:
        self._show_intro()
        if self.session is not None and self.segment is not None and self.desired is not None:
            self.refresh()
        else:
            self.plan = None

    def _on_mode_change(self, change: dict[str, Any]) -> None:
        self.mode_buttons.value = change["new"]
        self._replan()

    def _on_segment_change(self, change: dict[str, Any]) -> None:
        self._replan()

    def _on_desired_change(self, change: dict[str, Any]) -> None:
        self.view.inputs = input_rows(change["new"])
        self._replan()

    def _on_plan_change(self, change: dict[str, Any]) -> None:
        plan = change["new"]
        self.view.plan = plan
        # A mirror plan that removes most of the segment: offer the add-only plan up front.
        offer = plan is not None and plan.mode == "mirror" and plan.needs_mass_removal_consent
        self.add_only_button.layout.display = "flex" if offer else "none"

    def _on_session_change(self, change: dict[str, Any]) -> None:
        super()._on_session_change(change)
        self.view.set_lookup(session_lookup(change["new"]), session_email_finder(change["new"]))
        if change["old"] is not None:
            self.plan = None
        self._show_intro()
