"""``AppState``: what the app knows, as one immutable value with explicit dependencies.

The app is a chain: a connection, a segment, a member list, its resolution, a plan and a
run. Each later item was made from earlier ones, so when an item changes everything that
depends on it is cleared in the same step (a new segment clears the plan and the run; a
new member list clears the resolution, the plan and the run; a new plan clears the run).
A cancelled match or planning is an item too (``match_stopped``, ``plan_stopped``): it
stays until what was stopped is made again or something it was made from changes, so the
next-step hint offers to match or plan again rather than to start. Panels show what the state says and never keep flags of their own about it, so an old
result can not stay next to a new plan.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

if TYPE_CHECKING:
    from .._members import MemberList
    from .._plan import SegmentPlan
    from .._resolve import Resolution
    from .._result import ApplyResult

__all__ = ["DEPENDENTS", "Activity", "AppState", "Step", "cancel_sentence"]

#: What the app is doing in the background (``idle`` when nothing runs).
Activity: TypeAlias = Literal[
    "idle", "connecting", "resolving", "planning", "pushing", "cancelling"
]

#: The next thing the analyst has to do.
Step: TypeAlias = Literal["connect", "segment", "members", "match", "plan", "push", "done"]

#: For each item, the items made from it (cleared when it changes). Not transitive on
#: purpose: each entry lists every item that has to go.
DEPENDENTS: dict[str, tuple[str, ...]] = {
    "session": (
        "segment", "segment_fixed", "resolution", "plan", "run", "resumable", "plan_stopped",
    ),
    "segment": ("segment_fixed", "plan", "run", "resumable", "plan_stopped"),
    "segment_fixed": ("plan", "run", "plan_stopped"),
    "members": ("resolution", "plan", "run", "match_stopped", "plan_stopped"),
    "resolution": ("plan", "run", "match_stopped", "plan_stopped"),
    "plan": ("run", "plan_stopped"),
    "run": (),
    "resumable": (),
    "match_stopped": (),
    "plan_stopped": (),
    "activity": (),
}  # fmt: skip

_RESUMABLE_STATUSES = frozenset({"cancelled", "interrupted", "partial", "failed"})


@dataclass(frozen=True)
class AppState:
    """One snapshot of the app. Change it with ``state.set(...)``, which returns a new one."""

    #: the connected ``SegmentSession`` (None: not connected)
    session: Any = None
    #: the code of the chosen segment
    segment: str | None = None
    #: True when the chosen segment is fixed (its members can be synced)
    segment_fixed: bool = False
    #: the member list read from a file or frame
    members: MemberList | None = None
    #: the customers found for the list's emails
    resolution: Resolution | None = None
    #: the plan under review
    plan: SegmentPlan | None = None
    #: the result of pushing ``plan`` (or of resuming its run)
    run: ApplyResult | None = None
    #: an interrupted run of this segment found in the journal, offered for Resume
    resumable: str | None = None
    #: the last match was cancelled before it finished (the list is not matched)
    match_stopped: bool = False
    #: the last planning was cancelled before it finished (no plan is shown)
    plan_stopped: bool = False
    #: what runs in the background
    activity: Activity = "idle"

    def set(self, **changes: Any) -> AppState:
        """A new state with ``changes``; what depends on a changed item is cleared.

        An item given explicitly wins over clearing (``set(plan=p, run=None)``). Setting an
        item to the object it already holds changes nothing.
        """
        unknown = changes.keys() - DEPENDENTS.keys()
        if unknown:
            msg = f"AppState has no item {', '.join(sorted(unknown))}"
            raise TypeError(msg)
        values: dict[str, Any] = {}
        for name, value in changes.items():
            if getattr(self, name) is value or (
                isinstance(value, (str, bool)) and getattr(self, name) == value
            ):
                continue
            values[name] = value
            for dependent in DEPENDENTS[name]:
                if dependent not in changes:
                    values[dependent] = _EMPTY[dependent]
        return dataclasses.replace(self, **values) if values else self

    # -- derived -------------------------------------------------------------------------------

    @property
    def desired(self) -> Resolution | MemberList | None:
        """Who the segment should hold: the resolution, or a list of customer ids."""
        if self.resolution is not None:
            return self.resolution
        if self.members is not None and self.members.kind == "customer_id":
            return self.members
        return None

    @property
    def pushed(self) -> bool:
        """True when the plan under review was pushed already (push again: plan again)."""
        return self.plan is not None and self.run is not None and self.run.status != "dry_run"

    @property
    def busy(self) -> bool:
        """True while something runs in the background."""
        return self.activity != "idle"

    @property
    def can_push(self) -> bool:
        """A plan is ready, has changes, was not pushed yet and nothing else runs."""
        return (
            self.session is not None
            and self.plan is not None
            and not self.plan.is_empty()
            and not self.pushed
            and not self.busy
        )

    @property
    def resume_run_id(self) -> str | None:
        """The run a Resume button would finish: the last run if it left changes unsent,
        else an interrupted run found in the journal."""
        run = self.run
        if (
            run is not None
            and run.run_id is not None
            and run.status in _RESUMABLE_STATUSES
            and (run.n_pending or run.n_unknown)
        ):
            return run.run_id
        return self.resumable

    @property
    def step(self) -> Step:
        """The next thing to do."""
        if self.session is None:
            return "connect"
        if self.segment is None or not self.segment_fixed:
            return "segment"
        if self.members is None:
            return "members"
        if self.desired is None:
            return "match"
        if self.plan is None:
            return "plan"
        if self.pushed or self.plan.is_empty():
            return "done"
        return "push"

    def next_hint(self) -> str:
        """What to do next, as a sentence (what runs, while something does)."""
        if self.busy:
            return _BUSY_HINTS[self.activity]
        step = self.step
        if (step == "match" and self.match_stopped) or (step == "plan" and self.plan_stopped):
            return _STOPPED_HINTS[step]
        return _HINTS[step]


_EMPTY: dict[str, Any] = {
    "session": None,
    "segment": None,
    "segment_fixed": False,
    "members": None,
    "resolution": None,
    "plan": None,
    "run": None,
    "resumable": None,
    "match_stopped": False,
    "plan_stopped": False,
    "activity": "idle",
}

_HINTS: dict[Step, str] = {
    "connect": "Connect to the sandbox or to Shopgate first.",
    "segment": "Choose a fixed segment to sync.",
    "members": "Load a member list: upload a file, give a path, or a data frame.",
    "match": "Press Find customers to match the list's emails.",
    "plan": "Review the plan: it appears once the segment and the list are known.",
    "push": "Check the plan, then press Push.",
    "done": "Done: the segment matches the list. Plan again to push more.",
}
_STOPPED_HINTS: dict[Step, str] = {
    "match": "Matching was cancelled: press Match again to find the list's customers.",
    "plan": "Planning was cancelled: press Plan again to see the changes.",
}
_BUSY_HINTS: dict[Activity, str] = {
    "idle": "",
    "connecting": "Connecting …",
    "resolving": "Matching the list's emails: Cancel stops it.",
    "planning": "Planning: the segment is read and compared with the list; Cancel stops it.",
    "pushing": "Pushing: Cancel stops it after the batches in flight.",
    "cancelling": "Cancelling …",
}


def cancel_sentence(result: ApplyResult) -> str:
    """``Cancelled: N sent, M not sent`` for a run that was stopped before it finished."""
    sent = result.outcomes.height - result.n_pending
    return f"Cancelled: {sent:,} sent, {result.n_pending:,} not sent."
